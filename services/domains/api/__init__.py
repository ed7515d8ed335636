"""HTTP edge of the domains service."""
