"""Foundation benchmark: ingest throughput vs raw encode, unchanged re-sync, retrieval latency,
and the peak memory of a sync as the corpus grows.

Every speed is reported as a ratio against a baseline measured in the same run:
- end-to-end ingest chunks/s  vs  raw ``encode`` chunks/s of the same model on the same chunks;
- first sync seconds  vs  unchanged re-sync seconds;
- retrieve latency  vs  embedding the query alone (and absolute ms against the 50 ms target);
- a sync's peak RSS at 4N documents  vs  at N documents (separate processes).
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import SAMPLES, percentiles, save, timer, write_corpus

QUERIES = [
    "How do I skip next month's delivery?", "What does error E-12 mean?", "refund for an opened bag",
    "change my delivery address", "reset my password", "how long does shipping to Austria take",
    "cancel my subscription", "descale the mill", "gift card balance", "invoice with VAT number",
    "student discount", "pause subscription for two months", "payment failed what now",
    "connect the mill to wifi", "warranty for the grinder", "delete my account and data",
]


def prose(size: int, *, markdown: bool = True, seed: int = 0) -> str:
    """About ``size`` bytes of real-looking English prose: sentences of the sample help center's
    English articles, shuffled into paragraphs of 2-6 sentences under numbered chapter headings
    (and some sub-headings), like a long manual; deterministic for a seed. Chapter numbers keep
    every chunk's embedded text distinct (no vector is reused within the file)."""
    import random
    import re

    articles = json.loads((SAMPLES / "helpcenter.json").read_text(encoding="utf-8"))["articles"]
    sentences: list[str] = []
    headings: list[str] = []
    for article in articles:
        headings.append(article["title"])
        for line in article["body"].splitlines():
            line = line.strip()
            if line.startswith("#"):
                headings.append(line.lstrip("#").strip())
            elif line and not line.startswith(("|", "-", "*", ">")) and not line[:1].isdigit():
                plain = re.sub(r"[*_`]", "", re.sub(r"\[([^]]+)\]\([^)]*\)", r"\1", line))
                sentences.extend(s for s in re.split(r"(?<=[.!?])\s+", plain) if len(s) > 30)
    rng = random.Random(seed)
    h1, h2, h3 = ("# ", "## ", "### ") if markdown else ("", "", "")
    out = [f"{h1}The Brewly handbook\n\n"]
    size_now, chapter = len(out[0]), 0
    while size_now < size:
        chapter += 1
        parts = [f"{h2}Chapter {chapter}: {rng.choice(headings)}\n\n"]
        for p in range(rng.randint(2, 7)):
            if p and rng.random() < 0.25:
                parts.append(f"{h3}{chapter}.{p} {rng.choice(headings)}\n\n")
            parts.append(" ".join(rng.choice(sentences) for _ in range(rng.randint(2, 6))) + "\n\n")
        text = "".join(parts)
        out.append(text)
        size_now += len(text.encode("utf-8"))
    return "".join(out)


def _runtime(home: Path) -> Any:
    from app.runtime import Runtime
    from core.settings import Settings

    return Runtime(Settings(home=home))


