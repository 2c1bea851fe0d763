"""The token-vector flow: a thin Prefect wrapper over ``app.tokens.fill_tokens`` (issue 17).

``knowdesk reindex --tokens`` and ``POST /v1/index/tokens`` call ``fill_tokens`` directly; this flow
runs the same fill as one task, so a long fill of a large index can run on a worker or a schedule::

    fill_tokens_flow(source="all", workspace="default")                       # once
    tokens_deployment(cron="30 3 * * *", workspace="default").apply()         # nightly

The task is retried only when the error says a retry can help (``retry_if_retryable``); a fill that
was stopped or failed midway goes on where it was (batches are committed one by one).
"""

from __future__ import annotations

import logging
from typing import Any

from prefect import flow, task

from app.runtime import get_runtime
from app.tokens import fill_tokens
from flows.orchestrate import retry_if_retryable

log = logging.getLogger(__name__)


@task(name="fill-token-vectors", retry_condition_fn=retry_if_retryable, task_run_name="tokens-{workspace}-{source}")
def fill_tokens_task(source: str, workspace: str | None, check: bool) -> dict[str, Any]:
    """Coverage of the live index's token vectors and, unless ``check``, the missing ones filled."""
    return fill_tokens(get_runtime(), target=source, workspace=workspace, check=check).model_dump(mode="json")


@flow(name="fill-token-vectors", log_prints=False)
def fill_tokens_flow(source: str = "all", workspace: str | None = None, check: bool = False) -> dict[str, Any]:
    """Fill the second ranking stage's missing token vectors of one source of ``workspace`` or of
    ``all`` its sources (of every workspace when none is given and ``source`` is ``all``)."""
    o = get_runtime().settings.orchestration
    retrying = fill_tokens_task.with_options(retries=o.retries, retry_delay_seconds=o.retry_delay_seconds)
    report: dict[str, Any] = retrying(source, workspace, check)
    after = report.get("after") or {}
    log.info("token vectors %s: %d filled, %s of %s chunks have them", source, report["filled"],
             after.get("kept", "-"), after.get("total", "-"))
    return report


def tokens_deployment(*, cron: str, source: str = "all", workspace: str | None = None) -> Any:
    """A deployment of the flow on a cron schedule (``.apply()`` it, or pass it to ``serve``)."""
    return fill_tokens_flow.to_deployment(name="fill-token-vectors", cron=cron,
                                          parameters={"source": source, "workspace": workspace, "check": False})
