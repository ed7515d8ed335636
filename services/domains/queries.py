"""Read-side queries of the domains service over its read-model tables."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from services.domains.domain.domains import Redirect
from shared.authorization.queries import contact_details
from shared.db import Pool


async def customer_contacts(pool: Pool, customer_number: str) -> list[dict[str, Any]]:
    """The current contacts, from domains' copy of the authorization model (built from contacts.events)."""
    rows = await pool.fetch(
        "SELECT contact_id, name, email, phone, organisation, function, added_at FROM authz_contacts"
        " WHERE customer_number = $1 AND removed_at IS NULL ORDER BY added_at, contact_id",
        customer_number,
    )
    return [dict(r) for r in rows]


async def current_contact(pool: Pool, customer_number: str, contact_id: uuid.UUID) -> tuple[str, str] | None:
    """(name, e-mail) of a current contact, from domains' copy of the authorization model."""
    contact = await contact_details(pool, customer_number, contact_id)
    return (contact.name, contact.email) if contact is not None and contact.current else None


def status_of(effective_on: date | None, today: date) -> str:
    if effective_on is None:
        return "active"
    return "cancellation_requested" if today <= effective_on else "ended"


async def contracts(pool: Pool, customer_number: str, today: date) -> list[dict[str, Any]]:
    """Every domain whose contract runs (or runs until its cancellation), with all booked on it."""
    async with pool.acquire() as conn:
        domains = await conn.fetch(
            "SELECT domain, unicode_name, registered_at, cancellation_requested_at, cancellation_effective_on"
            " FROM contract_domains WHERE customer_number = $1"
            " AND (cancellation_effective_on IS NULL OR cancellation_effective_on >= $2) ORDER BY domain",
            customer_number,
            today,
        )
        names = [d["domain"] for d in domains]
        vhosts = await conn.fetch(
            "SELECT domain, vhost, created_at FROM contract_vhosts WHERE domain = ANY($1) AND customer_number = $2"
            " ORDER BY domain, vhost",
            names,
            customer_number,
        )
        mailboxes = await conn.fetch(
            "SELECT domain, vhost, address, mailbox_id, created_at, password_set_at FROM contract_mailboxes"
            " WHERE domain = ANY($1) AND customer_number = $2 ORDER BY domain, address",
            names,
            customer_number,
        )
        redirects = await conn.fetch(
            "SELECT domain, source_host, target_url, permanent, set_at FROM contract_redirects"
            " WHERE domain = ANY($1) AND customer_number = $2 ORDER BY domain, source_host",
            names,
            customer_number,
        )
        ftp = await conn.fetch(
            "SELECT domain, username, last_reissued_at FROM contract_ftp_access"
            " WHERE domain = ANY($1) AND customer_number = $2",
            names,
            customer_number,
        )
    by_domain: dict[str, dict[str, Any]] = {}
    for d in domains:
        by_domain[d["domain"]] = {
            "domain": d["domain"],
            "unicode_name": d["unicode_name"],
            "status": status_of(d["cancellation_effective_on"], today),
            "registered_at": d["registered_at"],
            "cancellation_requested_at": d["cancellation_requested_at"],
            "cancellation_effective_on": d["cancellation_effective_on"],
            "vhosts": [],
            "redirects": [],
            "ftp": None,
        }
    vhost_rows: dict[tuple[str, str], dict[str, Any]] = {}
    for v in vhosts:
        row = {"name": v["vhost"], "created_at": v["created_at"], "mailboxes": []}
        vhost_rows[(v["domain"], v["vhost"])] = row
        by_domain[v["domain"]]["vhosts"].append(row)
    for m in mailboxes:
        parent = vhost_rows.get((m["domain"], m["vhost"]))
        if parent is not None:
            parent["mailboxes"].append(
                {
                    "address": m["address"],
                    "mailbox_id": m["mailbox_id"],
                    "created_at": m["created_at"],
                    "password_set": m["password_set_at"] is not None,
                }
            )
    for r in redirects:
        by_domain[r["domain"]]["redirects"].append(
            {
                "source_host": r["source_host"],
                "target_url": r["target_url"],
                "permanent": r["permanent"],
                "set_at": r["set_at"],
                "etag": Redirect(r["source_host"], r["target_url"], r["permanent"]).tag(),  # as the stream's
            }
        )
    for f in ftp:
        by_domain[f["domain"]]["ftp"] = {"username": f["username"], "last_reissued_at": f["last_reissued_at"]}
    return list(by_domain.values())
