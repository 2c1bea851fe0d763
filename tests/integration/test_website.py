"""The website source against real HTTP servers on 127.0.0.1: the fixture site (redirects,
canonical links, robots.txt, sitemap with lastmod, a calendar trap, broken HTML, a PDF, a removed
page, a changed page, a 500-then-ok page), incremental syncs, and the connector contract."""

from __future__ import annotations

import collections
import functools
import os
import shutil
import signal
import threading
import time
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from qdrant_client import QdrantClient

from core.db import Database
from core.errors import ConfigError, SourceError
from core.models import Document, DocumentKind, FetchFailure, RunReport, Source, SourceKind
from ingest.chunking import Chunker
from ingest.connectors.base import Checkpoint, Connector, ConnectorContext, Unchanged
from ingest.connectors.registry import build_connector
from ingest.parsing import Parser
from ingest.sources import SourceStore
from ingest.state import SqlConnectorStore, SyncState
from ingest.sync import Pipeline, SyncOptions, run_sync
from retrieval.index import QdrantCandidates, QdrantIndex
from retrieval.search import Searcher
from retrieval.sparse import BM25Encoder
from tests.contracts.connector_contract import ConnectorContract, ContractEnv
from tests.fakes import HashEmbedder

pytestmark = pytest.mark.slow

FIXTURE = Path(__file__).parents[1] / "fixtures" / "site"
WS = "acme"


