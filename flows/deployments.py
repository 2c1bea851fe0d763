"""Deployments: schedules per source, serving them, and starting, listing and cancelling runs.

``knowdesk schedule`` calls ``serve_sources``: one ``sync-source`` deployment per enabled source
(named ``<workspace>.<source>``, with the source's cron or interval when it has one), plus
``sync-all/all`` and ``reindex/all`` for on-demand runs, all served by one Prefect ``Runner``
in this process against ``PREFECT_API_URL`` (``flows.pool`` registers the same deployments on a
work pool for workers instead). Sources are re-read every
``KNOWDESK_ORCHESTRATION__SCHEDULE_REFRESH_SECONDS``: a new, changed, disabled or removed
source or schedule takes effect without a restart.
"""

from __future__ import annotations

import logging
import time
import uuid
from typing import Any

import anyio
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    DeploymentFilter,
    DeploymentFilterId,
    FlowRunFilter,
    FlowRunFilterState,
    FlowRunFilterStateType,
)
from prefect.client.schemas.objects import FlowRun, StateType
from prefect.client.schemas.sorting import FlowRunSort
from prefect.deployments import run_deployment
from prefect.exceptions import ObjectNotFound
from prefect.runner import Runner
from prefect.settings import get_current_settings
from prefect.states import Cancelling
from prefect.types.entrypoint import EntrypointType
from sqlalchemy import select

from app.runtime import Runtime
from core.errors import ConfigError, InvalidInput
from core.models import Source, SourceSchedule
from core.tables import SourceRow
from flows.orchestrate import reindex, sync_all, sync_source
from flows.schedules import build_schedule, prefect_schedule

log = logging.getLogger(__name__)
ACTIVE = [StateType.SCHEDULED, StateType.PENDING, StateType.RUNNING, StateType.CANCELLING]


def prefect_api_url() -> str | None:
    """The Prefect API in ``PREFECT_API_URL``, or None (then runs happen in-process)."""
    url = get_current_settings().api.url
    return str(url) if url else None


def deployment_name(source: Source) -> str:
    return f"{source.workspace}.{source.name}"


# -- schedules ----------------------------------------------------------------------------------
def set_schedule(rt: Runtime, workspace: str, name: str, *, cron: str | None = None,
                 interval: str | None = None, off: bool = False, timezone: str = "UTC",
                 enabled: bool = True) -> SourceSchedule | None:
    """Check and store a source's schedule (or remove it with ``off``); returns what is stored.
    The same checks as ``PUT /v1/sources/{name}/schedule`` (``flows.schedules.build_schedule``)."""
    if [cron is not None, interval is not None, off].count(True) != 1:
        raise InvalidInput("give exactly one of --cron EXPR, --interval N or --off")
    rt.sources.get(workspace, name)
    schedule = None if off else build_schedule(cron=cron, interval=interval, timezone=timezone, enabled=enabled)
    return rt.sources.set_schedule(workspace, name, schedule)


def schedules(rt: Runtime) -> list[tuple[Source, SourceSchedule | None]]:
    """Every source of every workspace with its schedule (None when it has none)."""
    with rt.db.session() as s:
        rows = [(r.workspace, r.name) for r in s.scalars(select(SourceRow).order_by(SourceRow.name))]
    found = {ws: rt.sources.schedules(ws) for ws in {ws for ws, _ in rows}}
    return [(rt.sources.get(ws, name), found[ws].get(name)) for ws, name in rows]


def _schedule_args(schedule: SourceSchedule | None) -> dict[str, Any]:
    """A deployment's schedule argument: none for no schedule or a paused one."""
    if schedule is None or not schedule.enabled:
        return {}
    return {"schedule": prefect_schedule(schedule)}


