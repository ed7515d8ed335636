"""constraints.txt pins every package installed here, at the version installed.

`make` and the Containerfile install with `-c constraints.txt`; a dependency added to pyproject.toml
(or pulled in by a new version of one) without a pin would come in at whatever PyPI has that day,
and this environment, built from the pins, is the one CI tests.
"""

from __future__ import annotations

import re
from importlib import metadata

from tests.deploy.rendering import REPO

CONSTRAINTS = REPO / "constraints.txt"
# The installer's own packages (pip freeze leaves them out too) and the project itself.
NOT_PINNED = {"pip", "setuptools", "wheel", "hosting-accounts"}


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()  # PEP 503


def pins(text: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        name, sep, version = (part.strip() for part in line.partition("=="))
        assert sep, f"not an exact pin: {raw!r}"
        assert name, f"no name: {raw!r}"
        assert version, f"no version: {raw!r}"
        found[_canonical(name)] = version
    return found


def test_the_pins_read_as_exact_versions() -> None:
    assert pins("# a comment\nFoo_Bar==1.2\n\nbaz==3  # why\n") == {"foo-bar": "1.2", "baz": "3"}


def test_every_installed_package_is_pinned_at_its_version() -> None:
    pinned = pins(CONSTRAINTS.read_text())
    installed = {_canonical(d.metadata["Name"]): d.version for d in metadata.distributions()}
    unpinned = sorted(set(installed) - set(pinned) - NOT_PINNED)
    assert not unpinned, f"installed but not in constraints.txt: {unpinned}"
    differ = {n: (installed[n], pinned[n]) for n in installed.keys() & pinned.keys() if installed[n] != pinned[n]}
    assert not differ, f"installed vs pinned: {differ} (run `rm -rf .venv && make venv`)"
    assert not set(pinned) - set(installed), "pinned but no longer installed: drop the line"