class _Handler(SimpleHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        site = self.server.site
        parts = urlsplit(self.path)
        site.hits[parts.path] += 1
        if parts.path == "/robots.txt":
            return self._send(f"User-agent: *\nDisallow: /docs/private/\nSitemap: {site.base}/sitemap.xml\n",
                              "text/plain")
        if parts.path == "/sitemap.xml":
            urls = "".join(f"<url><loc>{site.base}{p}</loc><lastmod>{m}</lastmod></url>"
                           for p, m in site.sitemap.items())
            return self._send('<?xml version="1.0" encoding="UTF-8"?><urlset xmlns='
                              f'"http://www.sitemaps.org/schemas/sitemap/0.9">{urls}</urlset>', "application/xml")
        if parts.path == "/docs/old-page.html":
            self.send_response(301)
            self.send_header("Location", "/docs/moved.html")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return None
        if parts.path == "/docs/calendar":
            month = int(parse_qs(parts.query).get("month", ["1"])[0])
            return self._send(f'<html lang="en"><title>Events in month {month}</title><main><h1>Events {month}</h1>'
                              f'<p>No events planned in month {month}.</p><a href="calendar?month={month + 1}">'
                              "next month</a></main></html>", "text/html")
        if parts.path == "/docs/flaky.html":
            site.entered.set()
            if site.hold:
                site.release.wait(timeout=20)
            if site.flaky > 0:
                site.flaky -= 1
                return self._send("<h1>Internal error</h1>", "text/html", status=500)
            return self._send('<html lang="en"><title>Service status</title><main><h1>Service status</h1>'
                              "<p>All brewing services are operating normally today.</p>"
                              '<a href="status-history.html">History</a></main></html>', "text/html")
        if parts.path == "/docs/status-history.html":
            return self._send('<html lang="en"><title>Status history</title><main><h1>Status history</h1>'
                              "<p>No outages were recorded during the last ninety days.</p></main></html>", "text/html")
        return super().do_GET()

    def _send(self, body: str, content_type: str, status: int = 200) -> None:
        data = body.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", f"{content_type}; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Server(ThreadingHTTPServer):
    site: Site


class Site:
    """The fixture site, copied to a temporary folder and served on 127.0.0.1 (port 0)."""

    def __init__(self, root: Path) -> None:
        shutil.copytree(FIXTURE, root)
        self.root = root
        self.hits: collections.Counter[str] = collections.Counter()
        self.flaky = 0
        self.hold = False
        self.entered = threading.Event()
        self.release = threading.Event()
        self.sitemap = {"/docs/guides/getting-started.html": "2026-01-01", "/docs/billing.html": "2026-01-01"}
        self.server = _Server(("127.0.0.1", 0), functools.partial(_Handler, directory=str(root)))
        self.server.site = self
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return self.base + path

    def write(self, path: str, text: str) -> None:
        target = self.root / path.lstrip("/")
        target.write_text(text, encoding="utf-8")
        future = time.time() + 30  # Last-Modified has one-second resolution: make the change visible
        os.utime(target, (future, future))

    def stop(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    s = Site(tmp_path / "site")
    yield s
    s.stop()


def _source(site: Site, **options: Any) -> Source:
    return Source(workspace=WS, name="docs", kind=SourceKind.WEBSITE,
                  options={"start_url": site.url("/docs/"), "allow_private_network": True, "max_depth": 60,
                           **options})


def _connector(site: Site, db: Database | None = None, **options: Any) -> Connector:
    source = _source(site, **options)
    store = SqlConnectorStore(db=db, workspace=WS, source=source.name) if db is not None else None
    return build_connector(source, ConnectorContext(store=store))


class _Env:
    def __init__(self, site: Site, db: Database, qdrant: QdrantClient) -> None:
        self.site, self.db = site, db
        self.embedder = HashEmbedder()
        chunker = Chunker(tokens=self.embedder, max_tokens=128, overlap_tokens=16)
        self.index = QdrantIndex(client=qdrant, alias="web", model_id=self.embedder.model_id,
                                 dimension=self.embedder.dimension, chunker_version=chunker.version,
                                 sparse=BM25Encoder())
        self.searcher = Searcher(engine=QdrantCandidates(client=qdrant, alias="web"),
                                 embedder=self.embedder, sparse=BM25Encoder())
        self.pipeline = Pipeline(parser=Parser(), chunker=chunker, embedder=self.embedder, writer=self.index,
                                 options=SyncOptions(shrink_guard_ratio=1.0))
        self.state = SyncState(db=db, workspace=WS, source="docs")
        SourceStore(db=db).ensure_workspace(WS)
        SourceStore(db=db).add(_source(site))  # the cursor is saved on the source's row
        self.connector: Connector | None = None

    def sync(self, *, full: bool = False, **options: Any) -> RunReport:
        source = _source(self.site, **options)
        self.connector = _connector(self.site, self.db, **options)
        return run_sync(source=source, connector=self.connector, state=self.state, pipeline=self.pipeline, full=full)

    def uris(self, query: str) -> list[str | None]:
        return [h.uri for h in self.searcher.search(query, workspace=WS, top_k=5)]


@pytest.fixture
def env(site: Site, sqlite_db: Database, memory_qdrant: QdrantClient) -> _Env:
    return _Env(site, sqlite_db, memory_qdrant)


def test_a_crawl_keeps_one_document_per_page_with_main_content_only(site: Site) -> None:
    site.flaky = 1  # 500 once, then ok: the crawler retries
    connector = _connector(site)
    items = list(connector.list_documents())
    docs = {i.native_id: i for i in items if isinstance(i, Document)}
    failures = [i for i in items if isinstance(i, FetchFailure)]
    assert not failures, failures
    assert isinstance(items[-1], Checkpoint) and connector.incomplete is None  # type: ignore[attr-defined]

    page = functools.partial(site.url)
    expected = {page("/docs/"), page("/docs/guides/getting-started.html"), page("/docs/billing.html"),
                page("/docs/moved.html"), page("/docs/broken.html"), page("/docs/grinder-manual.pdf"),
                page("/docs/flaky.html"), page("/docs/status-history.html"), page("/docs/removed.html"),
                page("/docs/changed.html"), page("/docs/guides/")}
    assert expected <= set(docs)
    # robots.txt, scope, redirects, canonical links, tracking and session parameters: no extra documents
    assert not {u for u in docs if "private" in u or "outside" in u or "old-page" in u or "logo" in u}
    assert not {u for u in docs if "utm_" in u or "jsessionid" in u or "canonical-dup" in u}
    calendar = [u for u in docs if "/calendar" in u]
    assert 0 < len(calendar) <= 30, "the calendar trap is bounded"
    assert len(docs) == len(expected) + len(calendar)

    guide = docs[page("/docs/guides/getting-started.html")]
    assert guide.kind == DocumentKind.PAGE and guide.language == "en"
    assert guide.title == "Getting started with your Brewly machine"
    assert guide.topic == ("Docs", "Guides")
    html = guide.content.decode()
    assert "fill the water tank" in html and "Sidebar menu text" not in html and "Related articles" not in html
    home = docs[page("/docs/")].content.decode()
    assert "Welcome to the Brewly documentation" in home
    assert "cookies" not in home and "Footer text" not in home
    assert docs[page("/docs/grinder-manual.pdf")].media_type == "application/pdf"
    parsed = Parser().parse(docs[page("/docs/broken.html")])
    assert "drip tray" in parsed.text and "Reseat the drip tray" in parsed.text
    assert connector.progress["crawled"] >= len(docs)  # type: ignore[attr-defined]


def test_private_addresses_are_refused_by_default(site: Site) -> None:
    connector = _connector(site, allow_private_network=False)
    with pytest.raises(ConfigError, match="loopback"):
        list(connector.list_documents())


def test_recrawl_embeds_nothing_edit_reembeds_one_page_and_removal_prunes(env: _Env) -> None:
    site = env.site
    first = env.sync()
    assert first.status == "succeeded", first
    assert first.written >= 10 and first.progress["crawled"] >= first.written
    assert env.uris("pumpkin spice capsule bundle")[0] == site.url("/docs/removed.html")
    embedded = env.embedder.embedded
    hits = collections.Counter(site.hits)

    again = env.sync()
    assert again.status == "succeeded" and again.mode == "incremental", again
    assert again.chunks_embedded == 0 and again.written == 0 and env.embedder.embedded == embedded
    assert again.unchanged == first.written and again.deleted == 0
    assert site.hits["/docs/guides/getting-started.html"] == hits["/docs/guides/getting-started.html"], \
        "a sitemap lastmod that is not newer skips the request"
    assert site.hits["/docs/changed.html"] == hits["/docs/changed.html"] + 1  # a conditional request (304)

    site.write("/docs/changed.html", '<html lang="en"><title>Descaling your machine</title><main><h1>Descaling'
               "</h1><p>Descale the machine every two months with citric acid solution.</p></main></html>")
    edited = env.sync()
    assert edited.status == "succeeded", edited
    assert edited.written == 1 and edited.deleted == 0, edited
    assert env.state.get(f"docs:{site.url('/docs/changed.html')}") is not None
    assert env.uris("citric acid solution")[0] == site.url("/docs/changed.html")

    (site.root / "docs" / "removed.html").unlink()
    removed = env.sync(full=True)
    assert removed.status == "succeeded", removed
    assert removed.deleted == 1 and removed.written == 0, removed  # its link still on the home page: a 404
    assert site.url("/docs/removed.html") not in env.state.indexed()
    assert site.url("/docs/removed.html") not in env.uris("pumpkin spice capsule bundle")

    # restored as it was (same Last-Modified): fetched in full, not a 304 that would leave it out
    shutil.copy2(FIXTURE / "docs" / "removed.html", site.root / "docs" / "removed.html")
    restored = env.sync()
    assert restored.written == 1 and restored.mode == "incremental", restored
    assert env.uris("pumpkin spice capsule bundle")[0] == site.url("/docs/removed.html")


def test_an_incomplete_crawl_deletes_nothing(env: _Env) -> None:
    site = env.site
    assert env.sync().status == "succeeded"
    indexed = set(env.state.indexed())
    (site.root / "docs" / "removed.html").unlink()

    capped = env.sync(max_pages=3)
    assert capped.status == "partial" and capped.deleted == 0, capped
    assert any("page cap" in n for n in capped.notes), capped.notes
    assert set(env.state.indexed()) == indexed

    site.flaky = 1000  # a page keeps failing: its links are known from the last crawl, so the crawl completes
    failing = env.sync()
    assert failing.failed == 1 and failing.deleted == 1, failing
    assert site.url("/docs/flaky.html") in env.state.indexed(), "a failing page keeps its document"
    assert site.url("/docs/status-history.html") in env.state.indexed()


def test_a_killed_crawler_fails_the_run_and_deletes_nothing(env: _Env) -> None:
    site = env.site
    assert env.sync().status == "succeeded"
    indexed = set(env.state.indexed())
    (site.root / "docs" / "removed.html").unlink()
    site.hold, site.flaky = True, 0
    site.entered.clear()
    errors: list[BaseException] = []

    def run() -> None:
        try:
            env.sync()
        except BaseException as exc:
            errors.append(exc)

    worker = threading.Thread(target=run)
    worker.start()
    assert site.entered.wait(timeout=60)
    pid = env.connector.crawler_pid  # type: ignore[union-attr]
    assert pid
    os.kill(pid, signal.SIGKILL)
    site.release.set()
    worker.join(timeout=60)
    assert not worker.is_alive()
    assert errors and isinstance(errors[0], SourceError), errors
    assert "stopped without finishing" in str(errors[0])
    assert set(env.state.indexed()) == indexed
    assert env.state.runs(1)[0]["status"] == "failed"


def test_a_stopped_reader_stops_the_crawler(site: Site) -> None:
    connector = _connector(site)
    items = connector.list_documents()
    first = next(i for i in items if isinstance(i, Document | Unchanged))
    assert first
    pid = connector.crawler_pid  # type: ignore[attr-defined]
    items.close()  # type: ignore[attr-defined]
    with pytest.raises(ProcessLookupError):
        for _ in range(50):
            os.kill(pid, 0)
            time.sleep(0.1)


# -- the connector contract ----------------------------------------------------------------------
class WebsiteFixture:
    """A small static site: an index page linking every page."""

    def __init__(self, root: Path) -> None:
        root.mkdir()
        self.root = root
        self.pages: dict[str, str] = {}
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(root)))
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.source = Source(workspace=WS, name="web", kind=SourceKind.WEBSITE,
                             options={"start_url": self.base + "/", "allow_private_network": True})
        self._index()

    def _index(self) -> None:
        links = "".join(f'<li><a href="{k}.html">{t}</a></li>' for k, t in sorted(self.pages.items()))
        (self.root / "index.html").write_text(f'<html lang="en"><title>Home</title><main><h1>Home</h1>'
                                              f"<p>All our guides.</p><ul>{links}</ul></main></html>")

    def connector(self) -> Connector:
        return build_connector(self.source)

    def add(self, key: str, title: str, body: str) -> str:
        self.pages[key] = title
        (self.root / f"{key}.html").write_text(f'<html lang="en"><title>{title}</title><main><h1>{title}</h1>'
                                               f"<p>{body}</p></main></html>")
        self._index()
        return f"{self.base}/{key}.html"

    def edit(self, key: str, body: str) -> None:
        title = self.pages[key]
        (self.root / f"{key}.html").write_text(f'<html lang="en"><title>{title}</title><main><h1>{title}</h1>'
                                               f"<p>{body}</p></main></html>")

    def delete(self, key: str) -> None:
        del self.pages[key]
        (self.root / f"{key}.html").unlink()
        self._index()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


