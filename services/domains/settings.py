"""The domains service's own settings (environment variables `DOMAINS_*`).

DOMAINS_MAIL_FROM                the sender of mailbox links and FTP credentials
DOMAINS_PASSWORD_LINK_TTL_S      how long a mailbox's one-time password link is valid (48 h)
DOMAINS_ARGON2_MEMORY_KIB / _TIME_COST / _PARALLELISM
                                 argon2id for mailbox and FTP passwords; never below OWASP's
                                 minimum (m=19456 KiB, t=2, p=1)
Mail goes through SMTP_HOST / SMTP_PORT; links point at PORTAL_URL (kernel settings).
"""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.hashing import Argon2Parameters


class DomainsSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DOMAINS_", frozen=True, extra="ignore")

    mail_from: str = "Hosting Accounts <no-reply@hosting.example>"
    password_link_ttl_s: int = Field(default=48 * 3600, gt=0, le=14 * 24 * 3600)
    argon2_memory_kib: int = 19456
    argon2_time_cost: int = 2
    argon2_parallelism: int = 1

    @model_validator(mode="after")
    def _hashing_meets_minimum(self) -> DomainsSettings:
        if not self.argon2_parameters.meets_owasp_minimum:
            raise ValueError("argon2id parameters below the OWASP minimum (m=19456 KiB, t=2, p=1)")
        return self

    @property
    def argon2_parameters(self) -> Argon2Parameters:
        return Argon2Parameters(self.argon2_memory_kib, self.argon2_time_cost, self.argon2_parallelism)

    @property
    def password_link_ttl(self) -> timedelta:
        return timedelta(seconds=self.password_link_ttl_s)
