"""Sources: list, add, get, remove (syncs and their runs: ``service/routes/runs.py``)."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, Response
from pydantic import BaseModel, ConfigDict, Field

from core.errors import check_size
from core.models import Source, SourceKind
from service import output, source_policy
from service.deps import Caller, RuntimeDep
from service.keys import Scope

log = logging.getLogger(__name__)
router = APIRouter(prefix="/v1/sources", tags=["sources"])
#: Source options are small (urls, ids, patterns); listings return them, so they stay bounded.
MAX_OPTIONS_BYTES = 64 * 1024


class SourceRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    kind: SourceKind
    options: dict[str, Any] = Field(default_factory=dict)
    enabled: bool = True


@router.get("")
def list_sources(caller: Caller, rt: RuntimeDep) -> dict[str, Any]:
    caller.require(Scope.READ)
    return {"sources": [source_policy.visible(s, caller, output.source(s)) for s in rt.sources.list(caller.workspace)]}


@router.post("", status_code=201)
def add_source(body: SourceRequest, caller: Caller, rt: RuntimeDep) -> dict[str, Any]:
    caller.require(Scope.WRITE)
    check_size(body.options, what="the source's options", max_bytes=MAX_OPTIONS_BYTES)
    source = Source(
        workspace=caller.workspace, name=body.name, kind=body.kind, options=body.options, enabled=body.enabled
    )
    source = source_policy.authorize(source, caller, allowed_roots=rt.settings.sources.allowed_roots)
    return output.source(rt.sources.add(source))


@router.get("/{name}")
def get_source(name: str, caller: Caller, rt: RuntimeDep) -> dict[str, Any]:
    caller.require(Scope.READ)
    source = rt.sources.get(caller.workspace, name)
    return source_policy.visible(source, caller, output.source(source))


@router.delete("/{name}", status_code=204)
def remove_source(name: str, caller: Caller, rt: RuntimeDep) -> Response:
    caller.require(Scope.WRITE)
    rt.remove_source(caller.workspace, name)
    return Response(status_code=204)
