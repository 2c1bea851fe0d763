"""The topic page (/admin/help/topics/{id}) through TestClient: rename a topic, name it per language,
nest it and order it as ``PATCH /v1/help-center/topics/{id}`` does (its published articles re-indexed
under the new name, the portal showing the names), every refused field by its message with what was
typed kept and nothing stored, read keys, CSRF and a topic deleted meanwhile."""

from __future__ import annotations

from urllib.parse import unquote

import pytest
from fastapi.testclient import TestClient

from app.runtime import Runtime
from helpcenter.models import TopicInput, TranslationInput
from tests.integration.test_content_pages import WS, error_of, found_under, seed
from tests.integration.test_workspace_pages import sign_in

pytestmark = pytest.mark.slow


def test_rename_name_per_language_nest_and_order_a_topic(admin_site: tuple[Runtime, TestClient]) -> None:
    rt, client = admin_site
    seed(rt)
    rt.helpcenter.put_translation(WS, "refunds", TranslationInput(locale="de", title="Erstattungen",
                                                                  body="Erstattungen dauern fünf Werktage."),
                                  publish=True)
    rt.helpcenter.create_topic(WS, TopicInput(id="money", name="Money"))
    csrf = sign_in(client, rt, "write", "/admin/help/topics/billing")
    assert 'href="/admin/help/topics/billing"' in client.get("/admin/help").text, "the list links the topic page"
    page = client.get("/admin/help/topics/billing").text
    assert 'value="Billing"' in page and '<option value="money">' in page and 'value="billing"' not in page
    assert 'id="names-de"' in page and 'lang="de"' in page

    r = client.post("/admin/help/topics/billing", data={"csrf": csrf, "name": "Billing and refunds",
                                                        "names-de": "Abrechnung", "parent": "money",
                                                        "position": "5"}, follow_redirects=False)
    assert r.status_code == 303 and "saved topic Billing and refunds" in unquote(r.headers["location"])
    topic = rt.helpcenter.store.topic(WS, "billing")
    assert (topic.name, topic.names, topic.parent, topic.position) == ("Billing and refunds", {"de": "Abrechnung"},
                                                                       "money", 5)
    assert set(found_under(rt, "Billing and refunds")) == {"refunds/en", "refunds/de"}, \
        "the published translations are re-indexed under the new name"
    assert found_under(rt, "Billing") == []
    assert "Abrechnung" in client.get("/help/de/topics/billing").text, "the portal names it per language"
    r = client.post("/admin/help/topics/billing", data={"csrf": csrf, "name": "Billing", "parent": "",
                                                        "position": "0"}, follow_redirects=False)
    assert r.status_code == 303
    topic = rt.helpcenter.store.topic(WS, "billing")
    assert (topic.name, topic.names, topic.parent) == ("Billing", {}, None), "a cleared name is removed"


def test_a_refused_topic_form_keeps_what_was_typed_and_stores_nothing(admin_site: tuple[Runtime, TestClient]) -> None:
    rt, client = admin_site
    seed(rt)
    rt.helpcenter.create_topic(WS, TopicInput(id="money", name="Money"))
    rt.helpcenter.create_topic(WS, TopicInput(id="cards", name="Cards", parent="money"))
    csrf = sign_in(client, rt, "write", "/admin/help/topics/billing")
    typed = {"csrf": csrf, "name": "Billing and refunds", "names-de": "Abrechnung", "parent": "", "position": "3"}
    for change, field, message in [({"name": " "}, "name", "give a title"),
                                   ({"position": "first"}, "position", "not a whole number"),
                                   ({"position": str(2**31)}, "position", "out of range"),
                                   ({"names-de": "x" * 301}, "names-de", "at most 300"),
                                   ({"parent": "nope"}, "parent", "unknown parent"),
                                   ({"parent": "cards"}, "parent", "itself a sub-topic")]:
        r = client.post("/admin/help/topics/billing", data=typed | change)
        assert r.status_code == 422 and message in error_of(r.text, field), change
        assert 'value="Abrechnung"' in r.text or "names-de" in change, "what was typed is kept"
    r = client.post("/admin/help/topics/money", data=typed | {"name": "Money", "parent": "billing"})
    assert r.status_code == 422 and "has sub-topics" in error_of(r.text, "parent")
    assert [(t.id, t.name, t.parent, t.names) for t in rt.helpcenter.store.topics(WS)] == [
        ("billing", "Billing", None, {}), ("cards", "Cards", "money", {}), ("money", "Money", None, {})], \
        "nothing stored"

    r = client.post("/admin/help/topics/billing", data=typed | {"csrf": "forged"})
    assert r.status_code == 403 and "expired" in r.text
    assert client.get("/admin/help/topics/nope").status_code == 404
    rt.helpcenter.create_topic(WS, TopicInput(id="gone", name="Gone"))
    rt.helpcenter.delete_topic(WS, "gone")
    r = client.post("/admin/help/topics/gone", data=typed)
    assert r.status_code == 404 and "nothing was saved" in r.text

    sign_in(client, rt, "read", "/admin/help/topics/billing")
    page = client.get("/admin/help/topics/billing")
    assert page.status_code == 200 and 'method="post"' not in page.text.replace('action="/admin/signin"', "")
    r = client.post("/admin/help/topics/billing", data=typed | {"csrf": client.cookies["knowdesk_admin_csrf"]})
    assert r.status_code == 403 and "write scope" in r.text
    assert rt.helpcenter.store.topic(WS, "billing").name == "Billing"
