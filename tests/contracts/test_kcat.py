"""A new team's view: consume contacts.events with kcat (Debian's Kafka CLI) and check it against
the AsyncAPI document - headers, key and payload as documented."""

from __future__ import annotations

import asyncio
import json
import random
import shutil
import subprocess
import time
import uuid
from typing import Any

import jsonschema
import pytest

from shared.contracts import asyncapi
from tests.contracts.conftest import Contacts

pytestmark = pytest.mark.integration


def _install_kcat() -> str:
    """kcat from Debian's packages, installed when missing (the tests run as root)."""
    found = shutil.which("kcat")
    if found:
        return found
    env = {"DEBIAN_FRONTEND": "noninteractive", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
    install = ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "kcat"]
    if subprocess.run(install, env=env, capture_output=True, timeout=300).returncode != 0:
        subprocess.run(["apt-get", "update", "-qq"], env=env, capture_output=True, timeout=300)
        result = subprocess.run(install, env=env, capture_output=True, text=True, timeout=300)
        if result.returncode != 0:
            pytest.fail(f"kcat is needed and could not be installed with apt-get: {result.stderr[-500:]}")
    found = shutil.which("kcat")
    assert found, "apt-get installed kcat but it is not on PATH"
    return found


@pytest.fixture(scope="module")
def kcat() -> str:
    return _install_kcat()


async def _consume(kcat: str, kafka: str, topic: str, key: str, at_least: int) -> list[dict[str, Any]]:
    """Every record of `topic` with `key`, read from the beginning by kcat (JSON envelope per line)."""
    deadline = time.monotonic() + 60
    while True:
        process = await asyncio.create_subprocess_exec(
            kcat, "-C", "-b", kafka, "-t", topic, "-o", "beginning", "-e", "-J", "-q",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, err = await asyncio.wait_for(process.communicate(), timeout=60)
        assert process.returncode == 0, err.decode()
        records = [json.loads(line) for line in out.decode().splitlines() if line.strip()]
        mine = [r for r in records if r["key"] == key]
        if len(mine) >= at_least:
            return mine
        assert time.monotonic() < deadline, f"only {len(mine)} of {at_least} records for key {key} on {topic}"
        await asyncio.sleep(0.3)


def _headers(record: dict[str, Any]) -> dict[str, str]:
    # kcat -J lists headers as a flat array: name, value, name, value, ...
    flat = record["headers"]
    return {flat[i]: flat[i + 1] for i in range(0, len(flat), 2)}


async def test_kcat_reads_contacts_events_as_the_asyncapi_document_says(
    contacts: Contacts, kafka: str, kcat: str
) -> None:
    document = asyncapi.load(asyncapi.DEFAULT_PATH)
    assert document is not None
    customer = str(random.randint(10_000_000, 99_999_999))
    correlation = str(uuid.uuid4())
    added = await contacts.add_contact(customer, f"ada-{customer}@example.org", {"X-Correlation-ID": correlation})
    contact_id = added.json()["contact_id"]
    granted = await contacts.client.post(
        f"/api/contacts/v1/customers/{customer}/contacts/{contact_id}/authorizations",
        json={"scopes": ["dns:change", "contracts:view"]},
        headers=contacts.issuer.customer(customer),
    )
    assert granted.status_code == 201, granted.text

    channel = document["channels"]["contacts.events"]
    key_schema = document["components"]["messageBindings"]["customerNumberKey"]["kafka"]["key"]
    records = await _consume(kcat, kafka, channel["address"], customer, at_least=2)

    seen = []
    for record in records:
        headers = _headers(record)
        ce_type = headers["ce_type"]
        service, event_type, version = ce_type.removeprefix("hosting.accounts.").rsplit(".", 2)
        assert f"{event_type}.{version}" in channel["messages"], f"{ce_type} is not documented"
        header_schema, payload_schema = asyncapi.message_schemas(document, f"{service}.{event_type}.{version}")
        checker = jsonschema.Draft7Validator.FORMAT_CHECKER
        jsonschema.Draft7Validator(header_schema, format_checker=checker).validate(headers)
        jsonschema.Draft7Validator(key_schema).validate(record["key"])
        payload = json.loads(record["payload"])
        jsonschema.Draft7Validator(payload_schema, format_checker=checker).validate(payload)
        assert headers["ce_customernumber"] == record["key"] == customer
        assert headers["ce_correlationid"] == correlation or event_type != "ContactAdded"
        assert headers["ce_streamid"] == headers["ce_subject"] == f"customer-contacts-{customer}"
        seen.append((event_type, int(headers["ce_streamversion"]), payload))

    assert [(t, v) for t, v, _ in seen] == [("ContactAdded", 1), ("ContactAuthorized", 2)]
    assert seen[0][2]["contact_id"] == contact_id
    assert sorted(seen[1][2]["scopes"]) == ["contracts:view", "dns:change"]
