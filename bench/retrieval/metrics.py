"""Scores of ranked units against gold sections, aggregated per query type, and the tables.

For one question and a ranking of units (best first):
- hit@k: a gold section is among the first k units;
- MRR@10: 1 / the rank of the first unit that holds a gold section (0 past 10);
- recall@10: distinct gold sections (page + section) held by the first 10 units / gold sections.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from bench.common import percentiles
from bench.retrieval.sets import Question, Unit

METRICS = ("hit@1", "hit@5", "mrr@10", "recall@10")


def score(question: Question, ranked: Sequence[Unit]) -> dict[str, float]:
    found: set[int] = set()
    first: int | None = None
    for rank, unit in enumerate(ranked[:10], 1):
        matched = {i for i, g in enumerate(question.gold) if unit.matches(g)}
        if matched and first is None:
            first = rank
        found |= matched
    return {
        "hit@1": float(first == 1),
        "hit@5": float(first is not None and first <= 5),
        "mrr@10": 1.0 / first if first else 0.0,
        "recall@10": len(found) / len(question.gold),
    }


def aggregate(rows: Iterable[dict[str, float]]) -> dict[str, float]:
    rows = list(rows)
    if not rows:
        return {}
    return {m: round(sum(r[m] for r in rows) / len(rows), 3) for m in METRICS} | {"n": len(rows)}


def summarize(per_question: Mapping[str, dict[str, float]], questions: Sequence[Question],
              latencies_ms: Sequence[float]) -> dict[str, Any]:
    """Metrics per query type (and "all") of one system on one set, with its latency."""
    by_type: dict[str, Any] = {}
    for qtype in ("original", "paraphrase", "multi"):
        agg = aggregate(per_question[q.id] for q in questions if q.type == qtype)
        if agg:
            by_type[qtype] = agg
    by_type["all"] = aggregate(per_question[q.id] for q in questions)
    lat = percentiles(list(latencies_ms)) if latencies_ms else {}
    return {"types": by_type, "latency_ms": {k: round(v, 1) for k, v in lat.items() if k in ("p50", "p95")}}


def table(results: Mapping[str, Any], split: str) -> str:
    """The Markdown table: one row per set, query type and system."""
    head = "| set | type | n | system | hit@1 | hit@5 | MRR@10 | recall@10 | p50 ms | p95 ms |"
    lines = [f"Split: {split}.", "", head, "|" + "---|" * 10]
    for set_name, entry in results.items():
        systems = entry["systems"]
        for qtype in ("original", "paraphrase", "multi", "all"):
            for system, summary in systems.items():
                agg = summary["types"].get(qtype)
                if not agg:
                    continue
                lat = summary["latency_ms"]
                lines.append(
                    f"| {set_name} | {qtype} | {agg['n']} | {system} | {agg['hit@1']:.2f} | {agg['hit@5']:.2f} | "
                    f"{agg['mrr@10']:.2f} | {agg['recall@10']:.2f} | {lat.get('p50', 0):.0f} | "
                    f"{lat.get('p95', 0):.0f} |")
    return "\n".join(lines)


def comparison(results: Mapping[str, Any], systems: Sequence[str]) -> str:
    """The README's table: per set, type and metric, one column per system (``systems`` present)."""
    lines = ["| set | type | n | metric | " + " | ".join(systems) + " |", "|" + "---|" * (4 + len(systems))]
    for set_name, entry in results.items():
        rows = entry["systems"]
        for qtype in ("original", "paraphrase", "multi"):
            aggs = [rows.get(s, {}).get("types", {}).get(qtype) for s in systems]
            n = next((a["n"] for a in aggs if a), 0)
            if not n:
                continue
            for metric in METRICS:
                best = max((a[metric] for a in aggs if a), default=0.0)
                cells = ["-" if not a else (f"**{a[metric]:.2f}**" if a[metric] == best else f"{a[metric]:.2f}")
                         for a in aggs]
                lines.append(f"| {set_name} | {qtype} | {n} | {metric} | " + " | ".join(cells) + " |")
        lat = [rows.get(s, {}).get("latency_ms", {}) for s in systems]
        cells = [f"{x['p50']:.0f} / {x['p95']:.0f}" if x else "-" for x in lat]
        lines.append(f"| {set_name} | all | | p50 / p95 ms | " + " | ".join(cells) + " |")
    return "\n".join(lines)
