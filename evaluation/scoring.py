"""From per-case results to the report's metrics, each with a one-line definition.

Metric names are flat and stable (``retrieval.recall@5``, ``handoff.f1``...), so thresholds and
``eval compare`` address them. A metric with nothing to measure is ``None`` (shown as n/a).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from statistics import fmean
from typing import Any

import numpy as np

from agent.decision import HandoffReason

from .calibration import Calibration, calibrate
from .datasets import Dataset
from .metrics.retrieval import ndcg_at_k, recall_at_k, reciprocal_rank
from .results import CaseResult

REPORT_KIND = "knowdesk.eval.report"
REPORT_VERSION = 1
RECALL_KS = (1, 3, 5, 10)
#: Handoff reasons that datasets can expect (the agent's whole enum).
REASONS = tuple(r.value for r in HandoffReason)

DEFINITIONS: dict[str, str] = {
    "cases.pass_rate": "Share of scored cases whose every check passed (outcome, reason, citations, facts, scenario).",
    "outcome.accuracy": "Share of scored cases whose last decision (answer, clarify, handoff, action call) was "
                        "the expected one.",
    "out_of_scope.not_answered": "Share of cases expecting no answer (out of scope) that were handed off or clarified.",
    **{f"retrieval.recall@{k}": f"Retrieval alone: share of relevant documents among the top {k} (mean over cases)."
       for k in RECALL_KS},
    "retrieval.mrr": "Retrieval alone: mean of 1/rank of the first relevant document (0 if not in the top 10).",
    "retrieval.ndcg@10": "Retrieval alone: binary-gain nDCG of the top 10 documents (mean over cases).",
    "answer.cited_relevant": "Share of expected answers the agent answered citing at least one relevant document.",
    "answer.token_f1": "Bag-of-words F1 between answer and reference answer (answered cases with a reference).",
    "answer.rouge_l": "ROUGE-L F-measure (rouge-score, Unicode tokens) between answer and reference.",
    "answer.similarity": "Cosine similarity of answer and reference embeddings (the index's model).",
    "answer.facts": "Share of must-include facts found in the answer (normalized substring or number match).",
    "answer.groundedness": "Share of answer sentences supported by the cited text (token containment >= 0.7 or "
                           "embedding cosine >= 0.75 with a cited sentence).",
    "handoff.precision": "Of the cases the agent handed off, the share expected to be handed off.",
    "handoff.recall": "Of the cases expected to be handed off, the share the agent handed off.",
    "handoff.f1": "Harmonic mean of handoff precision and recall (out-of-scope cases excluded: both are fine).",
    "handoff.reason_accuracy": "Of expected handoffs that were handed off, the share with the expected reason.",
    "actions.name_accuracy": "Share of action cases where the agent called the expected action.",
    "actions.argument_accuracy": "Share of action cases where the expected action got every expected argument.",
    "calibration.ece": "Expected calibration error of confidence vs. correctness, 10 equal-width bins "
                       "(lower is better).",
    "calibration.auroc": "AUROC of confidence for separating correct from wrong would-be answers (scikit-learn).",
    "calibration.suggested_threshold": "Lowest confidence at which answers reach the target precision.",
    "latency.p50_ms": "Median wall time of one agent turn, in milliseconds.",
    "latency.p95_ms": "95th percentile wall time of one agent turn, in milliseconds.",
}
LOWER_IS_BETTER = {"calibration.ece", "latency.p50_ms", "latency.p95_ms"}


def lower_is_better(metric: str) -> bool:
    """Whether a rise of ``metric`` is a regression (latencies and every ECE, per split or language)."""
    return metric in LOWER_IS_BETTER or metric.endswith(".ece")
#: Reported but never gated by default (machine-dependent or a suggestion, not a quality).
INFORMATIONAL = {"latency.p50_ms", "latency.p95_ms", "calibration.suggested_threshold"}


def _mean(values: Sequence[float]) -> float | None:
    return round(fmean(values), 4) if values else None


def _ratio(num: int, den: int) -> float | None:
    return round(num / den, 4) if den else None


def _prf(pairs: Sequence[tuple[bool, bool]]) -> dict[str, float | int | None]:
    tp = sum(e and p for e, p in pairs)
    fp = sum(p and not e for e, p in pairs)
    fn = sum(e and not p for e, p in pairs)
    precision, recall = _ratio(tp, tp + fp), _ratio(tp, tp + fn)
    f1 = round(2 * tp / (2 * tp + fp + fn), 4) if tp + fp + fn else None
    return {"precision": precision, "recall": recall, "f1": f1, "support": tp + fn, "predicted": tp + fp}


def summarize(
    dataset: Dataset, results: Sequence[CaseResult], *, meta: dict[str, Any] | None = None,
    target_precision: float = 0.9,
) -> dict[str, Any]:
    """The report's data: metrics, definitions, per-tag and per-reason tables, calibration, failures."""
    scored = [r for r in results if r.status == "scored"]
    metrics: dict[str, float | None] = {}
    counts: dict[str, int] = {}

    metrics["cases.pass_rate"] = _ratio(sum(r.passed for r in scored), len(scored))
    counts["cases.pass_rate"] = len(scored)
    with_outcome = [r for r in scored if r.expected_outcome]
    metrics["outcome.accuracy"] = _ratio(
        sum(all(c.status != "failed" for c in r.checks if c.name == "outcome" and c.turn == len(r.turns) - 1)
            for r in with_outcome), len(with_outcome))
    counts["outcome.accuracy"] = len(with_outcome)
    oos = [r for r in scored if r.expected_outcome == "no_answer"]
    metrics["out_of_scope.not_answered"] = _ratio(sum(r.last is not None and r.last.action in ("handoff", "clarify")
                                                      for r in oos), len(oos))
    counts["out_of_scope.not_answered"] = len(oos)

    ranked = [r for r in scored if r.ranked_relevant is not None and r.relevant_count]
    for k in RECALL_KS:
        metrics[f"retrieval.recall@{k}"] = _mean([recall_at_k(r.ranked_relevant or [], r.relevant_count, k)
                                                  for r in ranked])
    metrics["retrieval.mrr"] = _mean([reciprocal_rank(r.ranked_relevant or []) for r in ranked])
    metrics["retrieval.ndcg@10"] = _mean([ndcg_at_k(r.ranked_relevant or [], r.relevant_count, 10) for r in ranked])
    for name in ("retrieval.mrr", "retrieval.ndcg@10", *(f"retrieval.recall@{k}" for k in RECALL_KS)):
        counts[name] = len(ranked)

    expected_answers = [c for r in scored for c in r.checks if c.name == "cited_relevant"]
    metrics["answer.cited_relevant"] = _ratio(sum(c.status == "passed" for c in expected_answers),
                                              len(expected_answers))
    counts["answer.cited_relevant"] = len(expected_answers)
    for key, name in (("token_f1", "answer.token_f1"), ("rouge_l", "answer.rouge_l"),
                      ("similarity", "answer.similarity"), ("facts", "answer.facts"),
                      ("groundedness", "answer.groundedness")):
        values = [r.scores[key] for r in scored if key in r.scores]
        metrics[name], counts[name] = _mean(values), len(values)

    handoffs = _handoffs(scored)
    metrics.update({f"handoff.{k}": handoffs["overall"][k] for k in ("precision", "recall", "f1")})
    metrics["handoff.reason_accuracy"] = handoffs["reason_accuracy"]
    for reason, row in handoffs["by_reason"].items():
        if row["support"] or row["predicted"]:
            for key in ("precision", "recall", "f1"):
                metrics[f"handoff.{reason}.{key}"] = row[key]
                DEFINITIONS.setdefault(f"handoff.{reason}.{key}", f"Handoff {key} for reason {reason} (one-vs-rest).")
                counts[f"handoff.{reason}.{key}"] = int(row["support"] or 0)
    counts["handoff.f1"] = int(handoffs["overall"]["support"] or 0)

    actions = _actions(results, scored)
    metrics["actions.name_accuracy"], metrics["actions.argument_accuracy"] = actions["name"], actions["arguments"]

    labelled = [(r.last.confidence, bool(r.correct)) for r in scored if r.correct is not None and r.last]
    calibration = calibrate([c for c, _ in labelled], [ok for _, ok in labelled], target_precision=target_precision)
    metrics["calibration.ece"] = round(calibration.ece, 4) if calibration.ece is not None else None
    metrics["calibration.auroc"] = round(calibration.auroc, 4) if calibration.auroc is not None else None
    metrics["calibration.suggested_threshold"] = calibration.suggestion.threshold if calibration.suggestion else None
    counts["calibration.ece"] = calibration.n
    splits = _calibration_by(scored, lambda r: [t.split(":", 1)[1] for t in r.tags if t.startswith("split:")],
                             target_precision)
    for split, cal in splits.items():
        for key in ("ece", "auroc"):
            name = f"calibration.{split}.{key}"
            value = getattr(cal, key)
            metrics[name] = round(value, 4) if value is not None else None
            counts[name] = cal.n
            DEFINITIONS.setdefault(name, f"{DEFINITIONS[f'calibration.{key}']} On the cases tagged split:{split}.")
    languages = _per_language(scored, target_precision)
    for lang, row in languages.items():
        for key in ("pass_rate", "outcome_accuracy", "ece"):
            name = f"language.{lang}.{key}"
            metrics[name], counts[name] = row[key], row["calibrated" if key == "ece" else "scored"]
            DEFINITIONS.setdefault(name, LANGUAGE_DEFINITIONS[key].format(lang=lang))

    latencies = [t.latency_ms for r in scored for t in r.turns]
    metrics["latency.p50_ms"] = round(float(np.percentile(latencies, 50)), 1) if latencies else None
    metrics["latency.p95_ms"] = round(float(np.percentile(latencies, 95)), 1) if latencies else None
    counts["latency.p50_ms"] = counts["latency.p95_ms"] = len(latencies)

    return {
        "kind": REPORT_KIND,
        "version": REPORT_VERSION,
        **(meta or {}),
        "dataset": {"name": dataset.name, "path": dataset.path, "sha256": dataset.sha256, "cases": len(dataset.cases)},
        "totals": {"cases": len(results), "scored": len(scored), "passed": sum(r.passed for r in scored),
                   "unsupported": sum(r.status == "unsupported" for r in results),
                   "errors": sum(r.status == "error" for r in results)},
        "metrics": metrics,
        "counts": counts,
        "definitions": {k: DEFINITIONS[k] for k in metrics if k in DEFINITIONS},
        "per_tag": _per_tag(results),
        "handoff_by_reason": handoffs["by_reason"],
        "actions": actions,
        "calibration": calibration.model_dump(mode="json"),
        "calibration_by_split": {k: v.model_dump(mode="json") for k, v in splits.items()},
        "per_language": languages,
        "latencies_ms": latencies,
        "llm_judge": {"available": False, "why": LLM_JUDGE_NOTE},
        "failures": [_failure(r) for r in results if r.status == "error" or (r.status == "scored" and not r.passed)],
        "unsupported": [{"id": r.id, "reason": r.reason, "tags": r.tags} for r in results
                        if r.status == "unsupported"],
        "cases": [r.model_dump(mode="json") for r in results],
    }


