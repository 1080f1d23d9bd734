"""The database: tables (`models`), engine and sessions (`session`), migrations (`migrate`)."""
