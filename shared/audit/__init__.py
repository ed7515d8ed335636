"""Compliance: replay the whole history from Kafka, answer "as of" questions, prove the stores unaltered.

events.py       AuditEvent: a published event, decoded from Kafka without pydantic (the hot path)
authority.py    on what authority an event was recorded, read from any service's metadata
model.py        AuditModel: every event per customer, the authorization fold, the state hash
facts.py        grants by id, instruction changes, contact names, from a customer's events
replay.py       reading the topics from offset 0 to the end offsets (raw fetches, fast)
questions.py    as of T, timeline, on whose authority, checks, best-knowledge actions
export.py       a customer's history as CSV, JSON and a Markdown report, with provenance
checkpoints.py  the checkpoint publisher (stream heads -> `<service>.checkpoints`) and its log
verify.py       recomputing every hash chain of a store and comparing with the checkpoints
rebuild.py      rebuilding a service's read models and comparing them with the live ones
api.py          the compliance-role HTTP routes (a router factory)
cli.py          `python -m shared.audit ...` (Typer, rich progress bars)
"""
