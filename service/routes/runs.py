"""Sync runs of a source: start one, list them, cancel them.

With a Prefect server configured (``PREFECT_API_URL``), a sync is a flow run of the source's
deployment (served by ``knowdesk schedule``, or run by a worker of the work pool that
``knowdesk schedule --pool`` registers it on); otherwise it runs in this process in the
background. Both keep their run records in the state database, so listing works the same.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict

from app.runtime import Runtime
from core.errors import KnowdeskError
from core.models import Source
from service.deps import Caller, RuntimeDep
from service.keys import Scope

log = logging.getLogger(__name__)
router = APIRouter(prefix="/v1/sources", tags=["runs"])


class SyncRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    full: bool = False
    force: bool = False
    wait: bool = False


class BackgroundSyncs:
    """In-process background syncs (no Prefect server): one at a time per source, cancellable."""

    def __init__(self) -> None:
        self.executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="sync")
        self._running: dict[tuple[str, str], tuple[Future[Any], threading.Event]] = {}
        self._guard = threading.Lock()

    def start(self, rt: Runtime, source: Source, req: SyncRequest) -> bool:
        """Start a sync; False when one of this source is already running (the caller joins it)."""
        key = (source.workspace, source.name)
        with self._guard:
            current = self._running.get(key)
            if current is not None and not current[0].done():
                return False
            stop = threading.Event()
            self._running[key] = (self.executor.submit(_sync, rt, source, req, stop), stop)
            return True

    def cancel(self, source: Source) -> bool:
        """Ask the source's running sync to stop after the documents in flight; False if none runs."""
        with self._guard:
            current = self._running.get((source.workspace, source.name))
            if current is None or current[0].done():
                return False
            current[1].set()
            return True

    def shutdown(self) -> None:
        with self._guard:
            for _, stop in self._running.values():
                stop.set()
        self.executor.shutdown(wait=False, cancel_futures=True)


def _sync(rt: Runtime, source: Source, req: SyncRequest, stop: threading.Event) -> None:
    try:
        rt.sync(source, full=req.full, force=req.force, should_stop=stop.is_set)
    except KnowdeskError as exc:  # the run record holds the failure; the log says it too
        log.warning("sync of %s failed: %s", source.name, exc.message)


def _prefect() -> bool:
    from flows.deployments import prefect_api_url

    return prefect_api_url() is not None


@router.post("/{name}/sync", status_code=202)
def sync(name: str, caller: Caller, rt: RuntimeDep, request: Request, body: SyncRequest | None = None) -> Any:
    """Start a sync (202): a Prefect flow run when a server is configured, else in this process.
    With ``wait`` it runs here and returns the report (200)."""
    caller.require(Scope.WRITE)
    req = body or SyncRequest()
    source = rt.sources.get(caller.workspace, name)
    if req.wait:
        return JSONResponse(rt.sync(source, full=req.full, force=req.force).summary(), status_code=200)
    links = {"source": name, "runs": f"/v1/sources/{name}/runs"}
    if _prefect():
        from flows.deployments import trigger_sync

        return {"mode": "prefect", **trigger_sync(source, full=req.full, force=req.force), **links}
    syncs: BackgroundSyncs = request.app.state.syncs
    started = syncs.start(rt, source, req)
    return {"mode": "in-process", "status": "started" if started else "already_running", **links}


@router.get("/{name}/runs")
def runs(name: str, caller: Caller, rt: RuntimeDep, limit: int = 20) -> dict[str, Any]:
    """Recent runs: status, counts, failures and duration (and the Prefect flow runs, if any)."""
    caller.require(Scope.READ)
    source = rt.sources.get(caller.workspace, name)
    rows = rt.state(caller.workspace, name).runs(limit=max(1, min(limit, 200)))
    for row in rows:
        row["duration_seconds"] = (row.get("report") or {}).get("seconds")
    body: dict[str, Any] = {"runs": rows}
    if _prefect():
        from flows.deployments import flow_runs

        try:
            body["flow_runs"] = flow_runs(source, limit=max(1, min(limit, 200)))
        except KnowdeskError as exc:
            body["flow_runs_error"] = exc.message
    return body


@router.post("/{name}/cancel")
def cancel(name: str, caller: Caller, rt: RuntimeDep, request: Request) -> dict[str, Any]:
    """Cancel the source's running sync: it stops after the documents in flight and deletes nothing."""
    caller.require(Scope.WRITE)
    source = rt.sources.get(caller.workspace, name)
    if _prefect():
        from flows.deployments import cancel_runs

        ids = cancel_runs(source)
        return {"mode": "prefect", "cancelled": ids, "status": "cancelling" if ids else "not_running"}
    syncs: BackgroundSyncs = request.app.state.syncs
    return {"mode": "in-process", "status": "cancelling" if syncs.cancel(source) else "not_running"}