LLM_JUDGE_NOTE = (
    "LLM-judged faithfulness and relevancy (ragas) are not available: ragas 0.4 requires the datasets, "
    "langchain and tiktoken packages, and tiktoken downloads its tokenizer files from the internet on "
    "first use, so it cannot run offline. The offline metrics above are computed instead."
)


def _handoffs(scored: Sequence[CaseResult]) -> dict[str, Any]:
    rows = [r for r in scored if r.last and r.expected_outcome and r.expected_outcome != "no_answer"]
    pairs = [(r.expected_outcome == "handoff", r.last.action == "handoff") for r in rows if r.last]
    by_reason = {}
    for reason in REASONS:
        by_reason[reason] = _prf([(r.expected_reason == reason, r.last.handoff_reason == reason)
                                  for r in rows if r.last])
    both = [r for r in rows if r.expected_reason and r.last and r.last.action == "handoff"]
    return {
        "overall": _prf(pairs),
        "by_reason": by_reason,
        "reason_accuracy": _ratio(sum(r.last.handoff_reason == r.expected_reason for r in both if r.last), len(both)),
    }


LANGUAGE_DEFINITIONS = {
    "pass_rate": "Pass rate of the cases in language {lang} (the dataset's language, else the one detected).",
    "outcome_accuracy": "Outcome accuracy of the cases in language {lang}.",
    "ece": "Calibration error of the confidence on the cases in language {lang} (10 bins).",
}


