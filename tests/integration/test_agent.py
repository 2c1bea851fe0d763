"""The answering agent on the bundled sample knowledge with the real model and Qdrant storage.

Covers the issue's done-when: cited answers, a scenario paraphrase, human requests (and their
negation), frustration, prohibited topics, out-of-scope questions, autopilot off, topic gating,
PII never stored or traced, and handoffs reaching a loopback Zendesk.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from agent.agent import Agent
from agent.build import build_agent
from agent.decision import Action, ClosureReason, HandoffReason
from agent.policy import AgentConfig, ConfigStore
from agent.sessions import SessionStatus
from app.runtime import Runtime
from core.errors import Conflict
from core.models import Channel, Chunk, Document, DocumentKind, Source, SourceKind
from core.settings import AgentSettings, HelpdeskSettings, Settings
from tests.fixtures.loopback import Fault, LoopbackServer, Request, Response
from training.models import AIProfile, Scenario, ScenarioKind

pytestmark = pytest.mark.slow

SAMPLES = Path(__file__).resolve().parents[2] / "service" / "samples"
WS = "default"
DISCOUNT = Scenario(
    id="discount-request",
    workspace=WS,
    kind=ScenarioKind.SPECIFIC,
    title="Can I get a discount?",
    triggers=("Can I get a discount?", "Do you have any promo codes?", "Is there a cheaper price for me?"),
    answer="We do not hand out individual discount codes. Students get 20% off the Daily plan.",
)
RULE = Scenario(
    id="no-promises",
    workspace=WS,
    kind=ScenarioKind.BEHAVIORAL,
    title="Never promise delivery dates",
    answer="Do not promise a delivery date.",
    is_instruction=True,
)


class FakeTraining:
    """An in-memory ``TrainingReader`` with published scenarios."""

    def __init__(self, *scenarios: Scenario) -> None:
        self.scenarios = {s.id: s for s in scenarios}

    def behavioral(self, workspace: str, *, channel: Channel | str, segments: tuple[str, ...] = ()) -> list[Scenario]:
        return [
            s for s in self.scenarios.values() if s.kind == ScenarioKind.BEHAVIORAL and s.applies_to(channel, segments)
        ]

    def scenario(self, workspace: str, scenario_id: str) -> Scenario | None:
        return self.scenarios.get(scenario_id)

    def profile(self, workspace: str) -> AIProfile | None:
        return AIProfile(workspace=workspace, name="Bree", ground_rules="Answer only from Brewly's help center.")


def index_scenario(rt: Runtime, scenario: Scenario) -> None:
    """Write a specific scenario's triggers as the training source does: one point per trigger."""
    doc = Document(
        workspace=scenario.workspace,
        source_id="training",
        native_id=scenario.id,
        title=scenario.title,
        uri=f"training:{scenario.id}",
        kind=DocumentKind.SCENARIO,
        media_type="text/plain",
        content="\n".join(scenario.triggers).encode(),
        metadata={"scenario_id": scenario.id},
    )
    chunks = [
        Chunk(document_id=doc.id, index=i, text=t, embed_text=t, token_count=len(t.split()))
        for i, t in enumerate(scenario.triggers)
    ]
    pipeline = rt.pipeline()
    pipeline.writer.ensure_collection()
    pipeline.writer.replace_document(doc, chunks, pipeline.embedder.embed_documents(list(scenario.triggers)))


@pytest.fixture(scope="module")
def rt(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runtime]:
    runtime = Runtime(Settings(home=tmp_path_factory.mktemp("agent-home")))
    source = runtime.sources.add(
        Source(
            workspace=WS,
            name="help-center",
            kind=SourceKind.HELPCENTER_EXPORT,
            options={"path": str(SAMPLES / "helpcenter.json"), "base_url": "https://help.brewly.example"},
        )
    )
    assert runtime.sync(source).status == "succeeded"
    index_scenario(runtime, DISCOUNT)
    yield runtime


