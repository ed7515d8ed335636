"""Deciding on billing's own copy of the authorizations (no call to contacts).

`AuthorizationCopy.decide` reads the requester's view from the tables of
`BillingAuthorizationProjection` and the version the copy is at for the customer, and hands the
view to the kernel's pure `decide`. The view and the version must belong together: both are read
again around the view (a sequence lock), and a consumer commit in between makes it read again.

The decision is taken at `max(now, time of the last applied event)`: a revocation billing has
consumed takes effect for billing at once, even when billing's clock runs a little behind the
clock of the contacts replica that recorded it.
"""

from __future__ import annotations

from datetime import datetime

from services.billing.domain.authority import ACTION, AuthorizationVersion
from shared.authorization.decision import Decision, decide
from shared.authorization.identifiers import Requester
from shared.authorization.queries import SqlAuthorizationReader
from shared.db import Connection, Pool
from shared.errors import InfrastructureError

_VERSION = """
SELECT stream_id, stream_version, occurred_at FROM authz_versions WHERE customer_number = $1
ORDER BY occurred_at DESC, stream_version DESC, stream_id LIMIT 1
"""


class AuthorizationCopyBusy(InfrastructureError):
    """The copy kept changing under the read (a flood of changes for one customer)."""


async def authorization_version(db: Pool | Connection, customer_number: str) -> AuthorizationVersion | None:
    row = await db.fetchrow(_VERSION, customer_number)
    if row is None:
        return None
    return AuthorizationVersion(row["stream_id"], row["stream_version"], row["occurred_at"])


class AuthorizationCopy:
    def __init__(self, pool: Pool, *, attempts: int = 5) -> None:
        self._pool = pool
        self._reader = SqlAuthorizationReader(pool)
        self._attempts = attempts

    async def decide(
        self, customer_number: str, requester: Requester, now: datetime
    ) -> tuple[Decision, AuthorizationVersion | None]:
        for _ in range(self._attempts):
            before = await authorization_version(self._pool, customer_number)
            at = max(now, before.occurred_at) if before is not None else now
            view = await self._reader.view(customer_number, requester, at)
            if await authorization_version(self._pool, customer_number) == before:
                return decide(view, ACTION.value, at), before
        raise AuthorizationCopyBusy(f"authorizations of {customer_number} changed during {self._attempts} reads")
