"""The upgrade gap of stored token vectors (issue 17), in one run on Qdrant Edge with the real MiniLM:
``python -m bench.retrieval.token_fill [--questions N]``.

Corpus: this repository's README cut at its ``##`` headings into Markdown files (real prose and tables,
chunked by the real folder source); questions: the ``###`` headings, asked as written.

1. *sync*: the corpus ingested fresh (token vectors stored as it is written).
2. *pre-upgrade*: the sidecar dropped (the state of an index written before token vectors were stored).
   Each question, alternated: ``compute`` (before this change: the stage computes the missing vectors at
   query time, LRU of RERANK_CACHE chunks) and ``skip`` (now: the query keeps its fused order); retrieve =
   embedding the query + the search, each searcher new (no cached token vectors).
3. *fill*: ``knowdesk reindex --tokens``'s use case (``app.tokens.fill_tokens``), timed per 1k chunks, then
   the same questions with the stage running on the filled vectors.
4. *reindex*: the sidecar dropped again, ``reindex_source`` (re-chunk and re-embed everything, which also
   stores the token vectors), timed per 1k chunks: what the fill saves.

The load average is recorded at each step. Results: ``bench/results/token-fill.json``. Timings are
reported, never asserted.
"""

from __future__ import annotations

import argparse
import os
import re
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import percentiles, save, timer

README = Path(__file__).resolve().parents[2] / "README.md"


def _load() -> str:
    return " / ".join(f"{x:.1f}" for x in os.getloadavg())


def write_corpus(folder: Path) -> list[str]:
    """README sections as files; returns the ``###`` headings (the questions)."""
    text = README.read_text(encoding="utf-8")
    parts = re.split(r"(?m)^## ", text)
    folder.mkdir(parents=True, exist_ok=True)
    for n, part in enumerate(parts[1:]):
        title = part.splitlines()[0].strip()
        (folder / f"{n:03}.md").write_text(f"# {title}\n\n{part.split(chr(10), 1)[-1]}", encoding="utf-8")
    return [h.strip() for h in re.findall(r"(?m)^### (.+)$", text)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=int, default=24)
    args = parser.parse_args()
    if args.questions < 1:
        parser.error("--questions must be at least 1")

    with tempfile.TemporaryDirectory() as tmp:
        os.environ["KNOWDESK_HOME"] = str(Path(tmp) / "home")
        os.environ.pop("PREFECT_API_URL", None)
        from app.reindex import reindex_source
        from app.runtime import get_runtime
        from app.tokens import fill_tokens
        from core.models import Source, SourceKind
        from retrieval.search import knowledge_by_default

        questions = write_corpus(Path(tmp) / "docs")[: args.questions]
        rt = get_runtime()
        source = rt.sources.add(Source(workspace="default", name="docs", kind=SourceKind.FOLDER,
                                       options={"path": str(Path(tmp) / "docs")}))
        out: dict[str, Any] = {"corpus": "README.md sections", "questions": len(questions),
                               "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
        with timer() as t:
            report = rt.sync(source)
        chunks = rt.index.count("default")
        out["sync"] = {"status": report.status, "documents": report.written, "chunks": chunks,
                       "seconds": round(t(), 2), "load": _load()}
        print(f"synced {report.written} documents, {chunks} chunks in {t():.1f}s (load {_load()})")

        def searcher(**search: Any) -> Any:
            return rt.engine.searcher(alias=rt.settings.qdrant.alias, embedder=rt.embedder, sparse=rt.sparse,
                                      config=rt.settings.search.model_copy(update=search))

        def timed(modes: dict[str, Any]) -> dict[str, Any]:
            samples: dict[str, list[float]] = {name: [] for name in modes}
            filters = knowledge_by_default(None)
            rt.embedder.embed_queries(["warm up"])
            for q in questions:
                for name, s in modes.items():
                    with timer() as t:
                        s.search(q, workspace="default", filters=filters, top_k=5)
                    samples[name].append(t() * 1000)
            result = {}
            for name, s in modes.items():
                p = percentiles(samples[name])
                sources = dict(getattr(s.reranker, "sources", {})) if s.params.rerank else {}
                result[name] = {"p50_ms": round(p["p50"], 1), "p95_ms": round(p["p95"], 1),
                                "skipped_queries": s.rerank_skipped, "vectors": sources}
                print(f"  {name}: p50 {p['p50']:.1f} ms, p95 {p['p95']:.1f} ms, stage skipped on "
                      f"{s.rerank_skipped} of {len(questions)}, {sources}")
            return result

        collection = rt.index.target
        rt.engine.token_store.drop(collection)
        print(f"pre-upgrade index (no token vectors), load {_load()}:")
        out["pre_upgrade"] = timed({"compute (before)": searcher(rerank_missing="compute"),
                                    "skip (now)": searcher(), "off": searcher(rerank="off")})
        out["pre_upgrade"]["load"] = _load()

        with timer() as t:
            filled = fill_tokens(rt)
        fill_s = t()
        out["fill"] = {"filled": filled.filled, "seconds": round(fill_s, 2),
                       "seconds_per_1k_chunks": round(fill_s * 1000 / max(1, filled.filled), 1),
                       "after": filled.after.describe() if filled.after else None, "load": _load()}
        print(f"filled {filled.filled} chunks in {fill_s:.1f}s ({out['fill']['seconds_per_1k_chunks']} s per 1k; "
              f"load {_load()})")
        print(f"after the fill, load {_load()}:")
        out["after_fill"] = timed({"stage on (stored)": searcher(), "off": searcher(rerank="off")})
        out["after_fill"]["load"] = _load()

        rt.engine.token_store.drop(collection)
        with timer() as t:
            again = reindex_source(rt, source)
        reindex_s = t()
        out["reindex"] = {"status": again.status, "chunks": again.chunks, "seconds": round(reindex_s, 2),
                          "seconds_per_1k_chunks": round(reindex_s * 1000 / max(1, again.chunks), 1),
                          "tokens_after": str(fill_tokens(rt, check=True).after),
                          "load": _load()}
        print(f"reindex of {again.chunks} chunks in {reindex_s:.1f}s ({out['reindex']['seconds_per_1k_chunks']} s "
              f"per 1k; load {_load()})")
        path = save("token-fill", out)
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
