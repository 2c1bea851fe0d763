"""Knowledge CI on topic renames, and the CLI's deletes, renames and moves through the same
``HelpCenter`` path as the HTTP API (real SQLite, embedded index, real model, the bundled dataset).

How a rename reaches an answer: the topic's name is only the ``topic`` breadcrumb in the points'
payload (not in the embedded or BM25 text, read by no ranking stage, not filtered on by the agent, not
in a reply, a citation or a case's relevant ids). But a rename rewrites its articles' points, and the
rewritten points rank differently from the ones the original publish wrote (same text, same dense list,
another BM25 order: renaming back does not restore it), on the live index and on knowledge CI's staged
copy alike. Renaming ``subscriptions`` rewrites ``office-plan-guide``, which then outranks the article the
case ``shipping-switzerland-customs`` needs: the rename changes that answer, and the gate holds it.
Held, the rename is not stored and the portal and the index keep the old name; rejected, nothing
changes; accepted, the name is stored and the articles are re-indexed under it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from html import unescape

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner, Result

from app.knowledge_ci.models import ChangeStatus
from app.runtime import Runtime
from helpcenter.models import ArticleInput, TopicInput, TranslationInput
from service.api import create_app
from service.cli import app as cli_app
from service.commands.knowledge_ci import HELD_EXIT
from tests.integration.test_knowledge_ci import gated_quickstart
from training.drafts import ScenarioDraft
from training.models import ScenarioKind

pytestmark = pytest.mark.slow
WS = "default"
#: The bundled case a rename of ``subscriptions`` breaks (see the module docstring).
BROKEN = "shipping-switzerland-customs"


@pytest.fixture(scope="module")
def rt(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runtime]:
    with gated_quickstart(tmp_path_factory.mktemp("kcitopics")) as runtime:
        yield runtime


def cli(*args: str) -> Result:
    return CliRunner().invoke(cli_app, list(args))


def _portal(rt: Runtime, path: str) -> str:
    with TestClient(create_app(rt)) as client:
        r = client.get(path)
    assert r.status_code == 200, r.text
    return unescape(r.text)


def _indexed_topics(rt: Runtime, slug: str) -> set[tuple[str, ...]]:
    """The topic breadcrumbs the index holds for an article's English document."""
    title = rt.helpcenter.store.get(WS, slug).translation("en")
    assert title is not None
    hits = rt.components.retrieve.search(title.title, workspace=WS, top_k=50, per_document=50)
    return {h.topic for h in hits if h.document_id == f"help-center:{slug}/en"}


def test_a_topic_rename_that_changes_an_answer_is_held_until_accepted(rt: Runtime) -> None:
    was = rt.helpcenter.store.topic(WS, "subscriptions")
    slug = "office-plan-guide"  # under subscriptions; ranked next to the article the broken case cites
    assert rt.helpcenter.store.get(WS, slug).topic == "subscriptions"
    assert _indexed_topics(rt, slug) == {(was.name,)}

    held = cli("help-center", "rename-topic", "subscriptions", "Your Brewly plan")
    assert held.exit_code == HELD_EXIT, held.output
    first = rt.knowledge_ci.list(WS, status=ChangeStatus.PENDING)[0]
    assert f"{first.id} pending: help center: rename topic subscriptions" in held.output
    assert f"broke {BROKEN}" in held.output and f"knowdesk knowledge-ci accept {first.id}" in held.output
    assert BROKEN in {c.case_id for c in first.report.regressions}
    assert f"help-center:{slug}/en" in first.report.documents_written
    # held: not stored; the portal and the index keep the old name
    assert rt.helpcenter.store.topic(WS, "subscriptions") == was
    page = _portal(rt, "/help/en/topics/subscriptions")
    assert was.name in page and "Your Brewly plan" not in page
    assert _indexed_topics(rt, slug) == {(was.name,)}
    rejected = cli("knowledge-ci", "reject", first.id)
    assert rejected.exit_code == 0, rejected.output
    assert rt.helpcenter.store.topic(WS, "subscriptions") == was and _indexed_topics(rt, slug) == {(was.name,)}

    again = cli("help-center", "rename-topic", "subscriptions", "Your Brewly plan", "--json")
    assert again.exit_code == HELD_EXIT, again.output
    body = json.loads(again.stdout)
    assert body["held"] is True and body["change"]["subject"] == "help center: rename topic subscriptions"
    assert rt.helpcenter.store.topic(WS, "subscriptions") == was
    accepted = cli("knowledge-ci", "accept", body["pending_change"])
    assert accepted.exit_code == 0, accepted.output
    assert rt.helpcenter.store.topic(WS, "subscriptions").name == "Your Brewly plan"
    assert "Your Brewly plan" in _portal(rt, "/help/en/topics/subscriptions")
    assert _indexed_topics(rt, slug) == {("Your Brewly plan",)}


