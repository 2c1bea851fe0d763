"""Cross-lingual retrieval benchmark: ``python -m bench.crosslingual [--split test|fit] [--fresh]
[--cache DIR]``.

English-only knowledge (the Debian FAQ dev set, ingested through knowdesk's real website source
by ``bench.retrieval``'s harness), questions written in German, Spanish, French and Portuguese
plus English controls (``questions.jsonl``: one gold FAQ section per question group, the same
split for every language of a group). In one run: hit@5 / MRR@10 per language for knowdesk with
MiniLM and with multilingual-e5-small (dense only, and the default hybrid search), and for the
bm25s peer; then the embedding cost of both models on the same chunks and questions, as ratios to
MiniLM, and how far e5's English rankings agree with MiniLM's. Results go to
``bench/results/crosslingual.json`` (the fit split's to ``crosslingual-fit.json``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import RESULTS, machine, percentiles
from bench.retrieval import knowdesk, peers
from bench.retrieval.configs import Config
from bench.retrieval.metrics import aggregate, score
from bench.retrieval.sets import SPLITS, Gold, Question, Unit, discover, ensure_package

HERE = Path(__file__).parent
CACHE = Path.home() / ".cache" / "knowdesk" / "bench-retrieval"
SET = "debian-faq"
LANGUAGES = ("en", "de", "es", "fr", "pt")
E5 = {"KNOWDESK_EMBEDDING__MODEL": "multilingual-e5-small"}
DENSE = {"KNOWDESK_SEARCH__SPLIT": "false", "KNOWDESK_SEARCH__DIVERSITY": "0", "KNOWDESK_SEARCH__HEADING_WEIGHT": "0"}
CONFIGS = (
    Config(name="MiniLM dense", lists="dense", env=DENSE),
    Config(name="e5 dense", lists="dense", env=DENSE, ingest_env=E5),
    Config(name="MiniLM hybrid (default search)"),
    Config(name="e5 hybrid (default search)", ingest_env=E5),
)
GOAL_HIT5 = 0.85
GOAL_EN_DROP = 0.02


def load_questions(split: str) -> dict[str, list[Question]]:
    """The split's questions by language (``type`` holds the language)."""
    by_lang: dict[str, list[Question]] = {lang: [] for lang in LANGUAGES}
    for n, line in enumerate((HERE / "questions.jsonl").read_text(encoding="utf-8").splitlines(), 1):
        q = json.loads(line)
        if q["lang"] not in by_lang or q["split"] not in SPLITS:
            raise SystemExit(f"questions.jsonl:{n}: unknown lang or split in {q['id']}")
        if q["split"] == split:
            gold = tuple(Gold(page=g["page"], section=g.get("section")) for g in q["gold"])
            by_lang[q["lang"]].append(Question(id=q["id"], type=q["lang"], question=q["question"], gold=gold,
                                               split=split))
    return by_lang


def run_system(retrieve: peers.Retrieve, by_id: dict[str, Unit],
               by_lang: dict[str, list[Question]]) -> dict[str, Any]:
    """hit@1/5, MRR@10, recall@10 per language and the retrieve latency of one system."""
    retrieve("warm up")
    per_lang, latencies = {}, []
    for lang, questions in by_lang.items():
        rows = []
        for q in questions:
            started = time.perf_counter()
            ranked = retrieve(q.question)
            latencies.append((time.perf_counter() - started) * 1000)
            rows.append(score(q, [by_id[c] for c, _ in ranked if c in by_id]))
        per_lang[lang] = aggregate(rows)
    lat = percentiles(latencies)
    return {"languages": per_lang, "latency_ms": {"p50": round(lat["p50"], 1), "p95": round(lat["p95"], 1)}}


def embedding_cost(texts: list[str], queries: list[str]) -> dict[str, Any]:
    """ms per chunk (one batch of ``texts``) and per question (one at a time) of both embedders,
    on the same texts, in alternating order, best of two rounds each."""
    from retrieval.e5 import E5Embedder
    from retrieval.embedders import DenseEncoder
    from retrieval.embedding import SentenceTransformerEmbedder

    threads = os.cpu_count() or 1
    models: dict[str, DenseEncoder] = {"MiniLM": SentenceTransformerEmbedder(model="all-MiniLM-L6-v2", threads=threads),
              "e5": E5Embedder(threads=threads)}
    for m in models.values():
        m.embed_documents(texts[:2])
        m.embed_query("warm up")
    best: dict[str, dict[str, float]] = {n: {"chunk_ms": float("inf"), "query_ms": float("inf")} for n in models}
    for _ in range(2):
        for name, m in models.items():
            started = time.perf_counter()
            m.embed_documents(texts)
            best[name]["chunk_ms"] = min(best[name]["chunk_ms"], (time.perf_counter() - started) * 1000 / len(texts))
            started = time.perf_counter()
            for q in queries:
                m.embed_query(q)
            best[name]["query_ms"] = min(best[name]["query_ms"], (time.perf_counter() - started) * 1000 / len(queries))
    base = best["MiniLM"]
    return {"chunks": len(texts), "queries": len(queries), "threads": threads,
            "ms": {n: {k: round(v, 2) for k, v in b.items()} for n, b in best.items()},
            "ingest_ratio": round(best["e5"]["chunk_ms"] / base["chunk_ms"], 2),
            "query_ratio": round(best["e5"]["query_ms"] / base["query_ms"], 2)}


