"""Every route of every API: hostile input, tenant isolation, concurrent writers.

The four services and the compliance API run in-process on real PostgreSQL and Kafka, each behind
uvicorn and the kernel's HTTP protocol on a real socket (so contacts' hot route is on the path
too), with customers seeded through them: an account, a contact with a grant, a domain with a
vhost and a mailbox. The routes are taken from each API's own OpenAPI document.

Hostile input: every operation is called, as the account owner and as a staff user with every
role, with one thing wrong at a time:

- each path parameter, query parameter and declared header replaced by a hostile string;
- the bearer token replaced by a malformed one, one with `alg: none`, or one signed by another key;
- the body replaced by something that is not the JSON object asked for (truncated, another JSON
  type, nested 100,000 deep, invalid UTF-8, a number no float holds, ...);
- each field of a valid body set to a hostile value (another type, 100,000 characters, a NUL
  byte, a lone UTF-16 surrogate, a right-to-left override, a 10^40 number, ...).

Each answer must be below 500; a 4xx must be an RFC 9457 problem document with its own status; and
a 4xx must leave the service's event store as it was (nothing half-written). Answers that accept
the input (a name may well be "😀") are allowed; the rest of their checks still apply.

Tenant isolation and concurrent writers: see their tests' own descriptions.
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
import zlib
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import partial
from typing import Any
from urllib.parse import quote, urlencode

import httpx
import pytest
from fastapi import FastAPI

from services.billing.service import SPEC as BILLING
from services.contacts.service import SPEC as CONTACTS
from services.domains.service import SPEC as DOMAINS
from services.identity.bootstrap import build_spec
from shared.audit.serve import create_compliance_app
from shared.auth.principal import Role
from shared.auth.testing import TestTokenIssuer
from shared.clock import FixedClock
from shared.db import Pool
from shared.http.hot import HotRouteProtocol
from shared.infra.smtp_sink import SmtpSink
from tests.conftest import create_database
from tests.integration.identity.harness import IdentityHarness, bearer, cheap_hasher, now_utc
from tests.support.services import running_service
from tests.support.uvicorn_server import uvicorn_serving
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration

HOSTILE_STRINGS = [
    "",
    " ",
    "x" * 3000,
    "../../../etc/passwd",
    "' OR '1'='1",
    "%00",
    "nul\x00byte",
    "\udcff",  # (sent as %FF: a byte that is not UTF-8)
    "\u202egpj.exe",
    "😀",
    "9" * 40,
    "-1",
]
HOSTILE_VALUES: list[Any] = [
    None,
    True,
    -1,
    10**40,
    1.5e308,
    "",
    "x" * 100_000,
    "nul\x00byte",
    "\ud800",
    "\u202egpj.exe",
    "😀" * 50,
    [],
    {},
    ["x"] * 1000,
    {"$ne": None},
]
RAW_BODIES = [
    b"",
    b"{",
    b"[]",
    b"null",
    b'"text"',
    b"1e999999",
    b"[" * 100_000 + b"]" * 100_000,
    b'{"a": "\xff\xfe"}',
    b'{"a": NaN}',
]
HOSTILE_TOKENS = [
    "Bearer",
    "Bearer x",
    "Bearer " + "a" * 8000,
    "Basic dXNlcjpwYXNzd29yZA==",
    "Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiIxMjM0NTY3OCJ9.",  # alg none
    "Bearer a.b.c",
    "Bearer ..",
]
STATUS_BELOW = 500


@dataclass
class Service:
    name: str
    app: FastAPI
    client: httpx.AsyncClient  # over a real socket
    pool: Pool | None


@dataclass
class World:
    services: dict[str, Service]
    principals: dict[str, dict[str, dict[str, str]]]  # service -> who -> headers
    values: dict[str, str]  # path parameter -> a value that exists (the customer whose tokens these are)
    others: dict[str, str]  # the same of another customer
    identity: IdentityHarness
    issuer: TestTokenIssuer


@pytest.fixture(scope="module")
async def world(pg_server: str, kafka: str, service_topics: object) -> AsyncIterator[World]:
    sink = SmtpSink()
    port = sink.start()
    issuer = TestTokenIssuer()  # the tokens of contacts, billing and domains; identity checks its own
    common: dict[str, Any] = {"smtp_port": port, "checkpoint_interval_s": 0}
    others = {**common, "verifier": issuer.verifier()}
    try:
        async with (
            running_service(build_spec(hasher=cheap_hasher()), await create_database(pg_server), kafka, **common) as (
                i_app,
                _,
            ),
            running_service(CONTACTS, await create_database(pg_server), kafka, **others) as (c_app, _),
            running_service(BILLING, await create_database(pg_server), kafka, **others) as (b_app, _),
            running_service(DOMAINS, await create_database(pg_server), kafka, **others) as (d_app, _),
        ):
            compliance = create_compliance_app(kafka, issuer.verifier())
            async with compliance.router.lifespan_context(compliance):
                apps = {"identity": i_app, "contacts": c_app, "billing": b_app, "domains": d_app}
                async with _served({**apps, "compliance": compliance}) as services:
                    yield await _seeded(services, issuer, sink)
    finally:
        sink.stop()


@asynccontextmanager
async def _served(apps: dict[str, FastAPI]) -> AsyncIterator[dict[str, Service]]:
    """Each app behind uvicorn and the kernel's protocol, with a client on its socket."""
    async with AsyncExitStack() as stack:
        services = {}
        for name, app in apps.items():
            server = await stack.enter_async_context(
                uvicorn_serving(app, HotRouteProtocol, lifespan="off", access_log=False)
            )
            client = httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.config.port}", timeout=30)
            pool = getattr(app.state.runtime, "pool", None)  # (the compliance API has no store)
            services[name] = Service(name, app, await stack.enter_async_context(client), pool)
        yield services


