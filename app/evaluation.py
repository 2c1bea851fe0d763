"""The evaluation use case: an evaluation agent composed from the runtime, run over a dataset.

``run_evaluation`` is what ``knowdesk eval``, ``POST /v1/evals`` and the ``evaluation`` flow
(``flows.evaluation``) call; it writes the same reports whichever starts it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from app.runtime import Runtime
from core.db import Database
from evaluation.build import build_evaluation, scratch_sessions
from evaluation.datasets import Dataset, load_dataset
from evaluation.evaluate import evaluate
from evaluation.results import CaseResult
from evaluation.runner import Runner
from retrieval.stages import RankParams


def evaluation_runner(rt: Runtime, dataset: Dataset, *, workspace: str, sessions: Database,
                      workers: int | None = None) -> Runner:
    """A runner over an evaluation agent composed from the runtime (no helpdesk delivery; its
    conversations go to ``sessions``, never to the workspace's database)."""
    rt.refresh_index()
    c = rt.components  # one generation: the agent's retrieval, embedder and actions belong together
    return build_evaluation(
        db=rt.db, sessions=sessions, retriever=c.retrieve, embedder=c.embedder, settings=rt.settings.agent,
        workspace=workspace,
        config=dataset.header.config, llm=rt.settings.llm, training=rt.training,
        actions=getattr(c.agent, "actions", None), workers=workers,
        reranked=RankParams.from_settings(rt.settings.search, model_id=rt.live[1].model).rerank,
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
