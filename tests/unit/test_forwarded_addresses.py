"""FORWARDED_ALLOW_IPS: the proxies whose X-Forwarded-For a service believes, by address only."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from shared.settings import ServiceSettings


def _settings(monkeypatch: pytest.MonkeyPatch, value: str | None) -> ServiceSettings:
    monkeypatch.setenv("DATABASE_URL", "postgresql://db/x")
    if value is None:
        monkeypatch.delenv("FORWARDED_ALLOW_IPS", raising=False)
    else:
        monkeypatch.setenv("FORWARDED_ALLOW_IPS", value)
    return ServiceSettings.from_env("identity")


def test_the_local_gateway_by_default_and_networks_when_given(monkeypatch: pytest.MonkeyPatch) -> None:
    assert _settings(monkeypatch, None).forwarded_allow_ips == "127.0.0.1"
    assert (
        _settings(monkeypatch, "10.0.0.0/8, fd00::/8,192.0.2.1").forwarded_allow_ips == "10.0.0.0/8, fd00::/8,192.0.2.1"
    )


@pytest.mark.parametrize("value", ["*", "10.0.0.0/8,*", "gateway", "10.0.0.0/33", ""])
def test_anything_but_addresses_stops_the_start(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    with pytest.raises(ValidationError, match="FORWARDED_ALLOW_IPS"):
        _settings(monkeypatch, value)
