"""Retrieve latency at 50k chunks on Qdrant Edge (the default engine), with the search stages on,
beside today's searcher, in the same run: ``python -m bench.retrieval.scale [--chunks N]
[--queries N] [--baseline REF]``.

One Edge shard is filled once with synthetic chunks (``bench.index_backends``: real sample texts
and their MiniLM vectors, repeated with small noise). Then the same queries (short ones, and long
multi-sentence ones that the sentence split searches part by part) run through:

- ``before``: the searcher of git ``REF`` (default ``BEFORE``: the code before these stages), exported
  with ``git archive`` and run in a subprocess on the same shard;
- each named configuration of the current searcher (``SearchSettings``): everything on, and
  today's ranking (RRF, no split, no diversification) through the new pipeline.

*retrieve* = embedding the query + the search; *search* = with the whole query's vector given.
Results: ``bench/results/retrieval_scale.json``. Timings are reported, never asserted.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tarfile
import tempfile
import time
from io import BytesIO
from pathlib import Path
from typing import Any

from bench.common import percentiles, save, timer
from bench.index_backends import _fill, _texts_and_vectors
from bench.ingest import QUERIES

REPO = Path(__file__).resolve().parents[2]
#: The last commit before the search stages (issue 17): today's searcher, for the same-run comparison.
BEFORE = "57402ee"
ALIAS = "knowdesk"
CONFIGS: dict[str, dict[str, Any]] = {
    "stages on (default)": {},
    "rrf, no split, no diversity": {"fusion": "rrf", "split": False, "diversity": 0.0},
}


def queries(n: int) -> dict[str, list[str]]:
    """``n`` short queries and ``n // 4`` long ones (4 sentences, several needs)."""
    short = [QUERIES[i % len(QUERIES)] + ("" if i < len(QUERIES) else f" {i}") for i in range(n)]
    long = [" ".join(f"{QUERIES[(i + j * 5) % len(QUERIES)].rstrip('?')}." for j in range(4)) + " Thanks."
            for i in range(max(1, n // 4))]
    return {"short": short, "long": long}


def measure(searcher: Any, embedder: Any, qs: list[str]) -> dict[str, Any]:
    from retrieval.search import knowledge_by_default

    filters = knowledge_by_default(None)
    for q in qs[:3]:
        searcher.search(q, workspace="default", filters=filters)  # warm
    retrieve, search = [], []
    for q in qs:
        t = time.perf_counter()
        searcher.search(q, workspace="default", filters=filters, top_k=5)
        retrieve.append((time.perf_counter() - t) * 1000)
        vector = embedder.embed_query(q)
        t = time.perf_counter()
        searcher.search(q, workspace="default", filters=filters, top_k=5, query_vector=vector)
        search.append((time.perf_counter() - t) * 1000)
    return {name: {k: round(v, 1) for k, v in percentiles(s).items() if k in ("p50", "p95")}
            for name, s in (("retrieve_ms", retrieve), ("search_ms", search))}


def run_configs(root: Path, n: int, configs: dict[str, dict[str, Any]] | None) -> dict[str, Any]:
    """Measure the searcher importable here (the current one with ``configs``, or the old one)."""
    from retrieval.edge import EdgeStore
    from retrieval.embedding import SentenceTransformerEmbedder
    from retrieval.sparse import BM25Encoder

    def make_searcher(store: Any, **kwargs: Any) -> Any:
        try:  # the searcher over an engine's candidate lists (this code)
            from retrieval.edge import EdgeCandidates
            from retrieval.search import Searcher
        except ImportError:  # a baseline ref from before the engine split has its own EdgeSearcher
            from retrieval.edge import EdgeSearcher  # type: ignore[attr-defined]

            return EdgeSearcher(store=store, alias=ALIAS, embedder=embedder, sparse=BM25Encoder(), **kwargs)
        return Searcher(engine=EdgeCandidates(store=store, alias=ALIAS), embedder=embedder, sparse=BM25Encoder(),
                        **kwargs)

    embedder = SentenceTransformerEmbedder(model="all-MiniLM-L6-v2", threads=1)  # fair under CPU contention
    store = EdgeStore(root=root)
    out: dict[str, Any] = {}
    try:
        for name, overrides in (configs or {"before": {}}).items():
            kwargs: dict[str, Any] = {}
            if configs is not None:
                from core.settings import SearchSettings

                kwargs["config"] = SearchSettings(**overrides)
            searcher = make_searcher(store, **kwargs)
            out[name] = {kind: measure(searcher, embedder, qs) for kind, qs in queries(n).items()}
            print(name, json.dumps(out[name]), flush=True)
    finally:
        store.close()
    return out


def export(ref: str, into: Path) -> Path:
    """The packages of git ``ref`` (the old searcher and what it imports) unpacked under ``into``."""
    data = subprocess.run(["git", "-C", str(REPO), "archive", ref, "core", "retrieval", "ingest"],
                          check=True, capture_output=True).stdout
    with tarfile.open(fileobj=BytesIO(data)) as tar:
        tar.extractall(into, filter="data")
    return into


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.retrieval.scale", description=__doc__.split("\n\n")[0])
    parser.add_argument("--chunks", type=int, default=50_000)
    parser.add_argument("--queries", type=int, default=60)
    parser.add_argument("--baseline", default=BEFORE, help=f"git ref of the old searcher (default {BEFORE})")
    parser.add_argument("--measure-only", type=Path, help=argparse.SUPPRESS)  # the baseline's subprocess
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    if args.measure_only:
        print("RESULT " + json.dumps(run_configs(args.measure_only, args.queries, None)))
        return 0
    from retrieval.edge import EdgeIndex, EdgeStore
    from retrieval.embedding import SentenceTransformerEmbedder
    from retrieval.sparse import BM25Encoder

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "edge"
        embedder = SentenceTransformerEmbedder(model="all-MiniLM-L6-v2", threads=1)  # fair under CPU contention
        texts, vectors = _texts_and_vectors(embedder)
        store = EdgeStore(root=root)
        index = EdgeIndex(store=store, alias=ALIAS, model_id=embedder.model_id, dimension=embedder.dimension,
                          chunker_version="bench", sparse=BM25Encoder())
        with timer() as t:
            _fill(index, args.chunks, texts, vectors)
        fill_s = round(t(), 1)
        store.close()
        print(f"filled {args.chunks} chunks in {fill_s} s", flush=True)
        result: dict[str, Any] = {"chunks": args.chunks, "fill_s": fill_s, "baseline": args.baseline}
        old = export(args.baseline, Path(tmp) / "old")
        proc = subprocess.run(
            [sys.executable, "-m", "bench.retrieval.scale", "--measure-only", str(root), "--queries",
             str(args.queries)], env=_env(old), capture_output=True, text=True, check=True, cwd=REPO)
        line = next(x for x in proc.stdout.splitlines() if x.startswith("RESULT "))
        result["runs"] = json.loads(line.removeprefix("RESULT ")) | run_configs(root, args.queries, CONFIGS)
    path = save("retrieval_scale", result)
    print(json.dumps(result, indent=2))
    print(f"saved {path}")
    return 0


def _env(old: Path) -> dict[str, str]:
    import os

    # the old packages first, then the repository (bench/ and everything the old code does not replace)
    return os.environ | {"PYTHONPATH": f"{old}:{REPO}"}


if __name__ == "__main__":
    raise SystemExit(main())
