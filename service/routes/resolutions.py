"""/v1/resolutions and /v1/handoffs/{id}/reply (issue 20, item 2): a person's reply to a handed-off
session comes back (from the helpdesk, or any tool with a write key), resolves the session and proposes
a Q&A draft; drafts are listed, approved (published through the help center and knowledge CI's gate) or
rejected. Reading needs the read scope, everything else the write scope (as publishing articles does)."""

from __future__ import annotations

import hmac
import time
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field, model_validator

from agent.helpdesk import sign
from app.resolutions.models import ApproveAs, Draft, DraftStatus
from app.resolutions.service import MAX_REPLY_CHARS
from core.errors import AuthError, InvalidInput
from service.deps import Reader, RuntimeDep, Writer
from service.routing import KeyedRoute
from service.schemas.common import errors
from service.schemas.resolutions import DraftPublic, DraftsPublic, ReplyPublic

router = APIRouter(prefix="/v1", tags=["resolutions"], route_class=KeyedRoute)
#: The helpdesk's signed reply webhook: authenticated by its signature, not by a key.
signed = APIRouter(prefix="/v1", tags=["resolutions"])
#: How old a signed reply may be (replays of older ones are refused).
MAX_SKEW_SECONDS = 300
_ID = Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ReplyBody(_Body):
    """The person's reply as the customer got it; ``resolve`` (default) resolves the session and drafts."""

    text: str = Field(min_length=1, max_length=MAX_REPLY_CHARS)
    resolve: bool = True
    #: Who replied (an agent's name or helpdesk id), kept with the event; default: the key.
    by: str = Field(default="", max_length=200)


class ProposeBody(BaseModel):
    """The resolved handoff to draft from: its id, or its session's (one of the two)."""

    #: Exactly one of the two (checked with its message).
    model_config = ConfigDict(extra="forbid", json_schema_extra={"oneOf": [
        {"required": ["handoff_id"], "properties": {"handoff_id": {"type": "string"}}},
        {"required": ["session_id"], "properties": {"session_id": {"type": "string"}}}]})

    handoff_id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_-]{1,64}$")
    session_id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_-]{1,64}$")


    @model_validator(mode="after")
    def _one(self) -> ProposeBody:
        if (self.handoff_id is None) == (self.session_id is None):
            raise ValueError("give a handoff id or a session id (one of the two)")
        return self


