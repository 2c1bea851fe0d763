"""Sources: list, add, get, remove (syncs and their runs: ``service/routes/runs.py``)."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, Response
from pydantic import BaseModel, ConfigDict, Field

from core.errors import InvalidInput
from core.models import Source, SourceKind
from ingest.sources import folder_problem
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
    if problem := folder_problem(source):
        raise InvalidInput(problem, option="path")
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
