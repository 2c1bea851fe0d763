"""The API checks the key and its scope before it looks at the body, and its error answers are the
ones its OpenAPI documents (401/403/405/422 bodies, ``Allow`` on 405)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient

from core.db import open_database
from service.api import create_app
from service.keys import KeyStore
from service.schemas.common import ErrorPublic, ValidationErrorPublic


@pytest.fixture
def client(tmp_path: Path) -> Iterator[tuple[TestClient, dict[str, str]]]:
    db = open_database(f"sqlite:///{tmp_path / 'keys.db'}")
    store = KeyStore(db=db)
    keys = {scope: store.create("ws", scopes=[scope])[1] for scope in ("read", "write", "admin")}
    # only the key store is reached: every request below fails before a route body runs
    app = create_app(SimpleNamespace(db=db))  # type: ignore[arg-type]
    yield TestClient(app, raise_server_exceptions=True), keys


BAD_BODIES = [
    pytest.param(b"{not json", id="malformed-json"),
    pytest.param(b'{"name": 1, "kind": "nope", "extra": true}', id="invalid-fields"),
    pytest.param(b"", id="empty"),
]


@pytest.mark.parametrize("body", BAD_BODIES)
@pytest.mark.parametrize("key", [None, "kd_nope_nope", "garbage"])
def test_a_request_without_a_valid_key_gets_401_whatever_its_body(
        client: tuple[TestClient, dict[str, str]], body: bytes, key: str | None) -> None:
    http, _ = client
    headers = {"Content-Type": "application/json"} | ({"X-API-Key": key} if key else {})
    r = http.post("/v1/sources", content=body, headers=headers)
    assert r.status_code == 401, r.text
    ErrorPublic.model_validate(r.json())
    assert r.json()["error"] == "unauthorized"


@pytest.mark.parametrize("body", BAD_BODIES)
def test_a_key_without_the_scope_gets_403_before_the_body_is_validated(
        client: tuple[TestClient, dict[str, str]], body: bytes) -> None:
    http, keys = client
    r = http.post("/v1/sources", content=body,
                  headers={"Content-Type": "application/json", "Authorization": f"Bearer {keys['read']}"})
    assert r.status_code == 403, r.text
    assert r.json() | {"message": ""} == {"error": "forbidden", "message": "", "scope": "write"}
    r = http.put("/v1/agent/config", content=body,
                 headers={"Content-Type": "application/json", "X-API-Key": keys["write"]})
    assert (r.status_code, r.json()["scope"]) == (403, "admin")


def test_invalid_input_with_the_right_key_is_a_422_in_the_documented_shape(
        client: tuple[TestClient, dict[str, str]]) -> None:
    http, keys = client
    headers = {"X-API-Key": keys["write"], "Content-Type": "application/json"}
    r = http.post("/v1/sources", content=b"{not json", headers=headers)
    assert r.status_code == 422
    body = ValidationErrorPublic.model_validate(r.json())
    assert body.error == "invalid_input" and body.problems and body.problems[0].field

    r = http.post("/v1/sources", json={"name": "docs", "kind": "nope", "surplus": 1}, headers=headers)
    body = ValidationErrorPublic.model_validate(r.json())
    assert r.status_code == 422 and {p.field for p in body.problems} == {"kind", "surplus"}
    # query parameters too, after the key was checked
    r = http.get("/v1/handoffs?limit=0", headers={"X-API-Key": "kd_nope_nope"})
    assert r.status_code == 401
    r = http.get("/v1/handoffs?limit=0", headers={"X-API-Key": keys["read"]})
    assert r.status_code == 422 and r.json()["problems"][0]["field"] == "limit"


def test_a_405_lists_every_method_of_the_path(client: tuple[TestClient, dict[str, str]]) -> None:
    http, keys = client
    r = http.put("/v1/sources", headers={"X-API-Key": keys["admin"]})
    assert r.status_code == 405
    assert set(r.headers["allow"].split(", ")) == {"GET", "POST"}
    assert r.json()["error"] == "method_not_allowed"
    r = http.post("/v1/sources/docs")
    assert r.status_code == 405 and set(r.headers["allow"].split(", ")) == {"GET", "PATCH", "DELETE"}


def test_a_revoked_key_is_refused_before_the_body(client: tuple[TestClient, dict[str, str]], tmp_path: Path) -> None:
    http, keys = client
    store = KeyStore(db=open_database(f"sqlite:///{tmp_path / 'keys.db'}"))
    store.revoke("ws", keys["admin"].split("_")[1])
    r = http.post("/v1/sources", content=b"{", headers={"Authorization": f"Bearer {keys['admin']}"})
    assert r.status_code == 401 and "revoked" in r.json()["message"]


def test_a_body_keeps_out_the_keys_its_route_leaves_out(client: tuple[TestClient, dict[str, str]]) -> None:
    """Optional response fields a route does not send stay absent (not null): bodies are unchanged by typing."""
    from service.routing import KeyedRoute

    http, _ = client
    routes = [c.original_route for c in iter_route_contexts(http.app.routes)]  # type: ignore[attr-defined]
    assert all(r.response_model_exclude_unset for r in routes if isinstance(r, KeyedRoute))
