"""The account owner's view: addresses and e-mail with versions, validation, 404s, isolation."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from shared.auth.principal import Role
from tests.integration.billing.conftest import BillingEnv, new_customer

pytestmark = pytest.mark.integration

ADDRESS = {
    "recipient": "Acme GmbH",
    "addition": "Buchhaltung",
    "street": "Hauptstr. 1",
    "postcode": "10115",
    "city": "Berlin",
    "country": "DE",
    "vat_id": "DE 136 695 976",
}


def problem(r: Any, status: int) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = r.json()
    assert body["status"] == status
    return body


async def test_the_owner_sets_and_reads_the_address_with_its_version_and_a_stale_version_gets_409(
    env: BillingEnv,
) -> None:
    n = await env.open_account(new_customer())
    empty = await env.billing.get(env.url(n, "billing-address"), headers=env.owner(n))
    assert empty.status_code == 200
    assert empty.json() == {
        "customer_number": n,
        "version": 0,
        "address": None,
        "changed": None,
        "decision": None,
    }
    assert empty.headers["etag"] == '"0"'

    r = await env.billing.put(env.url(n, "billing-address"), json=ADDRESS, headers={**env.owner(n), "If-Match": '"0"'})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["version"] == 1
    assert body["changed"] is True
    assert r.headers["etag"] == '"1"'
    assert body["address"] == {**ADDRESS, "vat_id": "DE136695976"}
    assert body["decision"]["basis"] == "portal_account_owner"
    assert body["decision"]["requested_by"] == f"customer:{n}"
    assert body["decision"]["authorization_version"] is None

    # The same address again changes nothing; the version in the body works as well as If-Match.
    same = await env.billing.put(env.url(n, "billing-address"), json={**ADDRESS, "version": 1}, headers=env.owner(n))
    assert same.json()["changed"] is False
    assert same.json()["version"] == 1

    moved = {**ADDRESS, "street": "Ring 2", "postcode": "1010", "city": "Wien", "country": "at", "vat_id": None}
    r = await env.billing.put(env.url(n, "billing-address"), json={**moved, "version": 1}, headers=env.owner(n))
    assert r.json()["version"] == 2
    assert r.json()["address"]["country"] == "AT"
    stale = await env.billing.put(env.url(n, "billing-address"), json={**ADDRESS, "version": 1}, headers=env.owner(n))
    assert problem(stale, 409)["expected_version"] == 1
    read = await env.billing.get(env.url(n, "billing-address"), headers=env.owner(n))
    assert read.json()["address"]["city"] == "Wien"
    assert read.headers["etag"] == '"2"'

    # The e-mail has its own version: changing the address never makes it stale.
    r = await env.put(n, "invoice-email", {"email": "invoices@example.org"}, env.owner(n), version=0)
    assert r.status_code == 200, r.text
    assert (r.json()["version"], r.json()["email"]) == (1, "invoices@example.org")
    stale = await env.put(n, "invoice-email", {"email": "other@example.org"}, env.owner(n), version=0)
    problem(stale, 409)

    # Writers racing with the same version: exactly one wins, the others get 409 (no lost update).
    racing = await asyncio.gather(
        *(
            env.billing.put(
                env.url(n, "billing-address"), json={**moved, "city": f"Wien {i}", "version": 2}, headers=env.owner(n)
            )
            for i in range(4)
        )
    )
    assert sorted(r.status_code for r in racing) == [200, 409, 409, 409]
    winner = next(r for r in racing if r.status_code == 200).json()["address"]["city"]
    assert (await env.billing.get(env.url(n, "billing-address"), headers=env.owner(n))).json()["address"]["city"] == (
        winner
    )

    for missing in ({}, {"If-Match": "three"}, {"If-Match": '"2"'}):
        body_version = {"version": 1} if missing.get("If-Match") == '"2"' else {}
        r = await env.billing.put(
            env.url(n, "billing-address"), json={**ADDRESS, **body_version}, headers={**env.owner(n), **missing}
        )
        problem(r, 422)


async def test_unknown_customers_are_404_and_tenants_are_isolated(env: BillingEnv) -> None:
    a = await env.open_account(new_customer())
    b = await env.open_account(new_customer())
    r = await env.put(b, "billing-address", ADDRESS, env.owner(b), version=0)
    assert r.status_code == 200
    never = new_customer()
    for headers in (env.owner(never), env.support()):
        problem(await env.billing.get(env.url(never, "billing-address"), headers=headers), 404)
        problem(await env.billing.get(env.url(never, "invoice-email"), headers=headers), 404)
    r = await env.billing.put(
        env.url(never, "invoice-email"), json={"email": "x@example.org", "version": 0}, headers=env.owner(never)
    )
    assert problem(r, 404)["detail"] == "no such customer"

    # A's token reaches nothing of B's, and cannot tell B exists.
    for path in ("billing-address", "invoice-email", "billing-history"):
        problem(await env.billing.get(env.url(b, path), headers=env.owner(a)), 404)
    r = await env.billing.put(env.url(b, "billing-address"), json={**ADDRESS, "version": 1}, headers=env.owner(a))
    problem(r, 404)
    assert (await env.billing.get(env.url(b, "billing-address"), headers=env.owner(b))).json()["version"] == 1

    # Compliance reads but does not write; no token is 401.
    compliance = env.issuer.staff("carla", Role.COMPLIANCE)
    assert (await env.billing.get(env.url(b, "billing-address"), headers=compliance)).status_code == 200
    problem(
        await env.billing.put(env.url(b, "billing-address"), json={**ADDRESS, "version": 1}, headers=compliance), 403
    )
    r = await env.billing.get(env.url(b, "billing-address"))
    problem(r, 401)
    assert r.headers["www-authenticate"].startswith("Bearer")


BAD_ADDRESSES: list[tuple[dict[str, Any], str]] = [
    ({"postcode": "1011"}, "postcode"),
    ({"postcode": "00123"}, "postcode"),
    ({"postcode": "D-10115"}, "postcode"),
    ({"country": "AT", "postcode": "10115"}, "postcode"),
    ({"country": "CH", "postcode": "CH-8001"}, "postcode"),
    ({"country": "CH", "postcode": "800"}, "postcode"),
    ({"country": "XX"}, "country"),
    ({"country": "DEU"}, "country"),
    ({"vat_id": "DE136695978"}, "vat_id"),
    ({"vat_id": "136695976"}, "vat_id"),
    ({"vat_id": "ATU1358562"}, "vat_id"),
    ({"country": "GR", "postcode": "10557", "vat_id": "GR094259216"}, "vat_id"),
    ({"street": "Hauptstr.\u200b1"}, "street"),
    ({"city": "B" * 101}, "city"),
]


async def test_bad_input_is_answered_with_problem_details(env: BillingEnv) -> None:
    n = await env.open_account(new_customer())
    url = env.url(n, "billing-address")
    for change, field in BAD_ADDRESSES:
        r = await env.billing.put(url, json={**ADDRESS, **change, "version": 0}, headers=env.owner(n))
        body = problem(r, 422)
        assert body.get("field") == field, (change, body)
        assert body["title"] == "Invalid billing address"
    # Shape errors are pydantic's 422 with the field's location; unknown fields are refused.
    for body in (
        {**ADDRESS, "recipient": ""},
        {**ADDRESS, "street": "   "},
        {**ADDRESS, "colour": "blue"},
        {"recipient": "x"},
    ):
        assert problem(await env.billing.put(url, json={**body, "version": 0}, headers=env.owner(n)), 422)["errors"]
    r = await env.billing.put(url, content=b"{not json", headers={**env.owner(n), "content-type": "application/json"})
    problem(r, 400)
    # A NUL character is refused for every service's bodies alike (shared.http.bodies), naming the field.
    r = await env.billing.put(url, json={**ADDRESS, "recipient": "Acme\u0000GmbH", "version": 0}, headers=env.owner(n))
    [error] = problem(r, 422)["errors"]
    assert error["location"] == ["body", "recipient"]

    bad_emails = ["", "plainaddress", "a@b", "a..b@example.org", "Ann <ann@example.org>", "ann@exa mple.org"]
    for email in bad_emails:
        r = await env.billing.put(
            env.url(n, "invoice-email"), json={"email": email, "version": 0}, headers=env.owner(n)
        )
        assert r.status_code == 422, (email, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")

    # on_behalf_of is support's; support must name someone; the requester must be readable.
    r = await env.billing.put(
        url, json={**ADDRESS, "version": 0, "on_behalf_of": {"email": "x@example.org"}}, headers=env.owner(n)
    )
    assert "on_behalf_of" in problem(r, 422)["detail"]
    assert (
        "on_behalf_of"
        in problem(await env.billing.put(url, json={**ADDRESS, "version": 0}, headers=env.support()), 422)["detail"]
    )
    for who in ({"phone": "12"}, {"email": "not-an-address"}, {"email": "a@b.de", "phone": "030 1234567"}, {}):
        r = await env.billing.put(url, json={**ADDRESS, "version": 0, "on_behalf_of": who}, headers=env.support())
        problem(r, 422)
    assert (await env.billing.get(url, headers=env.owner(n))).json()["version"] == 0


async def test_openapi_documents_the_endpoints_their_errors_and_the_version(env: BillingEnv) -> None:
    doc = (await env.billing.get("/api/billing/openapi.json")).json()
    paths = doc["paths"]
    for path in ("billing-address", "invoice-email"):
        put = paths[f"/api/billing/v1/customers/{{customer_number}}/{path}"]["put"]
        assert {"401", "403", "404", "409", "422"} <= set(put["responses"])
        assert any(p["name"] == "if-match" for p in put["parameters"])
        assert "stale" in put["description"] or "409" in put["description"]
    assert "get" in paths["/api/billing/v1/customers/{customer_number}/billing-history"]
