"""Actions through real conversations: the real Agent, the real model and index, the orders spec
imported from tests/fixtures/actions/orders.yaml, calls to a loopback Brewly Orders API.

Covers: a lookup with the id in the first message, a lookup where the id is asked for, a cancel
that asks for confirmation (honouring "no", calling after "yes"), a 404 reported honestly, a 500
and a timeout handed off (action_failed), an SSRF attempt refused, auth from workspace secrets
and per-session headers, and secrets never stored in the session.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from agent.agent import Agent
from agent.decision import Action, HandoffReason
from agent.sessions import ContactRef
from app.runtime import Runtime
from core.models import Channel
from core.settings import ActionSettings, Settings
from tests.fixtures.loopback import Fault, LoopbackServer, Request, Response
from tests.fixtures.orders_spec import import_orders_spec

pytestmark = pytest.mark.slow

WS = "default"
SHOP_KEY = "shop-key-s3cr3t-value"
CUSTOMER_TOKEN = "customer-token-t0ps3cret"

ORDERS = {
    "ORD-1042": {"id": "ORD-1042", "status": "shipped", "tracking_number": "1Z999AA10123456784",
                 "estimated_delivery": "2026-03-04", "total": 42.5, "items": [{"sku": "BEANS-1", "quantity": 2}]},
    "ORD-2001": {"id": "ORD-2001", "status": "paid", "tracking_number": None, "estimated_delivery": None,
                 "total": 18.0, "items": []},
}
SUBSCRIPTIONS = {"SUB-77": {"id": "SUB-77", "plan": "weekly", "status": "active", "next_delivery": "2026-03-10"}}


def orders_api(server: LoopbackServer) -> None:
    """The Brewly Orders API of the fixture spec (a part of it), checking the shop key."""

    def authorized(req: Request) -> bool:
        return req.header("x-shop-key") == SHOP_KEY

    def get_order(req: Request) -> Response:
        if not authorized(req):
            return Response.json({"message": "bad key"}, status=401)
        order = ORDERS.get(req.path_params["order_id"])
        return Response.json(order) if order else Response.json({"message": "order not found"}, status=404)

    def cancel_subscription(req: Request) -> Response:
        sub = SUBSCRIPTIONS.get(req.path_params["sid"])
        if sub is None:
            return Response.json({"message": "no such subscription"}, status=404)
        return Response.json({**sub, "status": "cancelled"})

    def invoice(req: Request) -> Response:
        if req.header("authorization") != f"Bearer {CUSTOMER_TOKEN}":
            return Response.json({"message": "sign in first"}, status=401)
        return Response.json({"id": req.path_params["iid"], "total": 99.0, "currency": "EUR"})

    server.route("GET", r"/v1/orders/(?P<order_id>[^/]+)", get_order)
    server.route("POST", r"/v1/subscriptions/(?P<sid>[^/]+)/cancel", cancel_subscription)
    server.route("GET", r"/v1/subscriptions/(?P<sid>[^/]+)",
                 lambda req: Response.json(SUBSCRIPTIONS[req.path_params["sid"]]))
    server.route("GET", r"/v1/invoices/(?P<iid>[^/]+)", invoice)


@pytest.fixture(scope="module")
def api() -> Iterator[LoopbackServer]:
    with LoopbackServer() as server:
        orders_api(server)
        yield server


@pytest.fixture(scope="module")
def rt(tmp_path_factory: pytest.TempPathFactory, api: LoopbackServer) -> Iterator[Runtime]:
    runtime = Runtime(Settings(home=tmp_path_factory.mktemp("actions-home"), actions=ActionSettings(timeout=1.0)))
    import_orders_spec(runtime, api_url=api.url, shop_key=SHOP_KEY, workspace=WS)
    yield runtime
    runtime.actions.caller.close()


@pytest.fixture
def agent(rt: Runtime, api: LoopbackServer) -> Iterator[Agent]:
    api.faults.clear()
    api.clear_log()
    rt.actions.store.set_allowlist(WS, ["127.0.0.1"])
    yield rt.agent
    assert not api.errors


def start(agent: Agent, **contact: Any) -> str:
    return agent.store.create(WS, channel=Channel.WEB, contact=ContactRef(**contact) if contact else None).id


def events(agent: Agent, session: str) -> list[dict[str, Any]]:
    return [e.data for e in agent.store.events(WS, session) if e.type == "action_call"]


def test_lookup_with_the_id_in_the_first_message(agent: Agent, api: LoopbackServer) -> None:
    session = start(agent)
    d = agent.handle(WS, session, "Where is my order ORD-1042? When will it arrive?")
    assert d.action == Action.ACTION_CALL, d.trace
    assert "2026-03-04" in d.reply and "estimated delivery" in d.reply
    [request] = api.requests_to(r"/v1/orders/ORD-1042$", "GET")
    assert request.header("x-shop-key") == SHOP_KEY
    [event] = events(agent, session)
    assert event["action"] == "getOrder" and event["status"] == 200 and event["arguments"] == {"order_id": "ORD-1042"}
    assert event["operation"] == "GET /orders/{order_id}" and event["duration_ms"] >= 0


def test_lookup_where_the_id_is_asked_for(agent: Agent, api: LoopbackServer) -> None:
    session = start(agent)
    first = agent.handle(WS, session, "What's the status of my order?")
    assert first.action == Action.CLARIFY and "order id" in first.reply
    assert not api.requests_to(r"/v1/orders")  # nothing guessed, nothing called
    second = agent.handle(WS, session, "It's ORD-2001")
    assert second.action == Action.ACTION_CALL and "paid" in second.reply
    assert api.requests_to(r"/v1/orders/ORD-2001$", "GET")


def test_cancel_asks_for_confirmation_and_honours_no(agent: Agent, api: LoopbackServer) -> None:
    session = start(agent)
    ask = agent.handle(WS, session, "Please cancel my subscription SUB-77")
    assert ask.action == Action.CLARIFY and "SUB-77" in ask.reply and "yes or no" in ask.reply
    no = agent.handle(WS, session, "No, don't do that")
    assert no.action == Action.ANSWER and "won't" in no.reply
    assert not api.requests_to(r"/cancel$")
    assert events(agent, session)[-1]["outcome"] == "declined"
    agent.handle(WS, session, "Cancel my subscription SUB-77")
    yes = agent.handle(WS, session, "yes please")
    assert yes.action == Action.ACTION_CALL and "cancelled" in yes.reply
    assert len(api.requests_to(r"/v1/subscriptions/SUB-77/cancel$", "POST")) == 1


def test_a_404_is_reported_honestly(agent: Agent) -> None:
    session = start(agent)
    d = agent.handle(WS, session, "Where is my order ORD-9999?")
    assert d.action == Action.ACTION_CALL and "404" in d.reply and "couldn't find" in d.reply
    assert "shipped" not in d.reply
    assert events(agent, session)[-1]["status"] == 404


def test_a_500_hands_off_with_action_failed(agent: Agent, api: LoopbackServer) -> None:
    api.faults.add(Fault(status=500, times=5, path=r"/v1/orders/"))
    session = start(agent)
    d = agent.handle(WS, session, "Where is my order ORD-1042?")
    assert d.action == Action.HANDOFF and d.handoff is not None
    assert d.handoff.reason == HandoffReason.ACTION_FAILED
    assert "error" in d.reply and "500" in d.reply
    assert events(agent, session)[-1]["status"] == 500


def test_a_failed_write_is_never_retried(agent: Agent, api: LoopbackServer) -> None:
    api.faults.add(Fault(status=503, times=5, path=r"/cancel$"))
    session = start(agent)
    agent.handle(WS, session, "Cancel my subscription SUB-77")
    d = agent.handle(WS, session, "yes")
    assert d.action == Action.HANDOFF and d.handoff is not None
    assert d.handoff.reason == HandoffReason.ACTION_FAILED
    assert len(api.requests_to(r"/cancel$", "POST")) == 1


def test_a_timeout_hands_off(agent: Agent, api: LoopbackServer) -> None:
    api.faults.add(Fault(status=200, times=1, delay=2.5, path=r"/v1/orders/"))
    session = start(agent)
    d = agent.handle(WS, session, "Where is my order ORD-1042?")
    assert d.action == Action.HANDOFF and d.handoff is not None
    assert d.handoff.reason == HandoffReason.ACTION_FAILED and "in time" in d.reply
    assert events(agent, session)[-1]["outcome"] == "timeout"


def test_an_ssrf_attempt_is_refused(agent: Agent, rt: Runtime, api: LoopbackServer) -> None:
    rt.actions.store.set_allowlist(WS, [])  # the loopback API is no longer allowlisted
    session = start(agent)
    d = agent.handle(WS, session, "Where is my order ORD-1042?")
    assert d.action == Action.HANDOFF and d.handoff is not None
    assert d.handoff.reason == HandoffReason.ACTION_FAILED
    assert not api.requests_to(r"/v1/orders")
    assert events(agent, session)[-1]["outcome"] == "blocked"


def test_session_headers_override_and_secrets_stay_out_of_the_session(agent: Agent, rt: Runtime) -> None:
    rt.actions.update(WS, "getInvoice", channels=(Channel.WEB,))
    session = start(agent, email="ana@example.com")
    rt.actions.store.set_session_headers(WS, session, {"Authorization": f"Bearer {CUSTOMER_TOKEN}"})
    d = agent.handle(WS, session, "Can you download my invoice INV-555?")
    assert d.action == Action.ACTION_CALL and "99" in d.reply, d.reply
    stored = json.dumps([e.model_dump(mode="json") for e in agent.store.events(WS, session)])
    stored += json.dumps([m.model_dump(mode="json") for m in agent.store.messages(WS, session)])
    stored += d.model_dump_json()
    assert SHOP_KEY not in stored and CUSTOMER_TOKEN not in stored


def test_a_disabled_channel_gets_no_action(agent: Agent, api: LoopbackServer) -> None:
    session = agent.store.create(WS, channel=Channel.EMAIL).id
    d = agent.handle(WS, session, "Where is my order ORD-1042?")
    assert d.action != Action.ACTION_CALL
    assert not api.requests_to(r"/v1/orders")
