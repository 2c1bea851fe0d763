"""One evaluation end to end: play the dataset (resumable), score it, write the three reports."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .datasets import Dataset
from .reports import write_reports
from .results import CaseResult, ResultsFile
from .runner import Runner
from .scoring import summarize

log = logging.getLogger(__name__)
RESULTS_FILE = "results.jsonl"


def evaluate(
    runner: Runner,
    dataset: Dataset,
    *,
    report_dir: str | Path | None = None,
    results_path: str | Path | None = None,
    fresh: bool = False,
    target_precision: float = 0.9,
    progress: Callable[[CaseResult, int, int], None] | None = None,
) -> dict[str, Any]:
    """Run ``dataset`` through ``runner`` and return the report (also written when ``report_dir`` is set).

    Finished cases are appended to ``results_path`` (default ``report_dir/results.jsonl``); a second
    call with the same file plays only the cases not finished yet, unless ``fresh``.
    """
    if results_path is None and report_dir is not None:
        results_path = Path(report_dir) / RESULTS_FILE
    started, clock = datetime.now(UTC), time.perf_counter()
    if results_path is None:
        import tempfile

        with tempfile.TemporaryDirectory(prefix="knowdesk-eval-") as tmp:
            results = runner.run(dataset, ResultsFile(Path(tmp) / RESULTS_FILE), progress=progress)
    else:
        store = ResultsFile(results_path)
        if fresh:
            store.reset()
        results = runner.run(dataset, store, progress=progress)
    agent = runner.agent
    meta = {
        "workspace": runner.workspace,
        "started_at": started.isoformat().replace("+00:00", "Z"),
        "seconds": round(time.perf_counter() - clock, 2),
        "workers": runner.workers,
        "agent": {
            "answer_threshold": agent.thresholds()[0],
            "clarify_threshold": agent.thresholds()[1],
            "calibrated": agent.calibrator is not None,
            "llm": agent.llm is not None,
            "actions": agent.actions is not None,
        },
    }
    report = summarize(dataset, results, meta=meta, target_precision=target_precision)
    if report_dir is not None:
        paths = write_reports(report, report_dir)
        log.info("reports written: %s", ", ".join(str(p) for p in paths.values()))
    return report
