"""Replies as server-sent events (issue 20, item 5): ``POST /v1/sessions/{id}/messages/stream``.

The agent decides first and stores the whole turn (the customer's message, the reply and the
decision record naming it) exactly as ``POST /v1/sessions/{id}/messages`` does; then the answer is
sent as events, in this order:

- ``decision``: everything but the text: ``session_id``, ``ticket``, ``message_id``, ``action``,
  ``confidence``, ``handoff``, ``trace``;
- ``text`` (one or more): ``{"delta": "..."}``, the reply line by line, each delta ending where a
  line or sentence ends, so joining the deltas gives the stored reply;
- ``citations``: ``{"citations": [...]}``;
- ``done``: ``{"message_id": ...}``.

Errors (unknown or closed session, empty message, bad key) are answered as JSON with their status
before any event is sent. A client that disconnects midway loses only the rest of the events: the
turn was stored whole before the first one.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from fastapi import APIRouter
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from service.deps import RuntimeDep, Writer
from service.routing import KeyedRoute
from service.schemas.common import errors

router = APIRouter(prefix="/v1", tags=["sessions"], route_class=KeyedRoute)
_PIECES = re.compile(r".*?(?:[.!?:](?=\s)|\n|$)\s*", re.DOTALL)
STREAM_EXAMPLE = ('event: decision\ndata: {"action": "answer", "message_id": 42, ...}\n\n'
                  'event: text\ndata: {"delta": "Skip it by the 25th. "}\n\n'
                  'event: citations\ndata: {"citations": [...]}\n\nevent: done\ndata: {"message_id": 42}\n\n')


class StreamRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1, max_length=8000)


def event(name: str, data: dict[str, Any]) -> str:
    """One server-sent event (a JSON ``data`` line; JSON escapes newlines, so one line is enough)."""
    return f"event: {name}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


def deltas(reply: str) -> list[str]:
    """The reply cut after each sentence or line end; joined, the pieces are the reply."""
    return [p for p in _PIECES.findall(reply) if p]


def events(decision: dict[str, Any]) -> Iterator[str]:
    head = {k: v for k, v in decision.items() if k not in ("reply", "citations")}
    yield event("decision", head)
    for piece in deltas(decision["reply"]):
        yield event("text", {"delta": piece})
    yield event("citations", {"citations": decision.get("citations", [])})
    yield event("done", {"message_id": decision.get("message_id")})


@router.post("/sessions/{session_id}/messages/stream", response_class=StreamingResponse, responses={
    200: {"description": "The decision as server-sent events: decision, text (1+), citations, done",
          "content": {"text/event-stream": {"schema": {"type": "string"}, "example": STREAM_EXAMPLE}}},
    **errors(409)})
def stream_message(session_id: str, body: StreamRequest, caller: Writer, rt: RuntimeDep) -> StreamingResponse:
    """The customer's message; the agent's decision comes back as server-sent events (see the module
    docstring). The turn is stored whole before the first event."""
    decision = rt.agent.handle(caller.workspace, session_id, body.text).to_json()
    return StreamingResponse(events(decision), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
