"""Routes for what is booked on a domain: e-mail vhosts, mailboxes, redirects, FTP credentials.

Scopes (when support acts on a requester's behalf): vhosts and mailboxes "mailboxes:manage",
redirects "dns:change", FTP credentials "credentials:request" (and a grant, see authority.py).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Header, Request, Response

from services.domains import credentials, handlers
from services.domains.api.acting import OnBehalfOf, authorize, authorized_change, context_for
from services.domains.api.problems import WRITE
from services.domains.api.schemas import (
    Changed,
    DomainName,
    FtpReissuedOut,
    LocalPart,
    MailboxBody,
    MailboxCreatedOut,
    PasswordLinkBody,
    RedirectBody,
    SourceHost,
    VhostBody,
    VhostName,
)
from services.domains.api.views import authorized
from services.domains.domain.authority import Authority
from services.domains.domain.names import parse_domain, parse_host, parse_local_part
from services.domains.domain.urls import parse_target_url
from services.domains.runtime import domains_runtime
from shared.auth.dependencies import CurrentPrincipal
from shared.auth.principal import Principal
from shared.http.context import CustomerNumber
from shared.http.versions import tag_in
from shared.scopes import Scope

PREFIX = "/api/domains/v1/customers/{customer_number}/domains/{domain}"

Run = Callable[[Request, Principal, str | None], Awaitable[Changed]]


@dataclass(frozen=True, slots=True)
class HotCommand:
    """A validated command (bad input has raised already, before anything is recorded): `run`
    authorizes, records and answers. Built by the routes and by the fast path (`fast_commands.py`)."""

    run: Run
    created: str | None = None  # the new resource's name (for Location), if it makes one


def vhost_command(customer_number: str, domain: str, body: VhostBody) -> HotCommand:
    name, vhost = parse_domain(domain).ascii, parse_host(body.name, what="vhost")

    async def run(request: Request, principal: Principal, on_behalf_of: str | None) -> Changed:
        return await authorized_change(
            request, principal, customer_number, on_behalf_of, Scope.MANAGE_MAILBOXES, operation="create_vhost",
            target=vhost.ascii, change=lambda rt, context: handlers.create_vhost(rt, name, vhost, context),
        )  # fmt: skip

    return HotCommand(run, created=vhost.ascii)


def redirect_command(
    customer_number: str, domain: str, source_host: str, body: RedirectBody, expected_tag: str | None = None
) -> HotCommand:
    name = parse_domain(domain).ascii
    source = parse_host(source_host, what="source host")
    target = parse_target_url(body.target_url)

    async def run(request: Request, principal: Principal, on_behalf_of: str | None) -> Changed:
        return await authorized_change(
            request, principal, customer_number, on_behalf_of, Scope.CHANGE_DNS, operation="set_redirect",
            target=source.ascii,
            change=lambda rt, context: handlers.set_redirect(
                rt, name, source, target, body.permanent, context, expected_tag
            ),
        )  # fmt: skip

    return HotCommand(run)


def _link_out(sent: credentials.LinkSent, authority: Authority) -> MailboxCreatedOut:
    return MailboxCreatedOut(
        mailbox_id=sent.mailbox_id,
        address=sent.address,
        password_link_sent_to=sent.sent_to,
        version=sent.outcome.version,
        **authorized(authority).model_dump(),
    )


def router() -> APIRouter:
    r = APIRouter(prefix=PREFIX, tags=["vhosts, mailboxes, redirects, FTP"])

    @r.post("/vhosts", status_code=201, response_model=Changed, responses=WRITE, summary="Create an e-mail vhost")
    async def create_vhost(
        customer_number: CustomerNumber,
        domain: DomainName,
        body: VhostBody,
        request: Request,
        response: Response,
        principal: CurrentPrincipal,
        on_behalf_of: OnBehalfOf = None,
    ) -> Changed:
        command = vhost_command(customer_number, domain, body)
        changed = await command.run(request, principal, on_behalf_of)
        response.headers["Location"] = request.url.path + f"/{command.created}"
        return changed

    @r.delete("/vhosts/{vhost}", response_model=Changed, responses=WRITE, summary="Delete a vhost and its mailboxes")
    async def delete_vhost(
        customer_number: CustomerNumber,
        domain: DomainName,
        vhost: VhostName,
        request: Request,
        principal: CurrentPrincipal,
        on_behalf_of: OnBehalfOf = None,
    ) -> Changed:
        name, host = parse_domain(domain).ascii, parse_host(vhost, what="vhost")
        return await authorized_change(
            request, principal, customer_number, on_behalf_of, Scope.MANAGE_MAILBOXES, operation="delete_vhost",
            target=host.ascii, change=lambda rt, context: handlers.delete_vhost(rt, name, host, context),
        )  # fmt: skip

    @r.post(
        "/vhosts/{vhost}/mailboxes",
        status_code=201,
        response_model=MailboxCreatedOut,
        responses=WRITE,
        summary="Create a mailbox; its owner gets a one-time link to choose the password",
        description="Nobody but the mailbox's owner ever sees the password: the link goes to `owner_email`"
        " and is valid once, for 48 hours.",
    )
    async def create_mailbox(
        customer_number: CustomerNumber,
        domain: DomainName,
        vhost: VhostName,
        body: MailboxBody,
        request: Request,
        principal: CurrentPrincipal,
        on_behalf_of: OnBehalfOf = None,
    ) -> MailboxCreatedOut:
        name, host = parse_domain(domain).ascii, parse_host(vhost, what="vhost")
        local_part = parse_local_part(body.local_part)
        authority = await authorize(
            request, principal, customer_number, Scope.MANAGE_MAILBOXES, on_behalf_of, operation="create_mailbox",
            target=f"{local_part}@{host.ascii}", mails_a_secret=True,
        )  # fmt: skip
        context = context_for(request, customer_number, authority)
        sent = await credentials.create_mailbox(
            domains_runtime(request), name, host, local_part, str(body.owner_email), context
        )
        return _link_out(sent, authority)

    @r.post(
        "/vhosts/{vhost}/mailboxes/{local_part}/password-link",
        response_model=MailboxCreatedOut,
        responses=WRITE,
        summary="Send the mailbox's owner a new one-time link to choose the password",
        description="For a first link that got lost or expired, or a password the owner forgot: the new link"
        " goes to `owner_email` (default: where the last one went), is valid once for 48 hours, and the"
        " mailbox's earlier unused links stop working. Setting a password through it replaces the one set.",
    )
    async def send_password_link(
        customer_number: CustomerNumber,
        domain: DomainName,
        vhost: VhostName,
        local_part: LocalPart,
        request: Request,
        principal: CurrentPrincipal,
        body: PasswordLinkBody | None = None,
        on_behalf_of: OnBehalfOf = None,
    ) -> MailboxCreatedOut:
        name, host = parse_domain(domain).ascii, parse_host(vhost, what="vhost")
        local = parse_local_part(local_part)
        authority = await authorize(
            request, principal, customer_number, Scope.MANAGE_MAILBOXES, on_behalf_of,
            operation="send_mailbox_password_link", target=f"{local}@{host.ascii}", mails_a_secret=True,
        )  # fmt: skip
        context = context_for(request, customer_number, authority)
        to = str(body.owner_email) if body is not None and body.owner_email is not None else None
        sent = await credentials.send_mailbox_password_link(domains_runtime(request), name, host, local, to, context)
        return _link_out(sent, authority)

    @r.delete(
        "/vhosts/{vhost}/mailboxes/{local_part}", response_model=Changed, responses=WRITE, summary="Delete a mailbox"
    )
    async def delete_mailbox(
        customer_number: CustomerNumber,
        domain: DomainName,
        vhost: VhostName,
        local_part: LocalPart,
        request: Request,
        principal: CurrentPrincipal,
        on_behalf_of: OnBehalfOf = None,
    ) -> Changed:
        name, host = parse_domain(domain).ascii, parse_host(vhost, what="vhost")
        local = parse_local_part(local_part)
        return await authorized_change(
            request, principal, customer_number, on_behalf_of, Scope.MANAGE_MAILBOXES, operation="delete_mailbox",
            target=f"{local}@{host.ascii}",
            change=lambda rt, context: handlers.delete_mailbox(rt, name, host, local, context),
        )  # fmt: skip

    @r.put(
        "/redirects/{source_host}",
        response_model=Changed,
        responses=WRITE,
        summary="Redirect a host (the domain or a subdomain) to an http(s) URL",
        description="Setting the redirect a host already has records nothing and answers the current version."
        " With If-Match (the redirect's `etag` in the domain's GET), a change someone made after that read"
        " is answered 409 instead of being overwritten.",
    )
    async def set_redirect(
        customer_number: CustomerNumber,
        domain: DomainName,
        source_host: SourceHost,
        body: RedirectBody,
        request: Request,
        principal: CurrentPrincipal,
        on_behalf_of: OnBehalfOf = None,
        if_match: Annotated[str | None, Header()] = None,
    ) -> Changed:
        command = redirect_command(customer_number, domain, source_host, body, tag_in(if_match))
        return await command.run(request, principal, on_behalf_of)

    @r.delete(
        "/redirects/{source_host}",
        response_model=Changed,
        responses=WRITE,
        summary="Remove a redirect",
        description="With If-Match (the redirect's `etag` in the domain's GET), a redirect someone changed after"
        " that read is answered 409 instead of being removed.",
    )
    async def remove_redirect(
        customer_number: CustomerNumber,
        domain: DomainName,
        source_host: SourceHost,
        request: Request,
        principal: CurrentPrincipal,
        on_behalf_of: OnBehalfOf = None,
        if_match: Annotated[str | None, Header()] = None,
    ) -> Changed:
        name, source = parse_domain(domain).ascii, parse_host(source_host, what="source host")
        expected = tag_in(if_match)
        return await authorized_change(
            request, principal, customer_number, on_behalf_of, Scope.CHANGE_DNS, operation="remove_redirect",
            target=source.ascii,
            change=lambda rt, context: handlers.remove_redirect(rt, name, source, context, expected),
        )  # fmt: skip

    @r.post(
        "/ftp-credentials",
        response_model=FtpReissuedOut,
        responses=WRITE,
        summary="Issue new FTP credentials, mailed to the requester",
        description="The new password goes only into an e-mail: to the account owner's reference address, or"
        " (support on behalf of a contact holding a grant for credentials:request) to the contact's address on"
        " file, with a notice (without the password) to the account owner. Never in this answer.",
    )
    async def reissue_ftp(
        customer_number: CustomerNumber,
        domain: DomainName,
        request: Request,
        principal: CurrentPrincipal,
        on_behalf_of: OnBehalfOf = None,
    ) -> FtpReissuedOut:
        name = parse_domain(domain).ascii
        authority = await authorize(
            request, principal, customer_number, Scope.REQUEST_CREDENTIALS, on_behalf_of,
            operation="reissue_ftp_credentials", target=name,
        )  # fmt: skip
        context = context_for(request, customer_number, authority)
        recipients, outcome = await credentials.reissue_ftp_credentials(
            domains_runtime(request), name, authority, context
        )
        return FtpReissuedOut(
            sent_to=recipients.sent_to,
            contact_id=recipients.contact_id,
            owner_notified=recipients.owner_notice_to is not None,
            version=outcome.version,
            **authorized(authority).model_dump(),
        )

    return r