@pytest.fixture
def make_agent(rt: Runtime) -> Iterator[object]:
    ConfigStore(db=rt.db).put(WS, AgentConfig())
    http = httpx.Client(timeout=5)

    def make(helpdesk: HelpdeskSettings | None = None, **config: object) -> Agent:
        ConfigStore(db=rt.db).put(WS, AgentConfig(**config))  # type: ignore[arg-type]
        return build_agent(
            db=rt.db,
            retriever=rt.searcher,
            embedder=rt.embedder,
            settings=AgentSettings(helpdesk=helpdesk or HelpdeskSettings()),
            training=FakeTraining(DISCOUNT, RULE),
            http=http,
        )

    yield make
    http.close()
    ConfigStore(db=rt.db).put(WS, AgentConfig())


def ask(agent: Agent, message: str, channel: str = "web") -> object:
    session = agent.store.create(WS, channel=channel)
    return agent.handle(WS, session.id, message)


QUESTIONS = json.loads((SAMPLES / "questions.json").read_text(encoding="utf-8"))["questions"]


@pytest.mark.parametrize("question", QUESTIONS, ids=[q["expected"] for q in QUESTIONS])
def test_answerable_questions_get_cited_answers(make_agent, question: dict[str, str]) -> None:  # type: ignore[no-untyped-def]
    agent = make_agent()
    d = ask(agent, question["q"])
    assert d.action == Action.ANSWER, d.trace
    assert d.citations[0].document_id == f"help-center:{question['expected']}/en"
    assert d.citations[0].url == f"https://help.brewly.example/en/articles/{question['expected']}"
    assert d.reply and d.handoff is None and d.confidence >= agent.thresholds()[0]
    assert {r.document_id for r in d.trace.retrieved} >= {d.citations[0].document_id}


def test_the_reply_is_quoted_from_the_cited_article(make_agent, rt: Runtime) -> None:  # type: ignore[no-untyped-def]
    d = ask(make_agent(), "My Brewly Mill shows error E-12. What should I do?")
    assert d.action == Action.ANSWER and d.citations
    assert d.citations[0].document_id == "help-center:mill-error-codes/en"
    # quoted from that article's E-12 entry (the first hit's document with the second stage on)
    assert "E-12" in d.reply and "burrs" in d.reply


def test_a_paraphrased_trigger_gets_the_scenario_answer(make_agent) -> None:  # type: ignore[no-untyped-def]
    d = ask(make_agent(), "Are there any promo codes I could use?")
    assert d.action == Action.ANSWER and d.reply == DISCOUNT.answer
    applied = {s.id for s in d.trace.scenarios if s.applied}
    assert applied == {"discount-request", "no-promises"}  # the behavioral rule applies to every decision


@pytest.mark.parametrize(
    "message",
    [
        "I want to talk to a person",
        "Can I speak with someone from your team please?",
        "Please transfer me to one of your support agents",
    ],
)
def test_asking_for_a_human_hands_off(make_agent, message: str) -> None:  # type: ignore[no-untyped-def]
    agent = make_agent()
    d = ask(agent, message)
    assert d.action == Action.HANDOFF and d.handoff.reason == HandoffReason.HUMAN_REQUESTED
    assert d.handoff.trigger_score >= AgentSettings().human_request_threshold
    stored = agent.store.handoffs(WS, session_id=d.session_id)[0]
    assert stored.reason == "human_requested" and stored.transcript[-1]["text"] == message
    assert agent.store.get(WS, d.session_id).status == "handed_off"


def test_saying_no_human_is_needed_does_not_hand_off(make_agent) -> None:  # type: ignore[no-untyped-def]
    d = ask(make_agent(), "No need for a human, just tell me how to skip a delivery")
    assert d.action == Action.ANSWER
    assert d.citations[0].document_id == "help-center:skip-a-delivery/en"
    human = next(t for t in d.trace.triggers if t.name == "human_request")
    assert not human.fired and human.detail["negated_clauses"] == 1


def test_a_frustrated_customer_is_handed_off(make_agent) -> None:  # type: ignore[no-untyped-def]
    d = ask(make_agent(), "This is RIDICULOUS!!! I asked THREE TIMES and your service is USELESS.")
    assert d.action == Action.HANDOFF and d.handoff.reason == HandoffReason.FRUSTRATION
    assert d.handoff.sentiment.label == "negative"


