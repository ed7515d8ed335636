"""Pure domain of the identity service."""
