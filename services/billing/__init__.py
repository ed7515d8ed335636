"""Billing: Invoice address, invoice e-mail and billing contact."""
