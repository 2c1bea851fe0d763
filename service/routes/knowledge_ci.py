"""/v1/knowledge-ci (issue 20): changes knowledge CI reviewed before they went live, and the decision
on a held one. Reading needs the read scope; rejecting a held change (nothing goes live) the write
scope; accepting it, which overrides the gate, the admin scope."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from app.knowledge_ci.models import ChangeStatus
from service.deps import Admin, Reader, RuntimeDep, Writer
from service.routing import KeyedRoute
from service.schemas.common import errors
from service.schemas.knowledge_ci import KnowledgeChangePublic, KnowledgeChangesPublic

router = APIRouter(prefix="/v1/knowledge-ci", tags=["knowledge CI"], route_class=KeyedRoute)
_ID = Field(pattern=r"^[A-Za-z0-9_-]{1,32}$")


class DecisionBody(BaseModel):
    """Why the change is accepted or rejected (kept with the decision)."""

    model_config = ConfigDict(extra="forbid")

    note: str = Field(default="", max_length=2000)


@router.get("/changes", response_model=KnowledgeChangesPublic, responses=errors(422))
def list_changes(caller: Reader, rt: RuntimeDep, status: ChangeStatus | None = None,
                 limit: Annotated[int, Query(ge=1, le=1000)] = 50) -> dict[str, Any]:
    """Reviewed changes of the workspace, newest first (``status=pending``: the held ones)."""
    changes = rt.knowledge_ci.list(caller.workspace, status=status, limit=limit)
    return {"changes": [c.model_dump(mode="json") for c in changes]}


@router.get("/changes/{change_id}", response_model=KnowledgeChangePublic, responses=errors(404))
def get_change(change_id: Annotated[str, _ID], caller: Reader, rt: RuntimeDep) -> dict[str, Any]:
    """One change with its report."""
    return rt.knowledge_ci.get(caller.workspace, change_id).model_dump(mode="json")


@router.post("/changes/{change_id}/accept", response_model=KnowledgeChangePublic, responses=errors(404, 409))
def accept_change(change_id: Annotated[str, _ID], caller: Admin, rt: RuntimeDep,
                  body: DecisionBody | None = None) -> dict[str, Any]:
    """Make a held change live as if the gate had let it through (409 when it is not pending, or when
    what it changes was edited since; it then stays as it is)."""
    note = body.note if body else ""
    return rt.knowledge_ci.accept(caller.workspace, change_id, by=f"key:{caller.key_id}",
                                  note=note).model_dump(mode="json")


@router.post("/changes/{change_id}/reject", response_model=KnowledgeChangePublic, responses=errors(404, 409))
def reject_change(change_id: Annotated[str, _ID], caller: Writer, rt: RuntimeDep,
                  body: DecisionBody | None = None) -> dict[str, Any]:
    """Drop a held change: it never goes live and the published content stays whole (409 when it is
    not pending)."""
    note = body.note if body else ""
    return rt.knowledge_ci.reject(caller.workspace, change_id, by=f"key:{caller.key_id}",
                                  note=note).model_dump(mode="json")
