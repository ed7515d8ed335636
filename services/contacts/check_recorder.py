"""Recording support's checks with group commit.

Every check support makes is an `AuthorizationChecked` event, so every such check is a write, and
a commit per check would bound support's checks by the commit rate. Checks waiting to be
recorded are therefore written together (`shared.group_commit`): while one transaction
commits, the next checks queue, and the next transaction appends all of them (each with its own
envelope, to its customer's checks stream). A check is answered only once its transaction has
committed, so an answer always means "recorded".

A checks stream depends on nothing but its version; the versions are read by index (never the
streams' events), and a batch that lost a race with another replica is simply written again.
"""

from __future__ import annotations

from collections import defaultdict

from services.contacts.domain.events import AuthorizationChecked
from shared.envelope import EventContext
from shared.errors import ConcurrencyConflict
from shared.group_commit import GroupWriter
from shared.unit_of_work import UnitOfWorkFactory

_Check = tuple[EventContext, AuthorizationChecked]


def checks_stream_id(customer_number: str) -> str:
    return f"customer-authorization-checks-{customer_number}"


class CheckRecorder:
    def __init__(self, uow: UnitOfWorkFactory, *, max_batch: int = 100, attempts: int = 20) -> None:
        self._uow = uow
        self._attempts = attempts
        self._group: GroupWriter[_Check, None] = GroupWriter(self._write, name="check-recorder", max_group=max_batch)

    async def record(self, context: EventContext, event: AuthorizationChecked) -> None:
        await self._group.submit((context, event))

    async def _write(self, batch: list[_Check]) -> list[None]:
        by_stream: dict[str, list[_Check]] = defaultdict(list)
        for item in batch:
            by_stream[checks_stream_id(item[0].customer_number)].append(item)
        streams = list(by_stream)
        for _ in range(self._attempts):
            async with self._uow() as tx:
                # The heads with their chain hashes, so each append is one round trip.
                rows = await tx.connection.fetch(
                    "SELECT DISTINCT ON (stream_id) stream_id, stream_version, chain_hash FROM events"
                    " WHERE stream_id = ANY($1::text[]) ORDER BY stream_id, stream_version DESC",
                    streams,
                )
                heads = {r["stream_id"]: (r["stream_version"], r["chain_hash"]) for r in rows}
                try:
                    for stream, items in by_stream.items():
                        version, previous = heads.get(stream, (0, None))
                        for context, event in items:
                            [recorded] = await tx.append(stream, version, [event], context, previous_hash=previous)
                            version, previous = recorded.stream_version, recorded.chain_hash
                except ConcurrencyConflict:
                    continue  # another replica appended meanwhile: read the versions again
                await tx.commit()
                return [None] * len(batch)
        raise ConcurrencyConflict(streams[0], -1)
