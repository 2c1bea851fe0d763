"""Sources: list, add, get, remove, sync and their runs."""

from __future__ import annotations

import logging
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from core.errors import KnowdeskError
from core.models import Source, SourceKind
from flows.runtime import Runtime
from service import output
from service.deps import Caller, RuntimeDep
from service.keys import Scope

log = logging.getLogger(__name__)
router = APIRouter(prefix="/v1/sources", tags=["sources"])


class SourceRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    kind: SourceKind
    options: dict[str, Any] = Field(default_factory=dict)
    enabled: bool = True


class SyncRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    full: bool = False
    force: bool = False
    wait: bool = False


class BackgroundSyncs:
    """In-process background syncs (embedded mode): one at a time per source."""

    def __init__(self) -> None:
        self.executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="sync")
        self._running: dict[tuple[str, str], Future[Any]] = {}
        self._guard = threading.Lock()

    def start(self, rt: Runtime, source: Source, req: SyncRequest) -> bool:
        """Start a sync; False when one of this source is already running (the caller joins it)."""
        key = (source.workspace, source.name)
        with self._guard:
            current = self._running.get(key)
            if current is not None and not current.done():
                return False
            self._running[key] = self.executor.submit(_sync, rt, source, req)
            return True

    def shutdown(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)


def _sync(rt: Runtime, source: Source, req: SyncRequest) -> None:
    try:
        rt.sync(source, full=req.full, force=req.force)
    except KnowdeskError as exc:  # the run record holds the failure; the log says it too
        log.warning("sync of %s failed: %s", source.name, exc.message)


@router.get("")
def list_sources(caller: Caller, rt: RuntimeDep) -> dict[str, Any]:
    caller.require(Scope.READ)
    return {"sources": [output.source(s) for s in rt.sources.list(caller.workspace)]}


@router.post("", status_code=201)
def add_source(body: SourceRequest, caller: Caller, rt: RuntimeDep) -> dict[str, Any]:
    caller.require(Scope.WRITE)
    source = Source(
        workspace=caller.workspace, name=body.name, kind=body.kind, options=body.options, enabled=body.enabled
    )
    return output.source(rt.sources.add(source))


@router.get("/{name}")
def get_source(name: str, caller: Caller, rt: RuntimeDep) -> dict[str, Any]:
    caller.require(Scope.READ)
    return output.source(rt.sources.get(caller.workspace, name))


@router.delete("/{name}", status_code=204)
def remove_source(name: str, caller: Caller, rt: RuntimeDep) -> Response:
    caller.require(Scope.WRITE)
    rt.remove_source(caller.workspace, name)
    return Response(status_code=204)


@router.post("/{name}/sync", status_code=202)
def sync(name: str, caller: Caller, rt: RuntimeDep, request: Request, body: SyncRequest | None = None) -> Any:
    """Start a sync in the background (202), or run it and return its report with ``wait``."""
    caller.require(Scope.WRITE)
    req = body or SyncRequest()
    source = rt.sources.get(caller.workspace, name)
    if req.wait:
        return JSONResponse(rt.sync(source, full=req.full, force=req.force).summary(), status_code=200)
    syncs: BackgroundSyncs = request.app.state.syncs
    started = syncs.start(rt, source, req)
    return {"status": "started" if started else "already_running", "source": name, "runs": f"/v1/sources/{name}/runs"}


@router.get("/{name}/runs")
def runs(name: str, caller: Caller, rt: RuntimeDep, limit: int = 20) -> dict[str, Any]:
    caller.require(Scope.READ)
    rt.sources.get(caller.workspace, name)
    return {"runs": rt.state(caller.workspace, name).runs(limit=max(1, min(limit, 200)))}
