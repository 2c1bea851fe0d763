"""Learning from human resolutions end to end, with the real agent, MiniLM, Qdrant Edge and SQLite: a
question the agent hands off, a person's reply, the pending draft (redacted, extractive), approval
publishing it through the help center, and the same question answered afterwards; near-duplicates
become edits; bad input leaves the stored data whole."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from typer.testing import CliRunner

from agent.sessions import SessionStatus
from app.resolutions.models import DraftKind, DraftStatus
from app.resolutions.service import DUPLICATE
from app.resolutions.tables import ResolutionDraftRow
from app.runtime import Runtime, get_runtime, reset_runtime
from core.errors import Conflict, InvalidInput, NotFound
from helpcenter.markdown_io import from_export
from service.api import create_app
from service.cli import app as cli
from service.keys import KeyStore
from training.drafts import ScenarioDraft
from training.models import ScenarioKind

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
WS = "default"
ARTICLES = ("payment-methods", "shipping-times-and-costs", "return-policy", "how-brewly-works", "choose-a-plan",
            "track-your-order")
# new to the sample help center (its payment-methods article says PayPal works, not that it splits payments)
REPLY = ("Hi Anna, thanks for reaching out! Yes, you can pay the Brewly Mill in three monthly instalments: choose "
         "PayPal at checkout and then Pay in 3. There is no interest and no fee for splitting the payment.\n\n"
         "I've switched order #48213 to PayPal for you, and sent the confirmation to anna.schmidt@example.com. "
         "Let me know if there is anything else!\n\nBest,\nTom")


@pytest.fixture(scope="module")
def rt(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runtime]:
    patch = pytest.MonkeyPatch()
    patch.setenv("KNOWDESK_HOME", str(tmp_path_factory.mktemp("resolutions") / "home"))
    reset_runtime()
    runtime = get_runtime()  # the one the CLI's commands use too
    bundle = from_export(json.loads((ROOT / "service" / "samples" / "helpcenter.json").read_text(encoding="utf-8")))
    small = bundle.model_copy(update={"articles": tuple(a for a in bundle.articles if a.slug in ARTICLES)})
    runtime.helpcenter.import_bundle(WS, small)
    try:
        yield runtime
    finally:
        reset_runtime()
        patch.undo()


def handed_off(rt: Runtime, question: str) -> str:
    """A new session asking ``question``; the id of the handoff the agent made."""
    session = rt.agent.store.create(WS, channel="web")
    decision = rt.agent.handle(WS, session.id, question)
    if decision.action.value != "handoff":  # the customer then asks for a person
        assert rt.agent.handle(WS, session.id, "I'd like to talk to a person please").action.value == "handoff"
    return rt.agent.store.handoffs(WS, session_id=session.id, limit=1)[0].id


def drafts(rt: Runtime) -> int:
    with rt.db.session() as s:
        return int(s.scalar(select(func.count()).select_from(ResolutionDraftRow)) or 0)


def test_a_reply_becomes_a_pending_draft_and_approval_publishes_it(rt: Runtime) -> None:
    question = "Hello! Can I pay for the Brewly Mill in instalments?"
    handoff = handed_off(rt, question)
    result = rt.resolutions.reply(WS, handoff, REPLY, by="tom@helpdesk")
    assert result.session.status is SessionStatus.RESOLVED and result.draft is not None, result.skipped
    draft = result.draft
    assert (draft.status, draft.kind) == (DraftStatus.PENDING, DraftKind.NEW)
    assert draft.title == "Can I pay for the Brewly Mill in instalments?"
    assert "three monthly instalments" in draft.answer and "no fee for splitting the payment" in draft.answer
    for private in ("Anna", "48213", "example.com", "Tom", "thanks for reaching out", "Let me know"):
        assert private not in draft.answer, private
    assert "anna.schmidt@example.com" not in draft.reply  # the stored reply is redacted too
    assert draft.similar and draft.similar[0].slug == "payment-methods"
    assert draft.topic == "billing" and draft.slug not in {a.slug for a in rt.helpcenter.store.articles(WS)}
    # pending drafts are never published by themselves
    assert rt.resolutions.drafts.list(WS, status="pending") == [draft]

    approved = rt.resolutions.approve(WS, draft.id, by="editor")
    assert approved.status is DraftStatus.APPROVED and approved.published["written"] >= 1
    article = rt.helpcenter.store.get(WS, approved.published["slug"])
    text = article.translation("en")
    assert text is not None and text.status.value == "published" and text.title == draft.title

    again = rt.agent.store.create(WS, channel="web")
    decision = rt.agent.handle(WS, again.id, "Can I split the payment for the Mill into instalments?")
    assert decision.action.value == "answer", decision.confidence
    assert any(c.document_id.endswith(f"{article.slug}/en") for c in decision.citations)

    with pytest.raises(Conflict, match="approved already"):
        rt.resolutions.approve(WS, draft.id, by="editor")
    with pytest.raises(Conflict, match="approved already"):
        rt.resolutions.reject(WS, draft.id, by="editor")
    assert rt.resolutions.drafts.get(WS, draft.id) == approved


def test_a_near_duplicate_becomes_an_edit_of_the_article(rt: Runtime) -> None:
    # the customer's question is the one before the request for a person; the reply repeats the article
    session = rt.agent.store.create(WS, channel="web")
    rt.agent.handle(WS, session.id, "How do I track my order once it has shipped?")
    assert rt.agent.handle(WS, session.id, "I want to talk to a human please").action.value == "handoff"
    handoff = rt.agent.store.handoffs(WS, session_id=session.id, limit=1)[0].id
    body = rt.helpcenter.store.get(WS, "track-your-order").translation("en")
    assert body is not None
    reply = "Hi! " + " ".join(body.body.split("\n\n")[0].split()[:60]) + "\n\nCheers, Tom"
    result = rt.resolutions.reply(WS, handoff, reply, by="tom")
    assert result.draft is not None and result.draft.kind is DraftKind.EDIT, result.draft
    assert result.draft.slug == "track-your-order" and (result.draft.similar[0].coverage or 0) >= DUPLICATE
    before = body.body
    rt.resolutions.approve(WS, result.draft.id, by="editor", title="Tracking a shipped order")
    after = rt.helpcenter.store.get(WS, "track-your-order").translation("en")
    assert after is not None and after.body.startswith(before.rstrip())
    assert "## Tracking a shipped order" in after.body and after.status.value == "published"


def test_an_answer_an_article_states_in_a_table_row_becomes_an_edit(rt: Runtime) -> None:
    # "Apple Pay, Google Pay | No | Yes" in the payment-methods table: the whole chunk's cosine stays low
    # (0.52), the answer's sentences against the table's rows read with their header do not
    reply = ("Hello Finn, Apple Pay works for shop orders in the app and in Safari, but not for subscriptions. For "
             "subscriptions, use a card, PayPal or SEPA direct debit.\n\nBest, Anna")
    result = rt.resolutions.reply(WS, handed_off(rt, "Do you accept Apple Pay?"), reply, by="anna")
    assert result.draft is not None and result.draft.kind is DraftKind.EDIT, result.draft
    assert result.draft.slug == "payment-methods" and (result.draft.similar[0].coverage or 0) >= DUPLICATE
    assert result.draft.similar[0].score < DUPLICATE  # what the chunk cosine alone would have missed


def test_a_question_a_training_scenario_answers_gets_a_note(rt: Runtime) -> None:
    draft = ScenarioDraft(kind=ScenarioKind.SPECIFIC, title="Gift wrapping", answer="Gift wrapping costs 4.90 EUR "
                          "at checkout.", triggers=("Can you gift wrap my order?", "Do you offer gift wrapping?"))
    rt.training.create(WS, "gift-wrapping", draft, publish=True)
    reply = "Hi! Yes, add gift wrapping for 4.90 EUR at checkout and write a message for the card.\n\nBest, Mia"
    result = rt.resolutions.reply(WS, handed_off(rt, "Can you gift wrap my order please?"), reply, by="mia")
    assert result.draft is not None and "training scenario 'gift-wrapping'" in result.draft.note, result.draft
    unrelated = rt.resolutions.reply(WS, handed_off(rt, "Do you sell tea as well?"),
                                     "Yes, the shop has three green teas and a rooibos, 100 g each.", by="mia")
    assert unrelated.draft is not None and "training scenario" not in unrelated.draft.note


def test_bad_input_is_refused_and_stores_nothing(rt: Runtime) -> None:
    before = drafts(rt)
    plain = rt.agent.store.create(WS, channel="web")
    with pytest.raises(InvalidInput, match="never handed off"):
        rt.resolutions.propose(WS, session_id=plain.id)
    with pytest.raises(NotFound, match="no handoff"):
        rt.resolutions.propose(WS, handoff_id="nope")
    with pytest.raises(NotFound, match="no resolution draft"):
        rt.resolutions.approve(WS, "nope", by="editor")
    with pytest.raises(InvalidInput, match="one of the two"):
        rt.resolutions.propose(WS)

    handoff = handed_off(rt, "Do you offer a corporate gift programme for our employees?")
    with pytest.raises(Conflict, match="not resolved"):
        rt.resolutions.propose(WS, handoff_id=handoff)
    with pytest.raises(InvalidInput, match="empty"):
        rt.resolutions.reply(WS, handoff, "   ", by="tom")
    only_case = rt.resolutions.reply(WS, handoff, "Hi Max, I've sent you our offer by email. Best, Tom", by="tom")
    assert only_case.draft is None and "specific to this conversation" in (only_case.skipped or "")
    assert drafts(rt) == before

    handoff = handed_off(rt, "Is the coffee organic certified?")
    draft = rt.resolutions.reply(WS, handoff, "Yes: every Brewly coffee is certified organic (EU organic "
                                              "label DE-ÖKO-006).", by="tom").draft
    assert draft is not None
    with pytest.raises(Conflict, match="has a draft already"):
        rt.resolutions.propose(WS, handoff_id=handoff)
    with pytest.raises(InvalidInput, match="title is empty"):
        rt.resolutions.approve(WS, draft.id, by="editor", title="  ")
    assert rt.resolutions.drafts.get(WS, draft.id).status is DraftStatus.PENDING
    rejected = rt.resolutions.reject(WS, draft.id, by="editor", note="we are not certified yet")
    assert rejected.status is DraftStatus.REJECTED and rejected.note == "we are not certified yet"
    with pytest.raises(Conflict, match="rejected already"):
        rt.resolutions.approve(WS, draft.id, by="editor")
    assert draft.slug not in {a.slug for a in rt.helpcenter.store.articles(WS)}


def test_http_and_cli_entry_points(rt: Runtime) -> None:
    keys = KeyStore(db=rt.db)
    write = {"Authorization": f"Bearer {keys.create(WS, scopes=['write'])[1]}"}
    read = {"Authorization": f"Bearer {keys.create(WS, scopes=['read'])[1]}"}
    handoff = handed_off(rt, "Can I order a single bag without a subscription?")
    before = drafts(rt)
    with TestClient(create_app(rt)) as client:
        url = f"/v1/handoffs/{handoff}/reply"
        reply = {"text": "Yes: single bags are in the Brewly shop at brewly.example/shop, no subscription needed. "
                         "Shipping is free from 30 EUR.\n\nBest, Tom", "by": "tom@helpdesk"}
        assert client.post(url, json=reply).status_code == 401
        assert client.post(url, json=reply, headers=read).status_code == 403
        bad = [("/v1/handoffs/nope/reply", reply, 404, "no handoff"),
               (url, {"text": ""}, 422, "text"),
               (url, {**reply, "extra": 1}, 422, "extra"),
               ("/v1/resolutions", {}, 422, "one of the two"),
               ("/v1/resolutions", {"handoff_id": handoff}, 409, "not resolved")]
        for path, body, status, message in bad:
            r = client.post(path, json=body, headers=write)
            assert (r.status_code, message in r.json()["message"]) == (status, True), (path, r.json())
        sid = rt.agent.store.handoff(WS, handoff).session_id
        assert drafts(rt) == before and "human" not in {m.role.value for m in rt.agent.store.messages(WS, sid)}

        r = client.post(url, json=reply, headers=write)
        assert r.status_code == 200, r.json()
        got = r.json()
        assert got["session"]["status"] == "resolved" and got["draft"]["status"] == "pending", got
        draft = got["draft"]
        assert draft["answer"].startswith("Yes: single bags are in the Brewly shop") and "Tom" not in draft["answer"]
        pending = client.get("/v1/resolutions", params={"status": "pending"}, headers=read).json()["drafts"]
        assert draft["id"] in [d["id"] for d in pending]
        assert client.get("/v1/resolutions", params={"status": "lost"}, headers=read).status_code == 422
        assert client.get(f"/v1/resolutions/{draft['id']}", headers=read).json() == draft
        assert client.get("/v1/resolutions/nope", headers=read).status_code == 404
        assert client.post(f"/v1/resolutions/{draft['id']}/approve", headers=read).status_code == 403
        r = client.post(f"/v1/resolutions/{draft['id']}/approve", json={"title": "Buy a single bag"}, headers=write)
        assert r.status_code == 200 and r.json()["status"] == "approved", r.json()
        assert rt.helpcenter.store.get(WS, r.json()["published"]["slug"]).translations[0].title == "Buy a single bag"
        again = client.post(f"/v1/resolutions/{draft['id']}/approve", headers=write)
        assert again.status_code == 409 and "approved already" in again.json()["message"]
        assert client.post(url, json=reply, headers=write).json()["draft"]["id"] == draft["id"]  # one per handoff

        # resolving through /v1/sessions/{id}/resolve drafts as well
        second = handed_off(rt, "Do you offer barista training courses?")
        session = rt.agent.store.handoff(WS, second).session_id
        client.post(f"/v1/handoffs/{second}/reply", json={"text": "We run barista courses at the Hamburg roastery "
                                                          "every first Saturday; book them in the app.",
                                                          "resolve": False}, headers=write)
        assert rt.resolutions.drafts.for_handoff(WS, second) is None
        assert client.post(f"/v1/sessions/{session}/resolve", headers=write).status_code == 200
        proposed = rt.resolutions.drafts.for_handoff(WS, second)
        assert proposed is not None and proposed.status is DraftStatus.PENDING

    runner = CliRunner()
    listed = runner.invoke(cli, ["resolutions", "list", "--status", "pending", "--json"])
    assert listed.exit_code == 0, listed.output
    assert proposed.id in [d["id"] for d in json.loads(listed.output)["drafts"]]
    shown = runner.invoke(cli, ["resolutions", "show", proposed.id])
    assert shown.exit_code == 0 and "barista courses" in shown.output and "approve:" in shown.output
    rejected = runner.invoke(cli, ["resolutions", "reject", proposed.id, "--note", "seasonal", "--json"])
    assert rejected.exit_code == 0 and json.loads(rejected.output)["status"] == "rejected", rejected.output
    twice = runner.invoke(cli, ["resolutions", "reject", proposed.id])
    assert twice.exit_code != 0 and "rejected already" in twice.output
    missing = runner.invoke(cli, ["resolutions", "approve", "nope"])
    assert missing.exit_code != 0 and "no resolution draft" in missing.output


def test_admin_pages_reply_review_approve_and_reject(rt: Runtime) -> None:
    from tests.integration.test_workspace_pages import sign_in

    first = handed_off(rt, "Is your coffee packaging recyclable?")
    second = handed_off(rt, "Can I visit the roastery for a tour?")
    with TestClient(create_app(rt), base_url="http://testserver") as client:
        csrf = sign_in(client, rt, "read", page=f"/admin/handoffs/{first}")
        assert f'action="/admin/handoffs/{first}/reply"' not in client.get(f"/admin/handoffs/{first}").text
        refused = client.post(f"/admin/handoffs/{first}/reply", data={"csrf": csrf, "text": "x", "resolve": "on"})
        assert refused.status_code == 403 and rt.resolutions.drafts.for_handoff(WS, first) is None

        csrf = sign_in(client, rt, "write", page=f"/admin/handoffs/{first}")
        assert f'action="/admin/handoffs/{first}/reply"' in client.get(f"/admin/handoffs/{first}").text
        text = ("Hi! Our bags are made of paper with a compostable lining, so they go in the paper bin. "
                "The valve comes off and goes into the packaging waste.\n\nCheers, Mia")
        no_csrf = client.post(f"/admin/handoffs/{first}/reply", data={"text": text, "resolve": "on"})
        assert no_csrf.status_code in (400, 403) and rt.resolutions.drafts.for_handoff(WS, first) is None
        r = client.post(f"/admin/handoffs/{first}/reply", data={"csrf": csrf, "text": text, "resolve": "on"},
                        follow_redirects=False)
        assert r.status_code == 303 and "waits+for+review" in r.headers["location"].replace("%20", "+")
        draft = rt.resolutions.drafts.for_handoff(WS, first)
        assert draft is not None and draft.status is DraftStatus.PENDING and "Mia" not in draft.answer
        assert client.post("/admin/handoffs/nope/reply", data={"csrf": csrf, "text": text}).status_code == 404

        listing = client.get("/admin/resolutions")
        assert listing.status_code == 200 and f'data-draft="{draft.id}"' in listing.text
        assert "compostable lining" in listing.text and 'action="/admin/resolutions/' in listing.text
        r = client.post(f"/admin/resolutions/{draft.id}/approve",
                        data={"csrf": csrf, "title": "Is the packaging recyclable?", "answer": draft.answer},
                        follow_redirects=False)
        assert r.status_code == 303, r.text
        approved = rt.resolutions.drafts.get(WS, draft.id)
        assert approved.status is DraftStatus.APPROVED
        article = rt.helpcenter.store.get(WS, approved.published["slug"])
        assert article.translations[0].title == "Is the packaging recyclable?"
        twice = client.post(f"/admin/resolutions/{draft.id}/approve", data={"csrf": csrf})
        assert twice.status_code == 409 and "approved already" in twice.text
        assert client.post("/admin/resolutions/nope/reject", data={"csrf": csrf}).status_code == 404

        # the resolve button of the handoff page drafts from a reply stored without resolving
        rt.resolutions.reply(WS, second, "Tours of the roastery run on Fridays at 4 pm; book them in the app.",
                             by="mia", resolve=False)
        r = client.post(f"/admin/handoffs/{second}/resolve", data={"csrf": csrf}, follow_redirects=False)
        assert r.status_code == 303
        pending = rt.resolutions.drafts.for_handoff(WS, second)
        assert pending is not None and pending.status is DraftStatus.PENDING
        assert 'id="draft"' in client.get(f"/admin/handoffs/{second}").text
        r = client.post(f"/admin/resolutions/{pending.id}/reject", data={"csrf": csrf, "note": "tours paused"},
                        follow_redirects=False)
        assert r.status_code == 303
        assert rt.resolutions.drafts.get(WS, pending.id).note == "tours paused"
        assert pending.slug not in {a.slug for a in rt.helpcenter.store.articles(WS)}
        shown = client.get("/admin/resolutions", params={"status": "rejected"}).text
        assert f'data-draft="{pending.id}"' in shown and f'data-draft="{draft.id}"' not in shown


def test_two_pending_drafts_of_one_answer_make_one_article(rt: Runtime) -> None:
    reply = ("Yes: our tasting set has three 50 g bags of different roasts for 9.90 EUR with free delivery in "
             "Germany, and the price is credited to your first box if you subscribe within 30 days.")
    first = rt.resolutions.reply(WS, handed_off(rt, "Do you offer samples before I subscribe?"), reply, by="mia")
    second = rt.resolutions.reply(WS, handed_off(rt, "Can I try a sample set of your coffee?"), reply, by="tom")
    assert first.draft is not None and second.draft is not None
    assert (first.draft.kind, second.draft.kind) == (DraftKind.NEW, DraftKind.NEW)  # neither is published yet
    made = rt.resolutions.approve(WS, first.draft.id, by="editor").published
    assert made["kind"] == "new"
    then = rt.resolutions.approve(WS, second.draft.id, by="editor").published
    assert (then["kind"], then["slug"]) == ("edit", made["slug"]), then
    body = rt.helpcenter.store.get(WS, made["slug"]).translations[0].body
    assert body.count("three 50 g bags") == 2 and "## Can I try a sample set of your coffee?" in body


def test_the_helpdesk_sends_a_signed_reply(rt: Runtime) -> None:
    from agent.helpdesk import sign
    from core.settings import HelpdeskSettings

    handoff = handed_off(rt, "Is the packaging plastic free?")
    helpdesk = HelpdeskSettings(webhook_url="http://127.0.0.1:9/hook", webhook_secret="s3cret")
    body = json.dumps({"workspace": WS, "handoff_id": handoff, "by": "zendesk",
                       "text": "The shipping box and filling are 100 % paper, and the bag has a plant-based lining."
                       }).encode()

    def post(client: TestClient, secret: str, stamp: str, data: bytes = body) -> Any:
        return client.post("/v1/helpdesk/replies", content=data, headers={
            "Content-Type": "application/json", "X-Knowdesk-Timestamp": stamp,
            "X-Knowdesk-Signature": sign(secret, stamp, data)})

    now = str(int(time.time()))
    with TestClient(create_app(rt)) as client:
        assert post(client, "s3cret", now).status_code == 401  # no secret configured: refused
        rt.settings.agent.helpdesk = helpdesk
        try:
            for secret, stamp, message in (("wrong", now, "does not match"), ("s3cret", "1", "5 minutes off")):
                r = post(client, secret, stamp)
                assert r.status_code == 401 and message in r.json()["message"], r.json()
            tampered = body.replace(b"100 %", b"50 %")
            r = client.post("/v1/helpdesk/replies", content=tampered, headers={
                "Content-Type": "application/json", "X-Knowdesk-Timestamp": now,
                "X-Knowdesk-Signature": sign("s3cret", now, body)})
            assert r.status_code == 401
            assert rt.resolutions.drafts.for_handoff(WS, handoff) is None
            r = post(client, "s3cret", now)
            assert r.status_code == 200, r.json()
            assert r.json()["draft"]["answer"].startswith("The shipping box and filling are 100 % paper")
        finally:
            rt.settings.agent.helpdesk = HelpdeskSettings()
