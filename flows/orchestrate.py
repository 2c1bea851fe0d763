"""Prefect flows: thin wrappers over the use cases of ``app.runtime`` and ``app.reindex``.

Task granularity: a sync is one task. ``ingest.sync.run_sync`` streams (a producer thread
fetches, parses and chunks while the caller embeds and writes in batches, marking each document
done after its write), so fetch, parse, embed, write and prune are stages of one pipelined unit,
not separate results worth materialising between tasks; splitting them would hold a whole
source's documents and vectors in Prefect results and lose the per-document resume. The task
is retried only when the error says a retry can help (``KnowdeskError.retryable``: a 429, a 5xx,
Qdrant unreachable; never a 401 or a bad option), and a retried run skips what was already done.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Callable
from typing import Any

from prefect import Flow, Task, flow, task
from prefect.artifacts import create_markdown_artifact
from prefect.client.schemas.objects import State, TaskRun
from prefect.futures import wait
from prefect.runtime import flow_run as current_flow_run

from app.reindex import all_sources, run_reindex
from app.runtime import get_runtime
from core.errors import KnowdeskError
from core.models import Source

log = logging.getLogger(__name__)
#: How often a running sync asks Prefect whether its flow run is being cancelled.
CANCEL_POLL_SECONDS = 2.0


class RunFailed(KnowdeskError):
    """A sync ended as 'failed' (its report, published as an artifact, says why): the flow run fails."""

    code = "run_failed"
    http_status = 502


def retry_if_retryable(task: Task[..., Any], task_run: TaskRun, state: State[Any]) -> bool:
    """Prefect retry condition: retry only errors whose ``retryable`` says a retry can help."""
    try:
        state.result()
    except KnowdeskError as exc:
        log.warning("%s failed (%s, retryable=%s)", task_run.name, exc.code, exc.retryable)
        return exc.retryable
    except Exception:  # noqa: BLE001 - a bug or an unknown error: do not retry it blindly
        return False
    return False


def _cancel_requested() -> Callable[[], bool]:
    """``should_stop`` for ``run_sync``: True once this flow run is being cancelled."""
    run_id = current_flow_run.get_id()
    checked = [0.0, False]
    if run_id is None:
        return lambda: False
    from prefect.client.orchestration import get_client

    def probe() -> bool:
        now = time.monotonic()
        if not checked[1] and now - float(checked[0]) >= CANCEL_POLL_SECONDS:
            checked[0] = now
            with get_client(sync_client=True) as client:
                state = client.read_flow_run(uuid.UUID(str(run_id))).state
            checked[1] = bool(state and (state.is_cancelling() or state.is_cancelled()))
        return bool(checked[1])

    return probe


@task(name="sync", retry_condition_fn=retry_if_retryable, task_run_name="sync-{workspace}-{name}")
def sync_task(workspace: str, name: str, full: bool = False, force: bool = False) -> dict[str, Any]:
    """Fetch, parse, chunk, embed, write and prune one source (``Runtime.sync``)."""
    rt = get_runtime()
    source = rt.sources.get(workspace, name)
    return rt.sync(source, full=full, force=force, should_stop=_cancel_requested()).summary()


def _artifact_key(*parts: str) -> str:
    return re.sub(r"[^a-z0-9-]+", "-", "-".join(parts).lower()).strip("-")[:100]


def report_markdown(summary: dict[str, Any]) -> str:
    """A run report as a Markdown table (the Prefect artifact)."""
    counts = ("fetched", "written", "unchanged", "deleted", "failed", "chunks_embedded", "seconds")
    lines = [f"### sync {summary['source']} ({summary['mode']}): **{summary['status']}**", "",
             "| " + " | ".join(counts) + " |", "|" + "---|" * len(counts),
             "| " + " | ".join(str(summary.get(c, "")) for c in counts) + " |"]
    for f in summary.get("failures", [])[:20]:
        lines.append(f"- failed `{f.get('native_id') or f.get('uri')}` ({f.get('stage')}): {f.get('message')}")
    lines += [f"- note: {n}" for n in summary.get("notes", [])]
    return "\n".join(lines)


def _retrying(rt_settings: Any) -> Any:
    o = rt_settings.orchestration
    return sync_task.with_options(retries=o.retries, retry_delay_seconds=o.retry_delay_seconds)


@flow(name="sync-source", flow_run_name="sync-{name}", log_prints=False)
def sync_source(name: str, full: bool = False, force: bool = False, workspace: str | None = None) -> Any:
    """Sync one source; the run report is returned and published as a Markdown artifact."""
    rt = get_runtime()
    ws = workspace or rt.settings.default_workspace
    summary: dict[str, Any] = _retrying(rt.settings)(ws, name, full=full, force=force)
    create_markdown_artifact(key=_artifact_key("sync", ws, name), markdown=report_markdown(summary),
                             description=f"sync of {name}: {summary['status']}")
    if summary["status"] == "failed":
        raise RunFailed(f"sync of {name} failed: " + ("; ".join(summary.get("notes", [])) or "see its report"),
                        source=name)
    return summary


@flow(name="sync-all", log_prints=False)
def sync_all(workspace: str | None = None, full: bool = False) -> Any:
    """Sync every enabled source, at most ``KNOWDESK_ORCHESTRATION__MAX_PARALLEL_SYNCS`` at a time."""
    rt = get_runtime()
    sources: list[Source] = all_sources(rt, workspace)
    width = rt.settings.orchestration.max_parallel_syncs
    synced = _retrying(rt.settings)
    results: dict[str, Any] = {}
    for start in range(0, len(sources), width):
        wave = sources[start:start + width]
        futures = [synced.submit(s.workspace, s.name, full=full) for s in wave]
        wait(futures)
        for source, future in zip(wave, futures, strict=True):
            state = future.state
            results[f"{source.workspace}/{source.name}"] = (
                future.result() if state.is_completed() else {"status": "failed", "message": state.message})
    rows = "\n".join(f"| {k} | {v.get('status')} | {v.get('written', '')} | {v.get('failed', '')} |"
                     for k, v in results.items())
    create_markdown_artifact(key="sync-all", markdown="| source | status | written | failed |\n|---|---|---|---|\n"
                             + rows, description=f"{len(results)} sources")
    failed = sorted(k for k, v in results.items() if v.get("status") == "failed")
    if failed:
        raise RunFailed(f"{len(failed)} of {len(results)} sources failed: {', '.join(failed)}", sources=failed)
    return results


@flow(name="reindex", log_prints=False)
def reindex(target: str = "all", model: str | None = None, max_tokens: int | None = None,
            overlap_tokens: int | None = None, drop_old: bool = False, workspace: str | None = None) -> dict[str, Any]:
    """Re-chunk and re-embed from stored content. With ``model``/``max_tokens``/``overlap_tokens``,
    build a new collection beside the live one and switch the alias when it is complete."""
    report = run_reindex(get_runtime(), target=target, model=model, max_tokens=max_tokens,
                         overlap_tokens=overlap_tokens, drop_old=drop_old, workspace=workspace)
    create_markdown_artifact(key=_artifact_key("reindex", target), description=f"reindex {target}",
                             markdown="\n".join(f"- **{k}**: {v}" for k, v in report.model_dump().items()))
    return report.model_dump()


FLOWS: dict[str, Flow[..., Any]] = {"sync-source": sync_source, "sync-all": sync_all, "reindex": reindex}
__all__ = ["FLOWS", "reindex", "sync_all", "sync_source", "sync_task"]
