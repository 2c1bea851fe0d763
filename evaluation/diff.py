"""Two runs of one dataset side by side: the answers that changed and the metrics a gate reads.

``diff_runs(dataset, before, after)`` compares the results of the same cases played against two
indexes (the live one and the one a change would make). A case's score is the share of its
judged checks that passed (skipped checks do not count); a changed answer is a case whose last
decision changed action, text or cited sources. Metrics, all in 0..1 with higher better:

- ``pass_rate``: share of scored cases whose checks all passed;
- ``check.<name>``: share of judged checks of that name that passed (``outcome``, ``cited_relevant``,
  ``must_include``, ``scenario``, ``handoff_reason``);
- ``score.<name>``: the mean of an answer score over the cases that have it (``similarity``,
  ``token_f1``, ``rouge_l``, ``facts``, ``groundedness``).

Totals can hide a break behind an unrelated fix (one case fixed, one broken: the pass rate stays
the same), so a gate also compares case by case: a *regression* is a case that passed before and
fails after, and with ``max_regressions`` set, more regressions than that hold the change too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from core.errors import InvalidInput
from core.models import Frozen

from .datasets import Dataset
from .results import CaseResult, TurnResult

CHECKS = ("outcome", "cited_relevant", "must_include", "scenario", "handoff_reason")
SCORES = ("similarity", "token_f1", "rouge_l", "facts", "groundedness")
#: Every metric a gate threshold may name.
METRICS = ("pass_rate", *(f"check.{c}" for c in CHECKS), *(f"score.{s}" for s in SCORES))
_EPSILON = 1e-9


class Source(Frozen):
    """A source an answer cites."""

    document_id: str
    title: str = ""
    url: str | None = None


class Answer(Frozen):
    """The last decision of a case: what the customer would have read."""

    action: str
    text: str
    sources: tuple[Source, ...] = ()
    passed: bool
    score: float | None = None


class ChangedAnswer(Frozen):
    """One case whose answer differs between the two indexes."""

    case_id: str
    question: str
    old: Answer
    new: Answer
    score_delta: float | None = None
    broke: bool = False
    fixed: bool = False


class MetricChange(Frozen):
    """One metric before and after; ``held``: it dropped by more than its threshold."""

    metric: str
    before: float | None
    after: float | None
    drop: float | None
    threshold: float | None = None
    held: bool = False


class RunDiff(Frozen):
    """The answers that changed and every metric before and after; ``max_regressions``: how many
    cases may go from passed to failed before the per-case rule holds the change (None: no such rule)."""

    cases: int
    changed: tuple[ChangedAnswer, ...]
    metrics: tuple[MetricChange, ...]
    max_regressions: int | None = None

    @property
    def regressions(self) -> tuple[ChangedAnswer, ...]:
        """The cases that passed before and fail after (``broke``), whatever the totals did."""
        return tuple(c for c in self.changed if c.broke)

    @property
    def held_by_regressions(self) -> bool:
        return self.max_regressions is not None and len(self.regressions) > self.max_regressions

    @property
    def held(self) -> bool:
        return any(m.held for m in self.metrics) or self.held_by_regressions


def check_thresholds(thresholds: Mapping[str, float]) -> None:
    """Raise ``InvalidInput`` for a threshold on an unknown metric or outside 0..1."""
    for metric, value in thresholds.items():
        if metric not in METRICS:
            raise InvalidInput(f"knowledge CI threshold on unknown metric {metric!r}; known: {', '.join(METRICS)}")
        if not 0.0 <= value <= 1.0:
            raise InvalidInput(f"knowledge CI threshold {metric}={value} is outside 0..1 (the largest drop to accept)")


def case_score(result: CaseResult) -> float | None:
    """The share of the case's judged checks that passed (None: nothing was judged)."""
    judged = [c for c in result.checks if c.status != "skipped"]
    return sum(c.status == "passed" for c in judged) / len(judged) if judged else None


def _answer(result: CaseResult) -> Answer:
    last: TurnResult | None = result.last
    if last is None:
        return Answer(action=result.status, text=result.reason, passed=False, score=None)
    sources = tuple(Source(document_id=str(c.get("document_id", "")), title=str(c.get("title") or ""),
                           url=c.get("url")) for c in last.citations)
    return Answer(action=last.action, text=last.reply, sources=sources, passed=result.passed,
                  score=case_score(result))


def _differs(was: Answer, now: Answer) -> bool:
    """Another action, other sources, or (for an answer) another text. A handoff's text is not
    compared: it names the ticket, whose number depends on the order cases were played in."""
    if (was.action, [s.document_id for s in was.sources]) != (now.action, [s.document_id for s in now.sources]):
        return True
    return was.action != "handoff" and was.text != now.text


def metrics_of(results: Sequence[CaseResult]) -> dict[str, float | None]:
    """Every metric of ``METRICS`` over ``results`` (None where nothing measured it)."""
    scored = [r for r in results if r.status != "unsupported"]
    out: dict[str, float | None] = {"pass_rate": sum(r.passed for r in scored) / len(scored) if scored else None}
    for name in CHECKS:
        judged = [c for r in scored for c in r.checks if c.name == name and c.status != "skipped"]
        out[f"check.{name}"] = sum(c.status == "passed" for c in judged) / len(judged) if judged else None
    for name in SCORES:
        values = [r.scores[name] for r in scored if name in r.scores]
        out[f"score.{name}"] = sum(values) / len(values) if values else None
    return out


def diff_runs(dataset: Dataset, before: Sequence[CaseResult], after: Sequence[CaseResult],
              thresholds: Mapping[str, float] | None = None, *, max_regressions: int | None = None) -> RunDiff:
    """Compare two runs of ``dataset`` (results in any order, matched by case id); ``max_regressions``
    turns on the per-case rule (see the module docstring).

    Raises:
        InvalidInput: ``max_regressions`` is negative.
    """
    if max_regressions is not None and max_regressions < 0:
        raise InvalidInput(f"max_regressions={max_regressions} is negative; it is how many cases that passed "
                           "may fail after a change (0 holds any regression)")
    thresholds = dict(thresholds or {})
    old, new = {r.id: r for r in before}, {r.id: r for r in after}
    changed = []
    for case in dataset.cases:
        a, b = old.get(case.id), new.get(case.id)
        if a is None or b is None or a.status == "unsupported":
            continue
        was, now = _answer(a), _answer(b)
        if not _differs(was, now) and was.passed == now.passed:
            continue
        delta = round(now.score - was.score, 4) if now.score is not None and was.score is not None else None
        changed.append(ChangedAnswer(case_id=case.id, question=case.last, old=was, new=now, score_delta=delta,
                                     broke=was.passed and not now.passed, fixed=now.passed and not was.passed))
    m_before, m_after = metrics_of(before), metrics_of(after)
    metrics = []
    for metric in METRICS:
        x, y = m_before[metric], m_after[metric]
        drop = round(x - y, 4) if x is not None and y is not None else None
        limit = thresholds.get(metric)
        held = limit is not None and drop is not None and drop > limit + _EPSILON
        metrics.append(MetricChange(metric=metric, before=x, after=y, drop=drop, threshold=limit, held=held))
    changed.sort(key=lambda c: (not c.broke, c.score_delta if c.score_delta is not None else 0.0, c.case_id))
    return RunDiff(cases=len(dataset.cases), changed=tuple(changed), metrics=tuple(metrics),
                   max_regressions=max_regressions)
