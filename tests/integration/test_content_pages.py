"""The help-center pages (/admin/help) and the chat panel (/admin/chat) through TestClient: every
form's bad input (the message by its field, what was typed kept, nothing stored), the editor's
preview / save / publish / unpublish, versions with their diff and rollback, stale translations,
scopes (read keys see, their posts are 403) and CSRF, and the chat's decision after an edit."""

from __future__ import annotations

import html
import json
import re
from typing import Any
from urllib.parse import unquote

import pytest
from fastapi.testclient import TestClient

from agent.sessions import SessionStatus
from app.runtime import Runtime
from helpcenter.models import ArticleInput, Status, TopicInput, TranslationInput
from retrieval.search import SearchFilters
from service.keys import KeyStore
from tests.integration.test_workspace_pages import sign_in

pytestmark = pytest.mark.slow
WS = "default"


def error_of(page: str, field_id: str) -> str:
    found = re.search(rf'id="{field_id}-error">([^<]*)<', page)
    assert found, f"no message by #{field_id}"
    return html.unescape(found.group(1))


def seed(rt: Runtime, *, publish: bool = True) -> None:
    hc = rt.helpcenter
    hc.create_topic(WS, TopicInput(id="billing", name="Billing"))
    hc.create_article(WS, ArticleInput(slug="refunds", topic="billing", default_locale="en", translations=(
        TranslationInput(locale="en", title="Refunds", body="Refunds reach your card within five working days.",
                         status=Status.PUBLISHED if publish else Status.DRAFT),)))


