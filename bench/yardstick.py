"""The contacts issue's yardstick, measured beside the check: a bare Starlette app on uvicorn that
answers the same requests with a dictionary lookup.

The issue scales its targets from what such an app serves "on this kind of machine". On a shared
two-core host that figure moves with the hour and with what else runs (PostgreSQL and Kafka of
the bench beside it take part of the cores and wake up at random), so the contacts benchmark
measures it in the same surroundings and with the same load as the check: the difference between
the two is what the check itself costs.

It serves the check's URL and reads what a check reads from the request (the bearer token, the
JSON body), so wrk sends it the very same requests; it verifies nothing and decides nothing.
"""

from __future__ import annotations

import json

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

# Keyed like the bench's customer numbers (7,000,001 and on).
ANSWERS = {str(n): json.dumps({"customer": str(n), "outcome": "allowed"}).encode() for n in range(7_000_000, 7_100_000)}


async def _check(request: Request) -> Response:
    body = json.loads(await request.body())
    answer = ANSWERS.get(request.path_params["n"], b"{}")
    status = 200 if request.headers.get("authorization", "").startswith("Bearer ") and body.get("action") else 400
    return Response(answer, status_code=status, media_type="application/json")


async def _ready(request: Request) -> Response:
    return Response(b"{}", media_type="application/json")


app = Starlette(
    routes=[
        Route("/api/contacts/v1/customers/{n}/authorization-checks", _check, methods=["POST"]),
        Route("/api/yardstick/readyz", _ready),
    ]
)
