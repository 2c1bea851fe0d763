"""Website source benchmark: crawl the PostgreSQL 15 documentation (Debian's postgresql-doc-15)
served on 127.0.0.1, end to end with the real model and local Qdrant under a temporary home.

Reported as ratios measured in the same run:
- first crawl pages/s  vs  re-crawl with nothing changed pages/s (target: re-crawl >= 10x faster);
- first crawl end-to-end chunks/s  vs  raw ``encode`` chunks/s of the same chunks (a sample of
  pages, encoded just before the first sync), and the crawl
  alone (no parsing or embedding) in seconds: the first crawl should be embedding-bound;
- retrieval by title: 5 sampled page titles, is the page in the top 3?

Run: ``python -m bench.website`` (installs postgresql-doc-15 with apt-get when missing and root).
Not part of ``make test``.
"""

from __future__ import annotations

import functools
import os
import random
import shutil
import subprocess
import tempfile
import threading
import time
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from bench.common import save, timer

DOCS = Path("/usr/share/doc/postgresql-doc-15/html")


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def ensure_docs() -> Path:
    if DOCS.is_dir():
        return DOCS
    if os.geteuid() == 0 and shutil.which("apt-get"):
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
        subprocess.run(["apt-get", "install", "-y", "-qq", "postgresql-doc-15"], check=True, env=env)
    if not DOCS.is_dir():
        raise SystemExit(f"{DOCS} is missing: install it with `apt-get install postgresql-doc-15`")
    return DOCS


def run(max_pages: int = 5000, sample_pages: int = 120) -> dict[str, Any]:
    from app.runtime import Runtime
    from core.models import Document, Source, SourceKind
    from core.settings import Settings
    from ingest.connectors.registry import build_connector

    root = ensure_docs()
    date = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    load: dict[str, tuple[float, float, float]] = {"start": os.getloadavg()}
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(root)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        with tempfile.TemporaryDirectory() as tmp:
            rt = Runtime(Settings(home=Path(tmp) / "home"))
            rt.embedder.embed_documents(["warm up the model"])  # load outside the timings
            source = rt.sources.add(Source(
                workspace="default", name="pgdocs", kind=SourceKind.WEBSITE,
                options={"start_url": f"{base}/index.html", "allow_private_network": True,
                         "max_pages": max_pages, "concurrency": 8}))

            # the crawl alone: fetch + main-content extraction in the child, nothing parsed or embedded
            crawl_only = build_connector(source)
            docs: list[Document] = []
            with timer() as crawl_t:
                docs = [i for i in crawl_only.list_documents() if isinstance(i, Document)]
            crawl_s = crawl_t()
            print(f"crawl alone: {len(docs)} pages in {crawl_s:.1f}s", flush=True)

            # raw encode rate on a sample of the same chunks (parsed and chunked outside the timing)
            sample = random.Random(7).sample(docs, min(sample_pages, len(docs)))
            texts = [c.embed_text for d in sample for c in _chunks(rt, d)]
            with timer() as raw_t:
                rt.embedder.embed_documents(texts)
            raw_s = raw_t()
            load["after_raw_encode"] = os.getloadavg()
            print(f"raw encode: {len(texts)} chunks in {raw_s:.1f}s", flush=True)

            with timer() as first_t:
                first = rt.sync(source)
            first_s = first_t()
            load["after_first_sync"] = os.getloadavg()
            print(f"first sync: {first.status}, {first.chunks_embedded} chunks in {first_s:.1f}s", flush=True)
            with timer() as again_t:
                again = rt.sync(source)
            again_s = again_t()
            load["end"] = os.getloadavg()

            titles = _title_retrieval(rt, docs)
            rt.qdrant.close()
    finally:
        server.shutdown()
        server.server_close()
    pages = len(docs)  # the same site both times: pages covered per second
    return {
        "date": date,
        "loadavg": load,
        "pages": len(docs),
        "chunks": first.chunks_embedded,
        "first": {"status": first.status, "seconds": round(first_s, 1), "written": first.written,
                  "failed": first.failed, "pages_per_s": round(pages / first_s, 2),
                  "chunks_per_s": round(first.chunks_embedded / first_s, 1)},
        "recrawl": {"status": again.status, "seconds": round(again_s, 1), "written": again.written,
                    "unchanged": again.unchanged, "chunks_embedded": again.chunks_embedded,
                    "progress": again.progress, "pages_per_s": round(pages / again_s, 2)},
        "recrawl_speedup": round(first_s / again_s, 1),
        "crawl_only": {"seconds": round(crawl_s, 1), "pages_per_s": round(len(docs) / crawl_s, 2)},
        "raw_encode": {"chunks": len(texts), "chunks_per_s": round(len(texts) / raw_s, 1)},
        "e2e_vs_raw_encode": round((first.chunks_embedded / first_s) / (len(texts) / raw_s), 2),
        "crawl_share_of_first": round(crawl_s / first_s, 2),
        "title_retrieval_top3": titles,
    }


def _chunks(rt: Any, doc: Any) -> list[Any]:
    from core.errors import ParseError

    try:
        return list(rt.chunker.chunk(doc.id, rt.parser.parse(doc)))
    except ParseError:
        return []


def _title_retrieval(rt: Any, docs: list[Any], n: int = 5) -> dict[str, Any]:
    rng = random.Random(15)
    sample = rng.sample([d for d in docs if d.title], n)
    found = []
    for doc in sample:
        hits = rt.retrieve(doc.title, workspace="default", top_k=3)
        found.append({"title": doc.title, "uri": doc.uri, "top3": doc.uri in [h.uri for h in hits]})
    return {"hits": sum(f["top3"] for f in found), "of": n, "queries": found}


def main() -> None:
    result = run()
    path = save("website", result)
    first, again = result["first"], result["recrawl"]
    print(f"pages {result['pages']}, chunks {result['chunks']}")
    print(f"first crawl: {first['seconds']}s, {first['pages_per_s']} pages/s, {first['chunks_per_s']} chunks/s "
          f"({first['status']}, {first['failed']} failed)")
    print(f"re-crawl:    {again['seconds']}s, {again['pages_per_s']} pages/s, embedded {again['chunks_embedded']} "
          f"({again['status']}); speed-up {result['recrawl_speedup']}x")
    print(f"crawl alone: {result['crawl_only']['seconds']}s ({result['crawl_share_of_first']} of the first sync); "
          f"e2e chunks/s vs raw encode: {result['e2e_vs_raw_encode']}")
    t = result["title_retrieval_top3"]
    print(f"titles in top 3: {t['hits']}/{t['of']}")
    print(f"saved {path}")


if __name__ == "__main__":
    main()
