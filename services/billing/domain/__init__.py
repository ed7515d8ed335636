"""Pure domain of the billing service."""
