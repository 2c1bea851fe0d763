"""Knowledge CI on deletes and renames, and its per-case rule, on the quickstart's knowledge (real
SQLite, embedded index, real model, the bundled dataset).

Deleting a help-center article that an answer relies on is held (the article is still stored,
indexed and answered from) until it is accepted over HTTP, or rejected, from the web delete page
too, which says the delete is held and names the change. Deleting a published training scenario
is held the same way (202 over HTTP). A topic rename that breaks nothing goes live. A change that
fixes one case and breaks another keeps the pass rate where it was, and is held by the per-case
rule alone (unless ``max_regressions`` allows one)."""

from __future__ import annotations

from collections.abc import Iterator
from html import unescape

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from app.knowledge_ci.hooks import wire_helpcenter
from app.knowledge_ci.models import ChangeKind, ChangeStatus
from app.knowledge_ci.service import KnowledgeCI
from app.runtime import Runtime
from bench.knowledge_ci import PLANTED
from core.settings import KnowledgeCISettings
from helpcenter.models import ArticleInput, Bundle, Status, TranslationInput
from service.api import create_app
from service.cli import app as cli
from service.keys import KeyStore
from tests.integration.test_knowledge_ci import gated_quickstart
from tests.integration.test_workspace_pages import sign_in

pytestmark = pytest.mark.slow
WS = "default"
#: (article, the dataset case that fails without it)
DELETED_BY_PAGE = ("reset-password", "reset-link-valid")
DELETED_OVER_HTTP = ("login-problems", "locked-account")


@pytest.fixture(scope="module")
def rt(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runtime]:
    with gated_quickstart(tmp_path_factory.mktemp("kcidel")) as runtime:
        yield runtime


def _indexed(rt: Runtime, slug: str, locale: str = "en") -> int:
    return rt.index.count(WS, document_id=f"help-center:{slug}/{locale}")


def _broke(rt: Runtime, change_id: str) -> dict[str, object]:
    change = rt.knowledge_ci.get(WS, change_id)
    return {c.case_id: c for c in change.report.regressions}


def test_an_article_delete_held_on_the_web_page_still_serves_until_rejected(rt: Runtime) -> None:
    slug, case = DELETED_BY_PAGE
    before, points = rt.helpcenter.store.get(WS, slug), _indexed(rt, slug)
    assert points > 0
    page = f"/admin/help/articles/{slug}/delete"
    with TestClient(create_app(rt), base_url="http://testserver") as client:
        csrf = sign_in(client, rt, "write", page)
        r = client.post(page, data={"csrf": csrf, "confirm": "yes"}, follow_redirects=False)
        assert r.status_code == 303, r.text
        where = r.headers["location"]
        assert where.startswith(f"/admin/help/articles/{slug}/en?notice="), where
        shown = unescape(client.get(where).text)
    change = rt.knowledge_ci.list(WS, status=ChangeStatus.PENDING)[0]
    assert f"held by knowledge CI as {change.id}: deleting article {slug} would break answers" in shown
    assert "nothing was deleted and it is still served" in shown and "deleted article" not in shown
    assert change.kind is ChangeKind.HELPCENTER and change.subject == f"help center: delete article {slug}"
    assert change.report.documents_deleted and "regressions" in change.report.held_by
    row = _broke(rt, change.id)[case]
    assert row.old.passed and not row.new.passed and row.question  # type: ignore[attr-defined]
    assert f"help-center:{slug}/en" in [s.document_id for s in row.old.sources]  # type: ignore[attr-defined]
    assert f"help-center:{slug}/en" not in [s.document_id for s in row.new.sources]  # type: ignore[attr-defined]
    # held: the portal (store) and the agent (index) still have it
    assert rt.helpcenter.store.get(WS, slug) == before and _indexed(rt, slug) == points
    shown_cli = CliRunner().invoke(cli, ["knowledge-ci", "show", change.id])
    assert shown_cli.exit_code == 0 and "regressions (cases that passed and fail now): " in shown_cli.output
    rejected = CliRunner().invoke(cli, ["knowledge-ci", "reject", change.id, "--note", "still needed"])
    assert rejected.exit_code == 0 and "rejected" in rejected.output
    assert rt.helpcenter.store.get(WS, slug) == before and _indexed(rt, slug) == points


