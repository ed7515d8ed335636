"""The development seed: a demo customer and one staff user per role, unless they exist.

    python -m services.identity seed [--reset-passwords]
    make passwords        (the same with --reset-passwords, against the running `make run`)

For `make run` only; no production configuration runs it. New passwords are random and are
printed to this command's standard output, for the developer at the terminal; they never go to
a log or an event (the events say only that a password was set, by the seed).
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import sys
import uuid
from dataclasses import dataclass
from typing import TextIO

from services.identity.adapters.hashing import SecretHasher
from services.identity.bootstrap import build_spec
from services.identity.domain import accounts, passwords, staff
from services.identity.domain.errors import WeakPassword
from services.identity.domain.events import SubjectKind
from services.identity.handlers import accounts as handlers
from services.identity.handlers.common import account_state, change_password, staff_state
from services.identity.runtime import EXTRA, IdentityRuntime
from shared.auth.principal import Role
from shared.envelope import Actor, ActorKind, EventContext
from shared.service import open_runtime
from shared.settings import ServiceSettings

SEED_ACTOR = Actor(ActorKind.SYSTEM, "development-seed")
DEMO_CUSTOMER = accounts.OpenCustomerAccount("100001", "Demo Customer GmbH", "demo@example.org")
DEMO_STAFF = (
    staff.CreateStaffUser("demo-support", "Demo Support Agent", frozenset({Role.SUPPORT})),
    staff.CreateStaffUser("demo-compliance", "Demo Compliance Auditor", frozenset({Role.COMPLIANCE})),
    staff.CreateStaffUser("demo-admin", "Demo Administrator", frozenset({Role.ADMIN})),
)


@dataclass(frozen=True)
class SeedLine:
    kind: SubjectKind
    login: str
    password: str | None  # None: existed already, password unchanged


def _context(rt: IdentityRuntime, customer_number: str) -> EventContext:
    return EventContext(customer_number, SEED_ACTOR, rt.clock.now(), uuid.uuid4(), metadata={"basis": "seed"})


def _new_password(subject: str) -> str:
    while True:
        candidate = secrets.token_urlsafe(12)
        try:
            passwords.check_new_password(candidate, subject=subject, email=None)
        except WeakPassword:
            continue
        return candidate


async def _set_password(rt: IdentityRuntime, kind: SubjectKind, subject: str) -> str:
    password = _new_password(subject)
    password_hash = await rt.hasher.hash(passwords.normalise(password))
    context = _context(rt, subject)
    async with rt.uow() as tx:
        await change_password(tx, kind, subject, password_hash, "development_seed", context)
        await tx.commit()
    return password


async def seed(rt: IdentityRuntime, *, reset_passwords: bool = False) -> list[SeedLine]:
    lines: list[SeedLine] = []
    number = DEMO_CUSTOMER.customer_number
    async with rt.uow() as tx:
        customer, _ = await account_state(tx, number)
    if not customer.opened:
        await handlers.open_customer_account(rt, DEMO_CUSTOMER, _context(rt, number))
    fresh = not customer.opened or reset_passwords
    password = await _set_password(rt, "customer", number) if fresh else None
    lines.append(SeedLine("customer", number, password))

    for cmd in DEMO_STAFF:
        async with rt.uow() as tx:
            user, _ = await staff_state(tx, cmd.username)
        if not user.exists:
            await handlers.create_staff_user(rt, cmd, _new_password(cmd.username), _context(rt, "0"), None)
        fresh = not user.exists or reset_passwords
        password = await _set_password(rt, "staff", cmd.username) if fresh else None
        lines.append(SeedLine("staff", cmd.username, password))
    return lines


def print_lines(lines: list[SeedLine], out: TextIO) -> None:
    out.write("Development logins (identity seed):\n")
    for line in lines:
        label = "customer number" if line.kind == "customer" else "staff user     "
        secret = line.password or "(exists; password unchanged - `make passwords` gives new ones)"
        out.write(f"  {label}  {line.login:<16} password  {secret}\n")
    out.flush()


async def run(
    settings: ServiceSettings, *, reset_passwords: bool, out: TextIO, hasher: SecretHasher | None = None
) -> None:
    runtime = await open_runtime(build_spec(hasher=hasher), settings)
    identity: IdentityRuntime = runtime.extras[EXTRA]
    try:
        print_lines(await seed(identity, reset_passwords=reset_passwords), out)
    finally:
        await runtime.pool.close()
        identity.hasher.close()


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m services.identity seed", description=__doc__.splitlines()[0])
    parser.add_argument("--reset-passwords", action="store_true", help="give the seeded logins new passwords")
    arguments = parser.parse_args(argv)
    asyncio.run(run(ServiceSettings.from_env("identity"), reset_passwords=arguments.reset_passwords, out=sys.stdout))
