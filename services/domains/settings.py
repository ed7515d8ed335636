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

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.hashing import Argon2Settings


class DomainsSettings(BaseSettings, Argon2Settings):
    model_config = SettingsConfigDict(env_prefix="DOMAINS_", frozen=True, extra="ignore")

    mail_from: str = "Hosting Accounts <no-reply@hosting.example>"
    password_link_ttl_s: int = Field(default=48 * 3600, gt=0, le=14 * 24 * 3600)

    @property
    def password_link_ttl(self) -> timedelta:
        return timedelta(seconds=self.password_link_ttl_s)
