"""Insights and CSAT over HTTP: GET /v1/insights, POST /v1/sessions/{id}/csat (and /csat/survey),
GET /v1/analytics/csat, PUT /v1/handoffs/{id}/assignee."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from core.tables import utcnow
from insights.models import InsightKind, parse_since
from service.deps import Caller, RuntimeDep
from service.keys import Scope

router = APIRouter(prefix="/v1", tags=["insights and CSAT"])


class CsatRequest(BaseModel):
    """A customer's score (1-5) and comment (required for 1 and 2)."""

    model_config = ConfigDict(extra="forbid")

    score: int = Field(ge=1, le=5)
    comment: str = Field(default="", max_length=4000)


class AssigneeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    assignee: str = Field(min_length=1, max_length=200)


@router.get("/insights")
def get_insights(caller: Caller, rt: RuntimeDep, since: str = "7d", kind: InsightKind | None = None,
                 refresh: bool = False) -> dict[str, Any]:
    """The latest stored insights of the window (computed now when none is stored, or ``refresh``)."""
    caller.require(Scope.WRITE if refresh else Scope.READ)
    parse_since(since)
    ic = rt.insights
    run = ic.insights.refresh(caller.workspace, since=since) if refresh else ic.latest_or_refresh(
        caller.workspace, since)
    body = run.to_json()
    if kind is not None:
        body["insights"] = [i for i in body["insights"] if i["kind"] == kind.value]
    return body


@router.post("/sessions/{session_id}/csat", status_code=201)
def post_csat(session_id: str, body: CsatRequest, caller: Caller, rt: RuntimeDep) -> dict[str, Any]:
    """Store the session's CSAT score (once: a second score is 409) and send the webhook event."""
    caller.require(Scope.WRITE)
    return rt.insights.csat.record(caller.workspace, session_id, body.score, body.comment).model_dump(mode="json")


@router.get("/sessions/{session_id}/csat")
def get_csat(session_id: str, caller: Caller, rt: RuntimeDep) -> dict[str, Any]:
    caller.require(Scope.READ)
    csat = rt.insights.csat
    return csat.score(caller.workspace, session_id).model_dump(mode="json") | {
        "webhook": csat.webhook.status(caller.workspace, session_id)}


@router.post("/sessions/{session_id}/csat/survey", status_code=202)
def request_survey(session_id: str, caller: Caller, rt: RuntimeDep) -> dict[str, Any]:
    """Schedule the survey of a resolved session on its channel (sent as a webhook event when due)."""
    caller.require(Scope.WRITE)
    csat = rt.insights.csat
    survey = csat.request_survey(caller.workspace, session_id)
    csat.webhook.deliver_due()
    return survey.model_dump(mode="json")


@router.get("/analytics/csat")
def csat_analytics(caller: Caller, rt: RuntimeDep, since: str = Query(default="30d")) -> dict[str, Any]:
    """CSAT per channel, topic (insight theme), AI-only vs handed-off and human agent; daily series."""
    caller.require(Scope.READ)
    end = utcnow()
    ic = rt.insights
    report = ic.csat.report(caller.workspace, end - parse_since(since), end, topics=ic.topics(caller.workspace))
    return {"since": since} | report.model_dump(mode="json")


@router.put("/handoffs/{handoff_id}/assignee")
def set_assignee(handoff_id: str, body: AssigneeRequest, caller: Caller, rt: RuntimeDep) -> dict[str, Any]:
    """Record the human agent who took a handoff (CSAT is aggregated per assignee)."""
    caller.require(Scope.WRITE)
    rt.insights.csat.assign(caller.workspace, handoff_id, body.assignee)
    return {"handoff_id": handoff_id, "assignee": body.assignee}