def desired(rt: Runtime) -> dict[tuple[str, str], dict[str, Any]]:
    """(flow, deployment) -> deployment arguments, from the sources as they are now."""
    wanted: dict[tuple[str, str], dict[str, Any]] = {
        ("sync-all", "all"): {"parameters": {}},
        ("reindex", "all"): {"parameters": {"target": "all"}},
    }
    for source, schedule in schedules(rt):
        if source.enabled:
            wanted[("sync-source", deployment_name(source))] = {
                "parameters": {"name": source.name, "workspace": source.workspace},
                **_schedule_args(schedule),
            }
    return wanted


# -- serving ------------------------------------------------------------------------------------
async def _apply(runner: Runner, rt: Runtime, applied: dict[tuple[str, str], dict[str, Any]]) -> None:
    wanted = desired(rt)
    flows: dict[str, Any] = {"sync-source": sync_source, "sync-all": sync_all, "reindex": reindex}
    async with get_client() as client:
        for key, args in wanted.items():
            if applied.get(key) == args:
                continue
            flow_name, name = key
            # By module path, not file path: a file entrypoint puts flows/ on the run's sys.path, where
            # flows/evaluation.py and flows/insights.py would shadow the evaluation and insights packages.
            deployment = await flows[flow_name].ato_deployment(name=name, tags=["knowdesk"],
                                                               entrypoint_type=EntrypointType.MODULE_PATH, **args)
            deployment_id = await runner.aadd_deployment(deployment)
            if "schedule" not in args:  # schedule removed or paused: drop what is left
                for sched in await client.read_deployment_schedules(deployment_id):
                    await client.delete_deployment_schedule(deployment_id, sched.id)
            log.info("serving %s/%s %s", flow_name, name, {k: v for k, v in args.items() if k != "parameters"})
            applied[key] = args
        for key in [k for k in applied if k not in wanted]:
            try:
                found = await client.read_deployment_by_name(f"{key[0]}/{key[1]}")
                await client.delete_deployment(found.id)
            except ObjectNotFound:
                pass
            log.info("stopped serving %s/%s (source removed or disabled)", *key)
            del applied[key]


async def _serve(rt: Runtime, refresh: float) -> None:
    runner = Runner(name="knowdesk", pause_on_shutdown=False, limit=rt.settings.orchestration.max_parallel_syncs)
    applied: dict[tuple[str, str], dict[str, Any]] = {}
    await _apply(runner, rt, applied)

    async def keep_current() -> None:
        while True:
            await anyio.sleep(refresh)
            await _apply(runner, rt, applied)

    async with anyio.create_task_group() as group:
        group.start_soon(keep_current)
        await runner.start()
        group.cancel_scope.cancel()


def serve_sources(rt: Runtime, *, refresh_seconds: float | None = None) -> None:
    """Serve every source's deployment until stopped (Ctrl-C or SIGTERM)."""
    if not prefect_api_url():
        raise ConfigError("`knowdesk schedule` needs a Prefect server: set PREFECT_API_URL "
                          "(e.g. http://127.0.0.1:4200/api after `prefect server start`)")
    anyio.run(_serve, rt, refresh_seconds or rt.settings.orchestration.schedule_refresh_seconds)


# -- runs ---------------------------------------------------------------------------------------
def _deployment_id(client: Any, source: Source) -> uuid.UUID:
    try:
        return uuid.UUID(str(client.read_deployment_by_name(f"sync-source/{deployment_name(source)}").id))
    except ObjectNotFound:
        raise ConfigError(f"no deployment runs source {source.name!r}: start `knowdesk schedule` (it serves one "
                          "per enabled source) or `knowdesk schedule --pool NAME` with `prefect worker start --pool "
                          "NAME` workers; a new source is picked up at the next refresh", source=source.name) from None


