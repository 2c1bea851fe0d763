"""Conflicting facts over HTTP (issue 20): ``POST /v1/conflicts`` compares the workspace's indexed
knowledge now and stores the report; ``GET /v1/conflicts`` returns the stored one."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from app.conflicts import find_conflicts, latest_conflicts
from core.errors import NotFound
from service.deps import Reader, RuntimeDep, Writer
from service.routing import KeyedRoute
from service.schemas.common import errors
from service.schemas.feedback import ConflictReportPublic

router = APIRouter(prefix="/v1", tags=["conflicting facts"], route_class=KeyedRoute)


@router.get("/conflicts", response_model=ConflictReportPublic, responses=errors(404))
def get_conflicts(caller: Reader, rt: RuntimeDep) -> dict[str, Any]:
    """The last stored pass (404 before the first: ``POST /v1/conflicts`` or ``knowdesk conflicts``)."""
    report = latest_conflicts(rt, caller.workspace)
    if report is None:
        raise NotFound(f"no conflicting-facts report for workspace {caller.workspace!r} yet; run "
                       "POST /v1/conflicts or `knowdesk conflicts`")
    return report.model_dump(mode="json")


@router.post("/conflicts", response_model=ConflictReportPublic)
def run_conflicts(caller: Writer, rt: RuntimeDep) -> dict[str, Any]:
    """Compare the workspace's indexed knowledge for conflicting facts now; stores and returns the report."""
    return find_conflicts(rt, caller.workspace).model_dump(mode="json")
