"""The website crawler connects only to addresses it checked: DNS rebinding, redirects to private
or metadata addresses, and a refused start url that fails the sync with its reason.

A fake name service is installed in the crawler process (a ``sitecustomize`` on its PYTHONPATH
replacing ``socket.getaddrinfo`` / ``gethostbyname``): no real DNS is asked. It answers each name
from a list, one answer per call, the last one repeated, so "public first, then 127.0.0.1" is a
name that rebinds between the check and the connection.
"""

from __future__ import annotations

import collections
import json
import os
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest

from core.db import Database
from core.models import Document, FetchFailure, Source, SourceKind
from ingest.connectors.base import ConnectorContext
from ingest.connectors.registry import build_connector
from ingest.connectors.website import safety
from ingest.sources import SourceStore
from ingest.state import SqlConnectorStore, SyncState
from ingest.sync import Pipeline, SyncOptions, run_sync
from tests.fakes import HashEmbedder

pytestmark = pytest.mark.slow

WS = "acme"
PUBLIC = "2606:4700::1"  # a global address the test machine cannot route to (nothing answers)

_SITECUSTOMIZE = '''
import json, os, socket
_answers = json.load(open(os.environ["KD_FAKE_DNS"]))
_calls = {}
_real_gai, _real_ghbn = socket.getaddrinfo, socket.gethostbyname

def _answer(host):
    host = str(host).lower()
    if host not in _answers:
        return None
    n = _calls.get(host, 0)
    _calls[host] = n + 1
    with open(os.environ["KD_FAKE_DNS"] + ".log", "a") as log:
        log.write(host + "\\n")
    seq = _answers[host]
    return seq[min(n, len(seq) - 1)]

def getaddrinfo(host, port, family=0, type=0, proto=0, flags=0):
    address = _answer(host)
    if address is None:
        return _real_gai(host, port, family, type, proto, flags)
    if ":" in address:
        return [(socket.AF_INET6, socket.SOCK_STREAM, 6, "", (address, port or 0, 0, 0))]
    return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port or 0))]

def gethostbyname(host):
    address = _answer(host)
    return _real_ghbn(host) if address is None else address

socket.getaddrinfo, socket.gethostbyname = getaddrinfo, gethostbyname
'''


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        self.server.hits[self.path] += 1
        if self.path.startswith("/redirect"):
            target = unquote(self.path.split("to=", 1)[1])
            self.send_response(302)
            self.send_header("Location", target)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = (b'<html lang="en"><title>Internal wiki</title><main><h1>Internal wiki</h1>'
                b"<p>The staging database password is in the vault.</p></main></html>")
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Server(ThreadingHTTPServer):
    hits: collections.Counter[str]


