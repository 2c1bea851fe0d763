"""Editing an article's facts and text safely: its position in the topic and its default language
from the editor (checked, the message by its field, what was typed kept, nothing stored), and
concurrent saves of one translation: the later save of a stale text is refused with 409 (API:
``base_version`` or ``If-Match``; editor: an inline message with the typed text and the newer one),
so nothing anyone typed is lost."""

from __future__ import annotations

import html
import re

import pytest
from fastapi.testclient import TestClient

from app.runtime import Runtime
from helpcenter.models import ArticleInput, TopicInput, TranslationInput
from service.keys import KeyStore
from tests.integration.test_workspace_pages import sign_in

pytestmark = pytest.mark.slow
WS = "default"
PAGE = "/admin/help/articles/refunds/en"


def error_of(page: str, field_id: str) -> str:
    found = re.search(rf'id="{field_id}-error">([^<]*)<', page)
    assert found, f"no message by #{field_id}"
    return html.unescape(found.group(1))


def hidden(page: str, name: str) -> str:
    found = re.search(rf'name="{name}" value="([^"]*)"', page)
    assert found, f"no hidden {name}"
    return found.group(1)


def seed(rt: Runtime) -> None:
    hc = rt.helpcenter
    hc.create_topic(WS, TopicInput(id="billing", name="Billing"))
    for slug, position in (("refunds", 0), ("invoices", 1)):
        hc.create_article(WS, ArticleInput(slug=slug, topic="billing", default_locale="en", position=position,
                                           translations=(TranslationInput(locale="en", title=slug.title(),
                                                                          body=f"About {slug}."),)))
    hc.put_translation(WS, "refunds", TranslationInput(locale="de", title="Erstattungen", body="Über Erstattungen."))


def _auth(rt: Runtime) -> dict[str, str]:
    _, key = KeyStore(db=rt.db).create(WS, scopes=["write"])
    return {"Authorization": f"Bearer {key}"}


def test_the_editor_changes_position_and_default_language_checked_by_field(
        admin_site: tuple[Runtime, TestClient]) -> None:
    rt, client = admin_site
    seed(rt)
    csrf = sign_in(client, rt, "write", PAGE)
    page = client.get(PAGE).text
    assert 'id="position"' in page and 'id="default_locale"' in page
    assert re.search(r'<option value="de"\s*>de</option>', page) and 'value="fr"' not in page.split(
        'id="default_locale"')[1].split("</select>")[0], "only languages with a text can be the default"
    form = {"csrf": csrf, "title": "Refunds", "body": "About refunds, edited.", "topic": "billing",
            "topic_was": "billing", "position_was": "0", "default_locale_was": "en", "default_locale": "en",
            "base_version": hidden(page, "base_version"), "do": "save"}
    for typed in ("first", "1.5", "99999999999"):
        r = client.post(PAGE, data=form | {"position": typed})
        assert r.status_code == 422 and "position" in error_of(r.text, "position"), typed
        assert f'value="{typed}"' in r.text and "About refunds, edited." in r.text, "what was typed is kept"
    r = client.post(PAGE, data=form | {"position": "0", "default_locale": "fr"})
    assert r.status_code == 422 and "no 'fr' text" in error_of(r.text, "default_locale")
    r = client.post(PAGE, data=form | {"position": "0", "default_locale": "xx"})
    assert r.status_code == 422 and "xx" in error_of(r.text, "default_locale"), "an unknown language, by its field"
    assert "About refunds, edited." in r.text
    article = rt.helpcenter.store.get(WS, "refunds")
    assert (article.position, article.default_locale, article.translation("en").body) == (  # type: ignore[union-attr]
        0, "en", "About refunds."), "a refused form stores nothing, not even the text"

    r = client.post(PAGE, data=form | {"position": "2", "default_locale": "de"}, follow_redirects=False)
    assert r.status_code == 303, r.text
    article = rt.helpcenter.store.get(WS, "refunds")
    assert (article.position, article.default_locale) == (2, "de")
    assert article.translation("en").body == "About refunds, edited."  # type: ignore[union-attr]
    assert [a.slug for a in rt.helpcenter.store.articles(WS, topic="billing")] == ["invoices", "refunds"]
    page = client.get(PAGE).text
    assert 'name="position" type="text" value="2"' in page and "default language de" in page

    # a position changed by someone else meanwhile stands when this form leaves the field alone
    rt.helpcenter.update_article(WS, "refunds", position=5)
    form = form | {"position_was": "2", "position": "2", "default_locale_was": "de", "default_locale": "de",
                   "base_version": hidden(page, "base_version"), "body": "About refunds, again."}
    assert client.post(PAGE, data=form, follow_redirects=False).status_code == 303
    assert rt.helpcenter.store.get(WS, "refunds").position == 5


