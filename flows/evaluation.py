"""The evaluation flow: a thin Prefect wrapper over ``app.evaluation.run_evaluation`` (schedulable).

``run_evaluation`` is the plain use case (the CLI and the HTTP API call it directly); the flow runs
it as one task, so a scheduled run writes the same reports as ``knowdesk eval``::

    evaluation_deployment(cron="0 4 * * *", dataset="evaluation/datasets/brewly-v1.jsonl",
                          report_dir="/var/knowdesk/eval").apply()   # or serve(...)
"""

from __future__ import annotations

import logging
from typing import Any

from prefect import flow, task

from app.evaluation import run_evaluation
from app.runtime import get_runtime

log = logging.getLogger(__name__)


@task(name="evaluate-dataset")
def evaluate_task(dataset: str, workspace: str | None, report_dir: str | None, fresh: bool) -> dict[str, Any]:
    report = run_evaluation(get_runtime(), dataset, workspace=workspace, report_dir=report_dir, fresh=fresh)
    return {"metrics": report["metrics"], "totals": report["totals"], "report_dir": report_dir}


@flow(name="evaluation", log_prints=False)
def evaluation_flow(
    dataset: str, workspace: str | None = None, report_dir: str | None = None, fresh: bool = True
) -> dict[str, Any]:
    """Run an evaluation and return its headline metrics (the reports go to ``report_dir``)."""
    summary: dict[str, Any] = evaluate_task(dataset, workspace, report_dir, fresh)
    log.info("evaluation of %s: %s cases passed", dataset, summary["totals"]["passed"])
    return summary


def evaluation_deployment(*, cron: str, dataset: str, report_dir: str, workspace: str | None = None) -> Any:
    """A deployment of the evaluation flow on a cron schedule (``.apply()`` it, or pass it to ``serve``)."""
    return evaluation_flow.to_deployment(
        name="evaluation", cron=cron,
        parameters={"dataset": dataset, "report_dir": report_dir, "workspace": workspace, "fresh": True},
    )
