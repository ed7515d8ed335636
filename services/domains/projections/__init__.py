"""Read models of the domains service."""
