"""The operator's commands for the token signing keys.

    python -m services.identity rotate-key [--publish-ahead-s N]
    python -m services.identity retire-keys

`rotate-key` adds a key that is published at once and signs from N seconds on (default: 10
minutes, so that every verifier has fetched it first); while such a key still waits, it adds
none and exits with status 1. `retire-keys` withdraws the keys superseded at least 25 minutes
ago (the longest access token lifetime and a margin), so no unexpired token they signed can
remain; never the signing key. Running identity processes take either up within
`IDENTITY_SIGNING_KEYS_RELOAD_S`; nothing restarts. Both print key ids and times only, never
key material.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import datetime, timedelta
from typing import TextIO

from services.identity.adapters import signing
from services.identity.domain.signing_keys import PUBLISH_AHEAD, signing_at
from services.identity.service import SPEC
from shared import db
from shared.clock import Clock, SystemClock
from shared.logging_setup import configure_logging
from shared.service import service_migrations
from shared.settings import ServiceSettings


async def _pool(settings: ServiceSettings) -> db.Pool:
    pool = await db.create_pool(settings.database_url, max_size=2)
    async with pool.acquire() as conn:  # a new database, or one not migrated yet since an upgrade
        await db.migrate(conn, service_migrations(SPEC))
    return pool


def _lines(keys: list[signing.SigningKey], now: datetime) -> str:
    signing_now = signing_at(keys, now).kid if keys else None
    return "".join(
        f"  {k.kid}  signs from {k.signs_from.isoformat()}{'  (signing now)' if k.kid == signing_now else ''}\n"
        for k in sorted(keys, key=lambda k: k.signs_from)
    )


async def rotate_key(
    settings: ServiceSettings, publish_ahead: timedelta, out: TextIO, clock: Clock | None = None
) -> int:
    pool = await _pool(settings)
    try:
        now = (clock or SystemClock()).now()
        # On a database identity never started on, the first key signs at once (there is no
        # verifier yet that could lack it) and the rotated one after it, as asked.
        await signing.ensure_signing_key(pool, now)
        try:
            key = await signing.rotate(pool, now, publish_ahead)
        except signing.RotationRefused as refused:
            out.write(f"not rotated: {refused}\n")
            return 1
        out.write(f"new signing key {key.kid}: published now, signs from {key.signs_from.isoformat()}\n")
        out.write("live keys:\n" + _lines(await signing.load_signing_keys(pool), now))
        return 0
    finally:
        await pool.close()


async def retire_keys(settings: ServiceSettings, out: TextIO, clock: Clock | None = None) -> int:
    pool = await _pool(settings)
    try:
        now = (clock or SystemClock()).now()
        retired = await signing.retire(pool, now)
        if retired:
            out.write("".join(f"retired {k.kid} (signed from {k.signs_from.isoformat()})\n" for k in retired))
        else:
            out.write("nothing to retire\n")
        out.write("live keys:\n" + _lines(await signing.load_signing_keys(pool), now))
        return 0
    finally:
        await pool.close()


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m services.identity", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    rotate = commands.add_parser("rotate-key", help="add a signing key that signs after a delay")
    rotate.add_argument(
        "--publish-ahead-s",
        type=int,
        default=int(PUBLISH_AHEAD.total_seconds()),
        help="seconds between publishing the key and signing with it (default: %(default)s)",
    )
    commands.add_parser("retire-keys", help="withdraw keys superseded long enough ago")
    arguments = parser.parse_args(argv)
    settings = ServiceSettings.from_env("identity")
    configure_logging("identity", settings.log_level)
    if arguments.command == "rotate-key":
        if arguments.publish_ahead_s < 0:
            parser.error("--publish-ahead-s must not be negative")
        ahead = timedelta(seconds=arguments.publish_ahead_s)
        sys.exit(asyncio.run(rotate_key(settings, ahead, sys.stdout)))
    sys.exit(asyncio.run(retire_keys(settings, sys.stdout)))
