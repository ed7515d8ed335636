"""Error responses the contacts routes document in OpenAPI (all problem+json)."""

from __future__ import annotations

from typing import Any

from shared.http.problems import Problem


def problems(*codes: int) -> dict[int | str, dict[str, Any]]:
    descriptions = {
        400: "Malformed request",
        401: "Missing or invalid bearer token",
        403: "Your role (or the acting contact) may not do this",
        404: "No such customer, contact or authorization",
        409: "Conflict with the current state (or a stale version)",
        413: "Body too large",
        422: "Invalid fields",
    }
    return {c: {"model": Problem, "description": descriptions[c]} for c in (401, 404, *codes)}


READ = problems(403, 422)
WRITE = problems(400, 403, 409, 413, 422)
