"""Index backends: qdrant-client local mode vs Qdrant Edge, filled with the same chunks.

For each size, both engines get the same documents (10 chunks each: real sample texts with their
BM25 vectors, dense vectors from the real model for the base texts, repeated with small noise so
50k chunks do not take an hour to embed). Then the same queries run through each engine's
searcher with the customer-facing filters (workspace + knowledge kinds), as ``knowdesk retrieve``:

- ``retrieve``: embedding the query with the real model plus the hybrid search;
- ``search``: the hybrid search alone (query vector embedded beforehand);
- Edge once more after ``optimize()`` (HNSW built, deletes vacuumed), with the time it took.

The second ranking stage is off in both (``SearchSettings(rerank="off")``): it is not the engines'
work, and these chunks are written without token vectors, so with it on every query would encode its
30 candidates inline (``bench/retrieval/rerank_latency.py`` measures the stage on stored vectors).

Ratios are edge/local in the same run. ``python -m bench.run index_backends`` (10k and 50k chunks), or
``python -m bench.index_backends [--sizes 10000,50000] [--queries 100,40]``.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import percentiles, save, timer, write_corpus
from bench.ingest import QUERIES

PER_DOC = 10


def _texts_and_vectors(embedder: Any) -> tuple[list[str], np.ndarray]:
    with tempfile.TemporaryDirectory() as tmp:
        write_corpus(Path(tmp), 1)
        texts = [p for path in sorted(Path(tmp).rglob("*.md"))
                 for p in path.read_text(encoding="utf-8").split("\n\n") if len(p) > 80]
    texts = [t for t in texts if embedder.count_tokens(t) <= embedder.max_tokens]
    return texts, embedder.embed_documents(texts)


def _fill(index: Any, size: int, texts: list[str], vectors: np.ndarray) -> float:
    from core.models import Chunk, Document, DocumentKind

    rng = np.random.default_rng(7)  # the same documents in every engine
    kinds = [DocumentKind.ARTICLE, DocumentKind.PAGE, DocumentKind.FILE, DocumentKind.SCENARIO]
    index.ensure_collection()
    with timer() as t:
        for d in range(size // PER_DOC):
            doc = Document(workspace="default", source_id="bench", native_id=f"d{d}", title=f"Doc {d}",
                           kind=kinds[d % len(kinds)], language="en", topic=(f"T{d % 7}",))
            idx = rng.integers(0, len(texts), PER_DOC)
            chunks = [Chunk(document_id=doc.id, index=i, text=texts[j], embed_text=texts[j], token_count=10)
                      for i, j in enumerate(idx)]
            vecs = vectors[idx] + rng.normal(0, 0.02, (PER_DOC, vectors.shape[1])).astype(np.float32)
            vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
            index.replace_document(doc, chunks, vecs)
    return t()


def _latency(searcher: Any, embedder: Any, queries: list[str]) -> dict[str, Any]:
    from retrieval.search import knowledge_by_default

    filters = knowledge_by_default(None)
    for q in queries[:3]:
        searcher.search(q, workspace="default", filters=filters)  # warm
    retrieve, embed, search = [], [], []
    for q in queries:
        t = time.perf_counter()
        searcher.search(q, workspace="default", filters=filters, top_k=5)
        retrieve.append((time.perf_counter() - t) * 1000)
        t = time.perf_counter()
        vector = embedder.embed_query(q)
        embed.append((time.perf_counter() - t) * 1000)
        t = time.perf_counter()
        searcher.search(q, workspace="default", filters=filters, top_k=5, query_vector=vector)
        search.append((time.perf_counter() - t) * 1000)
    # retrieve = embed + search; under CPU contention its tail is the embedding's (see embed_ms)
    return {name: {k: round(v, 2) for k, v in percentiles(samples).items()}
            for name, samples in (("retrieve_ms", retrieve), ("embed_ms", embed), ("search_ms", search))}


def _engine(engine: str, root: Path, size: int, embedder: Any, texts: list[str], vectors: np.ndarray,
            queries: list[str]) -> dict[str, Any]:
    from core.settings import SearchSettings
    from retrieval.edge import EdgeCandidates, EdgeIndex, EdgeStore
    from retrieval.index import QdrantCandidates, QdrantIndex, close_client, open_client
    from retrieval.search import Searcher
    from retrieval.sparse import BM25Encoder

    engines_only = SearchSettings(rerank="off")  # the stage is not the engines' (see the docstring)
    common = {"model_id": embedder.model_id, "dimension": embedder.dimension, "chunker_version": "bench",
              "sparse": BM25Encoder()}
    if engine == "local":
        client = open_client(url=None, api_key=None, path=root / "qdrant", timeout=60)
        index: Any = QdrantIndex(client=client, **common)
        searcher: Any = Searcher(engine=QdrantCandidates(client=client), embedder=embedder, sparse=BM25Encoder(),
                                 config=engines_only)
    else:
        store = EdgeStore(root=root / "edge")
        index = EdgeIndex(store=store, **common)
        searcher = Searcher(engine=EdgeCandidates(store=store), embedder=embedder, sparse=BM25Encoder(),
                            config=engines_only)
    out: dict[str, Any] = {"loadavg_start": os.getloadavg()}
    out["fill_s"] = round(_fill(index, size, texts, vectors), 1)
    out |= _latency(searcher, embedder, queries)
    if engine == "edge":
        with timer() as t:
            index.optimize()
        out["optimize_s"] = round(t(), 1)
        out["optimized"] = _latency(searcher, embedder, queries)
        store.close()
    else:
        close_client(client)
    out["loadavg_end"] = os.getloadavg()
    return out


def edge_vs_local(row: dict[str, Any]) -> dict[str, float]:
    """Edge's figures over local mode's, same size, same run."""
    edge, local = row["edge"], row["local"]
    return {
        "retrieve_p95": round(edge["retrieve_ms"]["p95"] / local["retrieve_ms"]["p95"], 3),
        "search_p95": round(edge["search_ms"]["p95"] / local["search_ms"]["p95"], 3),
        "fill": round(edge["fill_s"] / local["fill_s"], 3),
    }


def main(sizes: tuple[int, ...] = (10_000, 50_000), queries: tuple[int, ...] = (100, 40)) -> dict[str, Any]:
    """Every size in both engines; the results file is written after each size, so a run stopped
    midway keeps the sizes it finished."""
    from retrieval.embedding import SentenceTransformerEmbedder

    embedder = SentenceTransformerEmbedder(model="all-MiniLM-L6-v2")
    texts, vectors = _texts_and_vectors(embedder)
    result: dict[str, Any] = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    path = None
    for size, n in zip(sizes, queries, strict=True):
        qs = [QUERIES[i % len(QUERIES)] + ("" if i < len(QUERIES) else f" {i}") for i in range(n)]
        row: dict[str, Any] = {}
        for engine in ("edge", "local"):
            with tempfile.TemporaryDirectory() as tmp:
                row[engine] = _engine(engine, Path(tmp), size, embedder, texts, vectors, qs)
            print(size, engine, json.dumps(row[engine]), flush=True)
        row["edge_vs_local"] = edge_vs_local(row)
        result[str(size)] = row
        path = save("index_backends", result)
    print(json.dumps(result, indent=2))
    print(f"saved {path}")
    return result


def cli(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.index_backends", description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,50000", help="chunk counts, comma-separated")
    parser.add_argument("--queries", default="100,40", help="queries per size, comma-separated")
    args = parser.parse_args(argv)
    try:
        sizes = tuple(int(x) for x in args.sizes.split(","))
        queries = tuple(int(x) for x in args.queries.split(","))
    except ValueError:
        parser.error("--sizes and --queries are comma-separated whole numbers")
    if len(sizes) != len(queries) or min(sizes) < PER_DOC or min(queries) < 4:
        parser.error(f"give one query count per size; sizes >= {PER_DOC} chunks, >= 4 queries each")
    main(sizes, queries)
    return 0


if __name__ == "__main__":
    raise SystemExit(cli())
