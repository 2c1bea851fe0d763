"""Feedback on agent replies over HTTP (issue 20):

- ``POST /v1/sessions/{id}/messages/{message_id}/feedback``: thumbs up or down and a reason; 201 for
  a first vote, 200 when it replaces the earlier vote on the same reply.
- ``GET`` on the same path: the vote with its decision snapshot.
- ``GET /v1/analytics/feedback``: totals, worst-rated topics, documents behind thumbs-down answers.
- ``GET /v1/feedback/export``: thumbs-down conversations as an evaluation dataset (JSONL in JSON).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from core.tables import utcnow
from csat.feedback import MAX_REASON
from csat.models import Rating
from evaluation.feedback_cases import export_dataset
from insights.models import parse_since
from service.deps import Reader, RuntimeDep, Writer
from service.routing import KeyedRoute
from service.schemas.common import Since, errors
from service.schemas.feedback import FeedbackExportPublic, FeedbackPublic, FeedbackReportPublic

router = APIRouter(prefix="/v1", tags=["feedback"], route_class=KeyedRoute)
MessageId = Annotated[int, Path(ge=1, le=2_147_483_647, description="The agent reply's id in the transcript")]


class FeedbackRequest(BaseModel):
    """A vote on one agent reply: ``up`` or ``down``, and an optional reason."""

    model_config = ConfigDict(extra="forbid")

    rating: Rating
    reason: str = Field(default="", max_length=MAX_REASON)


@router.post("/sessions/{session_id}/messages/{message_id}/feedback", status_code=201,
             response_model=FeedbackPublic, responses={200: {"model": FeedbackPublic,
                                                              "description": "The vote replaced an earlier one"}})
def post_feedback(session_id: str, message_id: MessageId, body: FeedbackRequest, response: Response, caller: Writer,
                  rt: RuntimeDep) -> dict[str, Any]:
    """Rate an agent reply (its ``message_id`` from the decision or the transcript). One vote per
    reply: a second vote replaces the first (200). A customer's message cannot be rated (422)."""
    vote = rt.insights.feedback.rate(caller.workspace, session_id, message_id, body.rating, body.reason)
    if vote.replaced:
        response.status_code = 200
    return vote.model_dump(mode="json")


@router.get("/sessions/{session_id}/messages/{message_id}/feedback", response_model=FeedbackPublic)
def get_feedback(session_id: str, message_id: MessageId, caller: Reader, rt: RuntimeDep) -> dict[str, Any]:
    """The vote on one agent reply, with the snapshot of the decision it rates."""
    return rt.insights.feedback.get(caller.workspace, session_id, message_id).model_dump(mode="json")


@router.get("/analytics/feedback", response_model=FeedbackReportPublic)
def feedback_analytics(caller: Reader, rt: RuntimeDep, since: Since = "30d",
                       limit: int = Query(default=10, ge=1, le=100)) -> dict[str, Any]:
    """Votes of the window: totals, worst-rated topics (insight theme, else the cited article) and
    the documents behind thumbs-down answers, most thumbs-down first."""
    end = utcnow()
    ic = rt.insights
    report = ic.feedback.report(caller.workspace, end - parse_since(since), end, topics=ic.topics(caller.workspace),
                                limit=limit)
    return {"since": since} | report.model_dump(mode="json")


@router.get("/feedback/export", response_model=FeedbackExportPublic, responses=errors(404))
def export_feedback(caller: Reader, rt: RuntimeDep, since: Since = "30d") -> dict[str, Any]:
    """Thumbs-down conversations of the window as an evaluation dataset (404 when there are none);
    save ``jsonl`` to a file and run ``knowdesk eval --dataset FILE``."""
    end = utcnow()
    name = f"feedback-{caller.workspace}"
    text, cases = export_dataset(rt.insights.feedback, caller.workspace, start=end - parse_since(since), end=end,
                                 name=name)
    return {"name": name, "cases": cases, "jsonl": text}