class ApproveBody(_Body):
    """A reviewer's changes to the draft before it is published (both optional), and what it is published
    as: ``article`` (default; through the help center) or ``scenario`` (a published training scenario
    whose trigger is the customer's question and whose answer is the reply)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    title: str | None = Field(default=None, min_length=1, max_length=300)
    answer: str | None = Field(default=None, min_length=1, max_length=50_000)
    as_: ApproveAs = Field(default=ApproveAs.ARTICLE, alias="as")


class RejectBody(_Body):
    note: str = Field(default="", max_length=2000)


def draft_json(draft: Draft) -> dict[str, Any]:
    return draft.model_dump(mode="json")


@router.post("/handoffs/{handoff_id}/reply", response_model=ReplyPublic, responses=errors(404, 409, 422))
def reply(handoff_id: Annotated[str, _ID], body: ReplyBody, caller: Writer, rt: RuntimeDep) -> dict[str, Any]:
    """Store a person's reply to the handed-off session (role ``human``); with ``resolve`` the session is
    resolved and a pending draft proposed (``skipped`` says why not). 404: no such handoff; 409: the
    session is closed."""
    got = rt.resolutions.reply(caller.workspace, handoff_id, body.text, by=body.by or f"key:{caller.key_id}",
                               resolve=body.resolve)
    return {"message_id": got.message_id, "session": got.session.model_dump(mode="json"),
            "draft": draft_json(got.draft) if got.draft else None, "skipped": got.skipped}


@router.get("/resolutions", response_model=DraftsPublic, responses=errors(422))
def list_drafts(caller: Reader, rt: RuntimeDep, status: DraftStatus | None = None,
                limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> dict[str, Any]:
    """Drafts newest first (``status=pending``: the ones waiting for review)."""
    drafts = rt.resolutions.drafts.list(caller.workspace, status=status.value if status else None, limit=limit)
    return {"drafts": [draft_json(d) for d in drafts]}


@router.get("/resolutions/{draft_id}", response_model=DraftPublic, responses=errors(404))
def get_draft(draft_id: Annotated[str, _ID], caller: Reader, rt: RuntimeDep) -> dict[str, Any]:
    return draft_json(rt.resolutions.drafts.get(caller.workspace, draft_id))


@router.post("/resolutions", status_code=201, response_model=DraftPublic, responses=errors(404, 409, 422))
def propose(body: ProposeBody, caller: Writer, rt: RuntimeDep) -> dict[str, Any]:
    """Draft from a resolved handoff (422: never handed off, no reply from a person, nothing reusable;
    409: not resolved yet, or drafted already)."""
    return draft_json(rt.resolutions.propose(caller.workspace, handoff_id=body.handoff_id,
                                             session_id=body.session_id))


@router.post("/resolutions/{draft_id}/approve", response_model=DraftPublic, responses=errors(404, 409, 422))
def approve(draft_id: Annotated[str, _ID], caller: Writer, rt: RuntimeDep,
            body: ApproveBody | None = None) -> dict[str, Any]:
    """Publish the draft through the help center (knowledge CI may hold it: ``published.pending_change``),
    or with ``{"as": "scenario"}`` as a published training scenario (``published.scenario_id``). 409 when
    it was decided already, or the article an edit targets is gone; 422 for another ``as``."""
    body = body or ApproveBody()
    return draft_json(rt.resolutions.approve(caller.workspace, draft_id, by=f"key:{caller.key_id}",
                                             title=body.title, answer=body.answer, as_=body.as_))


@router.post("/resolutions/{draft_id}/reject", response_model=DraftPublic, responses=errors(404, 409))
def reject(draft_id: Annotated[str, _ID], caller: Writer, rt: RuntimeDep,
           body: RejectBody | None = None) -> dict[str, Any]:
    """Discard the draft (nothing is published); 409 when it was decided already."""
    return draft_json(rt.resolutions.reject(caller.workspace, draft_id, by=f"key:{caller.key_id}",
                                            note=body.note if body else ""))


class SignedReplyBody(ReplyBody):
    """A reply the helpdesk sends back, signed like the handoff webhook knowdesk sends it."""

    workspace: str = Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")
    handoff_id: str = Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")


@signed.post("/helpdesk/replies", response_model=ReplyPublic, include_in_schema=False)
async def signed_reply(request: Request, rt: RuntimeDep) -> dict[str, Any]:
    """``POST /v1/handoffs/{id}/reply`` for a helpdesk that signs instead of holding a key: the body
    ``{workspace, handoff_id, text, resolve, by}`` with ``X-Knowdesk-Timestamp`` and ``X-Knowdesk-Signature``
    (HMAC-SHA256 of ``timestamp.body`` with ``KNOWDESK_AGENT__HELPDESK__WEBHOOK_SECRET``, as knowdesk signs
    the handoffs it sends). 401: no secret configured, a bad signature or a timestamp older than 5 minutes."""
    secret = rt.settings.agent.helpdesk.webhook_secret
    raw = await request.body()
    stamp = request.headers.get("X-Knowdesk-Timestamp", "")
    given = request.headers.get("X-Knowdesk-Signature", "")
    if secret is None:
        raise AuthError("signed helpdesk replies need KNOWDESK_AGENT__HELPDESK__WEBHOOK_SECRET; or post to "
                        "/v1/handoffs/{id}/reply with a write key")
    if not stamp.isdigit() or abs(time.time() - int(stamp)) > MAX_SKEW_SECONDS:
        raise AuthError("X-Knowdesk-Timestamp is missing or more than 5 minutes off; sign each reply when sent")
    if not hmac.compare_digest(sign(secret.get_secret_value(), stamp, raw), given):
        raise AuthError("X-Knowdesk-Signature does not match the body; sign 'timestamp.body' with the webhook secret")
    try:
        body = SignedReplyBody.model_validate_json(raw)
    except ValueError as exc:
        raise InvalidInput(f"the reply body is invalid: {exc}") from exc
    got = rt.resolutions.reply(body.workspace, body.handoff_id, body.text, by=body.by or "helpdesk webhook",
                               resolve=body.resolve)
    return {"message_id": got.message_id, "session": got.session.model_dump(mode="json"),
            "draft": draft_json(got.draft) if got.draft else None, "skipped": got.skipped}
