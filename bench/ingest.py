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
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import RESULTS, SAMPLES, percentiles, save, timer, write_corpus

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


def ingest_and_resync(copies: int = 1) -> dict[str, Any]:
    """The quickstart's articles (the sample help center, every language), ``copies`` times."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "corpus"
        docs = write_corpus(root, copies)
        return {"documents": docs} | _ingest_ratio(root, Path(tmp) / "home", {"path": str(root)})


def doc_set_ingest(name: str = "debian-faq") -> dict[str, Any]:
    """A real documentation set of bench/retrieval (its Debian package, installed by its set-up),
    read from disk by a folder source over its English HTML pages."""
    from bench.retrieval.sets import discover, ensure_package

    dev = discover([name])[0]
    ensure_package(dev)
    include = dev.source.get("options", {}).get("include") if dev.source.get("kind") == "folder" else ["*.en.html"]
    with tempfile.TemporaryDirectory() as tmp:
        options = {"path": str(dev.root), "include": include, "recursive": False}
        return {"set": name, "root": str(dev.root)} | _ingest_ratio(dev.root, Path(tmp) / "home", options)


def _ingest_ratio(root: Path, home: Path, options: dict[str, Any]) -> dict[str, Any]:
    """First sync's chunks/s against the raw encode rate of the same chunks, the raw rate measured
    before and after the sync (the machine is shared and noisy) and averaged; then the re-syncs."""
    from core.models import Source, SourceKind

    load_before = os.getloadavg()
    rt = _runtime(home)
    rt.embedder.embed_documents(["warm up the model"])  # load outside the timings
    texts = _chunk_texts(rt, root, options)  # also loads the parser's libraries outside the timings
    with timer() as raw_before_t:
        rt.embedder.embed_documents(texts)
    raw_before_s = raw_before_t()
    source = rt.sources.add(Source(workspace="default", name="bench", kind=SourceKind.FOLDER, options=options))
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
    raw_after_s = raw_t()
    rt.qdrant.close()
    raw_s = (raw_after_s + raw_before_s) / 2
    e2e_rate = first.chunks_embedded / first_s
    raw_rate = len(texts) / raw_s
    return {
        "chunks": first.chunks_embedded,
        "chunks_parsed_outside": len(texts),
        "first_sync_s": round(first_s, 2),
        "raw_encode_s_before_after": [round(raw_before_s, 2), round(raw_after_s, 2)],
        "end_to_end_chunks_per_s": round(e2e_rate, 2),
        "raw_encode_chunks_per_s": round(raw_rate, 2),
        "ingest_vs_raw_encode": round(e2e_rate / raw_rate, 3),
        "resync_full_s": round(resync_full_s, 3),
        "resync_incremental_s": round(resync_inc_s, 3),
        "resync_embedded": resync_full.chunks_embedded,
        "loadavg_before_after": [load_before, os.getloadavg()],
    }


def _chunk_texts(rt: Any, root: Path, options: dict[str, Any] | None = None) -> list[str]:
    """The embed texts of the source's chunks, parsed and chunked outside any timing."""
    from core.models import Document, Source, SourceKind
    from ingest.connectors.registry import build_connector

    source = Source(workspace="default", name="raw", kind=SourceKind.FOLDER, options=options or {"path": str(root)})
    texts: list[str] = []
    for item in build_connector(source).list_documents():
        if isinstance(item, Document):
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
from bench.ingest import _runtime, rss_kib, rss_peak
from core.models import Source, SourceKind


root, home, copies = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
docs = write_corpus(root, copies)
rt = _runtime(home)
rt.embedder.embed_documents(["load"] * 64)
rt.parser.parse  # noqa: B018
rt.index.ensure_collection()
gc.collect()
base = rss_kib()
peak, done = rss_peak()
src = rt.sources.add(Source(workspace="default", name="m", kind=SourceKind.FOLDER, options={"path": str(root)}))
report = rt.sync(src)
done.set()
print(json.dumps({"documents": docs, "chunks": report.chunks_embedded, "rss_before_sync_kib": base,
                  "peak_during_sync_kib": max(peak)}))
"""


def rss_kib() -> int:
    """This process's resident set size, KiB."""
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))


