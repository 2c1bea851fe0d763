"""Actions offered to an LLM as tools: the real Agent built with an LLM (llama-index OpenAILike)
against a loopback OpenAI-compatible server that answers with ``tool_calls`` (the shape of OpenAI's
chat.completion object), the orders spec of tests/fixtures/actions/orders.yaml, a loopback Brewly
Orders API.

Covers: the model's call fills the id and the call is made; an id the model invents is asked for;
a write tool asks for confirmation and "no" is honoured; the model's requests carry no secret and
no unredacted email or card number; only the candidate actions are offered (channel and segments
applied); a failing LLM falls back to matching by meaning; no tool call answers as usual.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Iterator
from typing import Any

import pytest

from actions.openapi import parse_spec
from actions.tools import ToolChooser
from agent.agent import Agent
from agent.decision import Action, Decision
from agent.llm import LLMUnavailable, build_llm
from agent.sessions import ContactRef
from app.runtime import Runtime
from core.models import Channel, DocumentKind
from core.settings import ActionSettings, LLMSettings, Settings
from retrieval.search import SearchFilters
from tests.fixtures.loopback import LoopbackServer, Request, Response
from tests.fixtures.orders_spec import ORDERS_SPEC as SPEC
from tests.fixtures.orders_spec import import_orders_spec

pytestmark = pytest.mark.slow

WS = "default"
SHOP_KEY = "shop-key-Lm7-s3cr3t"
CUSTOMER_TOKEN = "customer-token-Lm7-t0p"
LLM_KEY = "sk-llm-test-key"
ORDERS = {
    "ORD-1042": {"id": "ORD-1042", "status": "shipped", "estimated_delivery": "2026-03-04", "total": 42.5},
    "ORD-2001": {"id": "ORD-2001", "status": "paid", "estimated_delivery": None, "total": 18.0},
}


class ScriptedModel:
    """The loopback model: requests with ``tools`` get the next scripted reply (a tool call, plain
    text or an error status); requests without tools (the answer writer) get ``NO_ANSWER``."""

    def __init__(self) -> None:
        self.script: deque[dict[str, Any] | int] = deque()
        self.tool_requests: list[dict[str, Any]] = []

    def __call__(self, req: Request) -> Response:
        body = req.json()
        if not body.get("tools"):
            return Response.json(completion({"role": "assistant", "content": "NO_ANSWER"}))
        self.tool_requests.append(body)
        step = self.script.popleft() if self.script else {"role": "assistant", "content": "How can I help?"}
        if isinstance(step, int):
            return Response.json({"error": {"message": "model crashed", "type": "server_error"}}, status=step)
        return Response.json(completion(step))

    def offered(self, n: int = -1) -> list[str]:
        return [t["function"]["name"] for t in self.tool_requests[n]["tools"]]


def completion(message: dict[str, Any]) -> dict[str, Any]:
    finish = "tool_calls" if message.get("tool_calls") else "stop"
    return {"id": "chatcmpl-7", "object": "chat.completion", "created": 1767225600, "model": "tiny",
            "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish}],
            "usage": {"prompt_tokens": 50, "completion_tokens": 12, "total_tokens": 62}}


def tool_call(name: str, **arguments: Any) -> dict[str, Any]:
    return {"role": "assistant", "content": None, "tool_calls": [
        {"id": "call_1", "type": "function", "function": {"name": name, "arguments": json.dumps(arguments)}}]}


@pytest.fixture(scope="module")
def api() -> Iterator[LoopbackServer]:
    def get_order(req: Request) -> Response:
        if req.header("x-shop-key") != SHOP_KEY:
            return Response.json({"message": "bad key"}, status=401)
        order = ORDERS.get(req.path_params["oid"])
        return Response.json(order) if order else Response.json({"message": "order not found"}, status=404)

    with LoopbackServer() as server:
        server.route("GET", r"/v1/orders/(?P<oid>[^/]+)", get_order)
        server.route("POST", r"/v1/subscriptions/(?P<sid>[^/]+)/cancel",
                     lambda req: {"id": req.path_params["sid"], "plan": "weekly", "status": "cancelled"})
        yield server


@pytest.fixture(scope="module")
def model() -> Iterator[tuple[LoopbackServer, ScriptedModel]]:
    scripted = ScriptedModel()
    with LoopbackServer() as server:
        server.route("POST", r"/v1/chat/completions", scripted)
        yield server, scripted


@pytest.fixture(scope="module")
def rt(tmp_path_factory: pytest.TempPathFactory, api: LoopbackServer,
       model: tuple[LoopbackServer, ScriptedModel]) -> Iterator[Runtime]:
    llm = LLMSettings(base_url=f"{model[0].url}/v1", model="tiny", api_key=LLM_KEY, timeout=5)
    runtime = Runtime(Settings(home=tmp_path_factory.mktemp("llm-tools-home"), llm=llm,
                               actions=ActionSettings(timeout=2.0)))
    import_orders_spec(runtime, api_url=api.url, shop_key=SHOP_KEY, workspace=WS)
    yield runtime
    runtime.actions.caller.close()
    tools = runtime.actions.runner.tools
    assert tools is not None  # build_agent offered the actions to the configured LLM
    close_llm(tools.llm)


def close_llm(llm: Any) -> None:
    """Close the OpenAI client's pooled connections (llama-index keeps the client private)."""
    client = getattr(llm, "_client", None)
    if client is not None:
        client.close()


