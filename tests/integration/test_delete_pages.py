"""Deleting in the browser through TestClient: a source, an imported action spec and one operation.
Each: the Delete button on the item's page, the confirmation page naming what leaves, a post without
the confirmation (nothing deleted), the delete (the same code path as the HTTP API) and its notice, a
second delete of what is gone (a 404 page that says so), a read key (403, nothing deleted) and a
forged CSRF token (403, nothing deleted)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from html import unescape
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.runtime import Runtime
from core.errors import NotFound
from core.models import Channel, RunReport, Source, SourceKind
from core.settings import Settings, SourcesSettings
from service.api import create_app
from tests.fixtures.orders_spec import ORDERS_SPEC
from tests.integration.test_workspace_pages import sign_in

pytestmark = pytest.mark.slow
SOURCE = "/admin/sources/handbook/delete"
SPEC = "/admin/actions/specs/orders/delete"
OPERATION = "/admin/actions/operations/cancelOrder/delete"


@pytest.fixture
def site(tmp_path: Path) -> Iterator[tuple[Runtime, TestClient]]:
    """A synced folder source ``handbook`` (two documents) and the orders spec (operations enabled)."""
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "refunds.md").write_text("# Refunds\n\nRefunds reach your card within five working days.\n")
    (docs / "shipping.md").write_text("# Shipping\n\nParcels leave the warehouse every weekday at noon.\n")
    rt = Runtime(Settings(home=tmp_path / "home", sources=SourcesSettings(allowed_roots=[tmp_path])))
    source = rt.sources.add(Source(workspace="default", name="handbook", kind=SourceKind.FOLDER,
                                   options={"path": str(docs)}))
    assert rt.sync(source).written == 2
    rt.actions.import_spec("default", "orders", ORDERS_SPEC.read_bytes(), base_url="https://shop.example.com/v1",
                           channels=(Channel.WEB,))
    rt.actions.store.set_secret("default", "orders", "ShopKey", {"value": "shop-key"})
    with TestClient(create_app(rt), base_url="http://testserver") as client:
        yield rt, client
    rt.qdrant.close()


def indexed(rt: Runtime, **filters: str) -> int:
    return rt.index.count("default", **filters)


def test_a_source_is_deleted_from_its_page_once_confirmed(site: tuple[Runtime, TestClient]) -> None:
    rt, client = site
    chunks = indexed(rt, source_id="handbook")
    assert chunks >= 2
    csrf = sign_in(client, rt, "write", "/admin/sources/handbook/edit")
    page = client.get("/admin/sources/handbook/edit").text
    assert 'action="/admin/sources/handbook/delete"' in page and 'id="delete-source"' in page

    r = client.get(SOURCE)
    assert r.status_code == 200 and "Delete source handbook?" in r.text
    assert f"its 2 documents and their {chunks} chunks leave the search index" in r.text
    assert "the files in its folder" in r.text, "it says the files themselves stay"
    assert "its 1 recorded run: a source added again as handbook starts with no runs" in r.text
    assert 'id="delete-warning"' not in r.text
    state = rt.state("default", "handbook")
    run = RunReport(source="handbook", workspace="default")
    run_id = state.start_run(run)
    assert "A sync of this source is running: cancel it" in client.get(SOURCE).text
    state.finish_run(run_id, run.model_copy(update={"status": "succeeded"}))
    assert 'name="confirm" value="yes"' in r.text and f'name="csrf" value="{csrf}"' in r.text

    r = client.post(SOURCE, data={"csrf": csrf})
    assert r.status_code == 422 and re.search(r'id="confirm-error">nothing was deleted', r.text)
    r = client.post(SOURCE, data={"csrf": csrf, "confirm": "no"})
    assert r.status_code == 422
    assert rt.sources.get("default", "handbook") and indexed(rt, source_id="handbook") == chunks, "nothing deleted"

    r = client.post(SOURCE, data={"csrf": csrf, "confirm": "yes"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/admin/sources?notice=")
    with pytest.raises(NotFound):
        rt.sources.get("default", "handbook")
    assert indexed(rt, source_id="handbook") == 0 and state.count() == 0 and state.indexed() == {}
    assert state.runs() == [], "the run records went too, as the confirmation said"
    listed = client.get(r.headers["location"]).text
    assert f"deleted source handbook: 2 documents ({chunks} chunks) left the index" in listed
    assert 'data-source="handbook"' not in listed

    for answer in (client.post(SOURCE, data={"csrf": csrf, "confirm": "yes"}), client.get(SOURCE)):
        assert answer.status_code == 404 and "no source named 'handbook'" in unescape(answer.text)
        assert "Nothing was deleted: it may have been deleted already" in answer.text


def test_an_operation_and_then_its_spec_are_deleted_once_confirmed(site: tuple[Runtime, TestClient]) -> None:
    rt, client = site
    store = rt.actions.store
    operations = {a.id for a in store.actions("default")}
    points = indexed(rt, kind="action")
    cancel = indexed(rt, document_id="actions:cancelOrder")
    assert "cancelOrder" in operations and cancel > 0 and points > cancel
    csrf = sign_in(client, rt, "write", "/admin/actions")
    assert 'action="/admin/actions/specs/orders/delete"' in client.get("/admin/actions").text
    assert 'id="delete-operation"' in client.get("/admin/actions/operations/cancelOrder").text

    r = client.get(OPERATION)
    assert r.status_code == 200 and "Delete operation cancelOrder?" in r.text
    assert "POST /orders/{order_id}/cancel" in r.text and "enabled on web" in r.text
    assert "the spec orders and its other operations" in r.text
    r = client.post(OPERATION, data={"csrf": csrf})
    assert r.status_code == 422 and "nothing was deleted" in r.text
    assert store.get("default", "cancelOrder")
    r = client.post(OPERATION, data={"csrf": csrf, "confirm": "yes"}, follow_redirects=False)
    assert r.status_code == 303
    assert "deleted operation cancelOrder (POST /orders/{order_id}/cancel)" in client.get(r.headers["location"]).text
    assert {a.id for a in store.actions("default")} == operations - {"cancelOrder"}
    assert indexed(rt, document_id="actions:cancelOrder") == 0, "it left the index too"
    assert indexed(rt, kind="action") == points - cancel, "the other operations stay indexed"
    r = client.post(OPERATION, data={"csrf": csrf, "confirm": "yes"})
    assert r.status_code == 404 and "cancelOrder" in r.text and "deleted already" in r.text
    assert 'id="back-link" href' not in r.text and 'href="/admin/actions" id="back-link"' in r.text

    r = client.get(SPEC)
    left = len(operations) - 1
    assert r.status_code == 200 and f"its {left} operations ({left} enabled)" in r.text
    assert "its stored secrets (ShopKey)" in r.text and r.text.count('<li data-action="') == left
    r = client.post(SPEC, data={"csrf": csrf, "confirm": ""})
    assert r.status_code == 422 and len(store.actions("default")) == left
    r = client.post(SPEC, data={"csrf": csrf, "confirm": "yes"}, follow_redirects=False)
    assert r.status_code == 303
    assert f"deleted spec orders and its {left} operations" in client.get(r.headers["location"]).text
    assert store.specs("default") == [] and store.actions("default") == [] and store.secret_names("default") == []
    assert indexed(rt, kind="action") == 0
    for answer in (client.post(SPEC, data={"csrf": csrf, "confirm": "yes"}), client.get(SPEC), client.get(OPERATION)):
        assert answer.status_code == 404 and "deleted already" in answer.text


def test_read_keys_and_forged_forms_delete_nothing(site: tuple[Runtime, TestClient]) -> None:
    rt, client = site
    chunks = indexed(rt, source_id="handbook")
    operations = len(rt.actions.store.actions("default"))
    csrf = sign_in(client, rt, "read", "/admin/sources/handbook/edit")
    for page in ("/admin/sources/handbook/edit", "/admin/actions", "/admin/actions/operations/cancelOrder"):
        assert not re.search(r'action="[^"]*/delete"', client.get(page).text), f"a read key gets no Delete on {page}"
    for path in (SOURCE, SPEC, OPERATION):
        r = client.get(path)
        assert r.status_code == 403 and "deleting needs a key with the write scope" in r.text, path
        r = client.post(path, data={"csrf": csrf, "confirm": "yes"})
        assert r.status_code == 403 and "write scope" in r.text, path

    csrf = sign_in(client, rt, "write", "/admin/sources")
    for path in (SOURCE, SPEC, OPERATION):
        r = client.post(path, data={"csrf": "forged", "confirm": "yes"})
        assert r.status_code == 403 and "reload the page" in r.text, path
        r = client.post(path, data={"confirm": "yes"})
        assert r.status_code == 403, path
    r = client.post(SOURCE, data={"csrf": csrf, "confirm": "yes"}, headers={"Origin": "https://evil.example"})
    assert r.status_code == 403
    assert rt.sources.get("default", "handbook") and indexed(rt, source_id="handbook") == chunks
    assert len(rt.actions.store.actions("default")) == operations and rt.actions.store.secret_names("default")

    client.cookies.clear()
    r = client.get(SOURCE)
    assert r.status_code == 401 and f'name="next" value="{SOURCE}"' in r.text, "the sign-in comes back here"