def ingest_and_resync(copies: int = 3) -> dict[str, Any]:
    from core.models import Source, SourceKind

    with tempfile.TemporaryDirectory() as tmp:
        root, home = Path(tmp) / "corpus", Path(tmp) / "home"
        docs = write_corpus(root, copies)
        rt = _runtime(home)
        rt.embedder.embed_documents(["warm up the model"])  # load outside the timings
        texts = _chunk_texts(rt, root)
        with timer() as raw_before_t:
            rt.embedder.embed_documents(texts)
        raw_before_s = raw_before_t()
        rt.parser.parse  # noqa: B018 - attribute access builds the parser
        source = rt.sources.add(Source(workspace="default", name="bench", kind=SourceKind.FOLDER,
                                       options={"path": str(root)}))
        with timer() as first_t:
            first = rt.sync(source)
        first_s = first_t()
        with timer() as resync_t:
            resync_full = rt.sync(source, full=True)
        resync_full_s = resync_t()
        with timer() as inc_t:
            rt.sync(source)
        resync_inc_s = inc_t()

        with timer() as raw_t:
            rt.embedder.embed_documents(texts)
        raw_s = (raw_t() + raw_before_s) / 2  # before and after the sync: the machine is noisy
        rt.qdrant.close()
    e2e_rate = first.chunks_embedded / first_s
    raw_rate = len(texts) / raw_s
    return {
        "documents": docs,
        "chunks": first.chunks_embedded,
        "first_sync_s": round(first_s, 2),
        "end_to_end_chunks_per_s": round(e2e_rate, 1),
        "raw_encode_chunks_per_s": round(raw_rate, 1),
        "ingest_vs_raw_encode": round(e2e_rate / raw_rate, 3),
        "resync_full_s": round(resync_full_s, 3),
        "resync_incremental_s": round(resync_inc_s, 3),
        "resync_full_speedup": round(first_s / resync_full_s, 1),
        "resync_incremental_speedup": round(first_s / resync_inc_s, 1),
        "resync_embedded": resync_full.chunks_embedded,
    }


def _chunk_texts(rt: Any, root: Path) -> list[str]:
    """The embed texts of the corpus's chunks, parsed and chunked outside any timing."""
    from core.models import Source, SourceKind
    from ingest.connectors.registry import build_connector

    source = Source(workspace="default", name="raw", kind=SourceKind.FOLDER, options={"path": str(root)})
    texts: list[str] = []
    for item in build_connector(source).list_documents():
        if hasattr(item, "content"):
            texts.extend(c.embed_text for c in rt.chunker.chunk(item.id, rt.parser.parse(item)))
    return texts


