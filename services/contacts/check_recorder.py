"""Recording support's checks with group commit.

Every check support makes is an `AuthorizationChecked` event, so every such check is a write, and
a commit per check would bound support's checks by the commit rate. Checks waiting to be
recorded are therefore written together: while one transaction commits, the next checks queue,
and the next transaction appends all of them (each with its own envelope, to its customer's
checks stream). A check is answered only once its transaction has committed, so an answer always
means "recorded".

A checks stream depends on nothing but its version; the versions are read by index (never the
streams' events), and a batch that lost a race with another replica is simply written again.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict

from services.contacts.domain.events import AuthorizationChecked
from shared.envelope import EventContext
from shared.errors import ConcurrencyConflict
from shared.unit_of_work import UnitOfWorkFactory

_Pending = tuple[EventContext, AuthorizationChecked, "asyncio.Future[None]"]


def checks_stream_id(customer_number: str) -> str:
    return f"customer-authorization-checks-{customer_number}"


class CheckRecorder:
    def __init__(self, uow: UnitOfWorkFactory, *, max_batch: int = 100, attempts: int = 20) -> None:
        self._uow = uow
        self._max_batch = max_batch
        self._attempts = attempts
        self._pending: list[_Pending] = []
        self._writer: asyncio.Task[None] | None = None

    async def record(self, context: EventContext, event: AuthorizationChecked) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((context, event, future))
        # One writer at a time; it runs only while there is something to write.
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._drain(), name="check-recorder")
        await future

    async def _drain(self) -> None:
        while self._pending:
            batch, self._pending = self._pending[: self._max_batch], self._pending[self._max_batch :]
            try:
                await self._write(batch)
            except Exception as exc:  # every waiting request gets the failure, none hangs
                for _, _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
            else:
                for _, _, future in batch:
                    if not future.done():
                        future.set_result(None)

    async def _write(self, batch: list[_Pending]) -> None:
        by_stream: dict[str, list[_Pending]] = defaultdict(list)
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
                        for context, event, _ in items:
                            [recorded] = await tx.append(stream, version, [event], context, previous_hash=previous)
                            version, previous = recorded.stream_version, recorded.chain_hash
                except ConcurrencyConflict:
                    continue  # another replica appended meanwhile: read the versions again
                await tx.commit()
                return
        raise ConcurrencyConflict(streams[0], -1)
