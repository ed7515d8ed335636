"""From domain state and authorities to response bodies."""

from __future__ import annotations

from datetime import datetime

from services.domains import queries
from services.domains.api.schemas import Authorized, DomainOut, FtpOut, MailboxOut, RedirectOut, VhostOut
from services.domains.domain.authority import Authority
from services.domains.domain.domains import Domain, today


def authorized(authority: Authority) -> Authorized:
    codes = list(authority.decision.codes) if authority.decision is not None else []
    return Authorized(authorization=authority.basis, grant_id=authority.grant_id, reasons=codes)


def domain_out(domain: Domain, now: datetime) -> DomainOut:
    vhosts = [
        VhostOut(
            name=v,
            mailboxes=[
                MailboxOut(address=m.address, mailbox_id=m.mailbox_id)
                for m in sorted(domain.mailboxes.values(), key=lambda m: m.address)
                if m.vhost == v
            ],
        )
        for v in sorted(domain.vhosts)
    ]
    redirects = [
        RedirectOut(source_host=r.source_host, target_url=r.target_url, permanent=r.permanent, etag=r.tag())
        for r in sorted(domain.redirects.values(), key=lambda r: r.source_host)
    ]
    return DomainOut(
        domain=domain.name,
        unicode_name=domain.unicode_name,
        status=queries.status_of(domain.cancellation_effective_on, today(now)),
        cancellation_effective_on=domain.cancellation_effective_on,
        vhosts=vhosts,
        redirects=redirects,
        ftp=FtpOut(username=domain.ftp_username),
    )