def retrieval_latency(sizes: tuple[int, ...] = (10_000, 50_000), queries: int = 200) -> dict[str, Any]:
    """Fill local storage with ``size`` chunks (real texts and BM25 vectors, dense vectors from the
    real model for a subset repeated with noise, so filling 50k does not take an hour), then time
    hybrid retrieval with the real query embedding."""
    from core.models import Chunk, Document, DocumentKind
    from retrieval.search import SearchFilters

    out: dict[str, Any] = {}
    rng = np.random.default_rng(7)
    for size in sizes:
        with tempfile.TemporaryDirectory() as tmp:
            corpus = Path(tmp) / "corpus"
            write_corpus(corpus, 1)
            rt = _runtime(Path(tmp) / "home")
            base_texts = []
            for path in sorted(corpus.rglob("*.md")):
                body = path.read_text(encoding="utf-8")
                base_texts.extend(p for p in body.split("\n\n") if len(p) > 80)
            base_vecs = rt.embedder.embed_documents(base_texts)
            rt.index.ensure_collection()
            per_doc = 10
            with timer() as fill_t:
                for d in range(size // per_doc):
                    doc = Document(workspace="default", source_id="bench", native_id=f"d{d}", title=f"Doc {d}",
                                   kind=DocumentKind.FILE, language="en", media_type="text/markdown")
                    idx = rng.integers(0, len(base_texts), per_doc)
                    chunks = [Chunk(document_id=doc.id, index=i, text=base_texts[j], embed_text=base_texts[j],
                                    token_count=10) for i, j in enumerate(idx)]
                    vecs = base_vecs[idx] + rng.normal(0, 0.02, (per_doc, base_vecs.shape[1])).astype(np.float32)
                    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
                    rt.index.replace_document(doc, chunks, vecs)
            fill_s = fill_t()
            qs = [QUERIES[i % len(QUERIES)] + ("" if i < len(QUERIES) else f" {i}") for i in range(queries)]
            for q in qs[:5]:
                rt.retrieve(q, workspace="default")  # warm
            embed_lat, ret_lat, filt_lat = [], [], []
            for q in qs:
                t = time.perf_counter()
                rt.embedder.embed_query(q)
                embed_lat.append((time.perf_counter() - t) * 1000)
                t = time.perf_counter()
                rt.retrieve(q, workspace="default", top_k=5)
                ret_lat.append((time.perf_counter() - t) * 1000)
                t = time.perf_counter()
                rt.retrieve(q, workspace="default", top_k=5, filters=SearchFilters(language="en"))
                filt_lat.append((time.perf_counter() - t) * 1000)
            e, r, f = percentiles(embed_lat), percentiles(ret_lat), percentiles(filt_lat)
            out[str(size)] = {
                "fill_s": round(fill_s, 1),
                "embed_query_ms": {k: round(v, 2) for k, v in e.items()},
                "retrieve_ms": {k: round(v, 2) for k, v in r.items()},
                "retrieve_filtered_ms": {k: round(v, 2) for k, v in f.items()},
                "retrieve_p95_vs_embed_p95": round(r["p95"] / e["p95"], 2),
                "search_only_p95_ms": round(r["p95"] - e["p50"], 2),
            }
            rt.qdrant.close()
    return out


_MEMORY_CHILD = """
import gc, json, sys, threading, time
from pathlib import Path
from bench.common import write_corpus
from bench.ingest import _runtime
from core.models import Source, SourceKind

def rss_kib():
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))

root, home, copies = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
docs = write_corpus(root, copies)
rt = _runtime(home)
rt.embedder.embed_documents(["load"] * 64)
rt.parser.parse  # noqa: B018
rt.index.ensure_collection()
gc.collect()
base = rss_kib()
peak, done = [base], threading.Event()

def sample():
    while not done.wait(0.02):
        peak.append(rss_kib())

threading.Thread(target=sample, daemon=True).start()
src = rt.sources.add(Source(workspace="default", name="m", kind=SourceKind.FOLDER, options={"path": str(root)}))
report = rt.sync(src)
done.set()
print(json.dumps({"documents": docs, "chunks": report.chunks_embedded, "rss_before_sync_kib": base,
                  "peak_during_sync_kib": max(peak)}))
"""


def sync_memory(small: int = 1, large: int = 4) -> dict[str, Any]:
    res = {}
    for copies in (small, large):
        with tempfile.TemporaryDirectory() as tmp:
            proc = subprocess.run([sys.executable, "-c", _MEMORY_CHILD, f"{tmp}/c", f"{tmp}/h", str(copies)],
                                  capture_output=True, text=True, check=True, timeout=3600)
            res[copies] = json.loads(proc.stdout.strip().splitlines()[-1])
    s, big = res[small], res[large]
    grow_s = (s["peak_during_sync_kib"] - s["rss_before_sync_kib"]) / 1024
    grow_l = (big["peak_during_sync_kib"] - big["rss_before_sync_kib"]) / 1024
    return {
        "small": s,
        "large": big,
        "documents_ratio": round(big["documents"] / s["documents"], 2),
        "sync_growth_mib_small": round(grow_s, 1),
        "sync_growth_mib_large": round(grow_l, 1),
        "growth_ratio": round(grow_l / grow_s, 2) if grow_s > 0 else None,
        "peak_rss_ratio": round(big["peak_during_sync_kib"] / s["peak_during_sync_kib"], 3),
    }


def main() -> dict[str, Any]:
    """Ingest, re-sync and memory. Retrieval latency at 10k/50k chunks per index engine is
    bench/index_backends.py; ``retrieval_latency`` here measures the configured engine alone."""
    result = {"ingest": ingest_and_resync(), "memory": sync_memory()}
    result["self_rusage_maxrss_kib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    path = save("ingest", result)
    print(json.dumps(result, indent=2))
    print(f"saved {path}")
    return result


if __name__ == "__main__":
    main()
