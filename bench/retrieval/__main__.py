"""Retrieval benchmark: ``python -m bench.retrieval [--sets a,b] [--systems ...] [--types ...]
[--split test|fit] [--check] [--fresh] [--configs FILE] [--cache DIR]``.

Per set under ``bench/retrieval/sets/``: install its Debian package when missing, ingest its
documents through knowdesk's real source (cached per content and chunking settings), read the
indexed chunks back, run every question of the split through each knowdesk configuration and
each peer on those chunks, and print hit@1, hit@5, MRR@10, recall@10 and latency per query type.
The test split's results go to ``bench/results/retrieval.json`` (the fit split's to
``retrieval-fit.json``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from bench.common import RESULTS, machine
from bench.retrieval import knowdesk, peers
from bench.retrieval.configs import DEFAULT, Config, load_configs
from bench.retrieval.metrics import comparison, score, summarize, table
from bench.retrieval.sets import TYPES, DevSet, Question, Unit, discover, ensure_package

CACHE = Path.home() / ".cache" / "knowdesk" / "bench-retrieval"


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.retrieval", description=__doc__.split("\n\n")[1])
    parser.add_argument("--sets", help="comma-separated set names (default: every set present)")
    parser.add_argument("--systems", help="comma-separated: configuration names from the configs file and/or "
                        f"{', '.join(peers.PEERS)} (default: all)")
    parser.add_argument("--types", help=f"comma-separated query types: {', '.join(TYPES)} (default: all)")
    parser.add_argument("--split", choices=("test", "fit"), default="test", help="report on this split")
    parser.add_argument("--check", action="store_true", help="ingest and list gold items no indexed chunk matches")
    parser.add_argument("--fresh", action="store_true", help="re-ingest instead of using the cached index")
    parser.add_argument("--configs", type=Path, default=DEFAULT, help="knowdesk configurations (JSON list)")
    parser.add_argument("--cache", type=Path, default=CACHE, help=f"ingested indexes (default {CACHE})")
    parser.add_argument("--out", type=Path, help="results file to merge into (default: bench/results/"
                        "retrieval.json, or retrieval-SPLIT.json for another split)")
    return parser.parse_args(argv)


def _names(value: str | None, allowed: list[str], what: str) -> list[str]:
    if not value:
        return allowed
    names = [n.strip() for n in value.split(",") if n.strip()]
    unknown = [n for n in names if n not in allowed]
    if unknown or not names:
        print(f"unknown {what} {', '.join(unknown) or '(none given)'}; one of: {', '.join(allowed)}", file=sys.stderr)
        raise SystemExit(2)
    return names


def truncation(units: list[Unit]) -> dict[str, Any]:
    """Chunks longer than the model's window (256 word pieces, special tokens included)."""
    model = peers.sentence_model()
    window = int(model.max_seq_length)

    def lengths(texts: list[str]) -> list[int]:
        return [len(ids) for ids in model.tokenizer(texts, add_special_tokens=True)["input_ids"]]

    embedded, shown = lengths([u.embed_text for u in units]), lengths([u.text for u in units])
    return {"window": window, "chunks": len(units),
            "embed_text_over": sum(n > window for n in embedded), "text_over": sum(n > window for n in shown),
            "embed_text_max": max(embedded, default=0), "text_max": max(shown, default=0)}


def check(dev: DevSet, units: list[Unit]) -> list[str]:
    problems = []
    for q in dev.questions:
        for g in q.gold:
            if not any(u.matches(g) for u in units):
                problems.append(f"{dev.name} {q.id}: no chunk holds {g.page} / {g.section!r}")
    return problems


def run_set(dev: DevSet, args: argparse.Namespace, configs: list[Config], systems: list[str],
            questions: list[Question]) -> dict[str, Any]:
    ensure_package(dev)
    with ExitStack() as stack:
        homes: dict[str, tuple[Path, dict[str, Any]]] = {}
        for config in configs:
            key = json.dumps(config.ingest_env, sort_keys=True)
            if key not in homes and (config.name in systems or not homes):  # no index for a row not run
                cached, sync = knowdesk.ingest(dev, config, args.cache, fresh=args.fresh)
                print(f"{dev.name}: indexed {sync} (cached in {cached})", flush=True)
                homes[key] = (stack.enter_context(knowdesk.working_copy(cached)), sync)
        return _run_homes(dev, args, configs, systems, questions, homes)