@pytest.fixture
def internal() -> Iterator[_Server]:
    """An internal service on 127.0.0.1 that must never be fetched."""
    server = _Server(("127.0.0.1", 0), _Handler)
    server.hits = collections.Counter()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def fake_dns(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """``fake_dns({"name": ["first answer", "later answers"]})`` for the crawler process; the
    worker's own early check sees the first answer only. Returns the list of names looked up."""
    (tmp_path / "sitecustomize.py").write_text(_SITECUSTOMIZE)
    answers_file = tmp_path / "answers.json"
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")]))
    monkeypatch.setenv("KD_FAKE_DNS", str(answers_file))
    safety._addresses.cache_clear()

    def install(crawler: dict[str, list[str]], worker: dict[str, str] | None = None) -> Path:
        answers_file.write_text(json.dumps(crawler))
        early = worker or {host: seq[0] for host, seq in crawler.items()}
        real = safety._addresses
        monkeypatch.setattr(safety, "_addresses", lambda host: (early[host],) if host in early else real(host))
        return answers_file.with_suffix(".json.log")

    return install


def _connector(url: str, **options: Any) -> Any:
    source = Source(workspace=WS, name="docs", kind=SourceKind.WEBSITE,
                    options={"start_url": url, "respect_robots": False, "max_depth": 2, **options})
    return build_connector(source, ConnectorContext())


def test_a_name_that_rebinds_to_loopback_after_the_check_is_never_fetched(internal: _Server, fake_dns: Any) -> None:
    port = internal.server_address[1]
    log = fake_dns({"rebind.example": [PUBLIC, "127.0.0.1"]})
    items = list(_connector(f"http://rebind.example:{port}/docs/").list_documents())

    assert sum(internal.hits.values()) == 0, f"loopback fetched through a rebinding name: {internal.hits}"
    assert not [i for i in items if isinstance(i, Document)]
    # the crawl looked the name up once and connected only to that (checked, public) answer
    assert log.read_text().split().count("rebind.example") == 1


def test_a_name_answering_loopback_is_refused_with_its_reason(internal: _Server, fake_dns: Any) -> None:
    port = internal.server_address[1]
    # the worker's early check sees a public address; the crawler's own lookup sees loopback
    fake_dns({"late.example": ["127.0.0.1"]}, worker={"late.example": PUBLIC})
    items = list(_connector(f"http://late.example:{port}/docs/").list_documents())

    assert sum(internal.hits.values()) == 0
    failures = [i for i in items if isinstance(i, FetchFailure)]
    assert failures and "loopback address 127.0.0.1" in failures[0].message, items
    assert "refused" in failures[0].message


def test_redirects_to_metadata_addresses_are_refused_even_on_a_private_network(internal: _Server,
                                                                              fake_dns: Any) -> None:
    port = internal.server_address[1]
    base = f"http://127.0.0.1:{port}"
    fake_dns({"metadata.example": ["169.254.169.254"], "imds6.example": ["fd00:ec2::254"]})
    for target in ("http://169.254.169.254/latest/meta-data/", "http://metadata.example/latest/",
                   "http://imds6.example/latest/", "http://[fe80::1]/"):
        internal.hits.clear()
        items = list(_connector(f"{base}/redirect?to={target}", allow_private_network=True).list_documents())
        assert internal.hits, "the loopback start url is allowed on a private network"
        failures = [i for i in items if isinstance(i, FetchFailure)]
        assert failures and "refused" in failures[0].message and "allow_addresses" in failures[0].message, items
        assert not [i for i in items if isinstance(i, Document)]


def test_metadata_addresses_need_an_explicit_allow_addresses(internal: _Server) -> None:
    with pytest.raises(Exception, match="link-local"):
        list(_connector("http://169.254.169.254/latest/meta-data/", allow_private_network=True).list_documents())
    policy = _connector("http://169.254.169.254/", allow_private_network=True,
                        allow_addresses=["169.254.169.254"])._opts.policy
    assert policy.refusal("169.254.169.254") is None and policy.refusal("169.254.1.1") is not None


def test_a_sync_whose_start_url_is_refused_fails_with_the_reason(internal: _Server, fake_dns: Any,
                                                                 sqlite_db: Database) -> None:
    port = internal.server_address[1]
    fake_dns({"rebind.example": ["10.0.0.7"]}, worker={"rebind.example": PUBLIC})
    source = Source(workspace=WS, name="docs", kind=SourceKind.WEBSITE,
                    options={"start_url": f"http://rebind.example:{port}/docs/", "respect_robots": False})
    SourceStore(db=sqlite_db).ensure_workspace(WS)
    SourceStore(db=sqlite_db).add(source)
    embedder = HashEmbedder()
    from ingest.chunking import Chunker
    from ingest.parsing import Parser

    class _NoWrites:
        def ensure_collection(self) -> None: ...

    chunker = Chunker(tokens=embedder, max_tokens=128, overlap_tokens=16)
    pipeline = Pipeline(parser=Parser(), chunker=chunker, embedder=embedder, writer=_NoWrites(),  # type: ignore[arg-type]
                        options=SyncOptions())
    connector = build_connector(source, ConnectorContext(store=SqlConnectorStore(db=sqlite_db, workspace=WS,
                                                                                 source="docs")))
    report = run_sync(source=source, connector=connector, state=SyncState(db=sqlite_db, workspace=WS, source="docs"),
                      pipeline=pipeline)
    assert report.status == "failed", report
    reasons = " ".join(report.notes) + " ".join(f.message for f in report.failures)
    assert "private address 10.0.0.7" in reasons, report
