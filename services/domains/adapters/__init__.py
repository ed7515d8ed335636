"""Adapters of the domains service: secrets (tokens, passwords, hashes) and mail texts."""
