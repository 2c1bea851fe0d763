"""Deleting authored content in the browser through TestClient: a help-center translation, an article,
a topic (refused while it holds articles) and a training scenario. Each: the Delete button on the
item's page, the confirmation page naming what leaves, a post without the confirmation (nothing
deleted), the delete (the HTTP API's own, published text leaving the index) and its notice, a second
delete of what is gone (404), read keys (403) and forged CSRF tokens (403) deleting nothing."""

from __future__ import annotations

import re
from html import unescape

import pytest
from fastapi.testclient import TestClient

from app.runtime import Runtime
from core.errors import NotFound
from helpcenter.models import ArticleInput, Status, TopicInput, TranslationInput
from tests.integration.test_workspace_pages import sign_in
from training.drafts import ScenarioDraft
from training.models import ScenarioKind

pytestmark = pytest.mark.slow
WS = "default"
ARTICLE = "/admin/help/articles/refunds/delete"
TRANSLATION = "/admin/help/articles/refunds/de/delete"
TOPIC = "/admin/help/topics/billing/delete"
EMPTY_TOPIC = "/admin/help/topics/legal/delete"
SCENARIO = "/admin/training/scenarios/where-is-my-order/delete"
PATHS = (ARTICLE, TRANSLATION, TOPIC, EMPTY_TOPIC, SCENARIO)


@pytest.fixture
def site(admin_site: tuple[Runtime, TestClient]) -> tuple[Runtime, TestClient]:
    """Topics billing (articles refunds: en and de published; fees: en draft) and legal (empty); a
    published scenario-specific scenario with two trigger questions."""
    rt, client = admin_site
    hc = rt.helpcenter
    hc.create_topic(WS, TopicInput(id="billing", name="Billing"))
    hc.create_topic(WS, TopicInput(id="legal", name="Legal"))
    published = Status.PUBLISHED
    hc.create_article(WS, ArticleInput(slug="refunds", topic="billing", default_locale="en", translations=(
        TranslationInput(locale="en", title="Refunds", body="Refunds reach your card within five working days.",
                         status=published),
        TranslationInput(locale="de", title="Erstattungen", body="Erstattungen dauern fünf Werktage.",
                         status=published))))
    hc.create_article(WS, ArticleInput(slug="fees", topic="billing", default_locale="en", translations=(
        TranslationInput(locale="en", title="Fees", body="A card payment costs no fee."),)))
    rt.training.create(WS, "where-is-my-order", ScenarioDraft(
        kind=ScenarioKind.SPECIFIC, title="Where is my order", triggers=("Where is my order?", "Where's my parcel?"),
        answer="Track it on the orders page."), publish=True)
    return rt, client


def points(rt: Runtime, document_id: str) -> int:
    return rt.index.count(WS, document_id=document_id)