def _calibration_by(
    scored: Sequence[CaseResult], groups: Callable[[CaseResult], list[str]], target_precision: float
) -> dict[str, Calibration]:
    """Calibration of each group's labelled decisions (a case may sit in several groups)."""
    table: dict[str, list[tuple[float, bool]]] = defaultdict(list)
    for r in scored:
        if r.correct is None or r.last is None:
            continue
        for group in groups(r):
            table[group].append((r.last.confidence, bool(r.correct)))
    return {g: calibrate([c for c, _ in rows], [ok for _, ok in rows], target_precision=target_precision)
            for g, rows in sorted(table.items())}


def _per_language(scored: Sequence[CaseResult], target_precision: float) -> dict[str, dict[str, Any]]:
    """Per language: cases, pass rate, outcome accuracy, handoff precision/recall and calibration."""
    table: dict[str, list[CaseResult]] = defaultdict(list)
    for r in scored:
        table[r.lang].append(r)
    calibrations = _calibration_by(scored, lambda r: [r.lang], target_precision)
    out = {}
    for lang in sorted(table):
        rows = table[lang]
        outcomes = [all(c.status != "failed" for c in r.checks if c.name == "outcome" and c.turn == len(r.turns) - 1)
                    for r in rows if r.expected_outcome]
        handoffs = _prf([(r.expected_outcome == "handoff", r.last.action == "handoff") for r in rows
                         if r.last and r.expected_outcome and r.expected_outcome != "no_answer"])
        cal = calibrations.get(lang)
        out[lang] = {
            "scored": len(rows), "passed": sum(r.passed for r in rows),
            "pass_rate": _ratio(sum(r.passed for r in rows), len(rows)),
            "outcome_accuracy": _ratio(sum(outcomes), len(outcomes)),
            "handoff_precision": handoffs["precision"], "handoff_recall": handoffs["recall"],
            "calibrated": cal.n if cal else 0,
            "ece": round(cal.ece, 4) if cal and cal.ece is not None else None,
            "auroc": round(cal.auroc, 4) if cal and cal.auroc is not None else None,
        }
    return out


