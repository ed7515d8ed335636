"""What identity's handlers work with, assembled once at start by `bootstrap`."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request

from services.identity.adapters.hashing import SecretHasher
from services.identity.adapters.signing import TokenSigner
from services.identity.settings import IdentitySettings
from shared.clock import Clock
from shared.db import Pool
from shared.mail import Mailer
from shared.unit_of_work import UnitOfWorkFactory


@dataclass(frozen=True)
class IdentityRuntime:
    settings: IdentitySettings
    pool: Pool
    uow: UnitOfWorkFactory
    clock: Clock
    hasher: SecretHasher
    signer: TokenSigner
    mailer: Mailer
    portal_url: str


EXTRA = "identity"


def identity_of(request: Request) -> IdentityRuntime:
    identity: IdentityRuntime = request.app.state.runtime.extras[EXTRA]
    return identity