class TestWebsiteContract(ConnectorContract):
    @pytest.fixture
    def contract_env(self, sqlite_db: Database, memory_qdrant: QdrantClient, tmp_path: Path) -> Iterator[ContractEnv]:
        fixture = WebsiteFixture(tmp_path / "site")
        yield ContractEnv(fixture=fixture, db=sqlite_db, qdrant=memory_qdrant)
        fixture.stop()


def test_dead_links_do_not_count_against_max_pages_and_are_reported_apart(env: _Env) -> None:
    site = env.site
    assert env.sync().status == "succeeded"
    crawled = env.connector.progress["crawled"]  # type: ignore[union-attr]
    cap = crawled - 3
    while env.sync(max_pages=cap, full=True).status != "succeeded":  # the smallest cap the site fits under
        cap += 1
        assert cap <= crawled + 3, "the fixture site never fits under max_pages"
    index = site.root / "docs" / "index.html"
    dead = "".join(f'<li><a href="gone-{n}.html">Old offer {n}</a></li>' for n in range(6))
    index.write_text(index.read_text(encoding="utf-8").replace("</ul>", dead + "</ul>", 1), encoding="utf-8")
    future = time.time() + 30
    os.utime(index, (future, future))

    report = env.sync(max_pages=cap, full=True)
    assert report.status == "succeeded", report.notes  # six 404s, yet every page fits under the same cap
    [note] = [n for n in report.notes if "dead link" in n]
    assert note.startswith("6 dead link(s)") and site.url("/docs/gone-0.html") in note
