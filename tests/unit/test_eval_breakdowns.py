"""The report's breakdowns: per-reason precision/recall, reliability per split, per-language figures,
in the Markdown and HTML reports, and ``eval compare`` failing when one of them gets worse."""

from __future__ import annotations

import copy
import json
from pathlib import Path

from evaluation.compare import compare
from evaluation.datasets import parse_dataset
from evaluation.reports import write_reports
from evaluation.results import CaseResult, Check, TurnResult
from evaluation.scoring import summarize

DATASET = parse_dataset(json.dumps(
    {"id": "x", "messages": ["q"], "expect": {"outcome": "answer", "relevant": ["a"]}}))


def case(i: int, *, lang: str | None, split: str, expected: str, action: str, confidence: float,
         correct: bool | None, expected_reason: str | None = None, reason: str | None = None,
         detected: str | None = None) -> CaseResult:
    ok = expected == action
    turn = TurnResult(message="m", action=action, reply="r", confidence=confidence, handoff_reason=reason,
                      latency_ms=5.0, language=detected)
    return CaseResult(id=f"c{i}", fingerprint=str(i), tags=[f"split:{split}"], expected_outcome=expected,
                      expected_reason=expected_reason, language=lang, turns=[turn],
                      checks=[Check(name="outcome", status="passed" if ok else "failed", turn=0)], correct=correct)


def results() -> list[CaseResult]:
    return [
        case(1, lang="en", split="fit", expected="answer", action="answer", confidence=0.9, correct=True),
        case(2, lang="en", split="test", expected="answer", action="answer", confidence=0.8, correct=False),
        case(3, lang="de", split="test", expected="handoff", action="handoff", confidence=0.95, correct=None,
             expected_reason="human_requested", reason="human_requested"),
        case(4, lang="de", split="test", expected="answer", action="handoff", confidence=0.9, correct=None,
             reason="human_requested"),
        case(5, lang=None, split="test", expected="no_answer", action="handoff", confidence=0.1, correct=False,
             reason="low_confidence", detected="fr"),
        case(6, lang="es", split="fit", expected="handoff", action="answer", confidence=0.7, correct=None,
             expected_reason="frustration"),
    ]


def test_per_reason_split_and_language_metrics() -> None:
    report = summarize(DATASET, results())
    m = report["metrics"]
    assert m["handoff.human_requested.precision"] == 0.5 and m["handoff.human_requested.recall"] == 1.0
    assert m["handoff.frustration.recall"] == 0.0 and m["handoff.frustration.precision"] is None
    assert m["calibration.fit.auroc"] is None, "one class only"
    assert m["calibration.test.ece"] == round((0.8 + 0.1) / 2, 4) and report["calibration_by_split"]["test"]["n"] == 2
    langs = report["per_language"]
    assert set(langs) == {"en", "de", "es", "fr"}, "a case without a stated language takes the detected one"
    assert langs["de"]["outcome_accuracy"] == 0.5 and langs["de"]["handoff_precision"] == 0.5
    assert langs["en"]["calibrated"] == 2 and m["language.en.ece"] == langs["en"]["ece"]
    assert m["language.de.pass_rate"] == 0.5 and m["language.es.outcome_accuracy"] == 0.0


def test_reports_show_the_reliability_bins_and_the_languages(tmp_path: Path) -> None:
    paths = write_reports(summarize(DATASET, results()), tmp_path)
    md = Path(paths["markdown"]).read_text(encoding="utf-8")
    assert "Reliability, split test (n 2" in md and "| 0.8-0.9 | 1 | 0.800 | 0.000 | -0.800 |" in md
    assert "## Per language" in md and "| de | 2 | 0.500 | 0.500 | 0.500 | 1.000 |" in md
    html = Path(paths["html"]).read_text(encoding="utf-8")
    assert "Reliability: split test" in html and "<h2>Per language</h2>" in html


def test_compare_gates_on_a_reason_a_language_and_a_split() -> None:
    base = summarize(DATASET, results())
    worse = copy.deepcopy(base)
    worse["metrics"]["handoff.human_requested.recall"] = 0.5
    worse["metrics"]["language.de.pass_rate"] = 0.0
    worse["metrics"]["calibration.test.ece"] = base["metrics"]["calibration.test.ece"] + 0.1
    worse["metrics"]["language.en.ece"] = base["metrics"]["language.en.ece"] - 0.1  # better: lower
    result = compare(base, worse)
    assert set(result.regressions) == {"handoff.human_requested.recall", "language.de.pass_rate",
                                       "calibration.test.ece"}
