"""Error responses the billing routes document in OpenAPI (all problem+json)."""

from __future__ import annotations

from typing import Any

from shared.http.problems import Problem

_DESCRIPTIONS = {
    400: "Malformed request (not JSON)",
    401: "Missing or invalid bearer token",
    403: "Your role may not do this, or billing's copy of the authorizations refused the request made on"
    " behalf of someone (`reasons`, `outcome`, `authorization_version`, `refusal_id` in the body)",
    404: "No such customer (never announced by identity, or not yours)",
    409: "Stale version: the resource changed since you read it (`expected_version` in the body)",
    413: "Body too large",
    422: "Invalid fields (`errors`), or a rule of the domain (`field` names which one)",
    503: "A dependency is unavailable, or (support on behalf of someone) billing's copy of the authorizations"
    " is behind contacts (`copy_lag_s`; Retry-After)",
}


def problems(*codes: int) -> dict[int | str, dict[str, Any]]:
    return {c: {"model": Problem, "description": _DESCRIPTIONS[c]} for c in (401, 404, *codes)}


READ = problems(403, 422)
WRITE = problems(400, 403, 409, 413, 422, 503)
