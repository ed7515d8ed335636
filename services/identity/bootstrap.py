"""Identity's composition root: settings, hasher, signing keys and mailer onto the kernel's runtime.

`build_spec()` is what production runs. Tests pass a cheaper hasher (their subject is not
hashing) or other settings; everything else is the same code path.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from services.identity.adapters.hashing import SecretHasher
from services.identity.adapters.signing import TokenSigner, ensure_signing_key, follow_signing_keys, load_signing_keys
from services.identity.api.routes import routers
from services.identity.domain.events import registry
from services.identity.runtime import EXTRA, IdentityRuntime
from services.identity.settings import IdentitySettings
from shared.mail import Mailer, SmtpMailer
from shared.service import Runtime, ServiceSpec

MIGRATIONS = Path(__file__).parent / "migrations"
DESCRIPTION = "Accounts, login, sessions and tokens, password reset by one-time password."


def build_spec(
    settings: IdentitySettings | None = None,
    *,
    hasher: SecretHasher | None = None,
    mailer: Mailer | None = None,
) -> ServiceSpec:
    async def start(runtime: Runtime) -> None:
        await start_identity(runtime, settings or IdentitySettings(), hasher=hasher, mailer=mailer)

    return ServiceSpec(
        name="identity",
        registry=registry,
        migrations_dir=MIGRATIONS,
        routes=routers,
        on_startup=(start,),
        checks_sessions_itself=True,  # every route with a token asks its database (api.edge.live_identity)
        description=DESCRIPTION,
    )


async def start_identity(
    runtime: Runtime, settings: IdentitySettings, *, hasher: SecretHasher | None = None, mailer: Mailer | None = None
) -> IdentityRuntime:
    await ensure_signing_key(runtime.pool, runtime.clock.now())
    signer = TokenSigner(await load_signing_keys(runtime.pool), runtime.clock)
    # Identity verifies its own tokens with its own keys, straight from its database, and takes up
    # a rotation or retirement made by the operator's commands without a restart.
    runtime.verifier = signer.verifier()
    runtime.extras["signing_keys_follower"] = asyncio.get_running_loop().create_task(
        follow_signing_keys(runtime.pool, signer, settings.signing_keys_reload_s), name="signing-keys"
    )
    identity = IdentityRuntime(
        settings=settings,
        pool=runtime.pool,
        uow=runtime.uow,
        clock=runtime.clock,
        hasher=hasher or SecretHasher(settings.argon2_parameters, concurrency=settings.hash_concurrency or None),
        signer=signer,
        mailer=mailer or SmtpMailer(runtime.settings.smtp_host, runtime.settings.smtp_port),
        portal_url=runtime.settings.portal_url,
    )
    runtime.extras[EXTRA] = identity
    return identity
