"""Drafts in the conversation's language and drafts approved as training scenarios, end to end with the
real agent, MiniLM, Qdrant Edge and SQLite: a German conversation proposes a German article; a draft
approved through HTTP with ``{"as": "scenario"}`` becomes a published scenario the agent answers the same
question from; invalid choices are refused with 422 and change nothing."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from app.resolutions.models import DraftKind, DraftStatus
from app.runtime import Runtime, get_runtime, reset_runtime
from helpcenter.markdown_io import from_export
from service.api import create_app
from service.cli import app as cli
from service.keys import KeyStore

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
WS = "default"
ARTICLES = ("payment-methods", "shipping-times-and-costs", "return-policy", "choose-a-plan")


@pytest.fixture(scope="module")
def rt(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runtime]:
    patch = pytest.MonkeyPatch()
    patch.setenv("KNOWDESK_HOME", str(tmp_path_factory.mktemp("resolution-scenarios") / "home"))
    reset_runtime()
    runtime = get_runtime()
    bundle = from_export(json.loads((ROOT / "service" / "samples" / "helpcenter.json").read_text(encoding="utf-8")))
    runtime.helpcenter.import_bundle(WS, bundle.model_copy(update={
        "articles": tuple(a for a in bundle.articles if a.slug in ARTICLES)}))
    try:
        yield runtime
    finally:
        reset_runtime()
        patch.undo()


def handed_off(rt: Runtime, question: str) -> str:
    session = rt.agent.store.create(WS, channel="web")
    if rt.agent.handle(WS, session.id, question).action.value != "handoff":
        assert rt.agent.handle(WS, session.id, "I'd like to talk to a person please").action.value == "handoff"
    return rt.agent.store.handoffs(WS, session_id=session.id, limit=1)[0].id


def test_a_german_conversation_proposes_and_publishes_a_german_article(rt: Runtime) -> None:
    handoff = handed_off(rt, "Hallo! Kann ich meine Kaffeebohnen auch als Geschenk verpacken lassen?")
    reply = ("Hallo Frau Weber,\n\nvielen Dank für Ihre Nachricht! Ja, wir verpacken jede Bestellung als Geschenk: "
             "Wählen Sie im Warenkorb „Geschenkverpackung“ und schreiben Sie einen Kartentext dazu. Die Rechnung "
             "liegt dann nicht im Paket.\n\nIch habe Ihre Bestellung #48213 schon umgestellt.\n\nViele Grüße\nJonas")
    draft = rt.resolutions.reply(WS, handoff, reply, by="jonas@helpdesk").draft
    assert draft is not None
    assert (draft.locale, draft.kind, draft.note) == ("de", DraftKind.NEW, "")
    assert draft.title == "Kann ich meine Kaffeebohnen auch als Geschenk verpacken lassen?"
    assert draft.answer.startswith("Ja, wir verpacken jede Bestellung als Geschenk") and "48213" not in draft.answer
    assert "Grüße" not in draft.answer and "Jonas" not in draft.answer
    approved = rt.resolutions.approve(WS, draft.id, by="reviewer")
    assert (approved.published["as"], approved.published["locale"]) == ("article", "de")
    article = rt.helpcenter.store.get(WS, approved.published["slug"])
    # an article whose only text is German has German as its own default locale (the help center's rule)
    assert article.default_locale == "de" and [t.locale for t in article.translations] == ["de"]
    assert article.published("en") is not None  # English readers get it as the marked fallback


def test_approving_a_draft_as_a_scenario_through_http_and_the_agent_answers_from_it(rt: Runtime) -> None:
    keys = KeyStore(db=rt.db)
    write = {"Authorization": f"Bearer {keys.create(WS, scopes=['write'])[1]}"}
    question = "Do you offer corporate coffee subscriptions for offices?"
    handoff = handed_off(rt, question)
    text = ("Hi Sam, thanks for reaching out! Yes: our office plan delivers 5 to 50 kg a month with one invoice "
            "for the company. Write to the business team from the Office page to get a quote.\n\nBest, Tom")
    with TestClient(create_app(rt)) as client:
        r = client.post(f"/v1/handoffs/{handoff}/reply", json={"text": text}, headers=write)
        assert r.status_code == 200, r.json()
        draft = r.json()["draft"]
        assert draft["locale"] == "en" and draft["title"] == question
        approve = f"/v1/resolutions/{draft['id']}/approve"
        for bad in ({"as": "faq"}, {"as": ""}, {"as": None}):
            refused = client.post(approve, json=bad, headers=write)
            assert refused.status_code == 422 and "scenario" in refused.text, refused.json()
        assert rt.resolutions.drafts.get(WS, draft["id"]).status is DraftStatus.PENDING  # nothing changed

        r = client.post(approve, json={"as": "scenario"}, headers=write)
        assert r.status_code == 200, r.json()
        published = r.json()["published"]
        assert (r.json()["status"], published["as"], published["status"]) == ("approved", "scenario", "published")
        scenario = client.get(f"/v1/training/scenarios/{published['scenario_id']}", headers=write).json()
        assert scenario["kind"] == "specific" and question in scenario["triggers"]
        assert scenario["answer"] == draft["answer"] and "Tom" not in scenario["answer"]
        again = client.post(approve, json={"as": "scenario"}, headers=write)
        assert again.status_code == 409 and "approved already" in again.json()["message"]

    session = rt.agent.store.create(WS, channel="web")
    decision = rt.agent.handle(WS, session.id, question)
    assert decision.action.value == "answer", decision.model_dump(mode="json")
    assert decision.reply == draft["answer"]
    assert decision.citations[0].document_id == f"training:{published['scenario_id']}"


def test_the_cli_and_admin_page_approve_as_a_scenario_and_refuse_other_choices(rt: Runtime) -> None:
    from tests.integration.test_workspace_pages import sign_in

    first = handed_off(rt, "Can I bring my own bags to the roastery shop?")
    one = rt.resolutions.reply(WS, first, "Yes, bring your own bags or tins to the roastery shop; we fill them "
                               "and take 10 percent off.", by="tom").draft
    second = handed_off(rt, "Do you sell decaf espresso beans?")
    two = rt.resolutions.reply(WS, second, "Yes: our decaf espresso is decaffeinated with water only (Swiss "
                               "Water process) and comes in 250 g and 1 kg bags.", by="tom").draft
    assert one is not None and two is not None
    runner = CliRunner()
    wrong = runner.invoke(cli, ["resolutions", "approve", one.id, "--as", "faq"])
    assert wrong.exit_code != 0 and "scenario" in wrong.output
    done = runner.invoke(cli, ["resolutions", "approve", one.id, "--as", "scenario", "--json"])
    assert done.exit_code == 0, done.output
    got = json.loads(done.output)
    assert got["published"]["as"] == "scenario" and rt.training.scenario(WS, got["published"]["scenario_id"])

    with TestClient(create_app(rt), base_url="http://testserver") as client:
        csrf = sign_in(client, rt, "write", page="/admin/resolutions")
        page = client.get("/admin/resolutions").text
        assert f'action="/admin/resolutions/{two.id}/approve"' in page and 'value="scenario"' in page
        r = client.post(f"/admin/resolutions/{two.id}/approve", data={"csrf": csrf, "as": "faq"})
        assert r.status_code == 422 and "article, scenario" in r.text
        r = client.post(f"/admin/resolutions/{two.id}/approve", data={"csrf": csrf, "as": "scenario"},
                        follow_redirects=False)
        assert r.status_code == 303 and "training+scenario" in r.headers["location"].replace("%20", "+")
    decided = rt.resolutions.drafts.get(WS, two.id)
    assert decided.status is DraftStatus.APPROVED and decided.published["as"] == "scenario"
