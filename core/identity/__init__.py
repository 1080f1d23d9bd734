"""Who is acting and what they may do: actors, accounts and sign-in, API tokens, permissions."""
