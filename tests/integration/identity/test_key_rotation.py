"""Rotating and retiring token signing keys with the services running (real PostgreSQL)."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from jwt.utils import base64url_encode

from services.identity.adapters import signing
from services.identity.adapters.hashing import SecretHasher
from services.identity.domain.signing_keys import PUBLISH_AHEAD
from shared import db
from shared.auth import InvalidToken, JwksTokenVerifier, StaticKeyTokenVerifier
from shared.auth.verifier import keys_from_jwks
from shared.infra.smtp_sink import SmtpSink
from tests.integration.identity.harness import IdentityHarness, bearer
from tests.integration.identity.test_token_verification import identity_over_http

pytestmark = pytest.mark.integration

JWKS = "/api/identity/.well-known/jwks.json"
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


def _kid(token: str) -> str:
    kid: str = jwt.get_unverified_header(token)["kid"]
    return kid


async def _published(identity: IdentityHarness) -> list[str]:
    return sorted(k["kid"] for k in (await identity.client.get(JWKS)).json()["keys"])


async def _token(identity: IdentityHarness, number: str, password: str) -> dict[str, Any]:
    response = await identity.login(number, password)
    assert response.status_code == 201, response.text
    tokens: dict[str, Any] = response.json()
    return tokens


async def _reload(identity: IdentityHarness) -> bool:
    """One round of the app's periodic reload, driven directly (it runs every 30 s by itself)."""
    return await signing.reload_signing_keys(identity.runtime.pool, identity.runtime.signer)


async def _switched(identity: IdentityHarness) -> signing.SigningKey:
    """A rotation whose key has started signing (published a second ahead, the clock moved two:
    tokens are verified by the real time, so identity's clock cannot jump minutes ahead)."""
    key = await signing.rotate(identity.runtime.pool, identity.clock.now(), timedelta(seconds=1))
    identity.clock.advance(timedelta(seconds=2))
    assert await _reload(identity)
    return key


async def test_a_rotated_key_is_published_first_and_signs_only_later(identity: IdentityHarness) -> None:
    number, _, password = await identity.customer_with_password()
    [first] = await _published(identity)
    key = await signing.rotate(identity.runtime.pool, identity.clock.now())
    assert key.signs_from == identity.clock.now() + PUBLISH_AHEAD
    assert await _reload(identity)
    assert not await _reload(identity)  # nothing new the second time

    assert await _published(identity) == sorted([first, key.kid])
    assert _kid((await _token(identity, number, password))["access_token"]) == first
    with pytest.raises(signing.RotationRefused):
        await signing.rotate(identity.runtime.pool, identity.clock.now())
    # Nothing is retired while the new key has not even started.
    assert await signing.retire(identity.runtime.pool, identity.clock.now() + timedelta(minutes=5)) == []

    # The switch happens at signs_from, by the signing process's clock. (Only the header is read:
    # these tokens lie in the future of the real clock that verifiers use.)
    identity.clock.set(key.signs_from - timedelta(seconds=1))
    assert _kid((await _token(identity, number, password))["access_token"]) == first
    identity.clock.set(key.signs_from)
    assert _kid((await _token(identity, number, password))["access_token"]) == key.kid
    assert await _published(identity) == sorted([first, key.kid])


async def test_after_the_switch_old_tokens_verify_until_the_old_key_is_retired(identity: IdentityHarness) -> None:
    number, _, password = await identity.customer_with_password()
    [first] = await _published(identity)
    before = await _token(identity, number, password)
    key = await _switched(identity)

    after = await _token(identity, number, password)
    assert _kid(after["access_token"]) == key.kid
    assert (await identity.client.get("/api/identity/v1/me", headers=bearer(before))).status_code == 200
    assert await signing.retire(identity.runtime.pool, identity.clock.now()) == []  # superseded just now

    later = identity.clock.now() + timedelta(minutes=30)
    assert [k.kid for k in await signing.retire(identity.runtime.pool, later)] == [first]
    # Its private half is gone from the table (nothing could sign with it again); its public half stays.
    stored = {
        r["kid"]: r for r in await identity.runtime.pool.fetch("SELECT kid, private_key, public_jwk FROM signing_keys")
    }
    assert stored[first]["private_key"] is None
    assert stored[first]["public_jwk"]
    assert stored[key.kid]["private_key"] is not None
    with pytest.raises(asyncpg.CheckViolationError):  # nor can a retirement by hand keep it
        await identity.runtime.pool.execute("UPDATE signing_keys SET retired_at = now() WHERE kid = $1", key.kid)
    assert await _reload(identity)
    assert await _published(identity) == [key.kid]
    # The signing key stays, however long after: retiring never leaves no key.
    assert await signing.retire(identity.runtime.pool, later + timedelta(days=365)) == []
    assert await _published(identity) == [key.kid]
    assert (await identity.client.get("/api/identity/v1/me", headers=bearer(before))).status_code == 401
    assert (await identity.client.get("/api/identity/v1/me", headers=bearer(after))).status_code == 200
    elsewhere = StaticKeyTokenVerifier(keys_from_jwks((await identity.client.get(JWKS)).json()))
    with pytest.raises(InvalidToken):
        await elsewhere.verify(before["access_token"])
    assert (await elsewhere.verify(after["access_token"])).subject == number


