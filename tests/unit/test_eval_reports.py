"""Scoring synthetic results into reports (JSON, Markdown, HTML with plots), comparing and gating them."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from core.errors import InvalidInput
from evaluation.compare import check_thresholds, compare, load_report, parse_tolerances
from evaluation.datasets import parse_dataset
from evaluation.reports import write_reports
from evaluation.results import CaseResult, Check, ResultsFile, TurnResult
from evaluation.scoring import summarize

DATASET = parse_dataset("\n".join(json.dumps(c) for c in [
    {"id": "ok", "messages": ["q1"], "expect": {"outcome": "answer", "relevant": ["a"]}, "tags": ["answerable"]},
    {"id": "bad", "messages": ["q2"], "expect": {"outcome": "handoff", "handoff_reason": "frustration"},
     "tags": ["handoff"]},
    {"id": "oos", "messages": ["q3"], "expect": {"outcome": "no_answer"}, "tags": ["out-of-scope"]},
    {"id": "act", "messages": ["q4"], "expect": {"action": {"name": "skip"}}, "requires": ["actions"]},
]))


def turn(action: str, confidence: float, reason: str | None = None, ms: float = 100.0) -> TurnResult:
    return TurnResult(message="m", action=action, reply="Skip it by the 25th.", confidence=confidence,
                      handoff_reason=reason, latency_ms=ms)


def results() -> list[CaseResult]:
    def check(name: str, ok: bool) -> Check:
        return Check(name=name, status="passed" if ok else "failed", turn=0)

    return [
        CaseResult(id="ok", fingerprint="1", tags=["answerable"], expected_outcome="answer",
                   turns=[turn("answer", 0.9)], checks=[check("outcome", True), check("cited_relevant", True)],
                   ranked_relevant=[False, True], relevant_count=1, scores={"token_f1": 0.5, "groundedness": 1.0},
                   correct=True),
        CaseResult(id="bad", fingerprint="2", tags=["handoff"], expected_outcome="handoff",
                   expected_reason="frustration", turns=[turn("answer", 0.7, ms=900.0)],
                   checks=[check("outcome", False)], correct=None),
        CaseResult(id="oos", fingerprint="3", tags=["out-of-scope"], expected_outcome="no_answer",
                   turns=[turn("handoff", 0.2, "low_confidence")], checks=[check("outcome", True)], correct=False),
        CaseResult(id="act", fingerprint="4", requires=["actions"], status="unsupported",
                   reason="no action is enabled in the workspace"),
        CaseResult(id="act-live", fingerprint="5", requires=["actions"], turns=[turn("action_call", 0.8)],
                   checks=[check("action_name", True), check("action_arguments", False)],
                   action_calls=[{"action": "skip", "arguments": {"month": "june"}}]),
    ]


def test_summary_metrics_and_action_cases() -> None:
    report = summarize(DATASET, results())
    m = report["metrics"]
    assert report["totals"] == {"cases": 5, "scored": 4, "passed": 2, "unsupported": 1, "errors": 0}
    assert m["retrieval.mrr"] == 0.5 and m["retrieval.recall@1"] == 0.0 and m["retrieval.recall@3"] == 1.0
    assert m["outcome.accuracy"] == pytest.approx(2 / 3, abs=1e-4) and m["out_of_scope.not_answered"] == 1.0
    assert m["handoff.recall"] == 0.0 and m["handoff.frustration.f1"] == 0.0
    # a case the runner could not play (no actions enabled) is reported, never failed; a played one is scored
    assert report["actions"]["not_supported_yet"] == ["act"] and report["actions"]["scored"] == 1
    assert m["actions.name_accuracy"] == 1.0 and m["actions.argument_accuracy"] == 0.0
    assert m["calibration.auroc"] == 1.0 and m["latency.p50_ms"] == 100.0
    assert set(report["definitions"]) <= set(m) and "retrieval.mrr" in report["definitions"]
    assert [f["id"] for f in report["failures"]] == ["bad", "act-live"]


def test_reports_are_written_and_the_html_is_self_contained(tmp_path: Path) -> None:
    paths = write_reports(summarize(DATASET, results()), tmp_path)
    html = paths["html"].read_text()
    assert html.count('src="data:image/png;base64,') == 3
    assert "http://" not in html and "https://" not in html
    png = html.split('src="data:image/png;base64,', 1)[1].split('"', 1)[0]
    assert base64.b64decode(png)[:8] == b"\x89PNG\r\n\x1a\n"
    markdown = paths["markdown"].read_text()
    assert "| `retrieval.mrr` | 0.500 |" in markdown and "### `bad`" in markdown
    assert load_report(tmp_path)["metrics"]["retrieval.mrr"] == 0.5


def test_compare_flags_drops_beyond_tolerance_only() -> None:
    base = summarize(DATASET, results())
    worse = json.loads(json.dumps(base))
    worse["metrics"]["retrieval.mrr"] = 0.4
    worse["metrics"]["calibration.ece"] = (base["metrics"]["calibration.ece"] or 0) + 0.01
    worse["metrics"]["latency.p95_ms"] = 99999.0
    result = compare(base, worse)
    assert result.regressions == ["retrieval.mrr"] and not result.ok
    assert compare(base, worse, tolerance=0.2).ok
    assert compare(base, worse, tolerances={"latency.p95_ms": 1000}).regressions == ["retrieval.mrr", "latency.p95_ms"]
    assert compare(base, base).ok
    with pytest.raises(InvalidInput, match="no metric named"):
        compare(base, worse, tolerances={"nope": 1})
    assert parse_tolerances(["0.05", "latency.p95_ms=300"]) == (0.05, {"latency.p95_ms": 300.0})
    with pytest.raises(InvalidInput):
        parse_tolerances(["abc"])


def test_thresholds_gate() -> None:
    report = summarize(DATASET, results())
    assert check_thresholds(report, {"min": {"retrieval.mrr": 0.5}, "max": {"latency.p95_ms": 1000}}) == []
    violations = check_thresholds(report, {"min": {"retrieval.mrr": 0.6, "actions.argument_accuracy": 0.5,
                                                   "handoff.topic_skipped.f1": 0.5}})
    # a bounded metric that could not be measured (no such case) violates too
    assert [v.metric for v in violations] == ["retrieval.mrr", "actions.argument_accuracy", "handoff.topic_skipped.f1"]


def test_results_file_resumes_and_skips_a_torn_line(tmp_path: Path) -> None:
    store = ResultsFile(tmp_path / "results.jsonl")
    for r in results()[:2]:
        store.append(r)
    with store.path.open("a") as fh:
        fh.write('{"id": "torn", "fingerp')
    assert sorted(store.load()) == ["bad", "ok"]
    store.reset()
    assert store.load() == {}
