"""The evaluation flow: a thin Prefect wrapper over ``evaluation.evaluate`` (schedulable).

``run_evaluation`` is the plain function (the CLI and the HTTP API call it directly); the flow runs
it as one task, so a scheduled run writes the same reports as ``knowdesk eval``::

    evaluation_deployment(cron="0 4 * * *", dataset="evaluation/datasets/brewly-v1.jsonl",
                          report_dir="/var/knowdesk/eval").apply()   # or serve(...)
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from prefect import flow, task

from core.db import Database
from evaluation.build import build_evaluation, scratch_sessions
from evaluation.datasets import Dataset, load_dataset
from evaluation.evaluate import evaluate
from evaluation.results import CaseResult
from evaluation.runner import Runner
from flows.runtime import Runtime, get_runtime

log = logging.getLogger(__name__)


def evaluation_runner(rt: Runtime, dataset: Dataset, *, workspace: str, sessions: Database,
                      workers: int | None = None) -> Runner:
    """A runner over an evaluation agent composed from the runtime (no helpdesk delivery; its
    conversations go to ``sessions``, never to the workspace's database)."""
    rt.refresh_index()
    return build_evaluation(
        db=rt.db, sessions=sessions, retriever=rt.searcher, embedder=rt.embedder, settings=rt.settings.agent,
        workspace=workspace,
        config=dataset.header.config, llm=rt.settings.llm, training=rt.training,
        actions=getattr(rt.agent, "actions", None), workers=workers,
    )


def run_evaluation(
    rt: Runtime,
    dataset: str | Path | Dataset,
    *,
    workspace: str | None = None,
    report_dir: str | Path | None = None,
    fresh: bool = False,
    workers: int | None = None,
    progress: Callable[[CaseResult, int, int], None] | None = None,
) -> dict[str, Any]:
    """Evaluate ``dataset`` on ``workspace``'s knowledge; returns the report, writes it to ``report_dir``."""
    data = dataset if isinstance(dataset, Dataset) else load_dataset(dataset)
    ws = workspace or rt.settings.default_workspace
    with scratch_sessions() as sessions:
        runner = evaluation_runner(rt, data, workspace=ws, sessions=sessions, workers=workers)
        return evaluate(runner, data, report_dir=report_dir, fresh=fresh, progress=progress)


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