def test_a_translation_then_its_article_are_deleted_once_confirmed(site: tuple[Runtime, TestClient]) -> None:
    rt, client = site
    en, de = points(rt, "help-center:refunds/en"), points(rt, "help-center:refunds/de")
    assert en > 0 and de > 0
    csrf = sign_in(client, rt, "write", "/admin/help/articles/refunds/de")
    page = client.get("/admin/help/articles/refunds/de").text
    assert f'action="{TRANSLATION}"' in page and f'action="{ARTICLE}"' in page
    page = client.get("/admin/help/articles/refunds/en").text
    assert 'id="delete-translation"' not in page and f'action="{ARTICLE}"' in page, "the default text goes with all"

    r = client.get(TRANSLATION)
    assert r.status_code == 200 and "Delete the de translation of refunds?" in r.text
    assert f"the published de text and its {de} chunk{'' if de == 1 else 's'} leave the search index" in r.text
    assert "the article refunds and its other translations (en)" in r.text
    r = client.post(TRANSLATION, data={"csrf": csrf})
    assert r.status_code == 422 and re.search(r'id="confirm-error">nothing was deleted', r.text)
    assert rt.helpcenter.store.get(WS, "refunds").translation("de") and points(rt, "help-center:refunds/de") == de
    r = client.post(TRANSLATION, data={"csrf": csrf, "confirm": "yes"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/admin/help/articles/refunds/en?notice=")
    assert "deleted the de translation and removed it from the index" in client.get(r.headers["location"]).text
    assert rt.helpcenter.store.get(WS, "refunds").translation("de") is None
    assert points(rt, "help-center:refunds/de") == 0 and points(rt, "help-center:refunds/en") == en
    r = client.get(TRANSLATION)
    assert r.status_code == 404 and "has no &#39;de&#39; translation" in r.text and "deleted already" in r.text

    r = client.get("/admin/help/articles/refunds/en/delete")
    assert r.status_code == 422 and "is the article&#39;s default locale; delete the article instead" in r.text
    assert 'id="confirm-delete"' not in r.text and f'href="{ARTICLE}" id="delete-instead"' in r.text
    r = client.post("/admin/help/articles/refunds/en/delete", data={"csrf": csrf, "confirm": "yes"})
    assert r.status_code == 422 and "delete the article instead" in unescape(r.text), "the API's own refusal"
    assert points(rt, "help-center:refunds/en") == en

    r = client.get(ARTICLE)
    assert r.status_code == 200 and "Delete article refunds?" in r.text
    assert "the article Refunds and its 1 translation: en (published)" in r.text
    assert "the published en text and its" in r.text and "its topic Billing" in r.text
    r = client.post(ARTICLE, data={"csrf": csrf, "confirm": "no"})
    assert r.status_code == 422 and points(rt, "help-center:refunds/en") == en
    r = client.post(ARTICLE, data={"csrf": csrf, "confirm": "yes"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/admin/help?notice=")
    listed = client.get(r.headers["location"]).text
    assert "deleted article refunds: 1 published translation left the index" in listed
    assert 'data-article="refunds"' not in listed and 'data-article="fees"' in listed
    with pytest.raises(NotFound):
        rt.helpcenter.store.get(WS, "refunds")
    assert points(rt, "help-center:refunds/en") == 0 and rt.index.count(WS, source_id="help-center") == 0
    assert client.get("/help/en/articles/refunds").status_code == 404, "the portal no longer shows it"
    for answer in (client.post(ARTICLE, data={"csrf": csrf, "confirm": "yes"}), client.get(ARTICLE)):
        assert answer.status_code == 404 and "deleted already" in answer.text


def test_a_topic_is_refused_while_it_holds_articles(site: tuple[Runtime, TestClient]) -> None:
    rt, client = site
    csrf = sign_in(client, rt, "write", "/admin/help")
    assert f'action="{TOPIC}"' in client.get("/admin/help").text
    r = client.get(TOPIC)
    assert r.status_code == 409 and "topic billing still holds 2 articles: move them" in r.text
    assert 'id="confirm-delete"' not in r.text and "its articles: fees, refunds" in r.text
    r = client.post(TOPIC, data={"csrf": csrf, "confirm": "yes"})
    assert r.status_code == 409 and "still has articles; move or delete them first" in unescape(r.text)
    assert rt.helpcenter.store.topic(WS, "billing").name == "Billing"

    r = client.get(EMPTY_TOPIC)
    assert r.status_code == 200 and "Delete topic Legal?" in r.text and "it holds no article" in r.text
    assert client.post(EMPTY_TOPIC, data={"csrf": csrf}).status_code == 422
    assert rt.helpcenter.store.topic(WS, "legal")
    r = client.post(EMPTY_TOPIC, data={"csrf": csrf, "confirm": "yes"}, follow_redirects=False)
    assert r.status_code == 303 and "deleted topic legal" in client.get(r.headers["location"]).text
    assert [t.id for t in rt.helpcenter.store.topics(WS)] == ["billing"]
    r = client.get(EMPTY_TOPIC)
    assert r.status_code == 404 and "no topic &#39;legal&#39;" in r.text and "deleted already" in r.text


def test_a_scenario_is_deleted_once_confirmed(site: tuple[Runtime, TestClient]) -> None:
    rt, client = site
    doc = "training:where-is-my-order"
    assert points(rt, doc) == 2
    csrf = sign_in(client, rt, "write", "/admin/training/scenarios/where-is-my-order")
    assert f'action="{SCENARIO}"' in client.get("/admin/training/scenarios/where-is-my-order").text
    r = client.get(SCENARIO)
    assert r.status_code == 200 and "Delete scenario where-is-my-order?" in r.text
    assert "its draft and its 1 published version" in r.text
    assert "version 1 is live: the agent stops using it and its 2 trigger questions leave the search index" in r.text
    assert client.post(SCENARIO, data={"csrf": csrf}).status_code == 422 and points(rt, doc) == 2
    r = client.post(SCENARIO, data={"csrf": csrf, "confirm": "yes"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/admin/training?notice=")
    assert "deleted scenario where-is-my-order" in client.get(r.headers["location"]).text
    with pytest.raises(NotFound):
        rt.training.store.get(WS, "where-is-my-order")
    assert points(rt, doc) == 0 and rt.training.scenario(WS, "where-is-my-order") is None
    for answer in (client.post(SCENARIO, data={"csrf": csrf, "confirm": "yes"}), client.get(SCENARIO)):
        assert answer.status_code == 404 and "deleted already" in answer.text


def test_read_keys_forged_forms_and_missing_items_delete_nothing(site: tuple[Runtime, TestClient]) -> None:
    rt, client = site
    before = rt.index.count(WS)
    csrf = sign_in(client, rt, "read", "/admin/help")
    for page in ("/admin/help", "/admin/help/articles/refunds/de", "/admin/training/scenarios/where-is-my-order"):
        assert not re.search(r'action="[^"]*/delete"', client.get(page).text), f"a read key gets no Delete on {page}"
    for path in PATHS:
        r = client.get(path)
        assert r.status_code == 403 and "deleting needs a key with the write scope" in r.text, path
        r = client.post(path, data={"csrf": csrf, "confirm": "yes"})
        assert r.status_code == 403 and "write scope" in r.text, path

    csrf = sign_in(client, rt, "write", "/admin/help")
    for path in PATHS:
        r = client.post(path, data={"csrf": "forged", "confirm": "yes"})
        assert r.status_code == 403 and "reload the page" in r.text, path
        assert client.post(path, data={"confirm": "yes"}).status_code == 403, path
    missing_items = [("/admin/help/articles/nope/delete", "nope"),
                     ("/admin/help/articles/refunds/fr/delete", "&#39;fr&#39; translation"),
                     ("/admin/help/topics/nope/delete", "nope"), ("/admin/training/scenarios/nope/delete", "nope")]
    for path, missing in missing_items:
        for answer in (client.get(path), client.post(path, data={"csrf": csrf, "confirm": "yes"})):
            assert answer.status_code == 404 and missing in answer.text and "Nothing was deleted" in answer.text, path
    assert rt.index.count(WS) == before
    assert rt.helpcenter.store.get(WS, "refunds").translation("de") and rt.helpcenter.store.topic(WS, "legal")
    assert rt.training.store.get(WS, "where-is-my-order").published_version == 1
