"""The check as a hot route (`shared.http.hot`): a customer asking about its own people.

The common case of `POST /api/contacts/v1/customers/{n}/authorization-checks`: customer n's own
token, already verified by this process, and a JSON body that validates as `CheckBody`, checked
against the process's in-memory model. It runs the same `CheckBody`, `decide` and `check_json`
as the route. Everything else is declined and answered by the FastAPI route: support's checks
(recorded as events), a token not verified here yet (the route verifies it, so the next request
is hot), another customer's number, a body or requester that does not validate, a `sql` reader.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from services.contacts.api.checking import check_in_memory
from services.contacts.api.schemas import CheckBody
from services.contacts.api.views import check_json
from shared.authorization.memory import MemoryAuthorizationReader
from shared.errors import InvalidRequest
from shared.http.fast_path import bearer_token, is_customer_number, is_json
from shared.http.hot import HotRequest

PREFIX = b"/api/contacts/v1/customers/"
SUFFIX = b"/authorization-checks"


class HotCheck:
    template = "/api/contacts/v1/customers/{customer_number}/authorization-checks"

    def takes(self, method: bytes, url: bytes) -> bool:
        return method == b"POST" and url.startswith(PREFIX) and url.endswith(SUFFIX)

    def answer(self, state: Any, request: HotRequest) -> bytes | None:
        runtime: Any = getattr(state, "runtime", None)  # (None until the app has started)
        reader = runtime.extras.get("authorization_reader") if runtime is not None else None
        if not isinstance(reader, MemoryAuthorizationReader):
            return None
        number = request.url[len(PREFIX) : -len(SUFFIX)].decode("latin-1")
        if not is_customer_number(number) or not is_json(request.headers):
            return None
        token = bearer_token(request.headers)
        principal = runtime.verifier.cached(token) if token is not None else None
        if principal is None or not principal.is_customer(number):
            return None
        try:
            decision = check_in_memory(
                reader.memory, runtime.clock.now(), number, CheckBody.model_validate_json(request.body)
            )
        except (ValidationError, InvalidRequest):
            return None
        return check_json(decision, None)
