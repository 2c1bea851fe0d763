"""Retrieve latency of the second ranking stage (``KNOWDESK_SEARCH__RERANK=late``) with the token
vectors stored at ingest, beside the stage off and beside today's query-time path, in the same run:
``python -m bench.retrieval.rerank_latency [--chunks N] [--queries N] [--set NAME] [--questions N]``.

1. *capture*: the cost at ingest of keeping the token vectors from the forward pass that embeds the
   chunks (``embed_documents_with_tokens``) against ``embed_documents`` alone, same texts, alternated.
2. *scale*: one Qdrant Edge shard filled with ``--chunks`` synthetic chunks (``bench.index_backends``:
   real sample texts and their MiniLM vectors, repeated with small noise); each chunk's stored token
   vectors are the real MiniLM token vectors of its sample text (captured by the ingest path), stored
   under the chunk's own key (the stage's features are then those of the sample body, not of its
   synthetic heading: this part measures time, not quality).
3. *set*: a real dev set (default debian-faq, when its Debian package is installed) ingested fresh
   through its real source (website), then its test-split questions.

Each question runs through three searchers in turn (so load swings hit all three alike): ``off``,
``late (stored)`` (the default wiring: stored chunk vectors, the query's kept from its embedding) and
``late (query-time)`` (no stored vectors: the fallback, as before this change; LRU of RERANK_CACHE).
*retrieve* = embedding the query + the search, no query cache. Results:
``bench/results/rerank-latency.json``. Timings are reported, never asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import percentiles, save, timer
from bench.index_backends import PER_DOC, _texts_and_vectors
from bench.retrieval.scale import ALIAS, queries

NAMES = ("off", "late (stored)", "late (query-time)")


def _load() -> str:
    return " / ".join(f"{x:.1f}" for x in os.getloadavg())


def capture(embedder: Any, texts: list[str], rounds: int = 3) -> dict[str, Any]:
    """ms per chunk of ``embed_documents`` vs ``embed_documents_with_tokens`` on the same texts."""
    embedder.embed_documents_with_tokens(texts[:4])
    plain, both = [], []
    for _ in range(rounds):
        with timer() as t:
            embedder.embed_documents(texts)
        plain.append(t() * 1000 / len(texts))
        with timer() as t:
            embedder.embed_documents_with_tokens(texts)
        both.append(t() * 1000 / len(texts))
    p, b = min(plain), min(both)
    return {"chunks": len(texts), "embed_ms_per_chunk": round(p, 2), "embed_with_tokens_ms_per_chunk": round(b, 2),
            "ratio": round(b / p, 3), "load": _load()}


def fill(index: Any, tokens: Any, size: int, texts: list[str], vectors: np.ndarray, token_rows: list[Any]) -> float:
    """``bench.index_backends._fill``'s documents, each chunk with its sample text's stored token vectors."""
    from core.models import Chunk, Document, DocumentKind
    from retrieval.embedding import Tokens
    from retrieval.tokens import LATE_MODEL, chunk_text, late_key

    rng = np.random.default_rng(7)
    kinds = [DocumentKind.ARTICLE, DocumentKind.PAGE, DocumentKind.FILE, DocumentKind.SCENARIO]
    index.ensure_collection()
    with timer() as t:
        for d in range(size // PER_DOC):
            doc = Document(workspace="default", source_id="bench", native_id=f"d{d}", title=f"Doc {d}",
                           kind=kinds[d % len(kinds)], language="en", topic=(f"T{d % 7}",))
            idx = rng.integers(0, len(texts), PER_DOC)
            chunks = [Chunk(document_id=doc.id, index=i, text=texts[j], token_count=10,
                            embed_text=chunk_text({"title": doc.title, "text": texts[j]}))
                      for i, j in enumerate(idx)]
            vecs = vectors[idx] + rng.normal(0, 0.02, (PER_DOC, vectors.shape[1])).astype(np.float32)
            vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
            index.replace_document(doc, chunks, vecs)
            tokens.write(index.target, doc, chunks,
                         [Tokens(late_key(doc, c), token_rows[j].vectors) for c, j in zip(chunks, idx, strict=True)],
                         model=LATE_MODEL)
    return t()


def interleaved(searchers: dict[str, Any], qs: list[str],
                top_k: int = 5) -> tuple[dict[str, Any], dict[str, list[list[str]]]]:
    """Each query through every searcher in turn: retrieve p50/p95 per searcher; the time each adds to
    ``off``'s retrieve of the same query (paired, so a load swing between queries cancels out); and
    *search* with the query's vector given (no embedding: the stage's own cost; not for the query-time
    path, whose LRU the retrieve just filled with these candidates). Also the hits."""
    from retrieval.search import knowledge_by_default

    filters = knowledge_by_default(None)
    first = next(iter(searchers.values()))
    for searcher in searchers.values():
        searcher.search(qs[0], workspace="default", filters=filters)  # warm (models, the stage's reranker)
    times: dict[str, list[float]] = {name: [] for name in searchers}
    search: dict[str, list[float]] = {name: [] for name in list(searchers)[:2]}
    hits: dict[str, list[list[str]]] = {name: [] for name in searchers}
    for q in qs:
        for name, searcher in searchers.items():
            t = time.perf_counter()
            found = searcher.search(q, workspace="default", filters=filters, top_k=top_k)
            times[name].append((time.perf_counter() - t) * 1000)
            hits[name].append([h.chunk_id for h in found])
        vector = first.embedder.embed_query(q)
        for name in search:
            t = time.perf_counter()
            searchers[name].search(q, workspace="default", filters=filters, top_k=top_k, query_vector=vector)
            search[name].append((time.perf_counter() - t) * 1000)
    base = times[NAMES[0]]
    out: dict[str, Any] = {}
    for name, samples in times.items():
        out[name] = {"retrieve_ms": _pct(samples)}
        if name != NAMES[0]:
            out[name]["added_to_off_ms"] = _pct([a - b for a, b in zip(samples, base, strict=True)])
        if name in search:
            out[name]["search_ms"] = _pct(search[name])
        sources = getattr(getattr(searchers[name], "_reranker", None), "sources", None)
        if sources:
            out[name]["token_vectors"] = dict(sources)
    return out, hits


def _pct(samples: list[float]) -> dict[str, float]:
    return {k: round(v, 1) for k, v in percentiles(samples).items() if k in ("p50", "p95", "n")}


def three(engine: Any, embedder: Any, sparse: Any, tokens: Any) -> dict[str, Any]:
    """The three searchers over one engine: off, late with stored vectors, late computing them."""
    from core.settings import SearchSettings
    from retrieval.rerank import LateReranker
    from retrieval.search import Searcher

    on = SearchSettings(rerank="late")
    return {
        NAMES[0]: Searcher(engine=engine, embedder=embedder, sparse=sparse, config=SearchSettings(rerank="off")),
        NAMES[1]: Searcher(engine=engine, embedder=embedder, sparse=sparse, config=on, tokens=tokens),
        NAMES[2]: Searcher(engine=engine, embedder=embedder, sparse=sparse, config=on,
                           reranker=LateReranker(cache=on.rerank_cache)),
    }


def same_share(a: list[list[str]], b: list[list[str]]) -> float:
    return round(sum(x == y for x, y in zip(a, b, strict=True)) / max(1, len(a)), 3)


def scale(chunks: int, n: int) -> dict[str, Any]:
    from retrieval.edge import EdgeCandidates, EdgeIndex, EdgeStore
    from retrieval.embedding import SentenceTransformerEmbedder
    from retrieval.sparse import BM25Encoder
    from retrieval.tokens import StoredTokens, TokenStore

    embedder = SentenceTransformerEmbedder(model="all-MiniLM-L6-v2", threads=1)  # fair under CPU contention
    texts, vectors = _texts_and_vectors(embedder)
    _, token_rows = embedder.embed_documents_with_tokens(texts)
    result: dict[str, Any] = {"chunks": chunks, "capture": capture(embedder, texts[:64])}
    with tempfile.TemporaryDirectory() as tmp:
        store = EdgeStore(root=Path(tmp) / "edge")
        tokens = TokenStore(root=Path(tmp) / "edge-tokens")
        index = EdgeIndex(store=store, alias=ALIAS, model_id=embedder.model_id, dimension=embedder.dimension,
                          chunker_version="bench", sparse=BM25Encoder(), tokens=tokens)
        result["fill_s"] = round(fill(index, tokens, chunks, texts, vectors, token_rows), 1)
        result["stored"] = tokens.stats(index.target)
        print(f"filled {chunks} chunks in {result['fill_s']} s; tokens {result['stored']}", flush=True)
        stored = StoredTokens(store=tokens, collection=lambda: store.resolve(ALIAS))
        searchers = three(EdgeCandidates(store=store, alias=ALIAS), embedder, BM25Encoder(), stored)
        try:
            for kind, qs in queries(n).items():
                result[kind], _ = interleaved(searchers, qs)
                result[kind]["load"] = _load()
                print(kind, json.dumps(result[kind]), flush=True)
        finally:
            store.close()
    return result


def real_set(name: str, n: int) -> dict[str, Any]:
    from bench.retrieval.knowdesk import WORKSPACE, _sync, close, indexed_units, open_runtime
    from bench.retrieval.sets import discover

    [dev] = discover([name])
    if not dev.root.exists():
        return {"skipped": f"{dev.package} is not installed ({dev.root} missing); `python -m bench.retrieval "
                           f"--sets {name} --check` installs it"}
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        result: dict[str, Any] = {"set": name, "sync": _sync(dev, home, {})}
        rt = open_runtime(home, {})
        try:
            result["stored"] = rt.engine.token_store.stats(rt.index.target)
            units = {u.chunk_id: u for u in indexed_units(rt)}
            questions = [q for q in dev.questions if q.split == "test"][:n]
            live = rt.searcher
            searchers = three(live.engine, rt.embedder, live.sparse, live.tokens)
            out, hits = interleaved(searchers, [q.question for q in questions], top_k=10)
            for label, found in hits.items():
                out[label]["hit@5"] = round(sum(
                    any(units[c].matches(g) for c in ids[:5] if c in units for g in q.gold)
                    for q, ids in zip(questions, found, strict=True)) / max(1, len(questions)), 3)
            out["same top-10, stored vs query-time"] = same_share(hits[NAMES[1]], hits[NAMES[2]])
            result |= out | {"questions": len(questions), "workspace": WORKSPACE, "load": _load()}
        finally:
            close(rt)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.retrieval.rerank_latency",
                                     description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--chunks", type=int, default=50_000)
    parser.add_argument("--queries", type=int, default=32, help="short queries at scale (and a quarter as many long)")
    parser.add_argument("--set", default="debian-faq", help="a dev set under bench/retrieval/sets ('' to skip)")
    parser.add_argument("--questions", type=int, default=40, help="its test-split questions asked (the first N)")
    args = parser.parse_args(argv)
    result: dict[str, Any] = {"load_start": _load()}
    steps: list[tuple[str, Callable[[], dict[str, Any]]]] = [("scale", lambda: scale(args.chunks, args.queries))]
    if args.set:
        steps.append(("set", lambda: real_set(args.set, args.questions)))
    for key, step in steps:
        result[key] = step()
        save("rerank-latency", result)
    result["load_end"] = _load()
    path = save("rerank-latency", result)
    print(json.dumps(result, indent=2))
    print(f"saved {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
