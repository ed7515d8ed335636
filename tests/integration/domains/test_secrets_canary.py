"""No mailbox link, mailbox password, FTP password or hash of them ever leaves domains' database.

Every flow that makes one runs (the owner's and a contact's FTP credentials, a mailbox link used
once and then refused, a bad link); the secrets are taken from where they legitimately are (the
e-mails, the private tables) and then searched for in the event store (data and metadata),
everything on domains.events read back from Kafka, the captured logs and every HTTP answer.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import structlog

from shared.kafka import topic_for
from shared.scopes import Scope
from tests.integration.domains.conftest import Env, link_token, mailed_password
from tests.support.kafka import records_until

pytestmark = pytest.mark.integration


async def test_no_secret_reaches_events_kafka_logs_or_answers(
    env: Env, kafka: str, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    secrets: set[str] = set()
    answers: list[httpx.Response] = []

    async def call(method: str, path: str, **kwargs: Any) -> httpx.Response:
        response = await env.domains.request(method, path, **kwargs)
        answers.append(response)
        return response

    with structlog.testing.capture_logs() as logs:
        n = await env.customer()
        domain = await env.registered(n)
        dana = await env.add_contact(n, f"dana-{n}@example.org")
        await env.grant(n, dana, [Scope.REQUEST_CREDENTIALS.value, Scope.MANAGE_MAILBOXES.value])
        base = env.url(n, f"/domains/{domain}")

        assert (await call("POST", f"{base}/ftp-credentials", headers=env.owner(n))).status_code == 200
        secrets.add(mailed_password(await env.mail_to(f"owner-{n}@acme.example", "New FTP credentials")))
        on_behalf = env.support(f"contact_id:{dana}")
        assert (await call("POST", f"{base}/ftp-credentials", headers=on_behalf)).status_code == 200
        secrets.add(mailed_password(await env.mail_to(f"dana-{n}@example.org", "New FTP credentials")))

        assert (await call("POST", f"{base}/vhosts", json={"name": domain}, headers=on_behalf)).status_code == 201
        mailbox = {"local_part": "canary", "owner_email": f"canary-{n}@acme.example"}
        created = await call("POST", f"{base}/vhosts/{domain}/mailboxes", json=mailbox, headers=on_behalf)
        assert created.status_code == 201
        token = link_token(await env.mail_to(f"canary-{n}@acme.example", "Set the password"))
        password = f"canary-mailbox-password-{n}"
        wrong = f"canary-wrong-token-{n}-0123456789abcdef"
        secrets |= {token, password, wrong}
        path = "/api/domains/v1/mailbox-passwords"
        assert (await call("POST", path, json={"token": wrong, "password": password})).status_code == 422
        assert (await call("POST", path, json={"token": token, "password": password})).status_code == 204
        assert (await call("POST", path, json={"token": token, "password": password})).status_code == 422

        pool = env.pool
        secrets |= {r["password_hash"] for r in await pool.fetch("SELECT password_hash FROM ftp_credentials")}
        secrets |= {r["password_hash"] for r in await pool.fetch("SELECT password_hash FROM mailbox_passwords")}
        secrets |= {r["token_hash"].hex() for r in await pool.fetch("SELECT token_hash FROM mailbox_password_links")}
        stored = await pool.fetch("SELECT event_id::text, data::text, metadata::text FROM events")
        records = await records_until(kafka, topic_for("domains"), {r["event_id"] for r in stored})

    assert len(secrets) >= 7
    places = {
        "event store": "\n".join(r["data"] + r["metadata"] for r in stored),
        "kafka": "\n".join(repr(r.key) + repr(r.value) + repr(r.headers) for r in records),
        "structlog": "\n".join(repr(entry) for entry in logs),
        "stdlib logs": caplog.text,
        "stdout": capsys.readouterr().out,
        "answers": "\n".join(r.text + repr(dict(r.headers)) for r in answers),
    }
    assert any(entry.get("event") == "mailbox_password_set" for entry in logs)
    for place, text in places.items():
        leaked = [s[:16] for s in secrets if s in text]
        assert not leaked, f"secrets found in {place}: {leaked}"
        assert "$argon2" not in text, place