def test_a_stale_save_over_the_api_is_409_and_keeps_the_newer_text(admin_site: tuple[Runtime, TestClient]) -> None:
    rt, client = admin_site
    seed(rt)
    auth = _auth(rt)
    url = "/v1/help-center/articles/refunds/en"
    r = client.get(url, headers=auth)
    assert r.status_code == 200 and r.json()["version"] == 1 and r.headers["etag"] == '"1"'
    # two editors start from version 1; the first saves
    r = client.put(url, headers=auth, json={"title": "Refunds", "body": "First editor's text.", "base_version": 1})
    assert r.status_code == 200, r.text
    saved = next(t for t in r.json()["article"]["translations"] if t["locale"] == "en")
    assert saved["version"] == 2
    # the second, still on version 1, is refused and stores nothing
    r = client.put(url, headers=auth, json={"title": "Refunds", "body": "Second editor's text.", "base_version": 1})
    assert r.status_code == 409, r.text
    body = r.json()
    assert body["error"] == "conflict" and body["current_version"] == 2 and "saved by someone else" in body["message"]
    assert client.get(url, headers=auth).json()["body"] == "First editor's text.", "the newer text is kept"
    r = client.put(url, headers=auth | {"If-Match": '"1"'}, json={"title": "Refunds", "body": "Second again."})
    assert r.status_code == 409 and r.json()["current_version"] == 2, "If-Match is checked the same way"
    r = client.put(url, headers=auth | {"If-Match": "soon"}, json={"title": "Refunds", "body": "x"})
    assert r.status_code == 422 and "if-match" in r.json()["message"].lower()
    assert len(rt.helpcenter.store.versions(WS, "refunds", "en")) == 2, "no refused save added a version"
    # starting again from the newer version saves
    r = client.put(url, headers=auth | {"If-Match": client.get(url, headers=auth).headers["etag"]},
                   json={"title": "Refunds", "body": "Second editor's text, merged."})
    assert r.status_code == 200 and client.get(url, headers=auth).json()["version"] == 3
    # a new locale: base version 0 means "nobody wrote it yet"
    fr = "/v1/help-center/articles/refunds/fr"
    assert client.get(fr, headers=auth).json()["version"] == 0
    assert client.put(fr, headers=auth, json={"title": "Remboursements", "body": "Texte.",
                                              "base_version": 0}).status_code == 200
    r = client.put(fr, headers=auth, json={"title": "Remboursements", "body": "Autre.", "base_version": 0})
    assert r.status_code == 409 and r.json()["current_version"] == 1
    # without a base version the old behaviour stays: the text is written
    assert client.put(fr, headers=auth, json={"title": "Remboursements", "body": "Autre."}).status_code == 200


def test_a_stale_save_in_the_editor_keeps_both_texts(admin_site: tuple[Runtime, TestClient]) -> None:
    rt, client = admin_site
    seed(rt)
    csrf = sign_in(client, rt, "write", PAGE)
    page = client.get(PAGE).text
    base = hidden(page, "base_version")
    assert base == "1"
    # someone else saves over the API while this editor is open
    r = client.put("/v1/help-center/articles/refunds/en", headers=_auth(rt),
                   json={"title": "Refunds", "body": "Refunds now take **three** days.", "base_version": 1})
    assert r.status_code == 200
    form = {"csrf": csrf, "title": "Refunds (mine)", "body": "My careful rewrite.\r\nSecond line.",
            "topic": "billing", "topic_was": "billing", "position": "0", "position_was": "0",
            "default_locale": "en", "default_locale_was": "en", "base_version": base, "do": "save"}
    r = client.post(PAGE, data=form)
    assert r.status_code == 409
    message = html.unescape(re.search(r'id="version-error">([^<]*)<', r.text).group(1))  # type: ignore[union-attr]
    assert "someone else saved the en text (version 2)" in message and "not saved" in message
    assert "My careful rewrite.\nSecond line." in html.unescape(r.text) and 'value="Refunds (mine)"' in r.text, \
        "what was typed is kept"
    assert 'id="newer"' in r.text and "<strong>three</strong>" in r.text, "the newer text is shown beside it"
    assert hidden(r.text, "base_version") == "2", "the next save replaces the newer text deliberately"
    assert rt.helpcenter.store.get(WS, "refunds").translation("en").body == (  # type: ignore[union-attr]
        "Refunds now take **three** days."), "the newer text is kept"

    r = client.post(PAGE, data=form | {"base_version": "2"}, follow_redirects=False)
    assert r.status_code == 303
    assert rt.helpcenter.store.get(WS, "refunds").translation("en").body == (  # type: ignore[union-attr]
        "My careful rewrite.\nSecond line.")
