"""Insights and CSAT over HTTP: GET /v1/insights, POST /v1/sessions/{id}/csat (and /csat/survey),
GET /v1/analytics/csat, PUT /v1/handoffs/{id}/assignee."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from core.models import NON_BLANK
from core.tables import utcnow
from insights.models import InsightKind, parse_since
from service.deps import Reader, RuntimeDep, Writer
from service.insights_gate import gate
from service.keys import Scope
from service.routing import KeyedRoute
from service.schemas.common import Since, errors
from service.schemas.insights import (
    AssigneePublic,
    CsatAnalyticsPublic,
    CsatDetailPublic,
    CsatScorePublic,
    InsightsPublic,
    SurveyPublic,
)

router = APIRouter(prefix="/v1", tags=["insights and CSAT"], route_class=KeyedRoute)


class CsatRequest(BaseModel):
    """A customer's score (1-5) and comment (required for 1 and 2)."""

    #: Scores below ``KNOWDESK_INSIGHTS__COMMENT_REQUIRED_BELOW`` (3) need a non-blank comment:
    #: the schema states the default.
    model_config = ConfigDict(extra="forbid", json_schema_extra={
        "if": {"properties": {"score": {"maximum": 2}}},
        "then": {"required": ["comment"], "properties": {"comment": {"pattern": NON_BLANK}}}})

    score: int = Field(ge=1, le=5)
    comment: str = Field(default="", max_length=4000)


class AssigneeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    assignee: str = Field(min_length=1, max_length=200)


@router.get("/insights", response_model=InsightsPublic, responses=errors(403, 404, 429))
def get_insights(request: Request, caller: Reader, rt: RuntimeDep, since: Since = "7d",
                 kind: InsightKind | None = None, refresh: bool = False) -> dict[str, Any]:
    """The latest stored insights of the window. A write key computes them when none is stored or
    with ``refresh`` (rate limited per workspace, identical concurrent requests computed once);
    a read key gets stored runs only (404 when the window has none)."""
    caller.require(Scope.WRITE if refresh else Scope.READ)
    parse_since(since)
    run = gate(request.app.state).run_for(rt, caller, since, refresh=refresh)
    body: dict[str, Any] = run.to_json()
    if kind is not None:
        body["insights"] = [i for i in body["insights"] if i["kind"] == kind.value]
    return body


@router.post("/sessions/{session_id}/csat", status_code=201, response_model=CsatScorePublic, responses=errors(409))
def post_csat(session_id: str, body: CsatRequest, caller: Writer, rt: RuntimeDep) -> dict[str, Any]:
    """Store the session's CSAT score (once: a second score is 409) and send the webhook event."""
    return rt.insights.csat.record(caller.workspace, session_id, body.score, body.comment).model_dump(mode="json")


@router.get("/sessions/{session_id}/csat", response_model=CsatDetailPublic)
def get_csat(session_id: str, caller: Reader, rt: RuntimeDep) -> dict[str, Any]:
    csat = rt.insights.csat
    return csat.score(caller.workspace, session_id).model_dump(mode="json") | {
        "webhook": csat.webhook.status(caller.workspace, session_id)}


@router.post("/sessions/{session_id}/csat/survey", status_code=202, response_model=SurveyPublic, responses=errors(409))
def request_survey(session_id: str, caller: Writer, rt: RuntimeDep) -> dict[str, Any]:
    """Schedule the survey of a resolved session on its channel (sent as a webhook event when due)."""
    csat = rt.insights.csat
    survey = csat.request_survey(caller.workspace, session_id)
    csat.webhook.deliver_due()
    return survey.model_dump(mode="json")


@router.get("/analytics/csat", response_model=CsatAnalyticsPublic)
def csat_analytics(caller: Reader, rt: RuntimeDep, since: Since = "30d") -> dict[str, Any]:
    """CSAT per channel, topic (insight theme), AI-only vs handed-off and human agent; daily series."""
    end = utcnow()
    ic = rt.insights
    report = ic.csat.report(caller.workspace, end - parse_since(since), end, topics=ic.topics(caller.workspace))
    return {"since": since} | report.model_dump(mode="json")


@router.put("/handoffs/{handoff_id}/assignee", response_model=AssigneePublic)
def set_assignee(handoff_id: str, body: AssigneeRequest, caller: Writer, rt: RuntimeDep) -> dict[str, Any]:
    """Record the human agent who took a handoff (CSAT is aggregated per assignee)."""
    rt.insights.csat.assign(caller.workspace, handoff_id, body.assignee)
    return {"handoff_id": handoff_id, "assignee": body.assignee}
