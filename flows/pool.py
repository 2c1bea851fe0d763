"""Work-pool mode: knowdesk's deployments registered on a Prefect work pool, run by workers.

``knowdesk schedule --pool NAME`` (or ``KNOWDESK_ORCHESTRATION__WORK_POOL``) registers the same
deployments serve mode serves (``sync-source/<workspace>.<source>`` with the source's cron or
interval, ``sync-all/all``, ``reindex/all``) on the work pool NAME, creating it as a ``process``
pool when it does not exist. It runs no flow: any number of ``prefect worker start --pool NAME``
processes, on any machine with knowdesk installed, pick the flow runs up; the Prefect server hands
each run to one worker, and the source lease still keeps two syncs of one source apart.

The flow code reaches a worker by its module path (``flows.orchestrate.sync_source``), imported
from the installed knowdesk package, so no image, storage block or pull step is needed: a
deployment has an empty pull step list and no path, and a process worker runs it in a scratch
directory with its own environment (so ``KNOWDESK_HOME`` / ``KNOWDESK_DATABASE_URL`` and
``KNOWDESK_QDRANT__URL`` must be absolute or server addresses there).

Sources are re-read every ``--refresh`` seconds and each pass reconciles the pool with them: a new
or rescheduled source is (re-)registered, a disabled or removed one's deployment deleted, also
when that happened while no registrar ran (the pass compares with the deployments on the server).
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from typing import Any

import anyio
import httpx
from prefect.client.orchestration import PrefectClient, get_client
from prefect.client.schemas.actions import WorkPoolCreate
from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound, PrefectHTTPStatusError
from prefect.types.entrypoint import EntrypointType
from prefect.workers.process import ProcessWorker
from pydantic import ValidationError

from app.runtime import Runtime
from core.errors import ConfigError, InvalidInput, KnowdeskError
from flows.deployments import desired, prefect_api_url
from flows.orchestrate import FLOWS

log = logging.getLogger(__name__)
#: Every deployment knowdesk registers carries this tag (stale ones are found by it).
TAG = "knowdesk"
POOL_TYPE = "process"


def pool_request(name: str) -> WorkPoolCreate:
    """The work pool knowdesk creates: a ``process`` pool with Prefect's default job template.

    Raises:
        InvalidInput: the name is not a valid work pool name."""
    try:
        return WorkPoolCreate(name=name, type=POOL_TYPE,
                              base_job_template=ProcessWorker.get_default_base_job_template(),
                              description="knowdesk syncs and re-indexes (knowdesk schedule --pool)")
    except ValidationError as exc:
        reason = exc.errors()[0]["msg"].removeprefix("Value error, ")
        raise InvalidInput(f"work pool name {name!r} is invalid ({reason}); use e.g. --pool knowdesk") from None


async def ensure_pool(client: PrefectClient, name: str) -> str:
    """Create the work pool as a ``process`` pool unless it exists; returns its type."""
    request = pool_request(name)
    try:
        pool = await client.read_work_pool(name)
    except ObjectNotFound:
        try:
            pool = await client.create_work_pool(request)
            log.info("created the %s work pool %r", POOL_TYPE, name)
        except ObjectAlreadyExists:  # another registrar created it just now
            pool = await client.read_work_pool(name)
    if pool.type != POOL_TYPE:
        log.warning("work pool %r is a %r pool, not %r: its workers must have knowdesk installed to import "
                    "flows.orchestrate", name, pool.type, POOL_TYPE)
    return str(pool.type)


async def _on_pool(client: PrefectClient, pool: str) -> dict[tuple[str, str], uuid.UUID]:
    """(flow name, deployment name) -> id of every knowdesk deployment registered on the pool."""
    found: dict[tuple[str, str], uuid.UUID] = {}
    flow_names: dict[str, str] = {}
    offset, page = 0, 200
    while True:  # raw filter request: see flows.deployments._read_runs for why
        response = await client.request("POST", "/deployments/filter", json={
            "work_pools": {"name": {"any_": [pool]}}, "limit": page, "offset": offset})
        rows = response.json()
        for row in rows:
            if TAG not in (row.get("tags") or []):
                continue
            flow_id = str(row["flow_id"])
            if flow_id not in flow_names:
                flow_names[flow_id] = (await client.read_flow(uuid.UUID(flow_id))).name
            found[(flow_names[flow_id], row["name"])] = uuid.UUID(str(row["id"]))
        if len(rows) < page:
            return found
        offset += page


async def _register(client: PrefectClient, pool: str, key: tuple[str, str], args: dict[str, Any]) -> None:
    flow_name, name = key
    deployment = await FLOWS[flow_name].ato_deployment(
        name=name, tags=[TAG], work_pool_name=pool, entrypoint_type=EntrypointType.MODULE_PATH, **args)
    deployment_id = await deployment.aapply()
    if "schedule" not in args:  # schedule removed or paused: drop what the server still has
        for schedule in await client.read_deployment_schedules(deployment_id):
            await client.delete_deployment_schedule(deployment_id, schedule.id)
    log.info("registered %s/%s on work pool %r %s", flow_name, name, pool,
             {k: v for k, v in args.items() if k != "parameters"})


async def reconcile(rt: Runtime, pool: str, applied: dict[tuple[str, str], dict[str, Any]]) -> list[str]:
    """One pass: make the pool's knowdesk deployments match the sources; returns the registered names.

    ``applied`` remembers what this process registered, so an unchanged deployment is not
    re-sent every pass; one missing from the server (deleted by hand) is registered again."""
    wanted = desired(rt)
    async with get_client() as client:
        await ensure_pool(client, pool)
        present = await _on_pool(client, pool)
        for key, args in wanted.items():
            if applied.get(key) != args or key not in present:
                await _register(client, pool, key, args)
                applied[key] = args
        for key, deployment_id in present.items():
            if key not in wanted:
                with contextlib.suppress(ObjectNotFound):  # deleted meanwhile
                    await client.delete_deployment(deployment_id)
                applied.pop(key, None)
                log.info("deleted %s/%s from work pool %r (source removed or disabled)", *key, pool)
    return sorted(f"{flow}/{name}" for flow, name in wanted)


async def _keep_registered(rt: Runtime, pool: str, refresh: float) -> None:
    applied: dict[tuple[str, str], dict[str, Any]] = {}
    await reconcile(rt, pool, applied)  # the first pass fails loudly (no server, a bad pool or schedule)
    while True:
        await anyio.sleep(refresh)
        try:
            await reconcile(rt, pool, applied)
        except (KnowdeskError, httpx.HTTPError, PrefectHTTPStatusError) as exc:  # next pass retries
            log.warning("registering on work pool %r failed (%s); retrying in %.0fs", pool, exc, refresh)


def register_on_pool(rt: Runtime, pool: str, *, refresh_seconds: float | None = None, once: bool = False) -> list[str]:
    """Register every deployment on ``pool``; with ``once`` return their names, else keep them
    current until stopped (Ctrl-C or SIGTERM)."""
    pool_request(pool)
    if not prefect_api_url():
        raise ConfigError("`knowdesk schedule --pool` needs a Prefect server: set PREFECT_API_URL "
                          "(e.g. http://127.0.0.1:4200/api after `prefect server start`)")
    if once:
        return anyio.run(reconcile, rt, pool, {})
    anyio.run(_keep_registered, rt, pool, refresh_seconds or rt.settings.orchestration.schedule_refresh_seconds)
    return []
