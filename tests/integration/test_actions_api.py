"""Actions over HTTP (/v1/actions) and the caller's auth kinds against loopback servers."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from actions.caller import ActionCaller, Outcome
from actions.openapi import parse_spec
from actions.store import ActionStore
from app.runtime import Runtime
from core.db import Database
from core.settings import Settings
from service.api import create_app
from service.keys import KeyStore
from tests.fixtures.loopback import LoopbackServer, Request, Response

pytestmark = pytest.mark.slow

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "actions"


@pytest.fixture
def api(tmp_path: Path) -> Iterator[tuple[TestClient, Runtime]]:
    rt = Runtime(Settings(home=tmp_path / "home"))
    with TestClient(create_app(rt)) as client:
        yield client, rt
    rt.actions.caller.close()


def test_import_list_enable_secrets_and_errors(api: tuple[TestClient, Runtime]) -> None:
    client, rt = api
    _, admin = KeyStore(db=rt.db).create("default", scopes=["admin"])
    _, reader = KeyStore(db=rt.db).create("default", scopes=["read"])
    h = {"Authorization": f"Bearer {admin}"}
    r = client.post("/v1/actions/import", headers=h, json={
        "name": "helpdesk", "spec": (FIXTURES / "partly-invalid.yaml").read_text(), "base_url": "https://h.example"})
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["imported"] == ["goodOne"] and len(body["skipped"]) == 6
    assert all(s["operation"] and s["reason"] for s in body["skipped"])
    r = client.post("/v1/actions/import", headers=h, json={"name": "bad", "spec": "openapi: [unclosed"})
    assert r.status_code == 422 and r.json()["error"] == "invalid_spec"
    r = client.post("/v1/actions/import", headers=h, json={
        "name": "orders", "spec": (FIXTURES / "orders.yaml").read_text()})
    assert len(r.json()["imported"]) == 13
    r = client.patch("/v1/actions/getOrder", headers=h, json={"channels": ["web"], "segments": ["vip"]})
    assert r.status_code == 200 and r.json()["channels"] == ["web"] and r.json()["segments"] == ["vip"]
    r = client.put("/v1/actions/specs/orders/secrets/ShopKey", headers=h, json={"value": "top-secret-key"})
    assert r.status_code == 204
    r = client.put("/v1/actions/specs/orders/secrets/ShopKey", headers={"Authorization": f"Bearer {reader}"},
                   json={"value": "x"})
    assert r.status_code == 403
    listing = client.get("/v1/actions", headers=h).text + client.get("/v1/actions/specs", headers=h).text
    assert "top-secret-key" not in listing and '"scheme":"ShopKey"' in listing
    assert client.get("/v1/actions/nope", headers=h).status_code == 404
    assert client.put("/v1/actions/network", headers=h, json={"allow": ["127.0.0.1"]}).json() == {
        "allow": ["127.0.0.1"]}
    assert client.delete("/v1/actions/getOrder", headers=h).json() == {"removed": "getOrder"}


@pytest.fixture
def server() -> Iterator[LoopbackServer]:
    with LoopbackServer() as s:
        yield s


def _echo(req: Request) -> Response:
    return Response.json({"id": 1, "authorization": req.header("authorization"), "query": req.query})


def test_auth_kinds_basic_query_key_and_oauth2(sqlite_db: Database, server: LoopbackServer) -> None:
    tokens: list[str] = []

    def token(req: Request) -> Response:
        tokens.append(req.header("authorization") or "")
        assert b"grant_type=client_credentials" in req.body
        return Response.json({"access_token": "tok-1", "token_type": "Bearer", "expires_in": 3600})

    server.route("POST", r"/token", token)
    server.route("GET", r"/api/tickets/\d+", _echo)
    server.route("DELETE", r"/api/tickets/\d+", _echo)
    server.route("GET", r"/stock/items/.+", _echo)
    store = ActionStore(db=sqlite_db)
    store.set_allowlist("default", ["127.0.0.1"])
    spec = (FIXTURES / "tickets-3.0.json").read_text().replace("https://auth.brewly.example", server.url)
    store.save_import("default", "tickets", parse_spec(spec, workspace="default", name="tickets"),
                      base_url=f"{server.url}/api")
    stock = parse_spec((FIXTURES / "stock-swagger2.yaml").read_bytes(), workspace="default", name="stock")
    store.save_import("default", "stock", stock, base_url=f"{server.url}/stock")
    store.set_secret("default", "tickets", "basicAuth", {"username": "agent", "password": "pw"})
    store.set_secret("default", "tickets", "partner", {"client_id": "cid", "client_secret": "csec"})
    store.set_secret("default", "stock", "key", {"value": "qk"})
    caller = ActionCaller(store=store, timeout=2.0)
    try:
        read = caller.call(store.get("default", "readTicket"), {"id": 7})
        assert read.ok and read.body["authorization"] == "Basic " + base64.b64encode(b"agent:pw").decode()
        for _ in range(2):
            purge = caller.call(store.get("default", "purgeTicket"), {"id": 7})
            assert purge.ok and purge.body["authorization"] == "Bearer tok-1"
        assert tokens == ["Basic " + base64.b64encode(b"cid:csec").decode()]  # fetched once, then cached
        item = caller.call(store.get("default", "getItem"), {"sku": "BEANS-1"})
        assert item.ok and item.body["query"] == {"api_key": ["qk"]}
        store.save_import("default", "tickets", parse_spec(spec, workspace="default", name="tickets"),
                          base_url="http://169.254.169.254/api")
        blocked = caller.call(store.get("default", "readTicket"), {"id": 7})
        assert blocked.outcome is Outcome.BLOCKED
    finally:
        caller.close()
