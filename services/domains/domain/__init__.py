"""Pure domain of the domains service."""
