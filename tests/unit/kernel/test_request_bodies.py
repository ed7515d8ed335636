"""`shared.http.bodies`: request bodies refuse text that cannot be encoded or stored, and only that."""

from __future__ import annotations

import importlib
import json
import types
import typing
from typing import Annotated

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts
from pydantic import Field, SecretStr, ValidationError

from shared.http.bodies import DisplayName, OptionalDisplayName, RequestBody, storable
from shared.http.problems import install_problem_handlers
from shared.kafka import SERVICES
from shared.service import create_app
from shared.settings import ServiceSettings


class Note(RequestBody):
    text: str
    secret: SecretStr | None = None
    tags: list[str] = []


@pytest.mark.parametrize(
    ("text", "ok"),
    [
        ("plain", True),
        ("", True),
        ("Ünïcödé 😀 \u202e", True),
        ("nul\x00byte", False),
        ("\x00", False),
        ("lone \ud800", False),
        ("lone \udfff low", False),
    ],
)
def test_storable_text(text: str, ok: bool) -> None:
    assert storable(text) is ok


def test_a_body_refuses_nul_and_unpaired_surrogates_naming_the_field() -> None:
    # As FastAPI reads a body: the standard library's JSON, which keeps an unpaired surrogate.
    for raw in (b'{"text": "a\\u0000b"}', b'{"text": "a\\ud800b"}', b'{"text": "ok", "secret": "\\udc00"}'):
        with pytest.raises(ValidationError) as refused:
            Note.model_validate(json.loads(raw))
        [error] = refused.value.errors()
        assert error["loc"][0] in {"text", "secret"}
        assert "NUL characters or unpaired surrogates" in error["msg"]


def test_a_body_takes_every_other_text_including_escaped_pairs() -> None:
    note = Note.model_validate(json.loads(b'{"text": "\\ud83d\\ude00 \\u00fc \\\\u0000", "secret": "p\\u00e4ss"}'))
    assert note.text == "😀 ü \\u0000"  # an escaped backslash before u0000 is text, not NUL
    assert note.secret is not None
    assert note.secret.get_secret_value() == "päss"


def test_every_request_body_of_every_service_is_a_request_body() -> None:
    """A body model that skipped the base would let NUL reach the store again (a 500)."""
    checked = 0
    for service in SERVICES:
        spec = importlib.import_module(f"services.{service}.service").SPEC
        settings = ServiceSettings(
            service=service, database_url="postgresql://unused/x", kafka_bootstrap_servers="", port=0
        )
        for context in iter_route_contexts(create_app(spec, settings).routes):
            route = context.route
            if isinstance(route, APIRoute) and route.body_field is not None:
                model = route.body_field.field_info.annotation
                if isinstance(model, types.UnionType):  # an optional body: `Model | None`
                    [model] = [arg for arg in typing.get_args(model) if arg is not type(None)]
                assert isinstance(model, type), (service, route.path)
                assert issubclass(model, RequestBody), (service, route.path, model)
                checked += 1
    assert checked >= 30


class Login(RequestBody):
    password: Annotated[SecretStr, Field(min_length=1, max_length=8)]


async def test_a_secret_of_the_wrong_length_is_told_in_characters_and_never_echoed() -> None:
    app = FastAPI()
    install_problem_handlers(app)

    @app.post("/login")
    async def login(body: Login) -> None:
        return None

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        empty = await client.post("/login", json={"password": ""})
        long = await client.post("/login", json={"password": "hunter2-hunter2"})
    assert (empty.status_code, long.status_code) == (422, 422)
    assert empty.json()["errors"][0]["message"] == "String should have at least 1 character"
    assert long.json()["errors"][0]["message"] == "String should have at most 8 characters"
    assert "hunter2" not in long.text


class _Named(RequestBody):
    name: DisplayName
    organisation: OptionalDisplayName = None


@pytest.mark.parametrize("name", ["", "   ", "\t\n", "x\u202ey", "Acme\u0005", "A\u2066B", "\ue000"])
def test_a_display_name_is_visible_text(name: str) -> None:
    with pytest.raises(ValidationError):
        _Named.model_validate({"name": name})


def test_a_display_name_is_trimmed_keeps_joiners_and_a_blank_optional_one_is_none() -> None:
    named = _Named.model_validate({"name": "  Ada Lovelace ", "organisation": "  "})
    assert (named.name, named.organisation) == ("Ada Lovelace", None)
    persian = "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645"  # (a zero-width non-joiner inside)
    assert _Named.model_validate({"name": persian, "organisation": "Müller & Söhne"}).name == persian
