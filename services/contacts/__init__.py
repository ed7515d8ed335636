"""Contacts: customer address, contact persons, authorizations and the check support uses."""