async def _seeded(services: dict[str, Service], issuer: TestTokenIssuer, sink: SmtpSink) -> World:
    identity = IdentityHarness(services["identity"].app, services["identity"].client, FixedClock(now_utc()), sink)
    n, _, password = await identity.customer_with_password()  # published on identity.events
    r = await identity.login(n, password)
    assert r.status_code == 201, r.text
    every_role = (Role.SUPPORT, Role.ADMIN, Role.COMPLIANCE)
    colleague, _ = await identity.create_staff(Role.SUPPORT)  # for the routes about one staff user
    principals = {
        "identity": {"owner": bearer(r.json()), "staff": await identity.staff_headers(*every_role)},
        **{
            name: {"owner": issuer.customer(n, ttl_s=3600), "staff": issuer.staff("tester", *every_role)}
            for name in ("contacts", "billing", "domains", "compliance")
        },
    }
    values = await _customer(services, n, issuer)
    other, _ = await identity.open_account()
    others = await _customer(services, other, issuer)
    for seeded in (values, others):
        seeded.update(username=colleague, event_id=str(uuid.uuid4()))
    return World(services, principals, values, others, identity, issuer)


async def _customer(services: dict[str, Service], n: str, issuer: TestTokenIssuer) -> dict[str, str]:
    """A customer with a contact holding a grant, and a domain with a vhost and a mailbox; their ids."""
    owner = issuer.customer(n, ttl_s=3600)
    for name in ("contacts", "billing", "domains"):
        pool = services[name].pool
        assert pool is not None
        await eventually(
            partial(pool.fetchval, "SELECT 1 FROM customer_accounts WHERE customer_number = $1", n), f"{name} knows {n}"
        )
    contacts, domains = services["contacts"].client, services["domains"].client
    base = f"/api/contacts/v1/customers/{n}"
    ada_body = {"name": "Ada", "email": f"ada@{n}.example"}
    ada = (await _created(contacts, f"{base}/contacts", ada_body, owner))["contact_id"]
    grant = (await _created(contacts, f"{base}/contacts/{ada}/authorizations", {"scopes": ["all"]}, owner))["grant_id"]
    domain = f"hostile{n}.de"
    mailbox = {"local_part": "team", "owner_email": f"team@{n}.example"}
    for path, body in (
        ("/domains", {"name": domain}),
        (f"/domains/{domain}/vhosts", {"name": domain}),
        (f"/domains/{domain}/vhosts/{domain}/mailboxes", mailbox),
    ):
        await _created(domains, f"/api/domains/v1/customers/{n}{path}", body, owner)
    return {
        "customer_number": n,
        "contact_id": str(ada),
        "grant_id": str(grant),
        "domain": domain,
        "vhost": domain,
        "local_part": "team",
        "source_host": f"www.{domain}",
    }


