"""Logging in: tokens on success, one indistinguishable refusal for every kind of failure."""

from __future__ import annotations

import pytest

from shared.auth.principal import PrincipalKind, Role
from tests.integration.identity.harness import IdentityHarness, bearer, new_customer_number

pytestmark = pytest.mark.integration


async def test_login_issues_tokens_that_identity_accepts(identity: IdentityHarness) -> None:
    number, _, password = await identity.customer_with_password()
    response = await identity.login(number, password)
    assert response.status_code == 201, response.text
    tokens = response.json()
    assert response.headers["cache-control"] == "no-store"
    assert tokens["token_type"] == "Bearer"
    assert 0 < tokens["expires_in"] <= 900
    assert len(tokens["refresh_token"]) >= 43  # 256 bits, base64url

    principal = await identity.runtime.signer.verifier().verify(tokens["access_token"])
    assert principal.subject == number
    assert principal.kind is PrincipalKind.CUSTOMER
    assert principal.roles == frozenset({Role.CUSTOMER})

    me = await identity.client.get("/api/identity/v1/me", headers=bearer(tokens))
    assert me.status_code == 200, me.text
    assert me.json()["subject"] == number


async def test_unknown_account_and_wrong_password_get_the_same_answer(identity: IdentityHarness) -> None:
    number, _, _ = await identity.customer_with_password()
    no_password_yet, _ = await identity.open_account()
    wrong = await identity.login(number, "not-the-password-at-all")
    unknown = await identity.login(new_customer_number(), "not-the-password-at-all")
    unset = await identity.login(no_password_yet, "not-the-password-at-all")
    for response in (wrong, unknown, unset):
        assert response.status_code == 401
        assert response.headers["content-type"] == "application/problem+json"
    assert wrong.content == unknown.content == unset.content
    ignored = {"x-request-id", "x-correlation-id", "content-length"}
    assert {k: v for k, v in wrong.headers.items() if k not in ignored} == {
        k: v for k, v in unknown.headers.items() if k not in ignored
    }