def test_topic_and_article_forms_answer_by_field_and_store_nothing(admin_site: tuple[Runtime, TestClient]) -> None:
    rt, client = admin_site
    csrf = sign_in(client, rt, "write", "/admin/help")
    r = client.post("/admin/help/topics", data={"csrf": csrf, "id": "Bad Id", "name": "Billing"})
    assert r.status_code == 422 and "is invalid" in error_of(r.text, "topic-id")
    assert 'value="Bad Id"' in r.text and 'value="Billing"' in r.text, "what was typed is kept"
    r = client.post("/admin/help/topics", data={"csrf": csrf, "id": "billing", "name": " "})
    assert r.status_code == 422 and "give a title" in error_of(r.text, "topic-name")
    r = client.post("/admin/help/topics", data={"csrf": csrf, "id": "cards", "name": "Cards", "parent": "nope"})
    assert r.status_code == 422 and "unknown parent" in error_of(r.text, "topic-parent")
    assert rt.helpcenter.store.topics(WS) == []
    r = client.post("/admin/help/topics", data={"csrf": csrf, "id": "billing", "name": "Billing"},
                    follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/admin/help?notice=")
    r = client.post("/admin/help/topics", data={"csrf": csrf, "id": "billing", "name": "Again"})
    assert r.status_code == 422 and "already exists" in error_of(r.text, "topic-id")

    assert client.get("/admin/help/new?topic=billing").status_code == 200
    typed = {"csrf": csrf, "slug": "refunds", "topic": "billing", "locale": "en", "title": "Refunds",
             "body": "Refunds take **five** days.\r\n"}
    for change, field, message in [({"body": " \r\n "}, "body", "body is empty"),
                                   ({"slug": "Refunds!"}, "slug", "is invalid"),
                                   ({"topic": "nope"}, "topic", "unknown topic"),
                                   ({"title": ""}, "title", "give a title"),
                                   ({"locale": "xx"}, "locale", "unknown locale")]:
        r = client.post("/admin/help/articles", data=typed | change)
        assert r.status_code == 422 and message in error_of(r.text, field), change
        kept = (typed | change)["title"]
        assert f'value="{kept}"' in r.text, "what was typed is kept"
        assert "body" in change or "Refunds take **five** days." in r.text
    assert rt.helpcenter.store.articles(WS) == [], "nothing stored from a refused form"
    r = client.post("/admin/help/articles", data=typed | {"publish": "on"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/admin/help/articles/refunds/en?notice=")
    en = rt.helpcenter.store.get(WS, "refunds").translations[0]
    assert (en.body, en.status) == ("Refunds take **five** days.", Status.PUBLISHED), "CRLF becomes LF"
    r = client.post("/admin/help/articles", data=typed)
    assert r.status_code == 422 and "already exists" in error_of(r.text, "slug")
    listing = client.get("/admin/help").text
    assert 'data-article="refunds"' in listing and 'class="badge published"' in listing


def test_the_editor_previews_saves_publishes_and_unpublishes(admin_site: tuple[Runtime, TestClient]) -> None:
    rt, client = admin_site
    seed(rt, publish=False)
    csrf = sign_in(client, rt, "write", "/admin/help/articles/refunds/en")
    page = client.get("/admin/help/articles/refunds/en").text
    assert 'lang="en"' in page and "Save and publish" in page and 'id="status">draft<' in page
    body = "Refunds take *ten* days.\n\n<script>alert(1)</script>"
    r = client.post("/admin/help/articles/refunds/en", data={"csrf": csrf, "title": "Refunds", "body": body,
                                                             "do": "preview"})
    assert r.status_code == 200 and "<em>ten</em>" in r.text and "<script>alert" not in r.text
    assert "not saved" in r.text and "Refunds take *ten* days." in r.text, "the typed text stays in the form"
    assert rt.helpcenter.store.get(WS, "refunds").translations[0].body.startswith("Refunds reach")
    assert len(rt.helpcenter.store.versions(WS, "refunds", "en")) == 1, "a preview stores nothing"

    huge = "Refunds take ten days. " * 12_000  # 276 000 bytes: over the 200 KiB a body may hold
    r = client.post("/admin/help/articles/refunds/en", data={"csrf": csrf, "title": "Refunds", "body": huge,
                                                             "do": "save"})
    assert r.status_code == 422 and "at most 204800" in error_of(r.text, "body") and huge.strip() in r.text
    r = client.post("/admin/help/articles/refunds/en", data={"csrf": csrf, "title": "", "body": "Ten days.",
                                                             "do": "publish"})
    assert r.status_code == 422 and "give a title" in error_of(r.text, "title") and "Ten days." in r.text
    assert rt.helpcenter.store.get(WS, "refunds").translations[0].status is Status.DRAFT, "nothing published"

    r = client.post("/admin/help/articles/refunds/en", data={"csrf": csrf, "title": "Refunds",
                                                             "body": "Refunds take ten days.", "do": "publish"},
                    follow_redirects=False)
    assert r.status_code == 303 and "published" in r.headers["location"]
    en = rt.helpcenter.store.get(WS, "refunds").translations[0]
    assert (en.body, en.status) == ("Refunds take ten days.", Status.PUBLISHED)
    assert "refunds/en" in rt.state(WS, "help-center").indexed(), "published: in the index"
    r = client.post("/admin/help/articles/refunds/en/status", data={"csrf": csrf}, follow_redirects=False)
    assert r.status_code == 303 and "unpublished" in r.headers["location"]
    assert rt.helpcenter.store.get(WS, "refunds").translations[0].status is Status.DRAFT
    assert "refunds/en" not in rt.state(WS, "help-center").indexed()
    r = client.post("/admin/help/articles/refunds/en/status", data={"csrf": csrf, "publish": "on"},
                    follow_redirects=False)
    assert r.status_code == 303 and rt.helpcenter.store.get(WS, "refunds").translations[0].status is Status.PUBLISHED

    assert client.get("/admin/help/articles/nope/en").status_code == 404
    assert client.get("/admin/help/articles/refunds/xx").status_code == 404
    r = client.post("/admin/help/articles/nope/en", data={"csrf": csrf, "title": "T", "body": "B"})
    assert r.status_code == 404


def test_versions_show_a_diff_and_roll_back(admin_site: tuple[Runtime, TestClient]) -> None:
    rt, client = admin_site
    seed(rt)
    csrf = sign_in(client, rt, "write", "/admin/help/articles/refunds/en/versions")
    client.post("/admin/help/articles/refunds/en", data={"csrf": csrf, "title": "Refund times",
                                                         "body": "Refunds reach your card within ten working days.",
                                                         "do": "save"})
    page = client.get("/admin/help/articles/refunds/en/versions").text
    assert "Changes from version 1 to version 2" in page
    hidden = '<span class="visually-hidden">'
    assert f'<li class="removed">{hidden}removed: </span>Refunds reach your card within five' in page
    assert f'<li class="added">{hidden}added: </span>Refunds reach your card within ten' in page
    assert 'id="title-change"' in page and 'data-version="2"' in page
    same = client.get("/admin/help/articles/refunds/en/versions?old=2&new=2").text
    assert "These are the same version." in same
    r = client.post("/admin/help/articles/refunds/en/versions/1/rollback", data={"csrf": csrf},
                    follow_redirects=False)
    assert r.status_code == 303 and "version%201%20is%20the%20current%20text%20again" in r.headers["location"]
    en = rt.helpcenter.store.get(WS, "refunds").translations[0]
    assert (en.title, en.status) == ("Refunds", Status.PUBLISHED) and "five" in en.body
    assert rt.helpcenter.store.versions(WS, "refunds", "en")[0].note == "rollback to version 1"
    r = client.post("/admin/help/articles/refunds/en/versions/9/rollback", data={"csrf": csrf})
    assert r.status_code == 404 and "no version 9" in r.text
    assert client.get("/admin/help/articles/refunds/de/versions").status_code == 404


def test_stale_translations_are_flagged(admin_site: tuple[Runtime, TestClient]) -> None:
    rt, client = admin_site
    seed(rt)
    csrf = sign_in(client, rt, "write", "/admin/help")
    r = client.get("/admin/help/articles/refunds?locale=de", follow_redirects=False)
    assert r.headers["location"] == "/admin/help/articles/refunds/de"
    assert "No de text yet" in client.get("/admin/help/articles/refunds/de").text
    r = client.post("/admin/help/articles/refunds/de", data={"csrf": csrf, "title": "Erstattungen",
                                                             "body": "Fünf Werktage.", "do": "save"},
                    follow_redirects=False)
    assert r.status_code == 303 and "draft" in r.headers["location"]
    assert 'data-article="refunds"' not in client.get("/admin/help?stale=1").text, "a fresh translation"
    client.post("/admin/help/articles/refunds/en", data={"csrf": csrf, "title": "Refunds",
                                                         "body": "Refunds take ten days.", "do": "save"})
    listing = client.get("/admin/help?stale=1").text
    assert 'data-article="refunds"' in listing and 'class="badge stale"' in listing
    editor = client.get("/admin/help/articles/refunds/de").text
    assert 'id="stale-note"' in editor and 'lang="de"' in editor and "Refunds take ten days." in editor


def test_read_keys_see_without_forms_and_posts_need_write_and_csrf(admin_site: tuple[Runtime, TestClient]) -> None:
    rt, client = admin_site
    seed(rt)
    session = rt.agent.store.create(WS, channel="web")
    csrf = sign_in(client, rt, "read", "/admin/help")
    for path in ("/admin/help", "/admin/help/articles/refunds/en", "/admin/help/articles/refunds/en/versions",
                 f"/admin/chat?session={session.id}"):
        page = client.get(path)
        assert page.status_code == 200 and 'method="post"' not in page.text.replace('action="/admin/signin"', ""), path
    assert client.get("/admin/help/new").status_code == 403
    for path, data in [("/admin/help/topics", {"id": "x", "name": "X"}),
                       ("/admin/help/articles", {"slug": "x", "topic": "billing", "title": "X", "body": "Y"}),
                       ("/admin/help/articles/refunds/en", {"title": "X", "body": "Y", "do": "save"}),
                       ("/admin/help/articles/refunds/en/status", {}),
                       ("/admin/help/articles/refunds/en/versions/1/rollback", {}),
                       ("/admin/chat/sessions", {"channel": "web"}),
                       (f"/admin/chat/{session.id}/messages", {"text": "hello"})]:
        r = client.post(path, data={"csrf": csrf, **data}, follow_redirects=False)
        assert r.status_code == 403 and "write scope" in r.text, path
    assert [t.id for t in rt.helpcenter.store.topics(WS)] == ["billing"]
    assert rt.agent.store.messages(WS, session.id) == []

    csrf = sign_in(client, rt, "write", "/admin/help")
    r = client.post("/admin/help/articles/refunds/en", data={"csrf": "forged", "title": "X", "body": "Y"})
    assert r.status_code == 403 and "expired" in r.text
    assert rt.helpcenter.store.get(WS, "refunds").translations[0].title == "Refunds"
    client.cookies.clear()
    assert client.post("/admin/help/topics", data={"csrf": csrf, "id": "x", "name": "X"}).status_code == 401


def test_the_chat_shows_each_decision_and_follows_an_edit(admin_site: tuple[Runtime, TestClient]) -> None:
    rt, client = admin_site
    seed(rt)
    csrf = sign_in(client, rt, "write", "/admin/chat")
    r = client.post("/admin/chat/sessions", data={"csrf": csrf, "channel": "fax", "email": "a@b.example"})
    assert r.status_code == 422 and "choose one of" in error_of(r.text, "channel") and 'value="a@b.example"' in r.text
    r = client.post("/admin/chat/sessions", data={"csrf": csrf, "channel": "email", "email": "not-an-address",
                                                  "name": "Ana"})
    assert r.status_code == 422 and "not an email address" in error_of(r.text, "email") and 'value="Ana"' in r.text
    r = client.post("/admin/chat/sessions", data={"csrf": csrf, "channel": "email", "email": "ana@example.com",
                                                  "name": "Ana"}, follow_redirects=False)
    assert r.status_code == 303
    session_id = r.headers["location"].split("session=", 1)[1]
    session = rt.agent.store.get(WS, session_id)
    assert session.channel.value == "email" and session.contact.email == "ana@example.com"

    r = client.post(f"/admin/chat/{session_id}/messages", data={"csrf": csrf, "text": " "})
    assert r.status_code == 422 and "message first" in error_of(r.text, "text")
    long = "refund " * 1200
    r = client.post(f"/admin/chat/{session_id}/messages", data={"csrf": csrf, "text": long})
    assert r.status_code == 422 and "at most 8000" in error_of(r.text, "text") and long.strip() in r.text
    assert rt.agent.store.messages(WS, session_id) == [], "nothing sent"

    def ask() -> str:
        r = client.post(f"/admin/chat/{session_id}/messages", data={"csrf": csrf,
                                                                   "text": "How long do refunds take?"})
        assert r.status_code == 200
        replies = re.findall(r'<li class="agent" id="message-\d+">.*?<span class="text">([^<]*)</span>', r.text,
                             re.S)
        decision = r.text.rsplit('<div class="decision"', 1)[1]
        assert re.search(r'class="confidence">\d\.\d\d<', decision) and 'class="reason">' in decision
        assert 'href="/help/en/articles/refunds"' in decision, "the citation links the article"
        return replies[-1]

    first = ask()
    assert "five working days" in first
    client.post("/admin/help/articles/refunds/en", data={"csrf": csrf, "title": "Refunds", "do": "save",
                                                         "body": "Refunds reach your card within ten working days."})
    second = ask()
    assert "ten working days" in second and "five" not in second, "the reply follows the published edit"
    assert client.get("/admin/chat?session=nope").status_code == 404
    assert client.post("/admin/chat/nope/messages", data={"csrf": csrf, "text": "hi"}).status_code == 404


def sse(body: str) -> list[tuple[str, dict[str, Any]]]:
    """The (event, data) pairs of a server-sent event stream."""
    out = []
    for block in body.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines())
        out.append((lines["event"], json.loads(lines["data"])))
    return out


def test_the_chat_streams_a_reply_as_events_and_refuses_as_json(admin_site: tuple[Runtime, TestClient]) -> None:
    rt, client = admin_site
    seed(rt)
    session = rt.agent.store.create(WS, channel="web")
    csrf = sign_in(client, rt, "write", f"/admin/chat?session={session.id}")
    page = client.get(f"/admin/chat?session={session.id}").text
    assert '<script src="/admin/static/chat.js" defer></script>' in page, "the form streams when scripts run"
    assert "text/javascript" in client.get("/admin/static/chat.js").headers["content-type"]

    stream = f"/admin/chat/{session.id}/messages/stream"
    for data, status, message in [({"csrf": csrf, "text": "  "}, 422, "message first"),
                                  ({"csrf": csrf, "text": "refund " * 1200}, 422, "at most 8000"),
                                  ({"csrf": "forged", "text": "hi"}, 403, "sign in again")]:
        r = client.post(stream, data=data)
        assert r.status_code == status and message in r.json()["error"], (data, r.text)
    r = client.post("/admin/chat/nope/messages/stream", data={"csrf": csrf, "text": "hi"})
    assert r.status_code == 404 and "nope" in r.json()["error"]
    assert rt.agent.store.messages(WS, session.id) == [], "nothing sent"

    r = client.post(stream, data={"csrf": csrf, "text": "How long do refunds take?"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    got = sse(r.text)
    names = [name for name, _ in got]
    assert names[0] == "decision" and names[-2:] == ["citations", "done"] and set(names[1:-2]) == {"text"}
    decision, done = got[0][1], got[-1][1]
    assert decision["action"] == "answer" and "reply" not in decision and 0 < decision["confidence"] <= 1
    text = "".join(d["delta"] for name, d in got if name == "text")
    stored = rt.agent.store.messages(WS, session.id)
    assert [m.role.value for m in stored] == ["customer", "agent"], "the turn is stored as the form stores it"
    assert stored[-1].text == text and "five working days" in text and done["message_id"] == stored[-1].id
    assert any(c.get("url") == "/help/en/articles/refunds" for c in got[-2][1]["citations"])

    rt.agent.store.set_status(WS, session.id, SessionStatus.CLOSED)
    r = client.post(stream, data={"csrf": csrf, "text": "And shipping?"})
    assert r.status_code == 409 and r.json()["error"]
    client.cookies.clear()
    assert client.post(stream, data={"csrf": csrf, "text": "hi"}).status_code == 401


class HoldEverything:
    """A publish gate that holds every change, recording it as knowledge CI does (the real gate's
    replay is tested in test_knowledge_ci.py; here: what the editor is told and shown)."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.held: list[str] = []

    def review(self, workspace: str, plan: object, change: object) -> str:
        from app.knowledge_ci.models import CIReport
        from app.knowledge_ci.tables import KnowledgeChangeRow

        change_id = f"kc-test-{len(self.held) + 1}"
        report = CIReport(dataset="planted", cases=4, held=True, held_by=("pass_rate",))
        with self.rt.db.session() as s:
            s.add(KnowledgeChangeRow(id=change_id, workspace=workspace, kind="helpcenter", subject="refunds (en)",
                                     report=report.model_dump(mode="json")))
        self.held.append(change_id)
        return change_id

    def went_live(self, workspace: str) -> None:
        raise AssertionError("a held change never goes live")


def test_a_change_knowledge_ci_holds_is_reported_as_held_never_as_live(admin_site: tuple[Runtime, TestClient]) -> None:
    rt, client = admin_site
    seed(rt)
    gate = HoldEverything(rt)
    rt.helpcenter.gate = gate
    csrf = sign_in(client, rt, "write", "/admin/help/articles/refunds/en")
    r = client.post("/admin/help/articles/refunds/en", data={"csrf": csrf, "title": "Refunds",
                                                             "body": "Refunds take ten days.", "do": "publish"},
                    follow_redirects=False)
    assert r.status_code == 303
    notice = unquote(r.headers["location"])
    assert "held by knowledge CI" in notice and "kc-test-1" in notice and "answers from it now" not in notice
    en = rt.helpcenter.store.get(WS, "refunds").translations[0]
    assert en.body == "Refunds reach your card within five working days.", "the live text is kept"
    r = client.post("/admin/help/articles/refunds/en/status", data={"csrf": csrf}, follow_redirects=False)
    assert "held by knowledge CI" in unquote(r.headers["location"]) and "kc-test-2" in unquote(r.headers["location"])
    assert rt.helpcenter.store.get(WS, "refunds").translations[0].status is Status.PUBLISHED, "unpublish held too"
    listing = client.get("/admin/help").text
    assert "Held by knowledge CI (2)" in listing and "kc-test-1" in listing and "pass_rate" in listing
    rt.knowledge_ci.reject(WS, "kc-test-2", by="test")
    assert "Held by knowledge CI (1)" in client.get("/admin/help").text, "a decided change leaves the list"


def found_under(rt: Runtime, topic: str) -> list[str]:
    """The native ids of help-center documents the search finds under a topic name (the payload's)."""
    hits = rt.retrieve("How long do refunds take?", workspace=WS, top_k=5,
                       filters=SearchFilters(kind="article", source_id="help-center", topic=topic))
    return [h.payload["native_id"] for h in hits]


def section_of(listing: str, topic: str) -> str:
    """The part of /admin/help under one topic's heading."""
    return listing.split(f'<section aria-labelledby="topic-{topic}">', 1)[1].split("</section>", 1)[0]


def test_the_editor_moves_an_article_and_the_index_follows(admin_site: tuple[Runtime, TestClient]) -> None:
    rt, client = admin_site
    seed(rt)
    rt.helpcenter.create_topic(WS, TopicInput(id="payments", name="Payments"))
    rt.helpcenter.create_topic(WS, TopicInput(id="cards", name="Cards", parent="payments"))
    csrf = sign_in(client, rt, "write", "/admin/help/articles/refunds/en")
    page = client.get("/admin/help/articles/refunds/en").text
    assert '<option value="billing" selected>' in page and '<option value="payments">' in page
    assert re.findall(r'<option value="(\w+)"', page.split('id="topic"', 1)[1].split("</select>", 1)[0]) == [
        "billing", "payments", "cards"], "each sub-topic after its parent"
    assert "Payments › Cards (cards)</option>" in page
    assert '<input type="hidden" name="topic_was" value="billing">' in page
    assert found_under(rt, "Billing") == ["refunds/en"] and found_under(rt, "Payments") == []

    r = client.post("/admin/help/articles/refunds/en", data={
        "csrf": csrf, "topic": "payments", "topic_was": "billing", "title": "Refunds", "do": "save",
        "body": "Refunds reach your card within six working days."}, follow_redirects=False)
    assert r.status_code == 303 and "moved to topic Payments; saved; it is published" in unquote(r.headers["location"])
    article = rt.helpcenter.store.get(WS, "refunds")
    assert article.topic == "payments" and "six working days" in article.translations[0].body
    assert found_under(rt, "Payments") == ["refunds/en"] and found_under(rt, "Billing") == [], "re-indexed"
    listing = client.get("/admin/help").text
    assert 'data-article="refunds"' in section_of(listing, "payments")
    assert 'data-article="refunds"' not in section_of(listing, "billing")
    assert 'href="/help/en/articles/refunds"' in client.get("/help/en/topics/payments").text
    assert 'href="/help/en/articles/refunds"' not in client.get("/help/en/topics/billing").text
    crumbs = client.get("/help/en/articles/refunds").text
    assert 'href="/help/en/topics/payments"' in crumbs, "the portal's breadcrumb follows"

    # a move alone (text unchanged) is one too, and no new version of the text
    r = client.post("/admin/help/articles/refunds/en", data={
        "csrf": csrf, "topic": "billing", "topic_was": "payments", "title": "Refunds", "do": "save",
        "body": "Refunds reach your card within six working days."}, follow_redirects=False)
    assert r.status_code == 303 and rt.helpcenter.store.get(WS, "refunds").topic == "billing"
    assert len(rt.helpcenter.store.versions(WS, "refunds", "en")) == 2
    assert found_under(rt, "Billing") == ["refunds/en"]
    # the API's move (PATCH) goes through the same path: the index follows it too
    _, key = KeyStore(db=rt.db).create(WS, scopes=["write"])
    r = client.patch("/v1/help-center/articles/refunds", json={"topic": "payments"},
                     headers={"authorization": f"Bearer {key}"})
    assert r.status_code == 200 and r.json()["index"]["written"] == 1
    assert r.json()["index"]["chunks_embedded"] == 0, "a move keeps the stored vectors (the text is the same)"
    assert found_under(rt, "Payments") == ["refunds/en"]


def test_a_refused_move_keeps_everything_typed_and_stores_nothing(admin_site: tuple[Runtime, TestClient]) -> None:
    rt, client = admin_site
    seed(rt)
    for topic_id, name in (("payments", "Payments"), ("cards", "Cards")):
        rt.helpcenter.create_topic(WS, TopicInput(id=topic_id, name=name))
    csrf = sign_in(client, rt, "write", "/admin/help/articles/refunds/en")
    typed = {"csrf": csrf, "topic": "payments", "topic_was": "billing", "title": "Refund times", "do": "save",
             "body": "Refunds reach your card within **six** working days."}

    def unchanged(topic: str = "billing") -> None:
        article = rt.helpcenter.store.get(WS, "refunds")
        assert (article.topic, article.translations[0].title) == (topic, "Refunds"), "nothing stored"
        assert len(rt.helpcenter.store.versions(WS, "refunds", "en")) == 1

    def kept(page: str) -> None:
        assert 'value="Refund times"' in page and "Refunds reach your card within **six** working days." in page

    # an unknown topic (deleted since the page was loaded)
    r = client.post("/admin/help/articles/refunds/en", data=typed | {"topic": "nope"})
    assert r.status_code == 422 and "no topic 'nope'" in error_of(r.text, "topic")
    kept(r.text)
    unchanged()
    # a refused text does not move the article either
    r = client.post("/admin/help/articles/refunds/en", data=typed | {"title": " "})
    assert r.status_code == 422 and "give a title" in error_of(r.text, "title") and '"payments" selected' in r.text
    unchanged()

    # a stale form: someone moved the article (as the API does) while this form was open
    rt.helpcenter.update_article(WS, "refunds", topic="cards")
    r = client.post("/admin/help/articles/refunds/en", data=typed)
    assert r.status_code == 409 and "moved to Cards (cards) by someone else" in error_of(r.text, "topic")
    kept(r.text)
    assert '<option value="payments" selected>' in r.text, "the choice made is kept"
    assert '<input type="hidden" name="topic_was" value="cards">' in r.text
    unchanged("cards")
    # the selector left alone saves the text and keeps the other editor's move
    r = client.post("/admin/help/articles/refunds/en", data=typed | {"topic": "billing"}, follow_redirects=False)
    assert r.status_code == 303 and "moved" not in unquote(r.headers["location"])
    article = rt.helpcenter.store.get(WS, "refunds")
    assert (article.topic, article.translations[0].title) == ("cards", "Refund times")
    # sent again from the page that named the move: it applies
    r = client.post("/admin/help/articles/refunds/en", data=typed | {"topic_was": "cards"}, follow_redirects=False)
    assert r.status_code == 303 and rt.helpcenter.store.get(WS, "refunds").topic == "payments"

    # an expired form (its CSRF token no longer matches): the page comes back with the text and a fresh token
    r = client.post("/admin/help/articles/refunds/en", data=typed | {"csrf": "expired", "topic": "cards",
                                                                     "topic_was": "payments", "title": "Later"})
    assert r.status_code == 403 and "expired" in r.text and 'value="Later"' in r.text
    assert '<option value="cards" selected>' in r.text
    assert rt.helpcenter.store.get(WS, "refunds").translations[0].title == "Refund times", "nothing stored"
    fresh = re.search(r'name="csrf" value="([^"]+)"', r.text)
    assert fresh and fresh.group(1) == csrf, "the form carries a token that works"

    # deleted while the editor was open: the new-article form with everything typed, nothing lost
    rt.helpcenter.delete_article(WS, "refunds")
    r = client.post("/admin/help/articles/refunds/en", data=typed | {"topic_was": "payments", "topic": "cards"})
    assert r.status_code == 404 and "was deleted while you edited it" in r.text
    assert 'action="/admin/help/articles"' in r.text and 'value="refunds"' in r.text
    kept(r.text)
    assert '<option value="cards" selected>' in r.text
    r = client.post("/admin/help/articles", data={"csrf": csrf, "slug": "refunds", "topic": "cards", "locale": "en",
                                                  "title": "Refund times", "body": typed["body"]},
                    follow_redirects=False)
    assert r.status_code == 303 and rt.helpcenter.store.get(WS, "refunds").topic == "cards"


def test_knowledge_ci_holds_a_move_with_its_text(admin_site: tuple[Runtime, TestClient]) -> None:
    rt, client = admin_site
    seed(rt)
    rt.helpcenter.create_topic(WS, TopicInput(id="payments", name="Payments"))
    gate = HoldEverything(rt)
    rt.helpcenter.gate = gate
    csrf = sign_in(client, rt, "write", "/admin/help/articles/refunds/en")
    body = "Refunds reach your card within five working days."
    r = client.post("/admin/help/articles/refunds/en", data={"csrf": csrf, "topic": "payments",
                                                             "topic_was": "billing", "title": "Refunds",
                                                             "body": body, "do": "save"}, follow_redirects=False)
    notice = unquote(r.headers["location"])
    assert r.status_code == 303 and notice.split("?notice=")[1].startswith("not moved to topic payments, and held")
    assert gate.held == ["kc-test-1"], "a move of a published article is a change knowledge CI reviews"
    assert rt.helpcenter.store.get(WS, "refunds").topic == "billing"
    assert found_under(rt, "Billing") == ["refunds/en"]