def agreement(units: list[Unit], queries: list[str]) -> dict[str, float]:
    """How far e5's scores over the same chunks agree with MiniLM's (computed independently with
    sentence-transformers in fp32) on English questions: mean Spearman correlation of the scores
    over every chunk, and mean overlap of the two top-5 lists."""
    from retrieval.e5 import E5Embedder

    texts = [u.embed_text for u in units]
    minilm = peers.current_cache().encode(texts) @ peers.sentence_model().encode(
        queries, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False).T
    e5 = E5Embedder()
    scores = e5.embed_documents(texts) @ e5.embed_queries(queries).T
    rho, overlap = [], []
    for j in range(len(queries)):
        a, b = minilm[:, j], scores[:, j]
        ra, rb = np.argsort(np.argsort(a)), np.argsort(np.argsort(b))
        rho.append(float(np.corrcoef(ra, rb)[0, 1]))
        overlap.append(len(set(np.argsort(-a)[:5]) & set(np.argsort(-b)[:5])) / 5)
    return {"spearman": round(float(np.mean(rho)), 3), "top5_overlap": round(float(np.mean(overlap)), 3),
            "queries": len(queries)}


def verdict(systems: dict[str, Any]) -> dict[str, Any]:
    e5, minilm = systems["e5 dense"]["languages"], systems["MiniLM dense"]["languages"]
    below = [lang for lang in LANGUAGES if e5[lang]["hit@5"] < GOAL_HIT5]
    drop = round(minilm["en"]["hit@5"] - e5["en"]["hit@5"], 3)
    return {"languages_below_goal": below, "english_drop": drop,
            "goal_met": not below and drop <= GOAL_EN_DROP}


def table(result: dict[str, Any]) -> str:
    systems = result["systems"]
    names = list(systems)
    lines = ["| language | n | " + " | ".join(names) + " |", "|" + "---|" * (2 + len(names))]
    for lang in LANGUAGES:
        n = systems[names[0]]["languages"][lang]["n"]
        best = max(systems[s]["languages"][lang]["hit@5"] for s in names)
        cells = [(f"**{v:.2f}**" if v == best else f"{v:.2f}")
                 for v in (systems[s]["languages"][lang]["hit@5"] for s in names)]
        lines.append(f"| {lang} | {n} | " + " | ".join(cells) + " |")
    lines.append("| p50 ms per query | | " + " | ".join(f"{systems[s]['latency_ms']['p50']:.0f}" for s in names) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.crosslingual", description=__doc__.split("\n\n")[1])
    parser.add_argument("--split", choices=SPLITS, default="test", help="report on this split")
    parser.add_argument("--fresh", action="store_true", help="re-ingest instead of using the cached indexes")
    parser.add_argument("--cache", type=Path, default=CACHE, help=f"ingested indexes (default {CACHE})")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    by_lang = load_questions(args.split)
    (dev,) = discover([SET])
    ensure_package(dev)
    started = time.perf_counter()
    result: dict[str, Any] = {"set": SET, "split": args.split, "machine": machine(),
                              "loadavg_start": os.getloadavg(), "ingest": {}, "systems": {}}
    english_units: list[Unit] = []
    with ExitStack() as stack:
        homes: dict[str, Path] = {}
        for config in CONFIGS:
            model = config.ingest_env.get("KNOWDESK_EMBEDDING__MODEL", "all-MiniLM-L6-v2")
            if model not in homes:
                cached, sync = knowdesk.ingest(dev, config, args.cache, fresh=args.fresh)
                print(f"{SET} with {model}: {sync}", flush=True)
                result["ingest"][model] = sync
                homes[model] = stack.enter_context(knowdesk.working_copy(cached))
            rt = knowdesk.open_configured(homes[model], config)
            try:
                units = knowdesk.indexed_units(rt)
                missing = {g for qs in by_lang.values() for q in qs for g in q.gold
                           if not any(u.matches(g) for u in units)}
                if missing:
                    raise SystemExit(f"{config.name}: no chunk holds {sorted(missing, key=str)[0]}")
                summary = run_system(knowdesk.retriever(rt, config), {u.chunk_id: u for u in units}, by_lang)
            finally:
                knowdesk.close(rt)
            result["systems"][config.name] = summary | {"chunks": len(units)}
            print(f"  {config.name}: " + ", ".join(f"{k} {v['hit@5']:.2f}" for k, v in summary["languages"].items()),
                  flush=True)
            if model == "all-MiniLM-L6-v2":
                english_units = units
    peers.use_cache(peers.VectorCache(args.cache / f"{SET}-peer-vectors.npz"))
    bm25 = peers.build("bm25", english_units, knowdesk.TOP_K)
    result["systems"]["bm25s"] = run_system(bm25, {u.chunk_id: u for u in english_units}, by_lang) | {
        "chunks": len(english_units)}
    print("  bm25s: " + ", ".join(f"{k} {v['hit@5']:.2f}" for k, v in result["systems"]["bm25s"]["languages"].items()))
    queries = [q.question for qs in by_lang.values() for q in qs]
    result["cost"] = embedding_cost([u.embed_text for u in english_units[:96]], queries)
    result["agreement_en"] = agreement(english_units, [q.question for q in by_lang["en"]])
    peers.current_cache().save()
    result["verdict"] = verdict(result["systems"])
    result["loadavg_end"] = os.getloadavg()
    result["seconds"] = round(time.perf_counter() - started, 1)
    result["table"] = table(result)
    print("\n" + result["table"])
    print(json.dumps({k: result[k] for k in ("cost", "agreement_en", "verdict", "loadavg_start", "loadavg_end")}))
    path = RESULTS / ("crosslingual.json" if args.split == "test" else f"crosslingual-{args.split}.json")
    RESULTS.mkdir(exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"saved {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
