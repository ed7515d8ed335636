"""`ContractsProjection`: everything each customer has booked here, from domains' own events.

One row per domain, vhost, mailbox, redirect and FTP access, keyed by the domain first: a
name can be registered again after its contract ended (by anyone), and that registration starts
from nothing, so `DomainRegistered` clears whatever the name carried before. The contract list
(`queries.contracts`) reads these tables; whether a cancellation has taken effect is decided
at query time (the projection depends on events only, never on the clock).
"""

from __future__ import annotations

from datetime import date

from shared.db import Connection
from shared.envelope import RecordedEvent

DDL = """
CREATE TABLE IF NOT EXISTS contract_domains (
    domain                    text        PRIMARY KEY,
    customer_number           text        NOT NULL,
    unicode_name              text        NOT NULL,
    registered_at             timestamptz NOT NULL,
    cancellation_requested_at timestamptz,
    cancellation_effective_on date
);
CREATE INDEX IF NOT EXISTS contract_domains_customer ON contract_domains (customer_number, domain);
CREATE TABLE IF NOT EXISTS contract_vhosts (
    domain          text        NOT NULL,
    vhost           text        NOT NULL,
    customer_number text        NOT NULL,
    created_at      timestamptz NOT NULL,
    PRIMARY KEY (domain, vhost)
);
CREATE TABLE IF NOT EXISTS contract_mailboxes (
    domain          text        NOT NULL,
    address         text        NOT NULL,
    vhost           text        NOT NULL,
    mailbox_id      uuid        NOT NULL,
    customer_number text        NOT NULL,
    created_at      timestamptz NOT NULL,
    password_set_at timestamptz,
    PRIMARY KEY (domain, address)
);
CREATE TABLE IF NOT EXISTS contract_redirects (
    domain          text        NOT NULL,
    source_host     text        NOT NULL,
    target_url      text        NOT NULL,
    permanent       boolean     NOT NULL,
    customer_number text        NOT NULL,
    set_at          timestamptz NOT NULL,
    PRIMARY KEY (domain, source_host)
);
CREATE TABLE IF NOT EXISTS contract_ftp_access (
    domain           text        PRIMARY KEY,
    customer_number  text        NOT NULL,
    username         text        NOT NULL,
    last_reissued_at timestamptz,
    reissued         integer     NOT NULL DEFAULT 0
);
"""

_CHILD_TABLES = ("contract_vhosts", "contract_mailboxes", "contract_redirects", "contract_ftp_access")


class ContractsProjection:
    name = "contracts"
    tables = ("contract_domains", *_CHILD_TABLES)
    ddl = DDL

    async def apply(self, conn: Connection, event: RecordedEvent) -> None:
        d = event.data
        kind = event.event_type
        n = event.customer_number
        at = event.occurred_at
        if kind == "DomainRegistered":
            for table in ("contract_domains", *_CHILD_TABLES):
                await conn.execute(f"DELETE FROM {table} WHERE domain = $1", d["domain"])  # noqa: S608 (constants)
            await conn.execute(
                "INSERT INTO contract_domains (domain, customer_number, unicode_name, registered_at)"
                " VALUES ($1, $2, $3, $4)",
                d["domain"],
                n,
                d["unicode_name"],
                at,
            )
            await conn.execute(
                "INSERT INTO contract_ftp_access (domain, customer_number, username) VALUES ($1, $2, $3)",
                d["domain"],
                n,
                d["ftp_username"],
            )
        elif kind == "DomainCancellationRequested":
            await conn.execute(
                "UPDATE contract_domains SET cancellation_requested_at = $2, cancellation_effective_on = $3"
                " WHERE domain = $1",
                d["domain"],
                at,
                _date(d["effective_on"]),
            )
        elif kind == "DomainCancellationWithdrawn":
            await conn.execute(
                "UPDATE contract_domains SET cancellation_requested_at = NULL, cancellation_effective_on = NULL"
                " WHERE domain = $1",
                d["domain"],
            )
        elif kind == "VhostCreated":
            await conn.execute(
                "INSERT INTO contract_vhosts (domain, vhost, customer_number, created_at) VALUES ($1, $2, $3, $4)"
                " ON CONFLICT DO NOTHING",
                d["domain"],
                d["vhost"],
                n,
                at,
            )
        elif kind == "VhostDeleted":
            await conn.execute("DELETE FROM contract_vhosts WHERE domain = $1 AND vhost = $2", d["domain"], d["vhost"])
        elif kind == "MailboxCreated":
            await conn.execute(
                "INSERT INTO contract_mailboxes (domain, address, vhost, mailbox_id, customer_number, created_at)"
                " VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
                d["domain"],
                d["address"],
                d["vhost"],
                d["mailbox_id"],
                n,
                at,
            )
        elif kind == "MailboxDeleted":
            await conn.execute(
                "DELETE FROM contract_mailboxes WHERE domain = $1 AND address = $2", d["domain"], d["address"]
            )
        elif kind == "MailboxPasswordSet":
            await conn.execute(
                "UPDATE contract_mailboxes SET password_set_at = $3 WHERE domain = $1 AND address = $2",
                d["domain"],
                d["address"],
                at,
            )
        elif kind == "RedirectSet":
            await conn.execute(
                "INSERT INTO contract_redirects (domain, source_host, target_url, permanent, customer_number, set_at)"
                " VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (domain, source_host) DO UPDATE SET"
                " target_url = EXCLUDED.target_url, permanent = EXCLUDED.permanent, set_at = EXCLUDED.set_at",
                d["domain"],
                d["source_host"],
                d["target_url"],
                d["permanent"],
                n,
                at,
            )
        elif kind == "RedirectRemoved":
            await conn.execute(
                "DELETE FROM contract_redirects WHERE domain = $1 AND source_host = $2", d["domain"], d["source_host"]
            )
        elif kind == "FtpCredentialsReissued":
            await conn.execute(
                "UPDATE contract_ftp_access SET last_reissued_at = $2, reissued = reissued + 1 WHERE domain = $1",
                d["domain"],
                at,
            )


def _date(value: object) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))
