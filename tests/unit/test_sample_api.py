"""The Brewly sample shop API (service/samples): a real HTTP server on 127.0.0.1 implementing its spec."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from datetime import date

import httpx
import pytest

from actions.openapi import parse_spec
from service.samples.brewly_api import DEFAULT_BASE_URL, SAMPLE_KEY, SPEC_NAME, BrewlyApi, spec_text

KEY = {"X-Brewly-Key": SAMPLE_KEY}
TODAY = date(2026, 5, 12)


@pytest.fixture
def api() -> Iterator[BrewlyApi]:
    with BrewlyApi(today=TODAY) as server:
        yield server


@pytest.fixture
def client(api: BrewlyApi) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=api.base_url, headers=KEY, timeout=5) as c:
        yield c


def test_the_spec_imports_whole_with_the_operations_the_dataset_uses() -> None:
    parsed = parse_spec(spec_text().encode(), workspace="default", name=SPEC_NAME)
    assert not parsed.skipped and not parsed.problems
    actions = {a.id: a for a in parsed.actions}
    assert {"skip_delivery", "pause_subscription", "gift_card_balance", "track_order", "resend_invoice",
            "get_order", "cancel_subscription", "update_address"} <= set(actions)
    assert parsed.base_url == DEFAULT_BASE_URL and [s.name for s in parsed.schemes] == ["BrewlyKey"]
    # reads are called at once, writes only after the customer confirms
    assert all(a.confirm == (a.method != "GET") for a in actions.values())
    assert {p.location.value for a in actions.values() for p in a.parameters} == {"path", "query", "body"}


def test_every_operation_of_the_spec_is_served(api: BrewlyApi, client: httpx.Client) -> None:
    examples = {"order_number": "BR-104233", "code": "BRW-7K2M-9QXP-4TZD", "invoice_number": "INV-2026-0012345"}
    for action in parse_spec(spec_text().encode(), workspace="default", name=SPEC_NAME).actions:
        path = action.path
        for name, value in examples.items():
            path = path.replace("{" + name + "}", value)
        response = client.request(action.method, path, params={"email": "sam@example.com"}
                                  if action.method == "GET" else None, json={"email": "dana@example.com"}
                                  if action.method != "GET" else None)
        # 422/409 are the operation's own answers (a body field missing, a state conflict): it exists
        assert response.status_code in (200, 409, 422), (action.id, response.text)
        assert response.json().get("error") not in ("not_found", "method_not_allowed"), action.id


def test_a_request_without_the_key_is_refused(api: BrewlyApi) -> None:
    response = httpx.get(f"{api.base_url}/orders/BR-104233/tracking")
    assert response.status_code == 401 and response.json()["error"] == "unauthorized"
    wrong = httpx.get(f"{api.base_url}/orders/BR-104233/tracking", headers={"X-Brewly-Key": "guess"})
    assert wrong.status_code == 401


def test_tracking_and_an_unknown_order(client: httpx.Client) -> None:
    tracking = client.get("/orders/BR-104233/tracking").json()
    assert tracking["status"] == "shipped" and tracking["carrier"] == "DHL"
    assert tracking["estimated_delivery"] == "2026-05-14"
    missing = client.get("/orders/BR-999999/tracking")
    assert missing.status_code == 404 and "BR-999999" in missing.json()["message"]
    orders = client.get("/orders", params={"email": "dana@example.com", "status": "delivered"}).json()["orders"]
    assert [o["order_number"] for o in orders] == ["BR-104118"]


def test_subscription_changes_keep_state_and_refuse_impossible_ones(client: httpx.Client) -> None:
    skipped = client.post("/subscription/skip", json={"email": "dana@example.com", "month": "next"}).json()
    assert skipped["skipped"] == ["2026-06"] and skipped["next_box"] == "2026-07-05"
    june_again = client.post("/subscription/skip", json={"email": "dana@example.com", "month": "june"})
    assert june_again.status_code == 409
    paused = client.post("/subscription/pause", json={"email": "dana@example.com", "months": 2}).json()
    assert paused["status"] == "paused" and paused["paused_until"] == "2026-07-11"
    assert client.post("/subscription/pause", json={"email": "dana@example.com", "months": 1}).status_code == 409
    assert client.post("/subscription/resume", json={"email": "dana@example.com"}).json()["status"] == "active"
    assert client.post("/subscription/pause", json={"email": "alex@example.com", "months": 4}).status_code == 422
    assert client.post("/subscription/skip", json={"email": "nobody@example.com", "month": "next"}).status_code == 404
    assert client.get("/subscription", params={"email": "alex@example.com"}).json()["skipped"] == []  # own state
    assert client.post("/subscription/cancel", json={"email": "sam@example.com"}).json()["status"] == "cancelled"
    assert client.get("/subscription", params={"email": "sam@example.com"}).json()["status"] == "cancelled"


def test_invoices_go_only_to_their_own_customer(client: httpx.Client) -> None:
    sent = client.post("/invoices/INV-2026-0012345/resend", json={"email": "dana@example.com"}).json()
    assert sent["sent_to"] == "dana@example.com"
    assert client.post("/invoices/INV-2026-0012345/resend", json={"email": "alex@example.com"}).status_code == 404


def test_bad_bodies_are_json_errors(api: BrewlyApi) -> None:
    response = httpx.post(f"{api.base_url}/subscription/skip", content=b"{not json", headers=KEY)
    assert response.status_code == 400 and response.json()["error"] == "bad_request"
    assert httpx.put(f"{api.base_url}/subscription/address", json={"email": "x"}, headers=KEY).status_code == 422
    assert httpx.get(f"{api.base_url}/nowhere", headers=KEY).status_code == 404


def test_stopping_frees_the_port() -> None:
    server = BrewlyApi().start()
    port = server.port
    assert httpx.get(f"{server.base_url}/gift-cards/BRW-7K2M-9QXP-4TZD", headers=KEY).json()["balance"] == 35.0
    server.stop()
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", port)) != 0
    with BrewlyApi(port=port):  # the port can be bound again at once
        pass