@pytest.fixture
def agent(rt: Runtime, api: LoopbackServer, model: tuple[LoopbackServer, ScriptedModel]) -> Iterator[Agent]:
    api.clear_log()
    model[1].script.clear()
    model[1].tool_requests.clear()
    yield rt.agent
    assert not api.errors and not model[0].errors


def start(agent: Agent, **contact: Any) -> str:
    return agent.store.create(WS, channel=Channel.WEB, contact=ContactRef(**contact) if contact else None).id


def calls(agent: Agent, session: str) -> list[dict[str, Any]]:
    return [e.data for e in agent.store.events(WS, session) if e.type == "action_call"]


def notes(d: Decision) -> str:
    return " | ".join(d.trace.notes)


def test_the_tool_call_fills_the_id_and_the_call_is_made(agent: Agent, api: LoopbackServer,
                                                         model: tuple[LoopbackServer, ScriptedModel]) -> None:
    model[1].script.append(tool_call("getOrder", order_id="ORD-1042"))
    session = start(agent)
    # no "order" noun and no question the matcher knows: the model reads it as a lookup
    d = agent.handle(WS, session, "Has ORD-1042 left your warehouse yet, and when does it get here?")
    assert d.action == Action.ACTION_CALL, d.trace
    assert "2026-03-04" in d.reply and "LLM chose action getOrder" in notes(d)
    [request] = api.requests_to(r"/v1/orders/ORD-1042$", "GET")
    assert request.header("x-shop-key") == SHOP_KEY
    [event] = calls(agent, session)
    assert event["action"] == "getOrder" and event["status"] == 200 and event["arguments"] == {"order_id": "ORD-1042"}
    sent = model[1].tool_requests[0]
    [tool] = [t["function"] for t in sent["tools"] if t["function"]["name"] == "getOrder"]
    assert tool["parameters"]["required"] == ["order_id"]
    assert tool["parameters"]["properties"]["order_id"]["pattern"] == "^ORD-[0-9]{4,}$"
    assert "Look up an order" in tool["description"]


def test_an_invented_order_id_is_asked_for(agent: Agent, api: LoopbackServer,
                                           model: tuple[LoopbackServer, ScriptedModel]) -> None:
    model[1].script.append(tool_call("getOrder", order_id="ORD-7777"))  # valid, plausible, never written
    session = start(agent)
    first = agent.handle(WS, session, "What's the status of my order?")
    assert first.action == Action.CLARIFY and "order id" in first.reply
    assert "order_id (not in the conversation (a guess))" in notes(first)
    assert not api.requests_to(r"/v1/orders")  # nothing guessed, nothing called
    second = agent.handle(WS, session, "It's ORD-2001")
    assert second.action == Action.ACTION_CALL and "paid" in second.reply
    assert api.requests_to(r"/v1/orders/ORD-2001$", "GET") and not api.requests_to(r"ORD-7777")
    assert len(model[1].tool_requests) == 1  # the answer to the question needed no model


