"""From domain state and authorities to response bodies."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from services.domains import queries
from services.domains.api.schemas import Authorized, DomainOut, FtpOut, MailboxOut, RedirectOut, VhostOut
from services.domains.domain.authority import Authority
from services.domains.domain.domains import Domain, today
from shared.envelope import RecordedEvent


def authorized(authority: Authority) -> Authorized:
    codes = list(authority.decision.codes) if authority.decision is not None else []
    return Authorized(authorization=authority.basis, grant_id=authority.grant_id, reasons=codes)


@dataclass
class RecordedTimes:
    """When the parts of a domain's current contract were recorded, from its stream: what the
    contract listing shows from its tables, for the domain's GET that reads the stream."""

    registered_at: datetime | None = None
    cancellation_requested_at: datetime | None = None
    vhosts: dict[str, datetime] = field(default_factory=dict)
    mailboxes: dict[str, datetime] = field(default_factory=dict)  # by mailbox id
    passwords_set: set[str] = field(default_factory=set)  # mailbox ids
    redirects: dict[str, datetime] = field(default_factory=dict)  # by source host
    ftp_reissued_at: datetime | None = None


def recorded_times(events: Iterable[RecordedEvent]) -> RecordedTimes:
    times = RecordedTimes()
    for event in events:
        d, at = event.data, event.occurred_at
        match event.event_type:
            case "DomainRegistered":  # a name registered again starts a contract of its own
                times = RecordedTimes(registered_at=at)
            case "DomainCancellationRequested":
                times.cancellation_requested_at = at
            case "DomainCancellationWithdrawn":
                times.cancellation_requested_at = None
            case "VhostCreated":
                times.vhosts[d["vhost"]] = at
            case "MailboxCreated":
                times.mailboxes[str(d["mailbox_id"])] = at
            case "MailboxPasswordSet":
                times.passwords_set.add(str(d["mailbox_id"]))
            case "RedirectSet":
                times.redirects[d["source_host"]] = at
            case "FtpCredentialsReissued":
                times.ftp_reissued_at = at
    return times


def domain_out(domain: Domain, now: datetime, times: RecordedTimes) -> DomainOut:
    vhosts = [
        VhostOut(
            name=v,
            created_at=times.vhosts.get(v),
            mailboxes=[
                MailboxOut(
                    address=m.address,
                    mailbox_id=m.mailbox_id,
                    created_at=times.mailboxes.get(str(m.mailbox_id)),
                    password_set=str(m.mailbox_id) in times.passwords_set,
                )
                for m in sorted(domain.mailboxes.values(), key=lambda m: m.address)
                if m.vhost == v
            ],
        )
        for v in sorted(domain.vhosts)
    ]
    redirects = [
        RedirectOut(
            source_host=r.source_host,
            target_url=r.target_url,
            permanent=r.permanent,
            set_at=times.redirects.get(r.source_host),
            etag=r.tag(),
        )
        for r in sorted(domain.redirects.values(), key=lambda r: r.source_host)
    ]
    return DomainOut(
        domain=domain.name,
        unicode_name=domain.unicode_name,
        status=queries.status_of(domain.cancellation_effective_on, today(now)),
        registered_at=times.registered_at,
        cancellation_requested_at=times.cancellation_requested_at,
        cancellation_effective_on=domain.cancellation_effective_on,
        vhosts=vhosts,
        redirects=redirects,
        ftp=FtpOut(username=domain.ftp_username, last_reissued_at=times.ftp_reissued_at),
    )