def test_a_repeated_question_adds_to_frustration(make_agent) -> None:  # type: ignore[no-untyped-def]
    # the first message stays with the agent whatever its confidence (no low-confidence handoff), so
    # the second one reaches the triggers
    agent = make_agent(low_confidence=False)
    session = agent.store.create(WS, channel="web")
    agent.handle(WS, session.id, "Why was I charged twice this month?")
    d = agent.handle(WS, session.id, "Why was I charged twice this month?? This is awful.")
    frustration = next(t for t in d.trace.triggers if t.name == "frustration")
    assert frustration.detail["repeated"] == 1.0


def test_a_prohibited_topic_hands_off(make_agent) -> None:  # type: ignore[no-untyped-def]
    agent = make_agent(prohibited_topics=("legal threats; lawsuits; suing the company; taking you to court",))
    d = ask(agent, "I am going to sue you and take you to court over this")
    assert d.action == Action.HANDOFF and d.handoff.reason == HandoffReason.PROHIBITED_TOPIC
    assert ask(agent, "How do I skip next month's delivery?").action == Action.ANSWER


def test_a_brand_word_in_a_prohibited_topic_does_not_catch_ordinary_questions(make_agent) -> None:  # type: ignore[no-untyped-def]
    agent = make_agent(prohibited_topics=("suing Brewly; a lawsuit against the company; my lawyer will contact you",))
    for question in ("How much does the Brewly Mill cost?", "How do I cancel my Brewly subscription?"):
        d = ask(agent, question)
        assert d.handoff is None or d.handoff.reason != HandoffReason.PROHIBITED_TOPIC, question
    d = ask(agent, "My lawyer will contact you, I am filing a lawsuit against Brewly")
    assert d.action == Action.HANDOFF and d.handoff.reason == HandoffReason.PROHIBITED_TOPIC


@pytest.mark.parametrize(
    "message",
    [
        "What is the capital of France?",
        "Who won the football world cup in 2014?",
        "How do I bake a chocolate cake?",
        "What is your CEO's salary?",
    ],
)
def test_out_of_scope_questions_are_never_answered(make_agent, message: str) -> None:  # type: ignore[no-untyped-def]
    agent = make_agent()
    d = ask(agent, message)
    assert d.action in (Action.HANDOFF, Action.CLARIFY) and not d.citations
    if d.action == Action.HANDOFF:
        assert d.handoff.reason == HandoffReason.LOW_CONFIDENCE
    assert d.confidence < agent.thresholds()[0]


def test_autopilot_off_routes_every_message_to_the_team(make_agent) -> None:  # type: ignore[no-untyped-def]
    agent = make_agent(autopilot={"email": False})
    d = ask(agent, "How do I skip next month's delivery?", channel="email")
    assert d.action == Action.HANDOFF and d.handoff.reason == HandoffReason.AUTOPILOT_OFF
    assert ask(agent, "How do I skip next month's delivery?", channel="web").action == Action.ANSWER


def test_skipped_topics_go_to_the_team(make_agent) -> None:  # type: ignore[no-untyped-def]
    agent = make_agent(skip_topics=("login problems; passwords; account access",))
    d = ask(agent, "I can't log in to my account")
    assert d.action == Action.HANDOFF and d.handoff.reason == HandoffReason.TOPIC_SKIPPED


def test_an_email_and_a_card_number_never_reach_the_database_or_the_trace(make_agent, rt: Runtime) -> None:  # type: ignore[no-untyped-def]
    agent = make_agent()
    d = ask(agent, "I'm jane.doe@example.com and my card 4111 1111 1111 1111 was charged twice. A human please!")
    # look for the values themselves: a fragment such as "4111" also turns up in timing floats
    secrets = ("jane.doe@example.com", "jane.doe", "4111 1111 1111 1111", "4111111111111111", "1111 1111 1111")
    dumped = json.dumps(d.to_json())
    assert not [x for x in secrets if x in dumped]
    assert {r.kind for r in d.trace.redactions} == {"email", "card"}
    with rt.db.engine.connect() as conn:
        for table in ("agent_messages", "agent_events", "agent_handoffs", "agent_contacts", "agent_sessions"):
            rows = " ".join(str(r) for r in conn.execute(text(f"SELECT * FROM {table}")))
            assert not [x for x in secrets if x in rows], table