def test_a_hallucinated_argument_is_dropped_and_an_evidenced_one_kept(
        agent: Agent, api: LoopbackServer, model: tuple[LoopbackServer, ScriptedModel]) -> None:
    model[1].script.append(tool_call("getOrder", order_id="ord-2001", verbose=True))
    session = start(agent)
    d = agent.handle(WS, session, "could you look up my order ord-2001 for me")
    assert d.action == Action.ACTION_CALL and "paid" in d.reply, d.trace
    assert "verbose (not a parameter of this action)" in notes(d)
    assert api.requests_to(r"/v1/orders/ORD-2001$", "GET")  # the spec's pattern: the filler's upper case


def test_a_write_tool_asks_for_confirmation_and_no_is_honoured(agent: Agent, api: LoopbackServer,
                                                               model: tuple[LoopbackServer, ScriptedModel]) -> None:
    model[1].script.append(tool_call("cancelSubscription", subscription_id="SUB-77"))
    session = start(agent)
    ask = agent.handle(WS, session, "I'm moving abroad: stop my coffee deliveries, it's SUB-77")
    assert ask.action == Action.CLARIFY and "SUB-77" in ask.reply and "yes or no" in ask.reply
    assert "LLM chose action cancelSubscription" in notes(ask)
    no = agent.handle(WS, session, "No, don't do that")
    assert no.action == Action.ANSWER and "won't" in no.reply
    assert not api.requests_to(r"/cancel$")
    assert calls(agent, session)[-1]["outcome"] == "declined"
    model[1].script.append(tool_call("cancelSubscription", subscription_id="SUB-77"))
    again = agent.handle(WS, session, "Sorry, I do want you to stop my coffee deliveries for SUB-77")
    assert again.action == Action.CLARIFY and "yes or no" in again.reply
    yes = agent.handle(WS, session, "yes")
    assert yes.action == Action.ACTION_CALL and "cancelled" in yes.reply
    assert len(api.requests_to(r"/v1/subscriptions/SUB-77/cancel$", "POST")) == 1


def test_the_model_sees_no_secret_and_no_unredacted_pii(agent: Agent, rt: Runtime, api: LoopbackServer,
                                                        model: tuple[LoopbackServer, ScriptedModel]) -> None:
    model[1].script.append(tool_call("getOrder", order_id="ORD-1042"))
    session = start(agent, email="ana@example.com")
    rt.actions.store.set_session_headers(WS, session, {"Authorization": f"Bearer {CUSTOMER_TOKEN}"})
    d = agent.handle(WS, session, "Where is my order ORD-1042? I'm bob.jones@example.org, "
                                   "card 4111 1111 1111 1111.")
    assert d.action == Action.ACTION_CALL, (d.reply, d.trace)
    [request] = model[0].requests_to(r"/v1/chat/completions")[-1:]
    assert request.header("authorization") == f"Bearer {LLM_KEY}"  # the model's own key, in the header only
    for sent in model[0].requests_to(r"/v1/chat/completions"):
        body = sent.body.decode()
        for leak in (SHOP_KEY, CUSTOMER_TOKEN, "bob.jones@example.org", "4111 1111 1111 1111", "4111111111111111",
                     "ana@example.com"):
            assert leak not in body, leak
    customer_turns = [m["content"] for m in model[1].tool_requests[-1]["messages"] if m["role"] == "user"]
    assert "[EMAIL]" in customer_turns[-1] and "[CARD]" in customer_turns[-1]
    offered = {t["function"]["name"]: t["function"]["parameters"] for t in model[1].tool_requests[-1]["tools"]}
    assert all("email" not in params["properties"] for params in offered.values())  # the contact's, not the model's


