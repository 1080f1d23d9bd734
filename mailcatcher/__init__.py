"""A local mail catcher: an SMTP server that keeps each message as an .eml file."""