async def test_each_process_follows_the_keys_and_stops_with_its_pool(identity: IdentityHarness) -> None:
    pool = await db.create_pool(_database_url(identity))
    keys = await signing.load_signing_keys(pool)
    signer = signing.TokenSigner(keys, identity.clock)
    following = asyncio.create_task(signing.follow_signing_keys(pool, signer, 0.05))
    key = await signing.rotate(pool, identity.clock.now())
    for _ in range(500):  # ~10 s at most; the loop reloads every 50 ms
        if key.kid in signer.kids:
            break
        await asyncio.sleep(0.02)
    else:
        pytest.fail("the rotated key was not taken up")
    await pool.close()
    async with asyncio.timeout(5):
        await following
    # A database that cannot be read keeps the keys a process has.
    assert not await signing.reload_signing_keys(pool, signer)
    assert key.kid in signer.kids
    assert signer.verifier()._keys.keys() == signer.kids


def _database_url(identity: IdentityHarness) -> str:
    url: str = identity.app.state.runtime.settings.database_url
    return url


async def test_the_operators_commands_reach_a_running_identity(identity: IdentityHarness) -> None:
    number, _, password = await identity.customer_with_password()
    [first] = await _published(identity)
    env = {**os.environ, "IDENTITY_DATABASE_URL": _database_url(identity), "LOG_LEVEL": "WARNING"}

    def run(*arguments: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "services.identity", *arguments]
        return subprocess.run(command, env=env, cwd=REPO, capture_output=True, text=True, timeout=60, check=False)

    started = datetime.now(UTC)
    rotated = await asyncio.to_thread(run, "rotate-key")
    assert rotated.returncode == 0, rotated.stderr
    announced = re.search(r"new signing key (\S+): published now, signs from (\S+)", rotated.stdout)
    assert announced, rotated.stdout
    kid, signs_from = announced.group(1), datetime.fromisoformat(announced.group(2))
    assert started + PUBLISH_AHEAD <= signs_from <= datetime.now(UTC) + PUBLISH_AHEAD
    [signing_line] = [line for line in rotated.stdout.splitlines() if "(signing now)" in line]
    assert first in signing_line

    # The running app publishes the new key at its next reload, and signs with it from signs_from.
    assert await _published(identity) == [first]
    assert await _reload(identity)
    assert await _published(identity) == sorted([first, kid])
    assert _kid((await _token(identity, number, password))["access_token"]) == first
    identity.clock.set(signs_from)
    assert _kid((await _token(identity, number, password))["access_token"]) == kid

    again = await asyncio.to_thread(run, "rotate-key", "--publish-ahead-s", "60")
    assert again.returncode == 1
    assert f"key {kid} already waits to sign" in again.stdout
    retired = await asyncio.to_thread(run, "retire-keys")  # by the real clock, nothing is due
    assert retired.returncode == 0, retired.stderr
    assert "nothing to retire" in retired.stdout
    assert not await _reload(identity)
    assert await _published(identity) == sorted([first, kid])

    rows = await identity.runtime.pool.fetch("SELECT private_key FROM signing_keys")
    assert len(rows) == 2
    printed = "".join(o.stdout + o.stderr for o in (rotated, again, retired))
    assert "PRIVATE" not in printed
    for row in rows:
        private_key = serialization.load_pem_private_key(row["private_key"].encode(), password=None)
        raw = private_key.private_bytes(
            serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
        )
        pem_body = "".join(line for line in row["private_key"].splitlines() if "PRIVATE KEY" not in line)
        for secret in (pem_body, base64url_encode(raw).decode(), raw.hex()):
            assert secret not in printed


async def test_other_services_stop_trusting_a_withdrawn_key_within_their_key_age(
    pg_server: str, kafka: str, service_topics: object, smtp_sink: SmtpSink, hasher: SecretHasher
) -> None:
    async with identity_over_http(pg_server, kafka, smtp_sink, hasher) as (identity, base_url):
        number, _, password = await identity.customer_with_password()
        url = f"{base_url}{JWKS}"
        fresh = JwksTokenVerifier(url, min_refresh_interval_s=0, max_key_age_s=0.5)
        lasting = JwksTokenVerifier(url, min_refresh_interval_s=0, max_key_age_s=300)
        unseen = await _token(identity, number, password)  # signed by the first key, never verified yet
        for verifier in (fresh, lasting):
            assert (await verifier.verify((await _token(identity, number, password))["access_token"])).subject == number

        await _switched(identity)
        newer = await _token(identity, number, password)
        for verifier in (fresh, lasting):  # an unknown key id: both fetch the keys again
            assert (await verifier.verify(newer["access_token"])).subject == number
        await signing.retire(identity.runtime.pool, identity.clock.now() + timedelta(minutes=30))
        await _reload(identity)
        await asyncio.sleep(0.6)

        with pytest.raises(InvalidToken):
            await fresh.verify(unseen["access_token"])
        # Without the key age, the withdrawn key would still be trusted: that is what refused it.
        assert (await lasting.verify(unseen["access_token"])).subject == number
        assert (await fresh.verify(newer["access_token"])).subject == number
