"""Fixtures of the deployment tests: each overlay rendered once per session by real kustomize."""

from __future__ import annotations

import pytest

from tests.deploy.rendering import OVERLAYS, Kustomize, KustomizeUnavailable, Resource, find_kustomize, render


@pytest.fixture(scope="session")
def kustomize() -> Kustomize:
    try:
        return find_kustomize()
    except KustomizeUnavailable as exc:  # a failure, never a skip: unrendered manifests are unchecked
        pytest.fail(str(exc))


@pytest.fixture(scope="session")
def rendered(kustomize: Kustomize) -> dict[str, list[Resource]]:
    return {overlay: render(overlay, kustomize) for overlay in OVERLAYS}


@pytest.fixture(params=OVERLAYS)
def overlay(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name