async def _created(client: httpx.AsyncClient, path: str, body: dict[str, Any], headers: dict[str, str]) -> Any:
    response = await client.post(path, json=body, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


# -- what is sent ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Operation:
    service: str
    method: str
    path: str  # the template
    spec: dict[str, Any]
    components: dict[str, Any]

    def __str__(self) -> str:
        return f"{self.method} {self.path}"

    def parameters(self, where: str) -> list[str]:
        found = []
        for parameter in self.spec.get("parameters", []):
            if "$ref" in parameter:
                continue  # the kernel's request/correlation id headers: any string is taken
            if parameter["in"] == where:
                found.append(parameter["name"])
        return found

    def body_schema(self) -> dict[str, Any] | None:
        content = self.spec.get("requestBody", {}).get("content", {})
        schema = content.get("application/json", {}).get("schema")
        return self.resolve(schema) if schema is not None else None

    def resolve(self, schema: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in schema:
            schema = self.components[schema["$ref"].rsplit("/", 1)[1]]
        return schema


@dataclass(frozen=True)
class Attempt:
    what: str
    url: str
    headers: dict[str, str]
    content: bytes | None


def _operations(world: World) -> list[Operation]:
    found = []
    for name, service in world.services.items():
        document = service.app.openapi()
        components = document.get("components", {}).get("schemas", {})
        for path, methods in document["paths"].items():
            if path.endswith(("/healthz", "/readyz", "/metrics")):
                continue  # no input to be hostile with
            for method, spec in methods.items():
                found.append(Operation(name, method.upper(), path, spec, components))
    return sorted(found, key=_ends_something)


def _ends_something(operation: Operation) -> bool:
    """Deletions, departures, revocations, cancellations: an accepted one changes the world the rest meet."""
    ending = ("/departure", "/revocation", "/cancellation", "/withdrawal", "/deactivation", "/logout")
    return operation.method == "DELETE" or operation.path.endswith(ending)


def _valid(operation: Operation, schema: dict[str, Any], world: World, field: str = "") -> Any:
    """A value the schema accepts (what a careful client would send), to be spoiled one field at a time."""
    n = world.values["customer_number"]
    someone = f"someone{zlib.crc32(str(operation).encode()) % 100_000}@{n}.example"  # (one per route)
    named = {
        "email": someone,
        "owner_email": someone,
        "reference_email": someone,
        "phone": "+49 30 1234567",
        "customer_number": n,
        "contact_id": world.values["contact_id"],
        "country": "DE",
        "postcode": "10115",
        "name": _name_for(operation, world),
        "version": 0,  # (a stale one is refused with 409 after everything else was checked)
        "requester": {"email": f"ada@{n}.example"},
        "target_url": "https://example.org/",
        "local_part": "new",
        "vat_id": None,
        "username": "someone",
        "new_password": "correct horse battery staple 42",
        "initial_password": "correct horse battery staple 42",
    }
    if field in named:
        return named[field]
    schema = operation.resolve(schema)
    for combined in ("anyOf", "oneOf", "allOf"):
        if combined in schema:
            options = [operation.resolve(s) for s in schema[combined] if operation.resolve(s).get("type") != "null"]
            return _valid(operation, options[0], world) if options else None
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    if kind == "object":
        required = set(schema.get("required", []))
        return {
            key: _valid(operation, sub, world, key)
            for key, sub in schema.get("properties", {}).items()
            if key in required or key in ALSO_SENT
        }
    if kind == "array":
        return [_valid(operation, schema.get("items", {}), world)] if schema.get("minItems") else []
    if kind == "integer":
        return max(schema.get("minimum", 0), 0)
    if kind == "number":
        return 1.0
    if kind == "boolean":
        return False
    formats: dict[str, Callable[[], str]] = {
        "date-time": lambda: datetime.now(UTC).isoformat(),
        "date": lambda: (date.today() + timedelta(days=40)).isoformat(),
        "email": lambda: someone,
        "uuid": lambda: str(uuid.uuid4()),
    }
    if schema.get("format") in formats:
        return formats[schema["format"]]()
    return "Hostile test " + "x" * max(0, schema.get("minLength", 0) - 12)


ALSO_SENT = {"version", "requester", "postcode"}  # optional in the schema, needed to get past the first check


def _name_for(operation: Operation, world: World) -> str:
    if operation.service != "domains":
        return "Grace"
    if operation.path.endswith("/domains"):
        return f"new{world.values['customer_number']}.de"  # an order of another domain
    return f"sub.{world.values['domain']}"


def _filled(operation: Operation, values: dict[str, str], **override: str) -> str:
    """The operation's path with `values` (and `override`) put in, percent-encoded."""
    filled = operation.path
    for name in operation.parameters("path"):
        value = override.get(name, values.get(name, "x"))
        filled = filled.replace("{" + name + "}", quote(value, safe="", errors="surrogateescape"))
    return filled


def _attempts(operation: Operation, world: World) -> Iterator[Attempt]:
    url = partial(_filled, operation, world.values)

    json_headers = {"Content-Type": "application/json"}
    schema = operation.body_schema()
    body = _valid(operation, schema, world) if schema is not None else None
    valid_body = json.dumps(body).encode() if schema is not None else None
    for name in operation.parameters("path"):
        for value in HOSTILE_STRINGS:
            yield Attempt(f"path {name}={value[:20]!r}", url(**{name: value}), json_headers, valid_body)
    for name in operation.parameters("query"):
        for value in HOSTILE_STRINGS:
            query = urlencode({name: value}, errors="surrogateescape")
            yield Attempt(f"query {name}={value[:20]!r}", f"{url()}?{query}", json_headers, valid_body)
    for name in operation.parameters("header"):
        for value in HOSTILE_STRINGS:
            if value.isascii() and value.isprintable() and value == value.strip():  # (what a client can send)
                yield Attempt(f"header {name}={value[:20]!r}", url(), {**json_headers, name: value}, valid_body)
    if operation.spec.get("security"):
        forged = TestTokenIssuer().customer(world.values["customer_number"])["Authorization"]  # another key
        for token in (*HOSTILE_TOKENS, forged):
            yield Attempt(f"authorization {token[:30]!r}", url(), {**json_headers, "Authorization": token}, valid_body)
    if schema is None:
        return
    for raw in RAW_BODIES:
        yield Attempt(f"body {raw[:20]!r}", url(), json_headers, raw)
    yield Attempt("body as text/plain", url(), {"Content-Type": "text/plain"}, valid_body)
    assert isinstance(body, dict), operation
    for field in schema.get("properties", {}):
        for value in HOSTILE_VALUES:
            spoiled = json.dumps({**body, field: value}).encode()
            yield Attempt(f"field {field}={str(value)[:20]!r}", url(), json_headers, spoiled)


# -- what must hold --------------------------------------------------------------------------------


async def _events(service: Service) -> int:
    if service.pool is None:
        return 0  # the compliance API only reads
    count: int = await service.pool.fetchval("SELECT count(*) FROM events")
    return count


def _problem_of(response: httpx.Response) -> str | None:
    """What is wrong with a 4xx answer as a problem document (None: nothing)."""
    if not response.headers.get("content-type", "").startswith("application/problem+json"):
        return f"content-type {response.headers.get('content-type')}"
    try:
        problem = response.json()
    except ValueError:
        return "not JSON"
    if problem.get("status") != response.status_code or not isinstance(problem.get("title"), str):
        return f"status/title: {problem}"
    return None


async def test_no_hostile_input_gets_a_server_error_a_bare_answer_or_a_half_write(world: World) -> None:
    failures: list[str] = []
    tried = refused = 0
    operations = _operations(world)
    assert {operation.service for operation in operations} == set(world.services)
    for operation in operations:
        service = world.services[operation.service]
        for who, principal in world.principals[operation.service].items():
            for attempt in _attempts(operation, world):
                before = await _events(service)
                response = await service.client.request(
                    operation.method, attempt.url, headers={**principal, **attempt.headers}, content=attempt.content
                )
                tried += 1
                where = f"{operation} as {who}, {attempt.what}: {response.status_code}"
                if response.status_code >= STATUS_BELOW:
                    failures.append(f"{where} {response.text[:300]}")
                elif response.status_code >= 400:
                    refused += 1
                    if (problem := _problem_of(response)) is not None:
                        failures.append(f"{where} not a problem document ({problem})")
                    if (after := await _events(service)) != before and not _may_record_refusal(operation):
                        failures.append(f"{where} wrote {after - before} events")
    assert not failures, f"{len(failures)} of {tried}:\n" + "\n".join(failures[:40])
    assert refused > tried * 0.8, (refused, tried)  # the input was hostile: most of it must be refused


async def test_a_method_a_route_does_not_have_is_a_405_problem_naming_those_it_has(world: World) -> None:
    """RFC 9110: a 405 names every method of the resource in Allow (here as a problem document)."""
    failures = []
    for name, service in world.services.items():
        for path, methods in service.app.openapi()["paths"].items():
            declared = {method.upper() for method in methods}
            url = _filled(Operation(name, "GET", path, next(iter(methods.values())), {}), world.values)
            method = sorted({"PATCH", "PUT", "DELETE", "POST"} - declared)[0]
            response = await service.client.request(method, url, headers=world.principals[name]["owner"])
            allowed = {m.strip() for m in response.headers.get("allow", "").split(",")}
            if response.status_code != 405 or _problem_of(response) is not None or allowed != declared:
                failures.append(f"{method} {path}: {response.status_code}, Allow {response.headers.get('allow')}")
    assert not failures, "\n".join(failures[:20])


def _may_record_refusal(operation: Operation) -> bool:
    # A failed login is itself a fact identity records (throttling counts it).
    return operation.service == "identity" and bool(re.search(r"/sessions$|/staff-sessions$", operation.path))


NO_SUCH_CUSTOMER = "9999999"  # (the seeded numbers have eight digits)


async def test_a_customer_sees_nothing_of_another_and_cannot_tell_whether_it_exists(world: World) -> None:
    """Tenant isolation on every route with a customer number, as the account owner with a valid body:
    another customer's number, or the own number with another customer's ids (contact, grant,
    domain, ...), is answered as a number that does not exist is (404, or 403 where no customer may
    call the route), with the same title; and nothing is written."""
    failures: list[str] = []
    tried = 0
    own = world.values["customer_number"]
    for operation in _operations(world):
        if "{customer_number}" not in operation.path:
            continue
        service = world.services[operation.service]
        schema = operation.body_schema()
        content = json.dumps(_valid(operation, schema, world)).encode() if schema is not None else None
        headers = {**world.principals[operation.service]["owner"], "Content-Type": "application/json"}
        cases = {
            "another customer's number": _filled(operation, world.others),
            "a number nobody has": _filled(operation, world.others, customer_number=NO_SUCH_CUSTOMER),
        }
        if len(operation.parameters("path")) > 1:
            cases["the own number with another customer's ids"] = _filled(operation, world.others, customer_number=own)
        answers = {}
        for case, url in cases.items():
            before = await _events(service)
            response = await service.client.request(operation.method, url, headers=headers, content=content)
            tried += 1
            problem = response.json() if response.content else None
            answers[case] = (response.status_code, problem.get("title") if isinstance(problem, dict) else None)
            if response.status_code not in (403, 404):
                failures.append(f"{operation}, {case}: {response.status_code} {response.text[:200]}")
            if await _events(service) != before:
                failures.append(f"{operation}, {case}: wrote events")
        if answers["another customer's number"] != answers["a number nobody has"]:
            failures.append(f"{operation}: another customer is told from none: {answers}")
    assert not failures, "\n".join(failures[:40])
    assert tried > 60, tried


WRITERS = 6  # concurrent copies of one request


async def test_concurrent_writers_get_one_success_and_409s_never_a_5xx_or_a_lost_update(world: World) -> None:
    """Every write route with a customer number, as the account owner: the same valid request sent
    six times at once. Requests that name what they read (`version`, or the GET's ETag as If-Match)
    succeed once and get 409 otherwise; any other write may succeed several times (each applied to the state the one
    before left) or be refused as a conflict, but never with a 5xx. Afterwards every stream's
    versions run 1, 2, 3, ... in every store: nothing was lost or written twice."""
    failures: list[str] = []
    n, _, password = await world.identity.customer_with_password()  # a customer of its own, untouched
    login = await world.identity.login(n, password)
    owners = {name: world.issuer.customer(n, ttl_s=3600) for name in world.services}
    owners["identity"] = bearer(login.json())
    fresh = World(
        world.services, {}, await _customer(world.services, n, world.issuer), {}, world.identity, world.issuer
    )
    for operation in _operations(world):
        if "{customer_number}" not in operation.path or operation.method not in {"POST", "PUT", "DELETE"}:
            continue
        service = world.services[operation.service]
        url = _filled(operation, fresh.values)
        schema = operation.body_schema()
        body = _valid(operation, schema, fresh) if schema is not None else None
        headers = {**owners[operation.service], "Content-Type": "application/json"}
        named_read = isinstance(body, dict) and "version" in body
        if isinstance(body, dict) and named_read:
            body["version"] = await _current_version(service, url, owners[operation.service])
        elif "if-match" in operation.parameters("header"):
            read = await service.client.get(url, headers=owners[operation.service])
            if "etag" in read.headers:  # (a redirect has no GET of its own: its tag is in the domain's)
                headers["If-Match"] = read.headers["etag"]
                named_read = True
        content = json.dumps(body).encode() if body is not None else None
        responses = await asyncio.gather(
            *(service.client.request(operation.method, url, headers=headers, content=content) for _ in range(WRITERS))
        )
        statuses = sorted(r.status_code for r in responses)
        where = f"{operation}: {statuses}"
        if statuses[-1] >= STATUS_BELOW:
            failures.append(f"{where} {[r.text[:200] for r in responses if r.status_code >= STATUS_BELOW][:1]}")
        failures += [f"{where}: {problem}" for r in responses if r.status_code >= 400 and (problem := _problem_of(r))]
        if named_read and (statuses[0] >= 300 or statuses.count(409) != WRITERS - 1):
            failures.append(f"{where}: all sent what they read, so one must succeed and the others get 409")
    for name, service in world.services.items():
        if service.pool is not None:
            broken = await service.pool.fetch(
                "SELECT stream_id FROM events GROUP BY stream_id"
                " HAVING count(*) <> max(stream_version) OR min(stream_version) <> 1"
            )
            failures += [f"{name}: stream {row['stream_id']} has a gap or a double" for row in broken]
    assert not failures, "\n".join(failures[:40])


async def _current_version(service: Service, url: str, headers: dict[str, str]) -> int:
    """The version a client would have read: the resource's GET, or 0 where it has none yet."""
    response = await service.client.get(url, headers=headers)
    if response.status_code != 200:
        return 0
    version = response.json().get("version", 0)
    assert isinstance(version, int)
    return version
