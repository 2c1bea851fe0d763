"""``knowdesk eval DATASET``: run an evaluation; ``knowdesk eval compare A B``: gate on a regression."""

from __future__ import annotations

import json
import sys
from contextlib import nullcontext
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from app.runtime import get_runtime
from core.errors import InvalidInput
from evaluation.compare import check_thresholds, compare, load_report, load_thresholds, parse_tolerances
from evaluation.datasets import bundled_dataset_path
from evaluation.reports.markdown import fmt
from evaluation.results import CaseResult
from service.quickstart import sample_actions_for_eval

out = Console()
err = Console(stderr=True)

HELP = """Evaluate the agent on a JSONL dataset, or compare two reports.

  knowdesk eval DATASET [--report DIR] [--thresholds FILE] [--json]

  knowdesk eval compare BASELINE CANDIDATE [--tolerance 0.02] [--tolerance METRIC=VALUE]

DATASET may be `bundled` (the Brewly sample dataset; run `knowdesk quickstart` first; the sample shop
API is served on 127.0.0.1 for the run and the sample actions are imported and pointed at it). The reports
(report.json, report.md, report.html) and a resumable results.jsonl go to --report DIR; a re-run with
the same DIR plays only unfinished cases (--fresh starts over). compare exits 1 when a metric got worse
by more than its tolerance; --thresholds exits 1 when a metric is outside the committed bounds.
"""


def register(app: typer.Typer) -> None:
    @app.command("eval", help=HELP)
    def eval_(
        args: Annotated[list[str], typer.Argument(help="DATASET, or: compare BASELINE CANDIDATE.")],
        report: Annotated[Path | None, typer.Option("--report", help="Directory for the reports.")] = None,
        thresholds: Annotated[Path | None, typer.Option("--thresholds", help="Gate on this thresholds JSON.")] = None,
        tolerance: Annotated[list[str] | None, typer.Option(
            "--tolerance", help="compare: allowed drop, NUMBER or METRIC=NUMBER (repeatable).")] = None,
        fresh: Annotated[bool, typer.Option("--fresh", help="Ignore finished results in --report.")] = False,
        workers: Annotated[int | None, typer.Option("--workers", min=1, help="Threads (default: cores).")] = None,
        workspace: Annotated[str | None, typer.Option("--workspace", "-w", help="Workspace to evaluate.")] = None,
        as_json: Annotated[bool, typer.Option("--json", help="Machine-readable JSON on stdout.")] = False,
    ) -> None:
        if args[0] == "compare":
            if len(args) != 3:
                raise InvalidInput("usage: knowdesk eval compare BASELINE CANDIDATE (report.json files or dirs)")
            _compare(args[1], args[2], tolerance or [], as_json)
            return
        if len(args) != 1:
            raise InvalidInput("usage: knowdesk eval DATASET [--report DIR]; give one dataset")
        _evaluate(args[0], report, thresholds, fresh, workers, workspace, as_json)


def _evaluate(dataset: str, report_dir: Path | None, thresholds: Path | None, fresh: bool, workers: int | None,
              workspace: str | None, as_json: bool) -> None:
    from app.evaluation import run_evaluation

    path = bundled_dataset_path() if dataset == "bundled" else Path(dataset)
    bounds = load_thresholds(thresholds) if thresholds else None

    def progress(result: CaseResult, done: int, total: int) -> None:
        if not as_json:
            mark = {"scored": "ok" if result.passed else "FAIL"}.get(result.status, result.status)
            err.print(f"[{done}/{total}] {result.id}: {mark}", highlight=False)

    rt = get_runtime()
    ws = workspace or rt.settings.default_workspace
    # the bundled dataset's action cases call the Brewly sample API: serve it for this run
    actions = (sample_actions_for_eval(rt, ws, warn=lambda m: err.print(f"[yellow]note:[/] {m}"))
               if dataset == "bundled" else nullcontext())
    with actions:
        report = run_evaluation(rt, path, workspace=ws, report_dir=report_dir, fresh=fresh, workers=workers,
                                progress=progress)
    violations = check_thresholds(report, bounds) if bounds else []
    if as_json:
        print(json.dumps({
            "dataset": report["dataset"], "totals": report["totals"], "metrics": report["metrics"],
            "seconds": report["seconds"], "reports": _paths(report_dir),
            "violations": [v.model_dump() for v in violations],
        }))
    else:
        _print_metrics(report)
        if report_dir:
            err.print(f"reports: {', '.join(_paths(report_dir).values())}")
        for v in violations:
            err.print(f"[red]below threshold:[/] {v.metric} = {fmt(v.value)} ({v.bound})")
    if violations:
        sys.exit(1)


def _paths(report_dir: Path | None) -> dict[str, str]:
    if report_dir is None:
        return {}
    return {k: str(report_dir / f"report.{k}") for k in ("json", "md", "html")}


def _print_metrics(report: dict[str, Any]) -> None:
    t = report["totals"]
    table = Table(title=f"{report['dataset']['name']}: {t['passed']}/{t['scored']} cases passed "
                        f"({t['unsupported']} not supported yet, {t['errors']} errors)")
    table.add_column("metric")
    table.add_column("value", justify="right")
    table.add_column("n", justify="right")
    for name, value in report["metrics"].items():
        table.add_row(name, fmt(value), str(report["counts"].get(name, "")))
    out.print(table)


def _compare(baseline: str, candidate: str, tolerance: list[str], as_json: bool) -> None:
    default, per_metric = parse_tolerances(tolerance)
    result = compare(load_report(baseline), load_report(candidate), tolerance=default, tolerances=per_metric)
    if as_json:
        print(json.dumps(result.model_dump(mode="json") | {"ok": result.ok}))
    else:
        table = Table(title="baseline -> candidate")
        for col in ("metric", "baseline", "candidate", "delta", "tolerance", ""):
            table.add_column(col, justify="left" if col == "metric" else "right")
        for d in result.deltas:
            flag = "[red]REGRESSION[/]" if d.regression else ""
            delta = f"{d.delta:+.4f}" if d.delta is not None else "n/a"
            table.add_row(d.metric, fmt(d.baseline), fmt(d.candidate), delta, fmt(d.tolerance), flag)
        out.print(table)
        for note in result.notes:
            err.print(f"note: {note}")
        err.print("[red]regressions:[/] " + ", ".join(result.regressions) if result.regressions else "no regressions")
    if not result.ok:
        sys.exit(1)
