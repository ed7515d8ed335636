"""HTTP edge of the identity service."""
