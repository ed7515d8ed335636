"""Identity's command handlers: load, decide (pure domain), write events and private rows in one unit of work."""
