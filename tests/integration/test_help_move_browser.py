"""Moving a help-center article to another topic in headless Chromium (Debian's ``chromium``), walked as a
content editor would: open the article's editor, pick a topic that was deleted meanwhile (the message by
the selector, the edited text kept, nothing stored), pick an existing one with an edited text and save;
the article is listed under its new topic, the search finds it there and the portal shows it there.
Screenshots at 1280 and 390 px go to ``test-artifacts/admin-article-move*.png``, each checked for
sideways scrolling."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.runtime import Runtime
from core.settings import Settings
from helpcenter.models import ArticleInput, Status, TopicInput, TranslationInput
from retrieval.search import SearchFilters
from service.api import create_app
from service.keys import KeyStore
from tests.fixtures.app_server import serve_app
from tests.integration.cdp import Browser
from tests.integration.test_workspace_browser import shoot, signed_in

pytestmark = [pytest.mark.slow, pytest.mark.serial]
WS = "default"


@pytest.fixture
def site(tmp_path: Path) -> Iterator[tuple[str, str, Runtime]]:
    """The app on a loopback port, a write key, three topics and a published article under Billing."""
    rt = Runtime(Settings(home=tmp_path / "home"))
    for topic_id, name in (("billing", "Billing"), ("payments", "Payments"), ("old", "Old things")):
        rt.helpcenter.create_topic(WS, TopicInput(id=topic_id, name=name))
    rt.helpcenter.create_article(WS, ArticleInput(slug="refunds", topic="billing", default_locale="en", translations=(
        TranslationInput(locale="en", title="Refunds", status=Status.PUBLISHED,
                         body="Refunds reach your card within five working days."),)))
    _, key = KeyStore(db=rt.db).create(WS, scopes=["write"])
    try:
        with serve_app(create_app(rt), name="help-move-server") as url:
            yield url, key, rt
    finally:
        rt.qdrant.close()


def choose(b: Browser, selector: str, value: str) -> None:
    """Pick an option of a select with the keyboard, as a person would: focus it, then arrow keys."""
    b.js(f"document.querySelector({json.dumps(selector)}).focus()")
    options = b.js(f"[...document.querySelector({json.dumps(selector)}).options].map(o => o.value)")
    current = b.js(f"document.querySelector({json.dumps(selector)}).selectedIndex")
    steps = options.index(value) - current
    key = "ArrowDown" if steps > 0 else "ArrowUp"
    for _ in range(abs(steps)):
        for kind in ("keyDown", "keyUp"):
            b.page("Input.dispatchKeyEvent", {"type": kind, "key": key, "code": key,
                                              "windowsVirtualKeyCode": 40 if key == "ArrowDown" else 38})
    assert b.js(f"document.querySelector({json.dumps(selector)}).value") == value


def found_under(rt: Runtime, topic: str) -> list[str]:
    hits = rt.retrieve("How long do refunds take?", workspace=WS, top_k=5,
                       filters=SearchFilters(kind="article", source_id="help-center", topic=topic))
    return [h.payload["native_id"] for h in hits]


def test_move_an_article_to_another_topic_from_its_editor(site: tuple[str, str, Runtime], tmp_path: Path) -> None:
    url, key, rt = site
    with signed_in(tmp_path, url, key, "/admin/help/articles/refunds/en") as b:
        assert b.js("location.pathname") == "/admin/help/articles/refunds/en"
        assert b.js("document.querySelector('#topic').value") == "billing", "the current topic is selected"
        assert b.js("document.querySelector('label[for=topic]').textContent") == "Topic"
        assert b.js("[...document.querySelectorAll('#topic option')].map(o => o.value)") == [
            "billing", "old", "payments"], "ordered by position, then id"

        # the topic picked was deleted while the page was open: refused by the selector, the edit kept
        rt.helpcenter.delete_topic(WS, "old")
        choose(b, "#topic", "old")
        b.fill("#body", "Refunds reach your card within six working days.")
        b.click("#save-button")
        assert "no topic 'old'" in b.text("#topic-error")
        assert b.js("document.querySelector('#topic').getAttribute('aria-invalid')") == "true"
        assert b.js("document.querySelector('#body').value") == "Refunds reach your card within six working days."
        article = rt.helpcenter.store.get(WS, "refunds")
        assert article.topic == "billing" and "five" in article.translations[0].body, "nothing stored"
        assert b.js("[...document.querySelectorAll('#topic option')].map(o => o.value)") == ["billing", "payments"]
        shoot(b, "article-move-refused")

        choose(b, "#topic", "payments")
        b.click("#save-button")
        assert "moved to topic Payments" in b.text(".notice")
        assert b.js("document.querySelector('#topic').value") == "payments"
        assert b.js("document.querySelector('p.meta a[href=\"/admin/help#topic-payments\"]').textContent") == "Payments"
        article = rt.helpcenter.store.get(WS, "refunds")
        assert article.topic == "payments" and "six" in article.translations[0].body, "the text edit went with it"
        assert found_under(rt, "Payments") == ["refunds/en"] and found_under(rt, "Billing") == []
        shoot(b, "article-move")

        b.goto(f"{url}/admin/help")
        assert b.js("document.querySelector('section[aria-labelledby=topic-payments] tr[data-article=refunds]') "
                    "!== null"), "listed under its new topic"
        assert b.js("document.querySelector('section[aria-labelledby=topic-billing] tr[data-article=refunds]')") is None
        b.goto(f"{url}/help/en/topics/payments")
        assert b.js("document.querySelector('a[href=\"/help/en/articles/refunds\"]') !== null"), "the portal follows"
        b.goto(f"{url}/help/en/topics/billing")
        assert b.js("document.querySelector('a[href=\"/help/en/articles/refunds\"]')") is None


def test_rename_a_topic_and_name_it_in_german_from_its_page(site: tuple[str, str, Runtime], tmp_path: Path) -> None:
    url, key, rt = site
    rt.helpcenter.put_translation(WS, "refunds", TranslationInput(locale="de", title="Erstattungen",
                                                                  body="Erstattungen dauern fünf Werktage."),
                                  publish=True)
    with signed_in(tmp_path, url, key, "/admin/help") as b:
        b.click("#edit-topic-billing")
        assert b.js("location.pathname") == "/admin/help/topics/billing"
        assert b.js("[...document.querySelectorAll('form.topic-form input:not([type=hidden]), form.topic-form "
                    "select')].every(e => document.querySelector(`label[for=\"${e.id}\"]`))"), "every field labelled"
        assert b.js("document.querySelector('#names-de').lang") == "de"
        b.fill("#name", "")
        b.fill("#names-de", "Abrechnung")
        b.fill("#position", "99999999999")
        b.click("#save-topic")
        assert "out of range" in b.text("#position-error")
        assert b.js("document.querySelector('#names-de').value") == "Abrechnung", "what was typed is kept"
        b.fill("#position", "1")
        b.click("#save-topic")
        assert "give a title" in b.text("#name-error")
        assert b.js("document.querySelector('#position').value") == "1"
        assert rt.helpcenter.store.topic(WS, "billing").names == {}, "nothing stored"
        shoot(b, "topic-refused")

        b.fill("#name", "Billing and refunds")
        b.type_and_enter("#names-de", "")  # the keyboard sends the form
        assert "saved topic Billing and refunds" in b.text(".notice")
        topic = rt.helpcenter.store.topic(WS, "billing")
        assert (topic.name, topic.names, topic.position) == ("Billing and refunds", {"de": "Abrechnung"}, 1)
        shoot(b, "topic")
        b.goto(f"{url}/help/de/topics/billing")
        assert "Abrechnung" in b.text("h1"), "the portal names the topic in the reader's language"
        b.goto(f"{url}/admin/help")
        assert "Billing and refunds" in b.text("#topic-billing")
