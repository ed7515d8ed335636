"""Read models of the contacts service."""
