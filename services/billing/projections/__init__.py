"""Billing's read models: its copy of the authorizations (from contacts.events) and its history."""