def _read_runs(client: Any, deployment_id: uuid.UUID, *, states: list[StateType] | None = None,
               limit: int = 50) -> list[FlowRun]:
    # A raw request with only the filters we use: prefect 3.8.8's server (with the pinned fastapi)
    # answers 422 to the null filters its client sends for the others, and empty ones match nothing.
    body: dict[str, Any] = {
        "deployments": DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id])).model_dump(
            mode="json", exclude_unset=True),
        "sort": FlowRunSort.START_TIME_DESC.value, "limit": limit, "offset": 0}
    if states:
        body["flow_runs"] = FlowRunFilter(state=FlowRunFilterState(type=FlowRunFilterStateType(any_=states))
                                          ).model_dump(mode="json", exclude_unset=True)
    response = client.request("POST", "/flow_runs/filter", json=body)
    return FlowRun.model_validate_list(response.json())


def _active(client: Any, deployment_id: uuid.UUID) -> list[FlowRun]:
    runs = _read_runs(client, deployment_id, states=ACTIVE)
    return [r for r in runs if not (r.state and r.state.is_scheduled() and r.expected_start_time
                                    and r.expected_start_time.timestamp() > _now() + 5)]


def _now() -> float:
    return time.time()


def trigger_sync(source: Source, *, full: bool = False, force: bool = False) -> dict[str, Any]:
    """Start a flow run of the source's deployment, or join the one already pending or running."""
    with get_client(sync_client=True) as client:
        deployment_id = _deployment_id(client, source)
        running = _active(client, deployment_id)
    if running:
        return {"status": "already_running", "flow_run_id": str(running[0].id)}
    run: FlowRun = run_deployment(  # type: ignore[assignment]
        f"sync-source/{deployment_name(source)}", timeout=0, tags=["on-demand"],
        parameters={"name": source.name, "workspace": source.workspace, "full": full, "force": force})
    return {"status": "started", "flow_run_id": str(run.id)}


def flow_runs(source: Source, limit: int = 20) -> list[dict[str, Any]]:
    """Recent flow runs of the source's deployment: state, start, end, duration."""
    with get_client(sync_client=True) as client:
        deployment_id = _deployment_id(client, source)
        runs = _read_runs(client, deployment_id, limit=limit)
    return [{"id": str(r.id), "name": r.name, "state": r.state.type.value if r.state else None,
             "state_name": r.state.name if r.state else None, "parameters": r.parameters,
             "start_time": r.start_time.isoformat() if r.start_time else None,
             "end_time": r.end_time.isoformat() if r.end_time else None,
             "duration_seconds": round(r.total_run_time.total_seconds(), 3)} for r in runs]


def cancel_runs(source: Source) -> list[str]:
    """Ask every pending or running flow run of the source to cancel; returns their ids."""
    with get_client(sync_client=True) as client:
        deployment_id = _deployment_id(client, source)
        ids = []
        for run in _active(client, deployment_id):
            client.set_flow_run_state(run.id, Cancelling(message="cancelled through knowdesk"), force=True)
            ids.append(str(run.id))
    return ids


def wait_for_run(flow_run_id: str, *, poll: float = 1.0, timeout: float | None = None) -> str:
    """Poll a flow run until it reaches a final state; returns the state's type (COMPLETED, FAILED...)."""
    deadline = None if timeout is None else time.monotonic() + timeout
    with get_client(sync_client=True) as client:
        while True:
            state = client.read_flow_run(uuid.UUID(flow_run_id)).state
            if state is not None and state.is_final():
                return state.type.value
            if deadline is not None and time.monotonic() > deadline:
                return state.type.value if state else "UNKNOWN"
            time.sleep(poll)


def trigger_reindex(parameters: dict[str, Any]) -> str:
    """Start a flow run of ``reindex/all`` with these parameters; returns its id."""
    try:
        run: FlowRun = run_deployment("reindex/all", timeout=0, parameters=parameters)  # type: ignore[assignment]
    except ObjectNotFound:
        raise ConfigError("no deployment runs re-indexes: start `knowdesk schedule` (or `knowdesk schedule --pool "
                          "NAME` with workers)") from None
    return str(run.id)
