"""The workspace pages (/admin/sources, runs, /admin/handoffs) through TestClient: the add form's
validation (inline errors by field, what was typed kept, nothing stored), scopes (read keys see,
write keys edit, a read key's post is 403), CSRF on every form, the run's progress JSON."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from agent.sessions import Role, SessionStatus, SessionStore
from app.runtime import Runtime
from core.models import Channel, Source, SourceKind
from core.settings import Settings, SourcesSettings
from service.api import create_app
from service.keys import KeyStore

pytestmark = pytest.mark.slow


@pytest.fixture
def site(tmp_path: Path) -> Iterator[tuple[Runtime, TestClient, Path]]:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "refunds.md").write_text("# Refunds\n\nRefunds take five working days.\n")
    rt = Runtime(Settings(home=tmp_path / "home", sources=SourcesSettings(allowed_roots=[tmp_path])))
    with TestClient(create_app(rt), base_url="http://testserver") as client:
        yield rt, client, docs
    rt.qdrant.close()


def sign_in(client: TestClient, rt: Runtime, scope: str, page: str = "/admin/sources") -> str:
    """Sign in with a new key of ``scope``; returns the CSRF token of ``page`` (the forms' token)."""
    _, key = KeyStore(db=rt.db).create("default", scopes=[scope])
    client.cookies.clear()
    form = client.get(page)
    assert form.status_code == 401 and f'name="next" value="{page}"' in form.text
    r = client.post("/admin/signin", data={"key": key, "csrf": client.cookies["knowdesk_admin_csrf"],
                                           "next": page}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == page, "the sign-in comes back to the page"
    assert client.get(page).status_code == 200
    return str(client.cookies["knowdesk_admin_csrf"])


def test_the_add_form_shows_problems_by_their_field_and_stores_nothing(site: tuple[Runtime, TestClient, Path]) -> None:
    rt, client, docs = site
    csrf = sign_in(client, rt, "write")
    missing = str(docs.parent / "nope")
    r = client.post("/admin/sources", data={"csrf": csrf, "name": "handbook", "kind": "folder", "opt-path": missing,
                                            "enabled": "on"})
    assert r.status_code == 422
    assert re.search(r'id="opt-path-error">[^<]*does not exist', r.text), "the message sits by the path field"
    assert f'value="{missing}"' in r.text and 'value="handbook"' in r.text, "what was typed is kept"
    assert 'id="opt-path"' in r.text and 'aria-invalid="true"' in r.text
    r = client.post("/admin/sources", data={"csrf": csrf, "name": "bad name!", "kind": "folder",
                                            "opt-path": str(docs)})
    assert r.status_code == 422 and 'id="name-error"' in r.text and 'value="bad name!"' in r.text
    r = client.post("/admin/sources", data={"csrf": csrf, "name": "outside", "kind": "folder", "opt-path": "/etc"})
    assert r.status_code == 422 and re.search(r'id="opt-path-error">[^<]*outside the folders', r.text)
    r = client.post("/admin/sources", data={"csrf": csrf, "name": "site", "kind": "website", "opt-start_url": ""})
    assert r.status_code == 422 and re.search(r'id="opt-start_url-error">[^<]*required', r.text)
    r = client.post("/admin/sources", data={"csrf": csrf, "name": "x", "kind": "nope", "opt-path": str(docs)})
    assert r.status_code == 422 and "choose a source kind" in r.text
    assert rt.sources.list("default") == [], "nothing stored from a refused form"

    r = client.post("/admin/sources", data={"csrf": csrf, "name": "handbook", "kind": "folder", "opt-path": str(docs),
                                            "opt-recursive": "on", "enabled": "on"}, follow_redirects=False)
    assert r.status_code == 303
    stored = rt.sources.get("default", "handbook")
    assert stored.options == {"path": str(docs.resolve())} and stored.enabled
    r = client.post("/admin/sources", data={"csrf": csrf, "name": "handbook", "kind": "folder", "opt-path": str(docs)})
    assert r.status_code == 422 and re.search(r'id="name-error">[^<]*already exists', r.text)
    page = client.get("/admin/sources")
    assert 'data-source="handbook"' in page.text and "never synced" in page.text

    r = client.post("/admin/sources/handbook/enabled", data={"csrf": csrf}, follow_redirects=False)
    assert r.status_code == 303 and not rt.sources.get("default", "handbook").enabled
    r = client.post("/admin/sources/handbook/enabled", data={"csrf": csrf, "enabled": "on"}, follow_redirects=False)
    assert r.status_code == 303 and rt.sources.get("default", "handbook").enabled


def test_a_sync_from_the_page_has_a_run_page_and_progress(site: tuple[Runtime, TestClient, Path]) -> None:
    rt, client, docs = site
    csrf = sign_in(client, rt, "write")
    client.post("/admin/sources", data={"csrf": csrf, "name": "handbook", "kind": "folder", "opt-path": str(docs)})
    r = client.post("/admin/sources/handbook/sync", data={"csrf": csrf}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/admin/sources/handbook/runs/next?after="
    for _ in range(1200):  # the pending page until the run is recorded, then the run's page
        r = client.get("/admin/sources/handbook/runs/next?after=", follow_redirects=False)
        if r.status_code == 303:
            break
        assert 'http-equiv="refresh"' in r.text
        time.sleep(0.1)
    assert re.fullmatch(r"/admin/sources/handbook/runs/[0-9a-f-]+", r.headers["location"]), r.headers
    for _ in range(1200):
        body = client.get(f"{r.headers['location']}/progress").json()
        if body["status"] != "running":
            break
        time.sleep(0.1)
    assert body["status"] == "succeeded" and body["counts"]["written"] == 1 and body["total"] == 1
    page = client.get(r.headers["location"])
    assert page.status_code == 200 and 'id="count-written">1<' in page.text and "run.js" not in page.text
    assert client.get("/admin/sources/handbook/runs/nope").status_code == 404
    run_id = r.headers["location"].rsplit("/", 1)[1]
    r = client.post("/admin/sources/handbook/cancel", data={"csrf": csrf, "run": run_id})
    assert r.status_code == 200 and "no sync of this source is running" in r.text and 'id="cancel"' not in r.text
    r = client.post("/admin/sources/handbook/sync", data={"csrf": csrf, "full": "on"}, follow_redirects=False)
    assert r.headers["location"] == f"/admin/sources/handbook/runs/next?after={run_id}"
    for _ in range(1200):
        runs = rt.state("default", "handbook").runs(limit=1)
        if runs[0]["id"] != run_id and runs[0]["status"] != "running":
            break
        time.sleep(0.1)
    assert runs[0]["mode"] == "full" and runs[0]["status"] == "succeeded"
    assert client.get("/admin/static/run.js").headers["content-type"].startswith("text/javascript")
    assert client.get("/admin/static/..%2fbase.html").status_code == 404


def test_read_keys_see_pages_without_forms_and_their_posts_are_refused(site: tuple[Runtime, TestClient, Path]) -> None:
    rt, client, docs = site
    rt.sources.add(Source(workspace="default", name="handbook", kind=SourceKind.FOLDER, options={"path": str(docs)}))
    handoff = record_handoff(rt)
    csrf = sign_in(client, rt, "read")
    page = client.get("/admin/sources")
    assert 'data-source="handbook"' in page.text and 'action="/admin/sources"' not in page.text
    assert "Sync now" not in page.text and str(docs) not in page.text, "a read key sees no option values"
    for path, data in [("/admin/sources", {"name": "x", "kind": "folder", "opt-path": str(docs)}),
                       ("/admin/sources/handbook/sync", {}), ("/admin/sources/handbook/enabled", {}),
                       ("/admin/sources/handbook/cancel", {}),
                       (f"/admin/handoffs/{handoff}/resolve", {})]:
        r = client.post(path, data={"csrf": csrf, **data}, follow_redirects=False)
        assert r.status_code == 403 and "write scope" in r.text, path
    assert [s.name for s in rt.sources.list("default")] == ["handbook"]
    detail = client.get(f"/admin/handoffs/{handoff}")
    assert detail.status_code == 200 and "Mark resolved" not in detail.text

    client.cookies.clear()
    assert client.post("/admin/sources/handbook/sync", data={"csrf": csrf}).status_code == 401
    r = client.get("/admin/sources/handbook/runs/any/progress")
    assert r.status_code == 401 and r.json()["error"] == "unauthorized"


def record_handoff(rt: Runtime, channel: Channel = Channel.EMAIL) -> str:
    store = SessionStore(db=rt.db)
    session = store.create("default", channel=channel)
    store.add_message("default", session.id, Role.CUSTOMER, "My refund never arrived, I want a person")
    store.add_event("default", session.id, "decision", {"action": "answer", "citations": [
        {"title": "Refunds", "url": "https://docs.example.com/refunds", "document_id": "handbook:refunds.md"}]})
    return store.record_handoff("default", session.id, reason="human_requested", trigger_score=0.9,
                                confidence=0.3, summary="refund never arrived", sentiment={"label": "negative"},
                                documents=["handbook:refunds.md"], scenarios=[], transcript=[]).id


def test_the_handoff_queue_filters_and_resolves_with_csrf(site: tuple[Runtime, TestClient, Path]) -> None:
    rt, client, _ = site
    email, web = record_handoff(rt, Channel.EMAIL), record_handoff(rt, Channel.WEB)
    csrf = sign_in(client, rt, "write", "/admin/handoffs")
    queue = client.get("/admin/handoffs").text
    assert f'data-handoff="{email}"' in queue and f'data-handoff="{web}"' in queue
    only_web = client.get("/admin/handoffs?channel=web").text
    assert f'data-handoff="{web}"' in only_web and f'data-handoff="{email}"' not in only_web
    assert "data-handoff" not in client.get("/admin/handoffs?reason=frustration").text
    detail = client.get(f"/admin/handoffs/{email}").text
    assert "My refund never arrived" in detail and "https://docs.example.com/refunds" in detail
    assert client.post(f"/admin/handoffs/{email}/resolve", data={"csrf": "forged"}).status_code == 403
    r = client.post(f"/admin/handoffs/{email}/resolve", data={"csrf": csrf}, follow_redirects=False)
    assert r.status_code == 303
    store = SessionStore(db=rt.db)
    assert store.get("default", store.handoff("default", email).session_id).status == SessionStatus.RESOLVED
    assert f'data-handoff="{email}"' not in client.get("/admin/handoffs").text, "the open queue drops it"
    assert f'data-handoff="{email}"' in client.get("/admin/handoffs?state=resolved").text


def test_every_kind_has_a_form_with_every_option(site: tuple[Runtime, TestClient, Path]) -> None:
    from ingest.connectors.registry import connector_class

    rt, client, _ = site
    sign_in(client, rt, "write", "/admin/sources/new")
    for kind in SourceKind:
        page = client.get(f"/admin/sources/new?kind={kind.value}")
        assert page.status_code == 200, kind
        for option in connector_class(kind).Options.model_fields:
            assert f'id="opt-{option}"' in page.text and f'<label for="opt-{option}"' in page.text, (kind, option)
    assert "KNOWDESK_ZENDESK__" in client.get("/admin/sources/new?kind=zendesk").text, "credentials are named"
    assert client.get("/admin/sources/new?kind=nope").status_code == 404


def test_a_website_source_is_added_and_edited_with_the_apis_rules(site: tuple[Runtime, TestClient, Path]) -> None:
    rt, client, _ = site
    csrf = sign_in(client, rt, "write", "/admin/sources/new?kind=website")
    form = {"csrf": csrf, "kind": "website", "name": "site", "opt-start_url": "https://docs.example.com/",
            "opt-max_pages": "lots", "opt-include": "/guide/\n/faq/", "opt-respect_robots": "on", "enabled": "on"}
    r = client.post("/admin/sources", data=form)
    assert r.status_code == 422 and re.search(r'id="opt-max_pages-error">[^<]*integer', r.text)
    assert 'value="lots"' in r.text and "/guide/\n/faq/</textarea>" in r.text, "what was typed is kept"
    r = client.post("/admin/sources", data=form | {"opt-max_pages": "50", "opt-allow_private_network": "on"})
    assert r.status_code == 422 and re.search(r'id="opt-allow_private_network-error">[^<]*admin key', r.text)
    assert rt.sources.list("default") == []
    r = client.post("/admin/sources", data=form | {"opt-max_pages": "50"}, follow_redirects=False)
    assert r.status_code == 303
    stored = rt.sources.get("default", "site")
    assert stored.options == {"start_url": "https://docs.example.com/", "max_pages": 50,
                              "include": ["/guide/", "/faq/"], "follow_files": False}

    page = client.get("/admin/sources/site/edit")
    assert page.status_code == 200 and 'value="50"' in page.text and 'id="sync-now"' in page.text
    assert "Never synced." in page.text
    edit = {"csrf": csrf, "opt-start_url": "https://docs.example.com/", "opt-max_pages": "0",
            "opt-follow_files": "on", "opt-respect_robots": "on"}
    r = client.post("/admin/sources/site/edit", data=edit)
    assert r.status_code == 422 and re.search(r'id="opt-max_pages-error">[^<]*greater than or equal to 1', r.text)
    assert rt.sources.get("default", "site") == stored, "nothing stored from a refused edit"
    r = client.post("/admin/sources/site/edit", data=edit | {"opt-max_pages": "", "opt-delay": "0.5"},
                    follow_redirects=False)
    assert r.status_code == 303
    changed = rt.sources.get("default", "site")
    assert changed.options == {"start_url": "https://docs.example.com/", "delay": 0.5} and not changed.enabled

    r = client.post("/admin/sources/site/edit", data=edit | {"csrf": "forged"})
    assert r.status_code == 403 and "reload the page" in r.text
    assert client.post("/admin/sources/nope/edit", data=edit).status_code == 404
    sign_in(client, rt, "read", "/admin/sources/site/edit")
    page = client.get("/admin/sources/site/edit").text
    assert "docs.example.com" not in page and 'class="source-form"' not in page, "a read key sees no option values"
    r = client.post("/admin/sources/site/edit", data=edit)
    assert r.status_code == 403 and "write scope" in r.text
    assert client.get("/admin/sources/new?kind=folder").status_code == 403


def test_patch_a_source_over_http(site: tuple[Runtime, TestClient, Path]) -> None:
    rt, client, docs = site
    _, key = KeyStore(db=rt.db).create("default", scopes=["write"])
    auth = {"Authorization": f"Bearer {key}"}
    client.post("/v1/sources", headers=auth, json={"name": "d", "kind": "folder", "options": {"path": str(docs)}})
    r = client.patch("/v1/sources/d", headers=auth, json={"options": {"path": str(docs), "include": ["*.md"]}})
    assert r.status_code == 200 and r.json()["options"]["include"] == ["*.md"]
    r = client.patch("/v1/sources/d", headers=auth, json={"options": {"path": "/etc"}})
    assert r.status_code == 403 and rt.sources.get("default", "d").options["include"] == ["*.md"]
    r = client.patch("/v1/sources/d", headers=auth, json={"options": {"path": str(docs), "recursive": "maybe"}})
    assert r.status_code == 400 and "recursive" in r.json()["message"]
    r = client.patch("/v1/sources/d", headers=auth, json={"enabled": False})
    assert r.status_code == 200 and not rt.sources.get("default", "d").enabled
    assert client.patch("/v1/sources/nope", headers=auth, json={"enabled": True}).status_code == 404
