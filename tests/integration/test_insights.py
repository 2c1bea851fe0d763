"""Insights and CSAT end to end with the real model: the sample sessions with planted themes,
the sample help center indexed for article matching, the HTTP API and the CLI."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from app.runtime import Runtime, reset_runtime
from core.settings import Settings
from helpcenter.markdown_io import from_export
from insights import samples
from insights.models import InsightKind, InsightRun
from service.api import create_app
from service.cli import app as cli
from service.keys import KeyStore

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
PLANTED = {"grinder-e12": InsightKind.COMPLAINT, "packaging": InsightKind.KNOWLEDGE_GAP,
           "norway": InsightKind.KNOWLEDGE_GAP, "oat-milk": InsightKind.REQUEST}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Runtime, dict[str, str], InsightRun]]:
    rt = Runtime(Settings(home=tmp_path_factory.mktemp("insights") / "home"))
    bundle = from_export(json.loads((ROOT / "service" / "samples" / "helpcenter.json").read_text(encoding="utf-8")))
    rt.helpcenter.import_bundle("default", bundle)
    ic = rt.insights
    ids = ic.seed_samples("default")
    assert len(ids) == 320 and ic.seed_samples("default") == []  # once per workspace
    planted = samples.generate()
    themes = {sid: p.theme for sid, p in zip(ids, planted, strict=True)}
    run = ic.insights.refresh("default", since="7d")
    try:
        yield rt, themes, run
    finally:
        rt.qdrant.close()


def _theme_of(insight_sessions: list[str], themes: dict[str, str]) -> tuple[str, float]:
    theme, n = Counter(themes[s] for s in insight_sessions).most_common(1)[0]
    return theme, n / len(insight_sessions)


def test_planted_themes_are_separate_insights_of_the_right_kind(world: tuple[Runtime, dict[str, str], InsightRun]
                                                                ) -> None:
    _, themes, run = world
    found: dict[str, list[str]] = {}
    for insight in run.insights:
        theme, purity = _theme_of(insight.session_ids, themes)
        if theme in PLANTED:
            assert purity >= 0.9, (insight.label, purity)
            assert insight.kind == PLANTED[theme], (theme, insight.kind, insight.label)
            found.setdefault(theme, []).append(insight.id)
    assert sorted(found) == sorted(PLANTED) and all(len(v) == 1 for v in found.values()), found
    for insight in run.insights:
        if _theme_of(insight.session_ids, themes)[0] == "noise":
            assert insight.kind in (InsightKind.OTHER, InsightKind.COMPLAINT), insight


def test_knowledge_gaps_point_at_the_missing_topic(world: tuple[Runtime, dict[str, str], InsightRun]) -> None:
    _, themes, run = world
    by_theme = {_theme_of(i.session_ids, themes)[0]: i for i in run.insights}
    packaging, norway = by_theme["packaging"], by_theme["norway"]
    assert packaging.keyword in ("compostable", "recyclable", "bags", "packaging"), packaging.terms
    assert packaging.suggestion == "write"
    assert norway.keyword == "norway"
    assert norway.articles and norway.articles[0].title == "Shipping times and costs by country"
    assert norway.articles[0].mentions == ["norway"] and norway.suggestion == "extend"
    assert not packaging.articles or not packaging.articles[0].mentions
    complaint = by_theme["grinder-e12"]
    assert complaint.keyword == "e-12" and complaint.trend.value == "rising"
    assert packaging.trend.value == "new" and packaging.handoff_rate >= 0.6


def test_http_api_insights_csat_and_analytics(world: tuple[Runtime, dict[str, str], InsightRun]) -> None:
    rt, themes, run = world
    _, read_key = KeyStore(db=rt.db).create("default", scopes=["read"])
    _, write_key = KeyStore(db=rt.db).create("default", scopes=["write"])
    client = TestClient(create_app(rt))
    read, write = {"Authorization": f"Bearer {read_key}"}, {"Authorization": f"Bearer {write_key}"}

    body = client.get("/v1/insights?since=7d", headers=read).json()
    assert body["id"] == run.id and [i["label"] for i in body["insights"]] == [i.label for i in run.insights]
    gaps = client.get("/v1/insights?kind=knowledge_gap", headers=read).json()["insights"]
    assert {i["kind"] for i in gaps} == {"knowledge_gap"} and len(gaps) == 2
    assert client.get("/v1/insights?since=soon", headers=read).status_code == 422
    assert client.get("/v1/insights?refresh=true", headers=read).status_code == 403

    session = rt.insights.csat.sessions.create("default", channel="email")
    r = client.post(f"/v1/sessions/{session.id}/csat", json={"score": 5}, headers=write)
    assert r.status_code == 409 and "once it is resolved" in r.json()["message"]
    client.post(f"/v1/sessions/{session.id}/resolve", headers=write)
    r = client.post(f"/v1/sessions/{session.id}/csat", json={"score": 2}, headers=write)
    assert r.status_code == 422 and r.json()["error"] == "invalid_input"
    assert "comment is required" in r.json()["message"]
    assert client.post(f"/v1/sessions/{session.id}/csat", json={"score": 9}, headers=write).status_code == 422
    r = client.post(f"/v1/sessions/{session.id}/csat", json={"score": 2, "comment": "slow"}, headers=write)
    assert r.status_code == 201 and r.json()["score"] == 2 and r.json()["handed_off"] is False
    assert client.post(f"/v1/sessions/{session.id}/csat", json={"score": 4}, headers=write).status_code == 409
    assert client.post(f"/v1/sessions/{session.id}/csat/survey", headers=write).status_code == 202

    report = client.get("/v1/analytics/csat?since=30d", headers=read).json()
    scores = rt.insights.csat.scores("default", *rt.insights.window(days=30))
    assert report["overall"]["count"] == len(scores)
    assert report["overall"]["mean"] == round(sum(s.score for s in scores) / len(scores), 2)
    e12 = next(i for i in run.insights if _theme_of(i.session_ids, themes)[0] == "grinder-e12")
    scored = [s.score for s in scores if s.session_id in set(e12.session_ids)]
    assert report["by_topic"][e12.label]["count"] == len(scored)
    assert set(report["by_resolution"]) == {"ai_only", "handed_off"}
    assert set(report["by_agent"]) >= {"alice@brewly.example", "bob@brewly.example"}


def test_cli_prints_the_planted_themes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KNOWDESK_HOME", str(tmp_path / "home"))
    reset_runtime()
    try:
        result = CliRunner().invoke(cli, ["insights", "--demo", "--since", "7d"])
        assert result.exit_code == 0, result.output
        for words in ("e-12", "norway", "oat milk", "complaint", "knowledge_gap", "request", "write a new article"):
            assert words in result.output.lower(), (words, result.output)
        as_json = CliRunner().invoke(cli, ["insights", "--stored", "--json"])
        assert as_json.exit_code == 0, as_json.output
        data = json.loads(as_json.stdout)
        assert {"knowledge_gap", "complaint", "request"} <= {i["kind"] for i in data["insights"]}
        assert data["csat"]["count"] > 100
    finally:
        from app.runtime import get_runtime

        get_runtime().qdrant.close()
        reset_runtime()


def test_the_flow_step_requests_surveys_and_refreshes(world: tuple[Runtime, dict[str, str], InsightRun]) -> None:
    from app.insights import refresh_workspace, workspaces

    rt, _, run = world
    assert "default" in workspaces(rt)
    first = refresh_workspace(rt, "default", "7d")
    assert first["surveys_requested"] > 50 and first["webhook_events_sent"] == 0  # no webhook configured
    assert first["insights"] == len(run.insights)
    again = refresh_workspace(rt, "default", "7d")
    assert again["surveys_requested"] == 0
    latest = rt.insights.insights.latest("default", "7d")
    assert latest is not None and latest.id != run.id and [i.label for i in latest.insights] == [
        i.label for i in run.insights]