def rss_peak(interval: float = 0.05) -> tuple[list[int], threading.Event]:
    """Samples RSS every ``interval`` s into the returned list until the event is set."""
    peak, done = [rss_kib()], threading.Event()

    def sample() -> None:
        while not done.wait(interval):
            peak.append(rss_kib())

    threading.Thread(target=sample, daemon=True).start()
    return peak, done


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


_LARGE_CHILD = """
import gc, json, os, sys, threading, time
from pathlib import Path
from bench.ingest import _runtime, prose, rss_kib, rss_peak
from core.models import Source, SourceKind
from ingest.streaming import ParsedStream


root, home, size, sample = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
root.mkdir(parents=True)
path = root / "handbook.txt"
path.write_text(prose(size, markdown=False, seed=20), encoding="utf-8")
rt = _runtime(home)
rt.embedder.embed_documents(["load"] * 64)
rt.index.ensure_collection()
# a fixed sample of the file's chunks (every k-th), cut by the same streamed path outside the timing
from core.models import Document
doc = Document(workspace="default", source_id="x", native_id="handbook.txt", media_type="text/plain",
               content=path.read_bytes())
stream = ParsedStream(parser=rt.parser, document=doc, keep=False)
texts = [c.embed_text for c in rt.chunker.chunk_stream(doc.id, stream.title, stream.sections())]
total_chunks = len(texts)
step = max(1, total_chunks // sample)
texts = texts[::step]
del doc, stream
gc.collect()
t = time.perf_counter(); rt.embedder.embed_documents(texts); raw_before = time.perf_counter() - t
gc.collect()
base = rss_kib()
peak, done = rss_peak()
ticks = {"calls": 0, "with_fetched": 0, "with_stream_progress": 0, "first_fetched_s": None, "kib_seen": []}
began = time.perf_counter()

def progress(r):
    ticks["calls"] += 1
    if r.fetched:
        ticks["with_fetched"] += 1
        if ticks["first_fetched_s"] is None:
            ticks["first_fetched_s"] = round(time.perf_counter() - began, 2)
    if "stream_kib" in r.progress:
        ticks["with_stream_progress"] += 1
        if len(ticks["kib_seen"]) < 400:
            ticks["kib_seen"].append(r.progress["stream_kib"])

src = rt.sources.add(Source(workspace="default", name="big", kind=SourceKind.FOLDER, options={"path": str(root)}))
report = rt.sync(src, progress=progress)
sync_s = time.perf_counter() - began
done.set()
t = time.perf_counter(); rt.embedder.embed_documents(texts); raw_after = time.perf_counter() - t
kib = ticks.pop("kib_seen")
ticks["stream_kib_distinct_values"] = len(set(kib))
print(json.dumps({"bytes": path.stat().st_size, "chunks": report.chunks_embedded, "chunks_cut_outside": total_chunks,
                  "status": report.status, "sync_s": round(sync_s, 1), "raw_sample_chunks": len(texts),
                  "raw_encode_s_before_after": [round(raw_before, 2), round(raw_after, 2)],
                  "rss_before_sync_kib": base, "peak_during_sync_kib": max(peak), "progress": ticks,
                  "ru_maxrss_kib": __import__("resource").getrusage(__import__("resource").RUSAGE_SELF).ru_maxrss}))
"""


def large_file(mib: float = 20.0, sample: int = 1500) -> dict[str, Any]:
    """A generated plain-text handbook of ``mib`` MiB synced through the folder source in its own
    process: time, peak RSS (sampled every 50 ms), progress seen while it ran, and the ingest rate
    against the raw encode rate of a fixed sample of the same chunks (before and after the sync)."""
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        proc = subprocess.run([sys.executable, "-c", _LARGE_CHILD, f"{tmp}/c", f"{tmp}/h", str(int(mib * 2**20)),
                               str(sample)], capture_output=True, text=True, timeout=4 * 3600)
        if proc.returncode:
            raise RuntimeError(proc.stderr[-3000:])
        res: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    raw_rate = res["raw_sample_chunks"] / (sum(res["raw_encode_s_before_after"]) / 2)
    e2e_rate = res["chunks"] / res["sync_s"]
    growth = (res["peak_during_sync_kib"] - res["rss_before_sync_kib"]) / 1024
    return res | {
        "end_to_end_chunks_per_s": round(e2e_rate, 2),
        "raw_encode_chunks_per_s": round(raw_rate, 2),
        "ingest_vs_raw_encode": round(e2e_rate / raw_rate, 3),
        "sync_growth_mib": round(growth, 1),
        "sync_growth_mib_per_file_mib": round(growth / (res["bytes"] / 2**20), 1),
        "peak_rss_mib": round(res["peak_during_sync_kib"] / 1024, 1),
        "loadavg_before_after": [load_before, os.getloadavg()],
    }


