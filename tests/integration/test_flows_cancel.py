"""Cancelling a sync that runs in the API's own process (no Prefect server), through the HTTP API.

A Zendesk Help Center on a loopback server holds the source; its second locale's listing is held
back (the request waits on an event) so the test can cancel while the sync is provably mid-run:
the English articles have been read, the German ones not yet. The run must end 'cancelled' in
GET /v1/sources/{name}/runs, leave the index matching the state (every written document whole,
none pending), delete nothing, keep the cursor where it was, and the next sync must finish the
job without rewriting what the cancelled one wrote.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.runtime import Runtime
from core.models import Source, SourceKind
from core.settings import Settings
from retrieval.index import close_clients
from service.api import create_app
from service.keys import KeyStore
from tests.fixtures.loopback import LoopbackServer, Request, Response, serve
from tests.fixtures.loopback.zendesk import EMAIL, TOKEN, FakeZendesk

pytestmark = pytest.mark.slow
ENGLISH_ONLY, BILINGUAL = 14, 6
GATED = "/api/v2/help_center/de/articles"
GATED_ROUTE = r"/api/v2/help_center/(?P<locale>de)/articles"


def _until(check: Callable[[], Any], what: str, timeout: float = 180) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := check():
            return value
        time.sleep(0.05)
    pytest.fail(f"timed out after {timeout}s waiting for {what}")


@pytest.fixture
def server() -> Iterator[LoopbackServer]:
    yield from serve()


@pytest.fixture
def gated(server: LoopbackServer) -> Iterator[tuple[FakeZendesk, threading.Event]]:
    """The fake Help Center, with the German article listing held until the event is set."""
    fake = FakeZendesk(server, locales=("en-us", "de"))
    for n in range(ENGLISH_ONLY):
        fake.add(f"Grinder setting {n}", f"<p>For brew method {n} set the burr grinder to step {n + 3}.</p>")
    for n in range(BILINGUAL):
        fake.add(f"Delivery zone {n}", f"<p>Zone {n} deliveries arrive on weekday {n + 1}.</p>",
                 translations={"de": (f"Lieferzone {n}", f"<p>Lieferungen in Zone {n} kommen am Wochentag "
                                                         f"{n + 1} mit dem Kurier Blitzpaket.</p>")})
    release = threading.Event()

    def held(req: Request) -> Response:
        release.wait(timeout=120)
        return fake._list_articles(req)

    server.route("GET", GATED_ROUTE, held)
    yield fake, release
    release.set()


@pytest.fixture
def api(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[TestClient, Runtime]]:
    monkeypatch.delenv("PREFECT_API_URL", raising=False)  # the in-process path
    monkeypatch.setenv("KNOWDESK_ZENDESK__EMAIL", EMAIL)  # the runtime reads the credentials as a user sets them
    monkeypatch.setenv("KNOWDESK_ZENDESK__API_TOKEN", TOKEN)
    settings = Settings(home=tmp_path / "home")
    rt = Runtime(settings)
    try:
        with TestClient(create_app(rt)) as client:
            yield client, rt
    finally:
        close_clients()


def test_a_background_sync_cancelled_midway_stops_cleanly_and_the_next_one_resumes(
    api: tuple[TestClient, Runtime], server: LoopbackServer, gated: tuple[FakeZendesk, threading.Event]
) -> None:
    client, rt = api
    _, release = gated
    source = Source(workspace="default", name="zd", kind=SourceKind.ZENDESK, options={"base_url": server.url})
    rt.sources.add(source)
    _, key = KeyStore(db=rt.db).create("default", scopes=["write"])
    headers = {"Authorization": f"Bearer {key}"}
    total = ENGLISH_ONLY + 2 * BILINGUAL

    def runs() -> list[dict[str, Any]]:
        r = client.get("/v1/sources/zd/runs", headers=headers)
        assert r.status_code == 200, r.text
        return list(r.json()["runs"])

    started = client.post("/v1/sources/zd/sync", headers=headers, json={})
    assert started.status_code == 202, started.text
    assert started.json()["mode"] == "in-process" and started.json()["status"] == "started"

    # Mid-run: the English articles are read, the German listing is being requested.
    _until(lambda: server.requests_to(GATED), "the sync to reach the German listing")
    assert runs()[0]["status"] == "running"
    again = client.post("/v1/sources/zd/sync", headers=headers, json={})
    assert again.json()["status"] == "already_running"  # joins, never a second sync of the source

    cancel = client.post("/v1/sources/zd/cancel", headers=headers)
    assert cancel.status_code == 200, cancel.text
    assert cancel.json() == {"mode": "in-process", "status": "cancelling"}
    release.set()

    run = _until(lambda: (r := runs()) and r[0]["status"] != "running" and r[0], "the run to end")
    report = run["report"]
    assert run["status"] == "cancelled" and report["status"] == "cancelled", report
    assert run["finished_at"] is not None and any("cancelled" in n for n in report["notes"])
    assert report["deleted"] == 0 and report["failed"] == 0
    assert report["written"] < total  # the German documents came after the cancel
    assert len(runs()) == 1

    # The index matches the state: every document the run wrote is whole and done, none is pending,
    # no German document got in, and the cursor did not move (a full listing saves it at its end).
    state = rt.state("default", "zd")
    docs = {native: state.get(doc_id) for native, doc_id in state.indexed().items()}
    assert len(docs) == report["written"]
    assert all(d is not None and d.status == "done" for d in docs.values())
    assert not any(native.endswith("/de") for native in docs)
    assert rt.index.count("default", source_id=source.source_id) == sum(
        d.chunk_count for d in docs.values() if d is not None)
    assert state.cursor() is None
    assert client.post("/v1/sources/zd/cancel", headers=headers).json()["status"] == "not_running"

    # Resumable: the next sync writes only what the cancelled one did not, and deletes nothing.
    resumed = client.post("/v1/sources/zd/sync", headers=headers, json={"wait": True})
    assert resumed.status_code == 200, resumed.text
    after = resumed.json()
    assert after["status"] == "succeeded", after
    assert after["written"] == total - report["written"] and after["unchanged"] == report["written"]
    assert after["deleted"] == 0 and after["chunks_embedded"] > 0
    assert state.count() == total and state.cursor() is not None
    assert [r["status"] for r in runs()] == ["succeeded", "cancelled"]
    hits = client.post("/v1/retrieve", headers=headers, json={"query": "Lieferzone Kurier Blitzpaket", "top_k": 3})
    assert hits.status_code == 200, hits.text
    assert hits.json()["hits"] and hits.json()["hits"][0]["document_id"].endswith("/de")
