"""The training pages (/admin/training) through TestClient: the scenario and profile forms' bad
input (the message by its field, what was typed kept, nothing stored), drafts against the live
version, publish / unpublish / rollback, and scopes and CSRF."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from app.runtime import Runtime
from tests.integration.test_content_pages import error_of
from tests.integration.test_workspace_pages import sign_in
from training.drafts import ScenarioDraft, ScenarioStatus
from training.models import ScenarioKind

pytestmark = pytest.mark.slow
WS = "default"


def test_the_scenario_form_answers_by_field_and_publishes(admin_site: tuple[Runtime, TestClient]) -> None:
    rt, client = admin_site
    csrf = sign_in(client, rt, "write", "/admin/training")
    typed = {"csrf": csrf, "kind": "specific", "title": "Where is my order", "answer": "Track it on /orders.",
             "triggers": "Where is my order?\r\nwhere's my parcel", "segments": "vip, trial", "channel-email": "on"}
    for change, field, message in [({"threshold": "soon"}, "threshold", "is not a number"),
                                   ({"threshold": "1.5"}, "threshold", "less than or equal to 1"),
                                   ({"triggers": " "}, "triggers", "at least one trigger question"),
                                   ({"kind": "behavioral"}, "triggers", "takes no trigger questions"),
                                   ({"kind": "sometimes"}, "kind", "'behavioral' or 'specific'"),
                                   ({"answer": ""}, "answer", "is empty"),
                                   ({"segments": "v i p!"}, "segments", "invalid segment"),
                                   ({"id": "Bad Id"}, "id", "is invalid")]:
        r = client.post("/admin/training/scenarios", data=typed | change)
        assert r.status_code == 422 and message in error_of(r.text, field), change
        assert 'value="Where is my order"' in r.text, "what was typed is kept"
        assert "triggers" in change or "where&#39;s my parcel" in r.text
        assert 'id="channel-email" name="channel-email" value="on" checked' in r.text
    assert rt.training.store.scenarios(WS) == [], "nothing stored from a refused form"

    r = client.post("/admin/training/scenarios", data=typed | {"publish": "on"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/admin/training/scenarios/where-is-my-order?")
    record = rt.training.store.get(WS, "where-is-my-order")
    assert record.status is ScenarioStatus.PUBLISHED and record.draft.triggers == ("Where is my order?",
                                                                                   "where's my parcel")
    assert [c.value for c in record.draft.channels] == ["email"] and record.draft.segments == ("vip", "trial")
    r = client.post("/admin/training/scenarios", data=typed)
    assert r.status_code == 422 and "already exists" in error_of(r.text, "id")

    edit = typed | {"answer": "Track it on /orders/track.", "do": "save"}
    r = client.post("/admin/training/scenarios/where-is-my-order", data=edit | {"title": ""})
    assert r.status_code == 422 and "title is empty" in error_of(r.text, "title")
    assert rt.training.store.get(WS, "where-is-my-order").draft.answer == "Track it on /orders."
    r = client.post("/admin/training/scenarios/where-is-my-order", data=edit, follow_redirects=False)
    assert r.status_code == 303 and "live%20version%20is%20unchanged" in r.headers["location"]
    page = client.get("/admin/training/scenarios/where-is-my-order").text
    assert 'id="unpublished-changes"' in page
    assert re.search(r'<li class="removed">[^\n]*answer: Track it on /orders\.</li>', page)
    assert re.search(r'<li class="added">[^\n]*answer: Track it on /orders/track\.</li>', page)
    assert rt.training.scenario(WS, "where-is-my-order").answer == "Track it on /orders.", "live unchanged"

    r = client.post("/admin/training/scenarios/where-is-my-order/publish", data={"csrf": csrf},
                    follow_redirects=False)
    assert r.status_code == 303 and rt.training.scenario(WS, "where-is-my-order").version == 2
    r = client.post("/admin/training/scenarios/where-is-my-order/rollback", data={"csrf": csrf, "version": "1"},
                    follow_redirects=False)
    live = rt.training.scenario(WS, "where-is-my-order")
    assert r.status_code == 303 and live.version == 3 and live.answer == "Track it on /orders."
    r = client.post("/admin/training/scenarios/where-is-my-order/rollback", data={"csrf": csrf, "version": "9"})
    assert r.status_code == 404 and "no version 9" in r.text
    r = client.post("/admin/training/scenarios/where-is-my-order/unpublish", data={"csrf": csrf},
                    follow_redirects=False)
    assert r.status_code == 303 and rt.training.scenario(WS, "where-is-my-order") is None
    assert client.post("/admin/training/scenarios/where-is-my-order/explode", data={"csrf": csrf}).status_code == 404
    assert client.get("/admin/training/scenarios/nope").status_code == 404
    listing = client.get("/admin/training").text
    assert 'data-scenario="where-is-my-order"' in listing


def test_the_profile_form_saves_publishes_and_rolls_back(admin_site: tuple[Runtime, TestClient]) -> None:
    rt, client = admin_site
    csrf = sign_in(client, rt, "write", "/admin/training/profile")
    r = client.post("/admin/training/profile", data={"csrf": csrf, "name": " ", "persona": "Warm and brief."})
    assert r.status_code == 422 and "name is empty" in error_of(r.text, "name") and "Warm and brief." in r.text
    assert rt.training.profile(WS) is None and not rt.training.store.has_profile(WS)
    r = client.post("/admin/training/profile", data={"csrf": csrf, "name": "Ada", "persona": "Warm and brief.",
                                                     "do": "publish"}, follow_redirects=False)
    assert r.status_code == 303 and rt.training.profile(WS).name == "Ada"  # type: ignore[union-attr]
    client.post("/admin/training/profile", data={"csrf": csrf, "name": "Bea", "persona": "Warm and brief."})
    page = client.get("/admin/training/profile").text
    assert "Draft against the live version" in page and rt.training.profile(WS).name == "Ada"  # type: ignore[union-attr]
    client.post("/admin/training/profile/publish", data={"csrf": csrf})
    r = client.post("/admin/training/profile/rollback", data={"csrf": csrf, "version": "1"}, follow_redirects=False)
    profile = rt.training.profile(WS)
    assert r.status_code == 303 and profile is not None and (profile.name, profile.version) == ("Ada", 3)


def test_read_keys_see_training_without_forms(admin_site: tuple[Runtime, TestClient]) -> None:
    rt, client = admin_site
    rt.training.create(WS, "tone", ScenarioDraft(kind=ScenarioKind.BEHAVIORAL, title="Tone",
                                                 answer="Be brief."), publish=True)
    csrf = sign_in(client, rt, "read", "/admin/training")
    for path in ("/admin/training", "/admin/training/scenarios/tone", "/admin/training/profile"):
        page = client.get(path)
        assert page.status_code == 200 and 'method="post"' not in page.text, path
    assert client.get("/admin/training/scenarios/new").status_code == 403
    for path, data in [("/admin/training/scenarios", {"kind": "behavioral", "title": "X", "answer": "Y"}),
                       ("/admin/training/scenarios/tone", {"kind": "behavioral", "title": "X", "answer": "Y"}),
                       ("/admin/training/scenarios/tone/unpublish", {}),
                       ("/admin/training/profile", {"name": "X"}), ("/admin/training/profile/publish", {})]:
        r = client.post(path, data={"csrf": csrf, **data}, follow_redirects=False)
        assert r.status_code == 403 and "write scope" in r.text, path
    assert rt.training.scenario(WS, "tone") is not None and rt.training.store.get(WS, "tone").draft.title == "Tone"
    csrf = sign_in(client, rt, "write", "/admin/training")
    r = client.post("/admin/training/scenarios/tone/unpublish", data={"csrf": "forged"})
    assert r.status_code == 403 and rt.training.scenario(WS, "tone") is not None
