"""Pure domain of the contacts service: no I/O, no clock, no random ids."""
