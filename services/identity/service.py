"""The identity service's composition (see `bootstrap` for how its parts are wired)."""

from __future__ import annotations

from services.identity.bootstrap import build_spec

SPEC = build_spec()
