"""Knowledge CI's diff of two runs and its gate settings, on hand-made results (no agent, no model)."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from core.errors import ConfigError, InvalidInput
from core.settings import KnowledgeCISettings, Settings, get_settings
from evaluation.datasets import parse_dataset
from evaluation.diff import METRICS, case_score, check_thresholds, diff_runs
from evaluation.results import CaseResult, Check, TurnResult

DATASET = parse_dataset("\n".join(json.dumps(x) for x in [
    {"kind": "knowdesk.eval.dataset", "version": 1, "name": "tiny"},
    {"id": "fee", "messages": ["Is there a cancellation fee?"], "expect": {"outcome": "answer"}},
    {"id": "skip", "messages": ["How do I skip a box?"], "expect": {"outcome": "answer"}},
    {"id": "human", "messages": ["A human please"], "expect": {"outcome": "handoff"}},
]))


def result(case: str, reply: str, *, passed: bool = True, action: str = "answer", source: str = "hc:a/en",
           similarity: float | None = None) -> CaseResult:
    checks = [Check(name="outcome", status="passed", turn=0),
              Check(name="must_include", status="passed" if passed else "failed", turn=0),
              Check(name="cited_relevant", status="skipped", turn=0)]
    turn = TurnResult(message="q", action=action, reply=reply, confidence=0.9, latency_ms=1.0,
                      citations=[{"title": "A", "url": None, "document_id": source}] if source else [])
    return CaseResult(id=case, fingerprint="f", turns=[turn], checks=checks,
                      scores={"similarity": similarity} if similarity is not None else {})


def test_a_broken_answer_is_listed_with_both_answers_and_holds_past_its_threshold() -> None:
    before = [result("fee", "There is no cancellation fee.", similarity=0.9), result("skip", "Tap Skip this box."),
              result("human", "Ticket #1 opened", action="handoff", source="")]
    after = [result("fee", "A fee of 10 EUR applies.", passed=False, similarity=0.4, source="hc:b/en"),
             result("skip", "Tap Skip this box."), result("human", "Ticket #7 opened", action="handoff", source="")]
    diff = diff_runs(DATASET, before, after, {"pass_rate": 0.0, "score.similarity": 0.6})
    assert [c.case_id for c in diff.changed] == ["fee"]  # the handoff's ticket number is not a change
    row = diff.changed[0]
    assert row.broke and not row.fixed and row.question == "Is there a cancellation fee?"
    assert (row.old.text, row.new.text) == ("There is no cancellation fee.", "A fee of 10 EUR applies.")
    assert [s.document_id for s in row.old.sources] == ["hc:a/en"] and row.new.sources[0].document_id == "hc:b/en"
    assert row.score_delta == pytest.approx(-0.5)  # 2 of 2 judged checks passed, then 1 of 2
    metrics = {m.metric: m for m in diff.metrics}
    assert metrics["pass_rate"].before == 1.0 and metrics["pass_rate"].after == pytest.approx(2 / 3)
    assert metrics["pass_rate"].held and not metrics["score.similarity"].held  # dropped 0.5, allowed 0.6
    assert diff.held
    assert not diff_runs(DATASET, before, after, {"pass_rate": 0.34}).held
    assert not diff_runs(DATASET, before, before, {"pass_rate": 0.0}).held


def test_a_fixed_answer_is_listed_but_never_holds() -> None:
    before = [result("fee", "no idea", passed=False), result("skip", "x"), result("human", "t", action="handoff")]
    after = [result("fee", "There is no cancellation fee."), result("skip", "x"),
             result("human", "t", action="handoff")]
    diff = diff_runs(DATASET, before, after, {m: 0.0 for m in METRICS})
    assert [(c.case_id, c.fixed) for c in diff.changed] == [("fee", True)] and not diff.held


def test_case_score_counts_judged_checks_only() -> None:
    assert case_score(result("fee", "x", passed=False)) == 0.5
    assert case_score(CaseResult(id="n", fingerprint="f")) is None


@pytest.mark.parametrize("thresholds, message", [
    ({"pass_rate": 1.5}, "outside 0..1"), ({"pass_rate": -0.1}, "outside 0..1"), ({"recall": 0.1}, "unknown metric")])
def test_bad_thresholds_are_refused_with_what_to_do(thresholds: dict[str, float], message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        check_thresholds(thresholds)


def test_settings_refuse_a_threshold_outside_0_1(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValidationError, match=r"outside 0\.\.1"):
        KnowledgeCISettings(thresholds={"pass_rate": 2})
    monkeypatch.setenv("KNOWDESK_KNOWLEDGE_CI__THRESHOLDS", '{"pass_rate": 1.2}')
    get_settings.cache_clear()
    try:
        with pytest.raises(ConfigError, match=r"KNOWDESK_KNOWLEDGE_CI.*outside 0\.\.1"):
            get_settings()
    finally:
        get_settings.cache_clear()
    monkeypatch.setenv("KNOWDESK_KNOWLEDGE_CI__THRESHOLDS", '{"pass_rate": 0.05, "check.must_include": 0}')
    monkeypatch.setenv("KNOWDESK_KNOWLEDGE_CI__DATASET", "bundled")
    settings = Settings()
    assert settings.knowledge_ci.dataset == "bundled"
    assert settings.knowledge_ci.thresholds == {"pass_rate": 0.05, "check.must_include": 0.0}


def test_one_fix_cannot_hide_one_break_under_the_per_case_rule() -> None:
    before = [result("fee", "There is no cancellation fee."), result("skip", "no idea", passed=False),
              result("human", "t", action="handoff", source="")]
    after = [result("fee", "A fee of 10 EUR applies.", passed=False, source="hc:b/en"),
             result("skip", "Tap Skip this box."), result("human", "t", action="handoff", source="")]
    totals = diff_runs(DATASET, before, after, {"pass_rate": 0.0})
    metrics = {m.metric: m for m in totals.metrics}
    assert metrics["pass_rate"].drop == 0.0 and not totals.held  # the totals alone let it through
    ruled = diff_runs(DATASET, before, after, {"pass_rate": 0.0}, max_regressions=0)
    assert ruled.held and ruled.held_by_regressions and not any(m.held for m in ruled.metrics)
    assert [c.case_id for c in ruled.regressions] == ["fee"]
    row = ruled.regressions[0]
    assert row.old.text == "There is no cancellation fee." and row.new.sources[0].document_id == "hc:b/en"
    assert [(c.case_id, c.fixed) for c in ruled.changed if not c.broke] == [("skip", True)]
    assert not diff_runs(DATASET, before, after, {"pass_rate": 0.0}, max_regressions=1).held
    with pytest.raises(InvalidInput, match="negative"):
        diff_runs(DATASET, before, after, max_regressions=-1)


@pytest.mark.parametrize("value", ["-1", "1.5", "two", "", 2.5, True])
def test_settings_refuse_a_max_regressions_that_is_not_a_whole_count(monkeypatch: pytest.MonkeyPatch,
                                                                      value: object) -> None:
    with pytest.raises(ValidationError, match=r"max_regressions=.* is not a whole number of 0 or more"):
        KnowledgeCISettings(max_regressions=value)  # type: ignore[arg-type]
    monkeypatch.setenv("KNOWDESK_KNOWLEDGE_CI__MAX_REGRESSIONS", str(value))
    get_settings.cache_clear()
    try:
        with pytest.raises(ConfigError, match=r"KNOWDESK_KNOWLEDGE_CI__MAX_REGRESSIONS: .*not a whole number"):
            get_settings()
    finally:
        get_settings.cache_clear()


def test_settings_read_max_regressions(monkeypatch: pytest.MonkeyPatch) -> None:
    assert KnowledgeCISettings().max_regressions == 0
    monkeypatch.setenv("KNOWDESK_KNOWLEDGE_CI__MAX_REGRESSIONS", " 3 ")
    assert Settings().knowledge_ci.max_regressions == 3