def zendesk_tickets(server: LoopbackServer) -> None:
    """Zendesk's ``POST /api/v2/tickets.json``: 201 with the created ticket."""

    def create(req: Request) -> Response:
        ticket = req.json()["ticket"]
        return Response.json({"ticket": {"id": 9001, "subject": ticket["subject"], "status": "new"}}, status=201)

    server.route("POST", r"/api/v2/tickets\.json", create)


def test_the_ticket_number_reaches_zendesk_and_an_outage_is_retried(make_agent) -> None:  # type: ignore[no-untyped-def]
    with LoopbackServer() as zendesk:
        zendesk_tickets(zendesk)
        zendesk.faults.add(Fault(status=503, times=1, path="tickets"))
        helpdesk = HelpdeskSettings(
            zendesk_url=zendesk.url,
            zendesk_email="ops@brewly.example",
            zendesk_token="secret-token",
            retry_base_seconds=0,
        )
        agent = make_agent(helpdesk=helpdesk)
        d = ask(agent, "I want to talk to a person")
        outbox = agent.recorder.outbox
        handoff = agent.store.handoffs(WS, session_id=d.session_id)[0]
        [pending] = outbox.status(WS, handoff.id)
        assert pending["status"] == "pending" and "503" in pending["last_error"]

        report = outbox.deliver_due()
        assert report.sent == 1
        [sent] = outbox.status(WS, handoff.id)
        assert sent["status"] == "sent" and sent["external_ref"] == "9001"
        request = zendesk.requests_to("tickets", method="POST")[-1]
        ticket = request.json()["ticket"]
        assert f"#{d.ticket}" in ticket["subject"] and f"ticket_{d.ticket}" in ticket["tags"]
        assert f"Ticket #{d.ticket}" in ticket["comment"]["body"]
        assert ticket["comment"]["body"].endswith("customer: I want to talk to a person")
        assert (request.header("authorization") or "").startswith("Basic ")


def test_the_http_api_runs_a_session(rt: Runtime) -> None:
    from fastapi.testclient import TestClient

    from service.api import create_app
    from service.keys import KeyStore

    _, key = KeyStore(db=rt.db).create(WS, scopes=["write"])
    headers = {"Authorization": f"Bearer {key}"}
    with TestClient(create_app(rt)) as client:
        r = client.post(
            "/v1/sessions", headers=headers, json={"channel": "web", "contact": {"email": "ann@example.com"}}
        )
        assert r.status_code == 201, r.text
        session = r.json()
        sid = session["id"]
        assert session["status"] == "open" and session["contact"]["email"] == "ann@example.com"

        r = client.post(
            f"/v1/sessions/{sid}/messages", headers=headers, json={"text": "How do I skip next month's delivery?"}
        )
        assert r.status_code == 200, r.text
        decision = r.json()
        assert set(decision) == {
            "session_id",
            "ticket",
            "action",
            "reply",
            "confidence",
            "citations",
            "handoff",
            "closure",
            "trace",
            "message_id",
        }
        assert decision["action"] == "answer" and decision["ticket"] == session["ticket"]
        assert decision["closure"] is None
        assert set(decision["citations"][0]) == {"title", "url", "document_id"}
        assert {"redactions", "triggers", "scenarios", "retrieved", "timings"} <= set(decision["trace"])

        r = client.post(f"/v1/sessions/{sid}/messages", headers=headers, json={"text": "I want to talk to a person"})
        handoff = r.json()["handoff"]
        assert set(handoff) == {"reason", "trigger_score", "summary", "sentiment"}
        assert handoff["reason"] == "human_requested"

        detail = client.get(f"/v1/sessions/{sid}", headers=headers).json()
        assert [m["role"] for m in detail["transcript"]] == ["customer", "agent", "customer", "agent"]
        assert {"decision", "handoff", "message", "status"} <= {e["type"] for e in detail["events"]}
        assert detail["status"] == "handed_off" and detail["handoffs"][0]["reason"] == "human_requested"

        listed = client.get("/v1/handoffs", headers=headers).json()["handoffs"]
        assert any(h["session_id"] == sid for h in listed)

        assert client.post(f"/v1/sessions/{sid}/resolve", headers=headers).json()["status"] == "resolved"
        assert client.post(f"/v1/sessions/{sid}/close", headers=headers).json()["status"] == "closed"
        r = client.post(f"/v1/sessions/{sid}/messages", headers=headers, json={"text": "hello again"})
        assert r.status_code == 409 and r.json()["error"] == "conflict"
        assert client.get("/v1/sessions/nope", headers=headers).status_code == 404
        r = client.post("/v1/sessions", headers=headers, json={"channel": "fax"})
        assert r.status_code == 422

        # a goodbye after an answer closes the session over HTTP too
        sid = client.post("/v1/sessions", headers=headers, json={"channel": "web"}).json()["id"]
        question = {"text": "How do I skip next month's delivery?"}
        assert client.post(f"/v1/sessions/{sid}/messages", headers=headers, json=question).json()["action"] == "answer"
        bye = client.post(f"/v1/sessions/{sid}/messages", headers=headers, json={"text": "thanks, that's all"}).json()
        assert bye["closure"] == "closed_by_customer" and bye["handoff"] is None and bye["action"] == "answer"
        assert client.get(f"/v1/sessions/{sid}", headers=headers).json()["status"] == "closed"
        r = client.post(f"/v1/sessions/{sid}/messages", headers=headers, json={"text": "one more thing"})
        assert r.status_code == 409


