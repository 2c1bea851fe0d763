"""Sources: list, add, get, remove (syncs and their runs: ``service/routes/runs.py``)."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, Response
from pydantic import BaseModel, ConfigDict, Field

from core.errors import InvalidInput, check_size
from core.models import SOURCE_NAME, Source, SourceKind
from ingest.sources import folder_problem
from service import output, source_policy
from service.deps import Reader, RuntimeDep, Writer
from service.routing import KeyedRoute
from service.schemas.common import errors
from service.schemas.sources import SourcePublic, SourcesPublic

log = logging.getLogger(__name__)
router = APIRouter(prefix="/v1/sources", tags=["sources"], route_class=KeyedRoute)
#: Source options are small (urls, ids, patterns); listings return them, so they stay bounded.
MAX_OPTIONS_BYTES = 64 * 1024


class SourceRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(json_schema_extra={"pattern": SOURCE_NAME})
    kind: SourceKind
    #: Checked against the kind's connector options (a 400 names what is wrong); the connectors load
    #: lazily, so the schema does not spell them out.
    options: dict[str, Any] = Field(default_factory=dict)
    enabled: bool = True


class SourceUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    #: Replaces every option (the same checks as adding); omit to keep them.
    options: dict[str, Any] | None = None
    enabled: bool | None = None


@router.get("", response_model=SourcesPublic)
def list_sources(caller: Reader, rt: RuntimeDep) -> dict[str, Any]:
    return {"sources": [source_policy.visible(s, caller, output.source(s)) for s in rt.sources.list(caller.workspace)]}


@router.post("", status_code=201, response_model=SourcePublic, responses=errors(400, 403, 409, 413))
def add_source(body: SourceRequest, caller: Writer, rt: RuntimeDep) -> dict[str, Any]:
    check_size(body.options, what="the source's options", max_bytes=MAX_OPTIONS_BYTES)
    source = Source(
        workspace=caller.workspace, name=body.name, kind=body.kind, options=body.options, enabled=body.enabled
    )
    source = source_policy.authorize(source, caller, allowed_roots=rt.settings.sources.allowed_roots)
    if problem := folder_problem(source):
        raise InvalidInput(problem, option="path")
    return output.source(rt.sources.add(source))


@router.get("/{name}", response_model=SourcePublic)
def get_source(name: str, caller: Reader, rt: RuntimeDep) -> dict[str, Any]:
    source = rt.sources.get(caller.workspace, name)
    return source_policy.visible(source, caller, output.source(source))


@router.patch("/{name}", response_model=SourcePublic, responses=errors(400, 403, 404, 413))
def update_source(name: str, body: SourceUpdate, caller: Writer, rt: RuntimeDep) -> dict[str, Any]:
    """Replace a source's options (checked as when adding it) or enable/disable it; its documents stay
    indexed until the next sync reads the source with the new options."""
    current = rt.sources.get(caller.workspace, name)
    options = None
    if body.options is not None:
        check_size(body.options, what="the source's options", max_bytes=MAX_OPTIONS_BYTES)
        changed = source_policy.authorize(current.model_copy(update={"options": body.options}), caller,
                                          allowed_roots=rt.settings.sources.allowed_roots)
        if problem := folder_problem(changed):
            raise InvalidInput(problem, option="path")
        options = changed.options
    return output.source(rt.sources.update(caller.workspace, name, options=options, enabled=body.enabled))


@router.delete("/{name}", status_code=204, responses=errors(409))
def remove_source(name: str, caller: Writer, rt: RuntimeDep) -> Response:
    rt.remove_source(caller.workspace, name)
    return Response(status_code=204)