def _run_homes(dev: DevSet, args: argparse.Namespace, configs: list[Config], systems: list[str],
               questions: list[Question], homes: dict[str, tuple[Path, dict[str, Any]]]) -> dict[str, Any]:
    base_home, sync = next(iter(homes.values()))
    rt = knowdesk.open_runtime(base_home, configs[0].ingest_env)
    try:
        units = knowdesk.indexed_units(rt)
    finally:
        knowdesk.close(rt)
    entry: dict[str, Any] = {"ingest": sync, "source": dev.source["kind"], "chunks": len(units),
                             "truncation": truncation(units), "problems": check(dev, units), "systems": {}}
    t = entry["truncation"]
    print(f"{dev.name}: {len(units)} chunks; over the {t['window']}-piece window: embed text {t['embed_text_over']}, "
          f"shown text {t['text_over']}; gold items unreachable: {len(entry['problems'])}", flush=True)
    if args.check:
        return entry
    for config in configs:
        if config.name not in systems:
            continue
        unknown = knowdesk.unknown_settings(config.all_env)
        if unknown:
            print(f"  {dev.name} {config.name}: skipped, not settings of this knowdesk: {', '.join(unknown)}")
            continue
        home, _ = homes[json.dumps(config.ingest_env, sort_keys=True)]
        rt = knowdesk.open_configured(home, config)
        try:
            by_id = {u.chunk_id: u for u in knowdesk.indexed_units(rt)}
            entry["systems"][config.name] = measure(knowdesk.retriever(rt, config), by_id, questions)
        finally:
            knowdesk.close(rt)
        _progress(dev.name, config.name, entry["systems"][config.name])
    by_id = {u.chunk_id: u for u in units}
    peers.use_cache(peers.VectorCache(args.cache / f"{dev.name}-peer-vectors.npz"))
    for name in peers.PEERS:
        if name in systems:
            started = time.perf_counter()
            retrieve = peers.build(name, units, knowdesk.TOP_K)
            peers.current_cache().save()
            entry["systems"][name] = measure(retrieve, by_id, questions)
            entry["systems"][name]["build_s"] = round(time.perf_counter() - started, 1)
            _progress(dev.name, name, entry["systems"][name])
    peers.use_cache(peers.VectorCache())
    return entry


def measure(retrieve: peers.Retrieve, by_id: dict[str, Unit], questions: list[Question]) -> dict[str, Any]:
    retrieve(questions[0].question)  # warm up (lazy model and index loading) outside the timings
    per_question, latencies = {}, []
    for q in questions:
        started = time.perf_counter()
        ranked = retrieve(q.question)
        latencies.append((time.perf_counter() - started) * 1000)
        per_question[q.id] = score(q, [by_id[c] for c, _ in ranked if c in by_id])
    return summarize(per_question, questions, latencies)


def _progress(set_name: str, system: str, summary: dict[str, Any]) -> None:
    parts = [f"{t} h@5 {a['hit@5']:.2f} r@10 {a['recall@10']:.2f}" for t, a in summary["types"].items()]
    print(f"  {set_name} {system}: {'; '.join(parts)}; p95 {summary['latency_ms'].get('p95', 0):.0f} ms", flush=True)


def main(argv: list[str] | None = None) -> int:
    args = parse(sys.argv[1:] if argv is None else argv)
    configs = load_configs(args.configs)
    systems = _names(args.systems, [c.name for c in configs] + list(peers.PEERS), "system(s)")
    types = _names(args.types, list(TYPES), "type(s)")
    sets = discover(_names(args.sets, [d.name for d in discover()], "set(s)") if args.sets else None)
    started = time.perf_counter()
    results: dict[str, Any] = {}
    for dev in sets:
        questions = [q for q in dev.questions if q.split == args.split and q.type in types]
        if not questions and not args.check:
            print(f"{dev.name}: no {args.split} questions of type {', '.join(types)}; skipped")
            continue
        set_started = time.perf_counter()
        results[dev.name] = run_set(dev, args, configs, systems, questions)
        results[dev.name]["seconds"] = round(time.perf_counter() - set_started, 1)
    seconds = round(time.perf_counter() - started, 1)
    if args.check:
        problems = [p for entry in results.values() for p in entry["problems"]]
        print("\n".join(problems) if problems else "every gold item is held by an indexed chunk")
        return 1 if problems else 0
    print()
    print(table(results, args.split))
    print()
    print(comparison(results, [s for s in [c.name for c in configs] + list(peers.PEERS) if s in systems]))
    print(f"\n{seconds} s for {len(results)} set(s)")
    path = save(results, args, configs, seconds)
    print(f"saved {path}")
    return 0


def save(results: dict[str, Any], args: argparse.Namespace, configs: list[Config], seconds: float) -> Path:
    """Merge these sets' results into the split's file (other sets' earlier results are kept)."""
    path = args.out or RESULTS / ("retrieval.json" if args.split == "test" else f"retrieval-{args.split}.json")
    previous = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    merged = dict(previous.get("sets", {}))
    current = {c.name for c in configs} | set(peers.PEERS)
    for name, entry in results.items():  # a partial run (--systems, --types) keeps the other rows
        systems = merged.get(name, {}).get("systems", {}) | entry["systems"]
        merged[name] = entry | {"systems": {k: v for k, v in systems.items() if k in current}}
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {"split": args.split, "configs": [c.model_dump() for c in configs], "seconds": seconds,
                "machine": machine(), "sets": merged, "table": table(merged, args.split)}
    path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    return path


if __name__ == "__main__":
    raise SystemExit(main())