def test_cli_deletes_held_by_knowledge_ci_print_the_report_and_exit_3(rt: Runtime) -> None:
    slug, case = "login-problems", "locked-account"
    before = rt.helpcenter.store.get(WS, slug)
    held = cli("help-center", "delete", slug)
    assert held.exit_code == HELD_EXIT, held.output
    change = rt.knowledge_ci.list(WS, status=ChangeStatus.PENDING)[0]
    assert change.subject == f"help center: delete article {slug}"
    assert f"broke {case}" in held.output and "regressions (cases that passed and fail now)" in held.output
    assert f"knowdesk knowledge-ci reject {change.id}" in held.output
    assert rt.helpcenter.store.get(WS, slug) == before
    assert cli("knowledge-ci", "reject", change.id).exit_code == 0
    assert rt.helpcenter.store.get(WS, slug) == before

    sid = "discount-request"
    live = rt.training.scenario(WS, sid)
    held = cli("training", "delete", sid, "--json")
    assert held.exit_code == HELD_EXIT, held.output
    body = json.loads(held.stdout)
    assert body["held"] and body["change"]["subject"] == f"training: delete {sid}"
    assert "scenario-discount" in {c["case_id"] for c in body["change"]["report"]["regressions"]}
    assert rt.training.scenario(WS, sid) == live
    assert cli("knowledge-ci", "reject", body["pending_change"]).exit_code == 0
    assert rt.training.scenario(WS, sid) == live


def test_cli_deletes_renames_and_moves_that_change_no_answer_go_through(rt: Runtime) -> None:
    hc = rt.helpcenter
    hc.create_topic(WS, TopicInput(id="drafts-area", name="Drafts area"))
    hc.store.create_article(WS, ArticleInput(slug="cli-draft", topic="drafts-area", default_locale="en", translations=(
        TranslationInput(locale="en", title="A draft", body="Nothing published yet."),
        TranslationInput(locale="de", title="Ein Entwurf", body="Noch nichts veröffentlicht."))))
    renamed = cli("help-center", "rename-topic", "drafts-area", "Work in progress")
    assert renamed.exit_code == 0 and "is now 'Work in progress'" in renamed.output, renamed.output
    moved = cli("help-center", "move-topic", "drafts-area", "--parent", "account", "--position", "3", "--json")
    assert moved.exit_code == 0, moved.output
    assert json.loads(moved.stdout)["topic"] == {"id": "drafts-area", "name": "Work in progress",
                                                      "names": {}, "parent": "account", "position": 3}
    assert hc.store.topic(WS, "drafts-area").parent == "account"
    assert cli("help-center", "move-topic", "drafts-area", "--position", "4").exit_code == 0
    assert (hc.store.topic(WS, "drafts-area").parent, hc.store.topic(WS, "drafts-area").position) == ("account", 4)
    assert cli("help-center", "move-topic", "drafts-area", "--top-level", "--position", "3").exit_code == 0
    assert hc.store.topic(WS, "drafts-area").parent is None
    shown = cli("help-center", "topics")
    assert shown.exit_code == 0 and "drafts-area" in shown.output and "Work in progress" in shown.output
    listed = json.loads(cli("help-center", "topics", "--json").stdout)["topics"]
    assert {"id": "drafts-area", "name": "Work in progress", "parent": None, "position": 3, "articles": 1} in listed
    gone = cli("help-center", "delete", "cli-draft", "--locale", "de")
    assert gone.exit_code == 0 and "deleted the de translation of cli-draft" in gone.output, gone.output
    assert [t.locale for t in hc.store.get(WS, "cli-draft").translations] == ["en"]
    assert cli("help-center", "delete", "cli-draft").exit_code == 0
    assert "cli-draft" not in {a.slug for a in hc.store.articles(WS)}
    draft = ScenarioDraft(kind=ScenarioKind.SPECIFIC, title="Unpublished", answer="Not live.",
                          triggers=("is this live?",))
    rt.training.create(WS, "cli-unpublished", draft)
    deleted = cli("training", "delete", "cli-unpublished")
    assert deleted.exit_code == 0 and "deleted cli-unpublished" in deleted.output, deleted.output


def test_cli_bad_input_gets_clear_errors_and_changes_nothing(rt: Runtime) -> None:
    topics = rt.helpcenter.store.topics(WS)
    cases = [
        (("help-center", "delete", "no-such-article"), 1, "no article 'no-such-article'"),
        (("help-center", "delete", "login-problems", "--locale", "xx"), 1, "has no 'xx' translation"),
        (("help-center", "delete", "login-problems", "--locale", "en"), 1, "default locale"),
        (("help-center", "rename-topic", "no-such-topic", "X"), 1, "knowdesk help-center topics"),
        (("help-center", "rename-topic", "privacy", "   "), 1, "new topic name is empty"),
        (("help-center", "move-topic", "privacy"), 2, "nothing to move"),
        (("help-center", "move-topic", "privacy", "--parent", "account", "--top-level"), 2, "not both"),
        (("help-center", "move-topic", "privacy", "--position", "-1"), 2, "greater than or equal to 0"),
        (("help-center", "move-topic", "privacy", "--parent", "nowhere"), 1, "no parent topic 'nowhere'"),
        (("help-center", "move-topic", "privacy", "--parent", "privacy"), 1, "cannot be its own parent"),
        (("help-center", "move-topic", "mill", "--parent", "account"), 1, "has sub-topics"),
        (("help-center", "move-topic", "privacy", "--parent", "mill-setup"), 1, "is itself a sub-topic"),
        (("training", "delete", "no-such-scenario"), 1, "no scenario 'no-such-scenario'"),
    ]
    for args, code, message in cases:
        result = cli(*args)
        assert result.exit_code == code, (args, result.output)
        assert message in " ".join(re.sub(r"[│╭╮╰╯─]", " ", result.output).split()), (args, result.output)
    assert rt.helpcenter.store.topics(WS) == topics
    assert not rt.knowledge_ci.list(WS, status=ChangeStatus.PENDING)