def test_a_topic_rename_that_breaks_nothing_goes_live(rt: Runtime) -> None:
    _, writer = KeyStore(db=rt.db).create(WS, scopes=["write"])
    articles = [a for a in rt.helpcenter.store.articles(WS) if a.topic == "privacy"]
    assert articles
    last = rt.knowledge_ci.list(WS, limit=1)
    with TestClient(create_app(rt)) as client:
        r = client.patch("/v1/help-center/topics/privacy", json={"name": "Privacy and your data"},
                         headers={"Authorization": f"Bearer {writer}"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["name"] == "Privacy and your data" and body["index"]["pending_change"] is None
    assert rt.helpcenter.store.topic(WS, "privacy").name == "Privacy and your data"
    assert not rt.knowledge_ci.list(WS, status=ChangeStatus.PENDING)
    recorded = rt.knowledge_ci.list(WS, limit=1)
    if body["index"]["written"]:  # the rename rewrote its articles' points (their topic): it was reviewed
        assert recorded[0].status is ChangeStatus.PASSED and recorded[0].subject == "help center: rename topic privacy"
        assert not recorded[0].report.regressions and not recorded[0].report.held_by
    else:  # the indexed text and points stay as they were: nothing an answer can differ on, nothing replayed
        assert recorded == last and body["index"]["unchanged"] >= 1


def test_a_published_scenario_delete_is_held_over_http(rt: Runtime) -> None:
    sid, case = "discount-request", "scenario-discount"
    live = rt.training.scenario(WS, sid)
    assert live is not None
    _, writer = KeyStore(db=rt.db).create(WS, scopes=["write"])
    with TestClient(create_app(rt)) as client:
        r = client.delete(f"/v1/training/scenarios/{sid}", headers={"Authorization": f"Bearer {writer}"})
    assert r.status_code == 202, r.text
    change_id = r.json()["pending_change"]
    assert r.json()["deleted"] is None and change_id
    change = rt.knowledge_ci.get(WS, change_id)
    assert change.kind is ChangeKind.TRAINING and change.subject == f"training: delete {sid}"
    assert case in _broke(rt, change_id)
    assert rt.training.scenario(WS, sid) == live and rt.training.store.get(WS, sid).published_version == live.version
    rt.knowledge_ci.reject(WS, change_id, by="test")
    assert rt.training.scenario(WS, sid) == live


def _article_input(rt: Runtime, slug: str, old: str, new: str) -> ArticleInput:
    a = rt.helpcenter.store.get(WS, slug)
    en = a.translation("en")
    assert en is not None and old in en.body
    return ArticleInput(slug=slug, topic=a.topic, default_locale=a.default_locale, position=a.position,
                        translations=(TranslationInput(locale="en", title=en.title, body=en.body.replace(old, new),
                                                       status=Status.PUBLISHED),))


def test_one_fix_does_not_hide_one_break(rt: Runtime) -> None:
    strict: KnowledgeCI = rt.knowledge_ci
    (broken, b_old, b_new, b_case), (other, o_old, o_new, o_case) = PLANTED[0], PLANTED[2]
    # first a break goes live through a gate that allows it (its answers become the baseline)
    lenient = KnowledgeCI(rt, settings=KnowledgeCISettings(dataset="bundled", thresholds={}, max_regressions=5))
    wire_helpcenter(lenient, rt.helpcenter)
    try:
        went = rt.helpcenter.import_bundle(WS, Bundle(articles=(_article_input(rt, broken, b_old, b_new),)))
    finally:
        wire_helpcenter(strict, rt.helpcenter)
    assert went.index.pending_change is None
    allowed = lenient.list(WS, limit=1)[0]
    assert allowed.status is ChangeStatus.PASSED and b_case in {c.case_id for c in allowed.report.regressions}
    # then one import mends that article and breaks another: the pass rate stays, the case rule holds it
    both = Bundle(articles=(_article_input(rt, broken, b_new, b_old), _article_input(rt, other, o_old, o_new)))
    before = {s: rt.helpcenter.store.get(WS, s) for s in (broken, other)}
    held = rt.helpcenter.import_bundle(WS, both)
    assert held.index.pending_change is not None
    change = strict.get(WS, held.index.pending_change)
    metrics = {m.metric: m for m in change.report.metrics}
    assert metrics["pass_rate"].drop == 0.0 and not metrics["pass_rate"].held
    assert change.report.held_by == ("regressions",) and change.report.max_regressions == 0
    assert [c.case_id for c in change.report.regressions] == [o_case]
    assert any(c.case_id == b_case and c.fixed for c in change.report.changed)
    assert {s: rt.helpcenter.store.get(WS, s) for s in (broken, other)} == before
    strict.reject(WS, change.id)
    # the mend alone goes live
    mended = rt.helpcenter.import_bundle(WS, Bundle(articles=(_article_input(rt, broken, b_new, b_old),)))
    assert mended.index.pending_change is None


def test_an_article_delete_held_then_accepted_goes(rt: Runtime) -> None:
    slug, case = DELETED_OVER_HTTP
    points = _indexed(rt, slug)
    assert points > 0
    keys = KeyStore(db=rt.db)
    writer, admin = (keys.create(WS, scopes=[s])[1] for s in ("write", "admin"))
    with TestClient(create_app(rt)) as client:
        r = client.delete(f"/v1/help-center/articles/{slug}", headers={"Authorization": f"Bearer {writer}"})
        assert r.status_code == 200, r.text
        change_id = r.json()["index"]["pending_change"]
        assert r.json()["deleted"] is None and change_id
        assert case in _broke(rt, change_id)
        assert rt.helpcenter.store.get(WS, slug) and _indexed(rt, slug) == points
        r = client.post(f"/v1/knowledge-ci/changes/{change_id}/accept", headers={"Authorization": f"Bearer {admin}"})
        assert r.status_code == 200 and r.json()["status"] == "accepted", r.text
    assert slug not in {a.slug for a in rt.helpcenter.store.articles(WS)} and _indexed(rt, slug) == 0
