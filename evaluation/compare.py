"""Comparing two reports (metric deltas, regressions) and gating one report on committed thresholds.

A regression is a metric that got worse by more than its tolerance: higher-is-better metrics that
dropped, lower-is-better ones (``calibration.ece``) that rose. Latency and the suggested threshold are
informational and gated only when given an explicit tolerance (latency depends on the machine).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from core.errors import InvalidInput
from core.models import Frozen

from .scoring import INFORMATIONAL, REPORT_KIND, lower_is_better

DEFAULT_TOLERANCE = 0.02


class Delta(Frozen):
    """One metric in both reports: the change and whether it is a regression."""

    metric: str
    baseline: float | None
    candidate: float | None
    delta: float | None
    tolerance: float | None
    regression: bool


class Comparison(Frozen):
    """Every metric's delta; ``regressions`` lists the metrics that failed."""

    deltas: list[Delta]
    regressions: list[str]
    notes: list[str]

    @property
    def ok(self) -> bool:
        return not self.regressions


class Violation(Frozen):
    """A metric outside its committed bound."""

    metric: str
    value: float | None
    bound: str


def load_report(path: str | Path) -> dict[str, Any]:
    """A JSON report (``report.json``, or the directory that holds it)."""
    p = Path(path)
    if p.is_dir():
        p = p / "report.json"
    if not p.is_file():
        raise InvalidInput(f"report {str(p)!r} does not exist; give a report.json written by `knowdesk eval`")
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"{p} is not JSON ({exc.msg})") from exc
    if not isinstance(data, dict) or data.get("kind") != REPORT_KIND:
        raise InvalidInput(f"{p} is not an evaluation report (kind {REPORT_KIND!r})")
    return data


def compare(
    baseline: Mapping[str, Any], candidate: Mapping[str, Any], *, tolerance: float = DEFAULT_TOLERANCE,
    tolerances: Mapping[str, float] | None = None,
) -> Comparison:
    """Metric deltas from ``baseline`` to ``candidate``; per-metric ``tolerances`` override ``tolerance``."""
    tolerances = dict(tolerances or {})
    unknown = set(tolerances) - set(baseline["metrics"]) - set(candidate["metrics"])
    if unknown:
        raise InvalidInput(f"no metric named {sorted(unknown)[0]!r} in either report")
    notes = []
    if baseline["dataset"].get("sha256") != candidate["dataset"].get("sha256"):
        notes.append("the reports come from different datasets; deltas may not be comparable")
    deltas, regressions = [], []
    for metric in dict.fromkeys([*baseline["metrics"], *candidate["metrics"]]):
        a, b = baseline["metrics"].get(metric), candidate["metrics"].get(metric)
        tol = tolerances.get(metric, None if metric in INFORMATIONAL else tolerance)
        delta = round(b - a, 4) if a is not None and b is not None else None
        regression = False
        if tol is not None and delta is not None:
            regression = delta > tol if lower_is_better(metric) else delta < -tol
        elif tol is not None and a is not None and b is None:
            regression = True
            notes.append(f"{metric} was measured in the baseline but not in the candidate")
        deltas.append(Delta(metric=metric, baseline=a, candidate=b, delta=delta, tolerance=tol,
                            regression=regression))
        if regression:
            regressions.append(metric)
    return Comparison(deltas=deltas, regressions=regressions, notes=notes)


def parse_tolerances(values: list[str]) -> tuple[float, dict[str, float]]:
    """``["0.03", "latency.p95_ms=500"]`` -> (default 0.03, per-metric overrides)."""
    default, per_metric = DEFAULT_TOLERANCE, {}
    for value in values:
        name, sep, number = value.rpartition("=")
        try:
            amount = float(number)
        except ValueError as exc:
            raise InvalidInput(f"tolerance {value!r} is not a number or METRIC=NUMBER") from exc
        if amount < 0:
            raise InvalidInput(f"tolerance {value!r} is negative")
        if sep:
            per_metric[name.strip()] = amount
        else:
            default = amount
    return default, per_metric


def load_thresholds(path: str | Path) -> dict[str, Any]:
    p = Path(path)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise InvalidInput(f"cannot read thresholds {str(p)!r}: {exc}") from exc
    if not isinstance(data, dict) or not ({"min", "max"} & set(data)):
        raise InvalidInput(f"{p}: thresholds need a 'min' and/or 'max' object of metric bounds")
    return data


def check_thresholds(report: Mapping[str, Any], thresholds: Mapping[str, Any]) -> list[Violation]:
    """The metrics outside ``{"min": {...}, "max": {...}}``; a bounded metric that is missing violates."""
    metrics = report["metrics"]
    out = []
    for kind in ("min", "max"):
        for metric, bound in (thresholds.get(kind) or {}).items():
            value = metrics.get(metric)
            if value is None or (value < bound if kind == "min" else value > bound):
                out.append(Violation(metric=metric, value=value, bound=f"{kind} {bound}"))
    return out