def test_only_the_candidates_are_offered(agent: Agent, rt: Runtime,
                                         model: tuple[LoopbackServer, ScriptedModel]) -> None:
    message = "Where is my order ORD-1042 and how do I track the shipment?"

    def retrieved() -> list[str]:
        hits = rt.searcher.search(message, workspace=WS, top_k=5, per_document=1,
                                  filters=SearchFilters(kind=DocumentKind.ACTION.value, channel=Channel.WEB.value))
        floor = rt.actions.runner.tool_threshold
        return [str(h.payload["meta"]["action_id"]) for h in hits if (h.dense_score or 0.0) >= floor]

    model[1].script.append({"role": "assistant", "content": "Let me check."})
    agent.handle(WS, start(agent, email="ana@example.com"), message)
    offered = model[1].offered()
    everything = [a.id for a in rt.actions.store.actions(WS)]
    assert "getOrder" in offered and "getOrderTracking" in offered and "listOrders" in offered
    assert offered == retrieved() and len(offered) <= 5 < len(everything)
    # an anonymous visitor: listOrders needs the contact's email, which only the contact record gives
    decision = agent.handle(WS, start(agent), message)
    assert "listOrders" not in model[1].offered() and "getOrder" in model[1].offered()
    assert "action listOrders skipped: it needs the contact's email" in notes(decision)
    rt.actions.update(WS, "getOrderTracking", segments=("vip",))
    try:
        agent.handle(WS, start(agent, email="ana@example.com"), message)
        assert "getOrderTracking" not in model[1].offered() and "getOrder" in model[1].offered()
        agent.handle(WS, start(agent, email="vip@example.com", segments=("vip",)), message)
        assert "getOrderTracking" in model[1].offered()
    finally:
        rt.actions.update(WS, "getOrderTracking", segments=())
    email = agent.store.create(WS, channel=Channel.EMAIL).id  # no action is enabled on email
    before = len(model[1].tool_requests)
    assert agent.handle(WS, email, message).action != Action.ACTION_CALL
    assert len(model[1].tool_requests) == before  # no candidates: the model is not asked


def test_a_failing_llm_falls_back_to_matching_by_meaning(agent: Agent, api: LoopbackServer,
                                                         model: tuple[LoopbackServer, ScriptedModel]) -> None:
    model[1].script.extend([500, 500, 500])
    session = start(agent)
    d = agent.handle(WS, session, "Where is my order ORD-1042?")
    assert d.action == Action.ACTION_CALL and "shipped" in d.reply
    assert "LLM unavailable for actions, matched by meaning instead" in notes(d)
    assert api.requests_to(r"/v1/orders/ORD-1042$", "GET")


def test_no_tool_call_takes_the_normal_path(agent: Agent, api: LoopbackServer,
                                            model: tuple[LoopbackServer, ScriptedModel]) -> None:
    model[1].script.append({"role": "assistant", "content": "You can find that in the help center."})
    session = start(agent)
    d = agent.handle(WS, session, "How long does an order usually take to arrive?")
    assert d.action != Action.ACTION_CALL and not calls(agent, session)
    assert "LLM called no action" in notes(d)
    assert not api.requests_to(r"/v1/")
    model[1].script.append(tool_call("deleteEverything", confirm=True))  # a tool that was never offered
    d = agent.handle(WS, start(agent), "Where is my order ORD-1042?")
    assert d.action != Action.ACTION_CALL and not api.requests_to(r"/v1/")


@pytest.mark.parametrize("payload", [{"unexpected": True}, {"choices": []}])
def test_an_unreadable_or_unreachable_model_is_llm_unavailable(payload: dict[str, Any]) -> None:
    offered = parse_spec(SPEC.read_bytes(), workspace=WS, name="brewly").actions[:3]
    with LoopbackServer() as server:
        server.route("POST", r"/v1/chat/completions", lambda req: Response.json(payload))
        url = f"{server.url}/v1"
        chooser = ToolChooser(llm=build_llm(base_url=url, model="tiny", api_key=None, timeout=3))
        with pytest.raises(LLMUnavailable, match="not a chat completion"):
            chooser.choose(offered, [("customer", "Where is my order ORD-1042?")])
        close_llm(chooser.llm)
    closed = ToolChooser(llm=build_llm(base_url=url, model="tiny", api_key=None, timeout=3))
    with pytest.raises(LLMUnavailable, match="the LLM failed"):  # the server is gone: connection refused
        closed.choose(offered, [("customer", "Where is my order ORD-1042?")])
    close_llm(closed.llm)
