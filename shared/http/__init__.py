"""HTTP edge shared by the services: problem+json errors, request ids, health and metrics."""