_PARSE_CHILD = """
import gc, json, sys, threading, time
from bench.ingest import _runtime, prose, rss_kib, rss_peak
from core.models import Document
from ingest.streaming import ParsedStream
from pathlib import Path


home, size, sample = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
rt = _runtime(home)
rt.embedder.embed_documents(["load"] * 64)
content = prose(size, markdown=False, seed=20).encode("utf-8")
doc = Document(workspace="default", source_id="x", native_id="handbook.txt", media_type="text/plain", content=content)
gc.collect()
base = rss_kib()
peak, done = rss_peak()
began = time.perf_counter()
stream = ParsedStream(parser=rt.parser, document=doc, keep=True)
kept, n, first_chunk_s = [], 0, None
for chunk in rt.chunker.chunk_stream(doc.id, stream.title, stream.sections()):
    n += 1
    if first_chunk_s is None:
        first_chunk_s = time.perf_counter() - began
    if len(kept) < sample and n % 7 == 0:
        kept.append(chunk.embed_text)
parse_s = time.perf_counter() - began
done.set()
t = time.perf_counter(); rt.embedder.embed_documents(kept); raw_s = time.perf_counter() - t
print(json.dumps({"bytes": len(content), "chunks": n, "blocks": stream.blocks, "parse_chunk_s": round(parse_s, 1),
                  "first_chunk_after_s": round(first_chunk_s, 2), "raw_sample_chunks": len(kept),
                  "raw_encode_s": round(raw_s, 2), "rss_before_kib": base, "peak_kib": max(peak)}))
"""


def large_parse(mib: float = 20.0, sample: int = 150) -> dict[str, Any]:
    """The generated plain-text handbook streamed through parsing and chunking alone (the content
    store's copy kept, as a sync does), in its own process: time, peak RSS, chunks/s against the
    raw encode rate of a sample of its chunks (encoded right after, same process)."""
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        proc = subprocess.run([sys.executable, "-c", _PARSE_CHILD, f"{tmp}/h", str(int(mib * 2**20)), str(sample)],
                              capture_output=True, text=True, timeout=3600)
        if proc.returncode:
            raise RuntimeError(proc.stderr[-3000:])
        res: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    parse_rate = res["chunks"] / res["parse_chunk_s"]
    raw_rate = res["raw_sample_chunks"] / res["raw_encode_s"]
    return res | {"parse_chunks_per_s": round(parse_rate, 1), "raw_encode_chunks_per_s": round(raw_rate, 2),
                  "parse_vs_raw_encode": round(parse_rate / raw_rate, 1),
                  "growth_mib": round((res["peak_kib"] - res["rss_before_kib"]) / 1024, 1),
                  "peak_rss_mib": round(res["peak_kib"] / 1024, 1),
                  "loadavg_before_after": [load_before, os.getloadavg()]}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """``python -m bench.ingest [quickstart] [debian-faq] [large-parse] [large] [memory] [--mib 20]`` (default:
    all). Retrieval latency at 10k/50k chunks per index engine is bench/index_backends.py;
    ``retrieval_latency`` here measures the configured engine alone. Each part is saved to
    ``bench/results/ingest.json`` as it finishes (earlier parts of the file are kept)."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m bench.ingest")
    parser.add_argument("parts", nargs="*", default=["quickstart", "debian-faq", "large-parse", "large", "memory"])
    parser.add_argument("--mib", type=float, default=20.0, help="size of the generated large file")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    path = RESULTS / "ingest.json"
    result: dict[str, Any] = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    result.pop("machine", None)
    runs: dict[str, Callable[[], dict[str, Any]]] = {"quickstart": ingest_and_resync, "debian-faq": doc_set_ingest,
            "large": lambda: large_file(args.mib), "large-parse": lambda: large_parse(args.mib),
            "memory": sync_memory}
    for part in args.parts:
        result[part] = runs[part]() | {"uptime": _uptime()}
        save("ingest", result)
        print(json.dumps({part: result[part]}, indent=2), flush=True)
    print(f"saved {path}")
    return result


def _uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


if __name__ == "__main__":
    main()
