"""The identity service's own settings (environment variables `IDENTITY_*`).

The argon2id parameters cannot be set below OWASP's minimum: a configuration that tries is
refused at start. (Tests that are not about hashing hand a cheaper hasher to `build_spec`
directly instead; there is no setting for that.)
"""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.identity.domain.one_time_password import OtpPolicy
from services.identity.domain.sessions import SessionPolicy
from services.identity.domain.signing_keys import MAX_RELOAD_INTERVAL
from services.identity.domain.throttle import ThrottlePolicy
from shared.hashing import Argon2Settings


class IdentitySettings(BaseSettings, Argon2Settings):
    model_config = SettingsConfigDict(env_prefix="IDENTITY_", frozen=True, extra="ignore")

    # How many hashes may run at once (0: one per CPU core).
    hash_concurrency: int = Field(default=0, ge=0)

    access_token_ttl_s: int = Field(default=600, gt=0, le=900)
    refresh_token_ttl_s: int = Field(default=2 * 3600, gt=0)
    max_session_age_s: int = Field(default=12 * 3600, gt=0)
    # How fresh a login must be for sensitive changes (the reference e-mail address).
    recent_login_s: int = Field(default=600, gt=0)
    # How often each process reloads the signing keys (to take up a rotation or retirement).
    signing_keys_reload_s: float = Field(default=30, gt=0, le=MAX_RELOAD_INTERVAL.total_seconds())

    account_free_failures: int = Field(default=5, ge=1)
    account_failure_limit: int = Field(default=100, ge=1)
    address_free_failures: int = Field(default=20, ge=1)
    address_failure_limit: int = Field(default=500, ge=1)
    throttle_max_delay_s: int = Field(default=30, ge=1)

    mail_from: str = "Hosting Accounts <no-reply@hosting.example>"

    @property
    def session_policy(self) -> SessionPolicy:
        return SessionPolicy(
            access_token_ttl=timedelta(seconds=self.access_token_ttl_s),
            refresh_token_ttl=timedelta(seconds=self.refresh_token_ttl_s),
            max_session_age=timedelta(seconds=self.max_session_age_s),
        )

    @property
    def otp_policy(self) -> OtpPolicy:
        return OtpPolicy()

    @property
    def recent_login(self) -> timedelta:
        return timedelta(seconds=self.recent_login_s)

    @property
    def account_throttle(self) -> ThrottlePolicy:
        return ThrottlePolicy(
            free_failures=self.account_free_failures,
            limit=self.account_failure_limit,
            max_delay=timedelta(seconds=self.throttle_max_delay_s),
        )

    @property
    def address_throttle(self) -> ThrottlePolicy:
        return ThrottlePolicy(
            free_failures=self.address_free_failures,
            limit=self.address_failure_limit,
            max_delay=timedelta(seconds=self.throttle_max_delay_s),
        )
