"""Error responses the domains routes document in OpenAPI (all problem+json)."""

from __future__ import annotations

from typing import Any

from shared.http.problems import Problem

_DESCRIPTIONS = {
    400: "Malformed request",
    401: "Missing or invalid bearer token",
    403: "Your role may not do this, or the requester support acts for is not authorized (reasons given;"
    " the refusal is recorded as SupportRequestRefused)",
    404: "No such customer, domain, vhost, mailbox or redirect (also: another customer's)",
    409: "Conflict with the current state (registered already, contract ended, exists already)",
    413: "Body too large",
    422: "Invalid fields: names, hosts, URLs, dates, On-Behalf-Of",
    503: "Mail could not be delivered (nothing was recorded), a dependency is down, or (support on behalf of"
    " someone) domains' copy of the authorizations is behind contacts (`copy_lag_s`; Retry-After)",
}


def problems(*codes: int) -> dict[int | str, dict[str, Any]]:
    return {c: {"model": Problem, "description": _DESCRIPTIONS[c]} for c in sorted({401, 403, 404, 422, 503, *codes})}


READ = problems()
WRITE = problems(400, 409, 413)
