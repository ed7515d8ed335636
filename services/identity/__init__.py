"""Identity: Accounts, login, sessions and tokens, password reset by one-time password."""
