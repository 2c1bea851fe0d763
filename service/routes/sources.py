"""Sources: list, add, get, remove, and their schedules (syncs and their runs: ``service/routes/runs.py``)."""

from __future__ import annotations

import logging
from typing import Any, Literal

from fastapi import APIRouter, Response
from pydantic import BaseModel, ConfigDict, Field

from core.errors import InvalidInput, check_size
from core.models import SOURCE_NAME, Source, SourceKind, SourceSchedule
from ingest.sources import folder_problem
from service import output, source_policy
from service.deps import Reader, RuntimeDep, Writer
from service.routing import KeyedRoute
from service.schemas.common import errors
from service.schemas.sources import SourcePublic, SourceSchedulePublic, SourcesPublic

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


class ScheduleRequest(BaseModel):
    """A source's whole schedule (it replaces the one stored): exactly one of ``cron`` and ``interval``."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"cron": "0 3 * * *", "timezone": "Europe/Paris"}, {"interval": "6h", "enabled": False}]})

    cron: str | None = Field(default=None, max_length=200, description='Five fields, e.g. "0 3 * * *" (03:00 daily '
                             "in ``timezone``); no random (R) or hashed (H) fields.")
    interval: int | str | None = Field(default=None, description="Seconds between runs, or a number with a unit: "
                                       '"30s", "15m", "6h", "1d" (at most a year).')
    timezone: str = Field(default="UTC", max_length=64, description="IANA timezone name, e.g. UTC or Europe/Paris.")
    enabled: bool = Field(default=True, description="False stores the schedule paused.")


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


# -- schedules ----------------------------------------------------------------------------------------
def schedule_view(source: Source, schedule: SourceSchedule | None) -> dict[str, Any]:
    """The schedule answer of ``source`` (and of the source's page)."""
    from flows.deployments import prefect_api_url
    from flows.schedules import next_run

    due = next_run(schedule, source_enabled=source.enabled)
    runner: Literal["prefect", "none"] = "prefect" if prefect_api_url() else "none"
    body = None if schedule is None else {
        "kind": schedule.kind.value, "cron": schedule.cron, "interval_seconds": schedule.interval_seconds,
        "timezone": schedule.timezone, "enabled": schedule.enabled, "anchor": schedule.anchor.isoformat()}
    return {"source": source.name, "source_enabled": source.enabled, "schedule": body,
            "next_run_at": due.isoformat() if due else None, "runner": runner}


@router.get("/{name}/schedule", response_model=SourceSchedulePublic, responses=errors(404))
def get_schedule(name: str, caller: Reader, rt: RuntimeDep) -> dict[str, Any]:
    """A source's schedule (``schedule`` is null when it has none) and when it runs next."""
    source = rt.sources.get(caller.workspace, name)
    return schedule_view(source, rt.sources.schedule(caller.workspace, name))


@router.put("/{name}/schedule", response_model=SourceSchedulePublic, responses=errors(403, 404, 422))
def put_schedule(name: str, body: ScheduleRequest, caller: Writer, rt: RuntimeDep) -> dict[str, Any]:
    """Set or replace a source's schedule; nothing is stored when a field is wrong (422 names it).
    ``knowdesk schedule`` (or a worker of its pool) picks it up at its next refresh."""
    from flows.schedules import build_schedule

    source = rt.sources.get(caller.workspace, name)
    schedule = build_schedule(cron=body.cron, interval=body.interval, timezone=body.timezone, enabled=body.enabled)
    return schedule_view(source, rt.sources.set_schedule(caller.workspace, name, schedule))


@router.delete("/{name}/schedule", status_code=204, responses=errors(403, 404))
def delete_schedule(name: str, caller: Writer, rt: RuntimeDep) -> Response:
    """Remove a source's schedule (204 also when it had none); its manual syncs are unaffected."""
    rt.sources.set_schedule(caller.workspace, name, None)
    return Response(status_code=204)
