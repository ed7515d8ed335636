"""Billing's HTTP API (`/api/billing/v1/...`)."""