def _actions(results: Sequence[CaseResult], scored: Sequence[CaseResult]) -> dict[str, Any]:
    names = [c for r in scored for c in r.checks if c.name == "action_name"]
    arguments = [c for r in scored for c in r.checks if c.name == "action_arguments"]
    waiting = [r.id for r in results if r.status == "unsupported" and "actions" in r.requires]
    return {
        "name": _ratio(sum(c.status == "passed" for c in names), len(names)),
        "arguments": _ratio(sum(c.status == "passed" for c in arguments), len(arguments)),
        "scored": len(names),
        "not_supported_yet": sorted(set(waiting)),
    }


def _per_tag(results: Sequence[CaseResult]) -> dict[str, dict[str, Any]]:
    table: dict[str, list[CaseResult]] = defaultdict(list)
    for r in results:
        for tag in r.tags or ["untagged"]:
            table[tag].append(r)
    out = {}
    for tag in sorted(table):
        rows = [r for r in table[tag] if r.status == "scored"]
        out[tag] = {"cases": len(table[tag]), "scored": len(rows), "passed": sum(r.passed for r in rows),
                    "pass_rate": _ratio(sum(r.passed for r in rows), len(rows))}
    return out


def _failure(r: CaseResult) -> dict[str, Any]:
    return {
        "id": r.id, "tags": r.tags, "status": r.status, "reason": r.reason,
        "failed": [c.model_dump(mode="json") for c in r.checks if c.status == "failed"],
        "turns": [t.model_dump(mode="json") for t in r.turns],
        "retrieved_documents": r.retrieved_documents[:5],
        "unsupported_sentences": r.unsupported_sentences,
    }
