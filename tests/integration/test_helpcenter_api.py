"""/v1/help-center, /v1/training and the /help portal on real components (model, local Qdrant)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.runtime import Runtime
from core.settings import Settings
from service.api import create_app
from service.keys import KeyStore

pytestmark = pytest.mark.slow


@pytest.fixture
def api(tmp_path: Path) -> Iterator[tuple[TestClient, Runtime, dict[str, str]]]:
    rt = Runtime(Settings(home=tmp_path / "home"))
    _, key = KeyStore(db=rt.db).create("default", scopes=["write"])
    with TestClient(create_app(rt)) as client:
        yield client, rt, {"Authorization": f"Bearer {key}"}
    rt.qdrant.close()


def test_help_center_api_publish_search_unpublish_and_errors(api: tuple[TestClient, Runtime, dict[str, str]]) -> None:
    client, rt, auth = api
    _, reader = KeyStore(db=rt.db).create("default", scopes=["read"])
    r = client.post("/v1/help-center/topics", headers=auth, json={"id": "billing", "name": "Billing"})
    assert r.status_code == 201, r.text
    article = {"slug": "refunds", "topic": "billing", "title": "Refunds",
               "body": "Refunds reach your card within five business days after we receive the return."}
    assert client.post("/v1/help-center/articles", headers={"Authorization": f"Bearer {reader}"},
                       json=article).status_code == 403
    r = client.post("/v1/help-center/articles", headers=auth, json=article)
    assert r.status_code == 201 and r.json()["index"]["written"] == 0  # a draft

    for bad, status, code in [
        (article, 409, "conflict"),
        (article | {"slug": "x", "title": "  "}, 422, "invalid_input"),
        (article | {"slug": "x", "topic": "nope"}, 422, "invalid_input"),
        (article | {"slug": "x", "locale": "klingon"}, 422, "invalid_input"),
        (article | {"slug": "x", "body": "b" * (201 * 1024)}, 422, "invalid_input"),
        (article | {"slug": "x", "colour": "red"}, 422, "invalid_input"),
    ]:
        r = client.post("/v1/help-center/articles", headers=auth, json=bad)
        assert (r.status_code, r.json()["error"]) == (status, code), r.text
        assert r.json()["message"]
    assert [a["slug"] for a in client.get("/v1/help-center/articles", headers=auth).json()["articles"]] == ["refunds"]

    query = {"query": "how long until my money is back?"}
    assert client.post("/v1/help-center/search", headers=auth, json=query).json()["hits"] == []
    r = client.post("/v1/help-center/articles/refunds/publish", headers=auth)
    assert r.status_code == 200 and r.json()["index"]["written"] == 1
    hits = client.post("/v1/help-center/search", headers=auth, json=query).json()["hits"]
    assert hits[0]["title"] == "Refunds" and hits[0]["uri"] == "/help/en/articles/refunds"

    # translations: missing falls back, stale is flagged
    r = client.get("/v1/help-center/articles/refunds/de", headers=auth, params={"published": True})
    assert r.json()["fallback"] is True and r.json()["served_locale"] == "en"
    r = client.put("/v1/help-center/articles/refunds/de", headers=auth,
                   json={"title": "Erstattungen", "body": "Das Geld ist in fünf Werktagen zurück.", "publish": True})
    assert r.status_code == 200 and r.json()["index"]["written"] == 1
    r = client.put("/v1/help-center/articles/refunds/en", headers=auth,
                   json={"title": "Refunds", "body": "Refunds now take three business days."})
    de = next(t for t in r.json()["article"]["translations"] if t["locale"] == "de")
    assert de["stale"] is True and r.json()["index"]["written"] == 1
    assert [a["slug"] for a in client.get("/v1/help-center/articles", headers=auth,
                                          params={"stale": True}).json()["articles"]] == ["refunds"]

    r = client.post("/v1/help-center/articles/refunds/unpublish", headers=auth, json={"locales": ["en", "de"]})
    assert r.json()["index"]["deleted"] == 2
    assert client.post("/v1/help-center/search", headers=auth, json=query).json()["hits"] == []
    assert client.delete("/v1/help-center/articles/refunds", headers=auth).status_code == 200
    assert client.get("/v1/help-center/articles/refunds", headers=auth).status_code == 404


def test_help_center_versions_diff_and_rollback_over_http(api: tuple[TestClient, Runtime, dict[str, str]]) -> None:
    client, rt, auth = api
    _, reader = KeyStore(db=rt.db).create("default", scopes=["read"])
    read = {"Authorization": f"Bearer {reader}"}
    client.post("/v1/help-center/topics", headers=auth, json={"id": "billing", "name": "Billing"})
    five = "# Refunds\n\nRefunds take five business days.\n\nAsk us anything."
    client.post("/v1/help-center/articles", headers=auth,
                json={"slug": "refunds", "topic": "billing", "title": "Refunds", "body": five, "publish": True})
    client.put("/v1/help-center/articles/refunds/en", headers=auth,
               json={"title": "Refund times", "body": five.replace("five", "ten")})

    r = client.get("/v1/help-center/articles/refunds/en/versions", headers=read)
    assert r.status_code == 200, r.text
    listed = r.json()
    assert [v["version"] for v in listed["versions"]] == [2, 1] and listed["current"] == 2
    assert listed["versions"][0].get("body") is None and listed["versions"][1]["note"]
    one = client.get("/v1/help-center/articles/refunds/en/versions/1", headers=read).json()
    assert one["body"] == five and one["title"] == "Refunds"

    d = client.get("/v1/help-center/articles/refunds/en/diff", headers=read).json()
    assert (d["old"], d["new"], d["title"]) == (1, 2, ["Refunds", "Refund times"])
    assert {"change": "removed", "text": "Refunds take five business days."} in d["lines"]
    assert {"change": "added", "text": "Refunds take ten business days."} in d["lines"]
    assert (d["added"], d["removed"]) == (1, 1)
    same = client.get("/v1/help-center/articles/refunds/en/diff", headers=read, params={"old": 2, "new": 2}).json()
    assert same["lines"] == [] and same["title"] is None

    assert client.post("/v1/help-center/articles/refunds/en/rollback", headers=read,
                       json={"version": 1}).status_code == 403
    for bad, status in [({"version": 0}, 422), ({"version": 9}, 404), ({}, 422), ({"version": 1, "x": 1}, 422)]:
        r = client.post("/v1/help-center/articles/refunds/en/rollback", headers=auth, json=bad)
        assert r.status_code == status, (bad, r.text)
    r = client.post("/v1/help-center/articles/refunds/en/rollback", headers=auth, json={"version": 1})
    assert r.status_code == 200 and r.json()["index"]["written"] == 1, "a published text is re-indexed"
    en = r.json()["article"]["translations"][0]
    assert en["title"] == "Refunds" and en["body"] == five and en["status"] == "published"
    listed = client.get("/v1/help-center/articles/refunds/en/versions", headers=read).json()
    assert [v["version"] for v in listed["versions"]] == [3, 2, 1] and listed["current"] == 3
    assert listed["versions"][0]["note"] == "rollback to version 1"

    for path in ["/versions/7", "/diff?old=7", "/diff?new=7"]:
        assert client.get(f"/v1/help-center/articles/refunds/en{path}", headers=read).status_code == 404, path
    assert client.get("/v1/help-center/articles/nope/en/versions", headers=read).status_code == 404
    assert client.get("/v1/help-center/articles/refunds/klingon/versions", headers=read).status_code == 422
    assert client.get("/v1/help-center/articles/refunds/de/versions", headers=read).status_code == 404


def test_training_api_versions_rollback_and_scenario_search(api: tuple[TestClient, Runtime, dict[str, str]]) -> None:
    client, _, auth = api
    body = {"id": "invoice", "kind": "specific", "title": "Send me my invoice",
            "triggers": ["Can you send me my invoice?"], "answer": "Offer the PDF.", "is_instruction": True,
            "channels": ["email"], "directory": "Billing", "publish": True}
    r = client.post("/v1/training/scenarios", headers=auth, json=body)
    assert r.status_code == 201 and r.json()["status"] == "published" and r.json()["published_version"] == 1
    r = client.put("/v1/training/scenarios/invoice", headers=auth, json=body | {"answer": "Email the PDF."})
    assert r.json()["published_version"] == 2
    assert client.post("/v1/training/scenarios/invoice/rollback", headers=auth,
                       json={"version": 1}).json()["answer"] == "Offer the PDF."
    versions = client.get("/v1/training/scenarios/invoice/versions", headers=auth).json()["versions"]
    assert [(v["version"], v["live"]) for v in versions] == [(3, True), (2, False), (1, False)]

    q = {"query": "could you email me my bill?"}
    email = client.post("/v1/training/search", headers=auth, json=q | {"channel": "email"}).json()["matches"]
    assert email[0]["scenario_id"] == "invoice" and email[0]["scenario"]["version"] == 3
    assert client.post("/v1/training/search", headers=auth, json=q | {"channel": "web"}).json()["matches"] == []

    r = client.post("/v1/training/scenarios", headers=auth, json=body | {"id": "x", "triggers": []})
    assert r.status_code == 422 and "trigger" in r.json()["message"]
    r = client.put("/v1/training/profile", headers=auth, json={"name": "Bree", "persona": "Warm.", "publish": True})
    assert r.json()["published"]["name"] == "Bree" and r.json()["published_version"] == 1
    assert client.get("/v1/training/directories", headers=auth).json()["directories"] == [
        {"directory": "Billing", "scenarios": 1}]


def test_the_portal_renders_topics_articles_fallback_and_search(
    api: tuple[TestClient, Runtime, dict[str, str]],
) -> None:
    client, _, auth = api
    client.post("/v1/help-center/topics", headers=auth, json={"id": "billing", "name": "Billing"})
    client.post("/v1/help-center/articles", headers=auth, json={
        "slug": "refunds", "topic": "billing", "title": "Refunds", "publish": True,
        "body": "## How long\n\nRefunds take **five** days.\n\n<script>alert(1)</script>\n\n"
                "[x](javascript:alert(2))\n\n| a | b |\n|---|---|\n| 1 | 2 |"})
    client.put("/v1/help-center/articles/refunds/es", headers=auth,
               json={"title": "Reembolsos", "body": "Los reembolsos tardan cinco días.", "publish": True})
    assert client.get("/help", follow_redirects=False).headers["location"] == "/help/en"
    home = client.get("/help/en")
    assert home.status_code == 200 and '<main id="main"' in home.text and 'href="/help/en/topics/billing"' in home.text
    assert 'role="search"' in home.text and '<label class="visually-hidden" for="q">' in home.text
    page = client.get("/help/en/articles/refunds").text
    assert "<strong>five</strong>" in page and "<table>" in page
    assert "<script>alert" not in page and "javascript:" not in page
    de = client.get("/help/de/articles/refunds")  # no German text and no German content at all: unknown here
    assert de.status_code == 404
    es = client.get("/help/es/articles/refunds").text
    assert "Reembolsos" in es and 'lang="es"' in es
    client.post("/v1/help-center/articles/refunds/unpublish", headers=auth, json={"locales": ["es"]})
    client.post("/v1/help-center/topics", headers=auth, json={"id": "other", "name": "Other"})
    client.post("/v1/help-center/articles", headers=auth, json={
        "slug": "es-only", "topic": "other", "locale": "es", "title": "Solo", "body": "Texto.", "publish": True})
    fallback = client.get("/help/es/articles/refunds").text
    assert 'class="note"' in fallback and "Refunds" in fallback  # falls back to English, and says so
    results = client.get("/help/en/search", params={"q": "how many days for a refund"}).text
    assert 'href="/help/en/articles/refunds"' in results and "Refunds take five days" in results
    assert client.get("/help/en/articles/nope").status_code == 404