def test_knowdesk_ask_prints_the_decision(rt: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from app.runtime import reset_runtime
    from service.cli import app

    monkeypatch.setenv("KNOWDESK_HOME", str(rt.settings.home))
    reset_runtime()
    try:
        result = CliRunner().invoke(
            app, ["ask", "How do I skip next month's delivery?", "--contact", "ann@example.com", "--json"]
        )
        assert result.exit_code == 0, result.output
        decision = json.loads([line for line in result.stdout.splitlines() if line.startswith("{")][-1])
        assert decision["action"] == "answer" and decision["citations"]
        follow = CliRunner().invoke(app, ["ask", "I want to talk to a person", "--session", decision["session_id"]])
        assert follow.exit_code == 0 and "human_requested" in follow.stdout
    finally:
        reset_runtime()


@pytest.mark.parametrize(
    "message",
    [
        "",
        "   ",
        "x" * 50_000,
        "😀😀🎉🔥",
        "https://brewly.example/de/articles/skip-a-delivery",
        "Hola 你好 Привет مرحبا",
    ],
    ids=["empty", "blank", "50k", "emoji", "url", "mixed-scripts"],
)
def test_bad_input_gets_a_decision_with_a_reason(make_agent, message: str) -> None:  # type: ignore[no-untyped-def]
    d = ask(make_agent(), message)
    assert d.reply and (d.action != Action.HANDOFF or d.handoff.reason)
    if not message.strip():
        assert d.action == Action.CLARIFY and any("empty" in n for n in d.trace.notes)
    if len(message) > 10_000:
        assert any("long message" in n for n in d.trace.notes)


@pytest.mark.parametrize("message", ["Thank you!", "ok great, thanks", "Hello", "bye", "Merci beaucoup", "👍"])
def test_pleasantries_get_a_courteous_reply_and_no_ticket(make_agent, message: str) -> None:  # type: ignore[no-untyped-def]
    agent = make_agent()
    d = ask(agent, message)
    assert d.action == Action.ANSWER and d.handoff is None and d.trace.signals["pleasantry"] == 1.0
    assert not agent.store.handoffs(WS, session_id=d.session_id)


@pytest.mark.parametrize("goodbye", ["bye", "thanks, that's all", "that's everything, cheers", "Das war's, danke",
                                     "Eso es todo, gracias", "Merci, au revoir", "Tchau, obrigado"])
def test_a_goodbye_after_an_answer_closes_the_session_with_its_reason(make_agent, goodbye: str) -> None:  # type: ignore[no-untyped-def]
    agent = make_agent()
    answered = ask(agent, "How do I skip next month's delivery?")
    assert answered.action == Action.ANSWER and answered.closure is None
    d = agent.handle(WS, answered.session_id, goodbye)
    assert d.action == Action.ANSWER and d.handoff is None and d.closure == ClosureReason.CLOSED_BY_CUSTOMER
    assert d.reply and not agent.store.handoffs(WS, session_id=d.session_id)
    assert agent.store.get(WS, d.session_id).status == SessionStatus.CLOSED
    status = [e.data for e in agent.store.events(WS, d.session_id) if e.type == "status"][-1]
    assert status == {"status": "closed", "reason": "closed_by_customer"}
    stored = [e.data for e in agent.store.events(WS, d.session_id) if e.type == "decision"][-1]
    assert stored["closure"] == "closed_by_customer"
    with pytest.raises(Conflict):
        agent.handle(WS, d.session_id, "one more question")


def test_a_goodbye_with_nothing_answered_or_plain_thanks_keeps_the_session_open(make_agent) -> None:  # type: ignore[no-untyped-def]
    agent = make_agent()
    hello = ask(agent, "Hello")
    bye = agent.handle(WS, hello.session_id, "bye")
    assert bye.closure is None and bye.reply and agent.store.get(WS, bye.session_id).status == SessionStatus.OPEN
    answered = ask(agent, "How do I skip next month's delivery?")
    thanks = agent.handle(WS, answered.session_id, "Thank you!")
    assert thanks.closure is None and agent.store.get(WS, thanks.session_id).status == SessionStatus.OPEN


def test_a_trigger_handoff_records_every_signal_with_its_value(make_agent) -> None:  # type: ignore[no-untyped-def]
    d = ask(make_agent(), "Quiero hablar con una persona, por favor")
    assert d.action == Action.HANDOFF and d.handoff.reason == HandoffReason.HUMAN_REQUESTED
    human = next(t for t in d.trace.triggers if t.name == "human_request")
    assert d.handoff.trigger_score == human.score >= human.threshold and human.detail["rule_language"] == "es"
    assert {"human_request", "frustration", "prohibited_topic"} <= set(d.trace.signals)
    assert d.trace.signals["human_request"] == human.score
    assert d.confidence == d.handoff.trigger_score > 0, "the decision shows the trigger's score, not 0.00"


def test_an_answer_records_its_calibrated_and_raw_confidence_and_the_thresholds(make_agent) -> None:  # type: ignore[no-untyped-def]
    agent = make_agent()
    d = ask(agent, "How do I skip next month's delivery?")
    signals = d.trace.signals
    assert {"retrieval", "margin", "coverage", "support", "answer_match", "top_cosine", "raw_confidence",
            "human_request", "frustration", "prohibited_topic"} <= set(signals)
    assert all(isinstance(v, float) for v in signals.values())
    answer_at, clarify_at = agent.thresholds()  # unset in the settings: the fitted calibration's
    assert AgentSettings().answer_threshold is None and (answer_at, clarify_at) == (
        agent.calibrator.answer_threshold, agent.calibrator.clarify_threshold)
    assert d.trace.thresholds == {"answer": answer_at, "clarify": clarify_at}
    assert d.action == Action.ANSWER and d.confidence >= answer_at
    assert d.confidence != signals["raw_confidence"], "the fitted calibration decides, not the weighted mean"


def test_a_legal_threat_keeps_its_reason_over_a_request_for_a_person(make_agent) -> None:  # type: ignore[no-untyped-def]
    agent = make_agent(prohibited_topics=("legal threats; lawsuits; suing the company; taking you to court",))
    d = ask(agent, "I am going to sue you and take you to court, put me through to your manager")
    assert d.action == Action.HANDOFF and d.handoff.reason == HandoffReason.PROHIBITED_TOPIC


def test_the_handoff_reply_is_in_the_customers_language(make_agent) -> None:  # type: ignore[no-untyped-def]
    agent = make_agent()
    spanish = ask(agent, "Quiero hablar con una persona, por favor")
    assert spanish.action == Action.HANDOFF and "nuestro equipo" in spanish.reply
    assert f"#{spanish.ticket}" in spanish.reply and spanish.trace.language == "es"
    again = agent.handle(WS, spanish.session_id, "¿Hay alguien ahí? Sigo esperando una respuesta")
    assert "Tu conversación está con nuestro equipo" in again.reply
    german = ask(agent, "Wie lange dauert die Rückerstattung für meine stornierte Bestellung?")
    assert german.action == Action.HANDOFF and german.handoff.reason == HandoffReason.LOW_CONFIDENCE
    assert "Hilfe-Center" in german.reply and f"Ticket #{german.ticket}" in german.reply
    english = ask(agent, "I want to talk to a real person")
    assert english.reply.startswith("I'm connecting you with a member of our team")
