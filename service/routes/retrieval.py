"""POST /v1/retrieve: hybrid retrieval scoped to the caller's workspace."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from core.models import MAX_TOP_K
from retrieval.search import parse_filters
from retrieval.stages import query_notes
from service import output
from service.deps import Reader, RuntimeDep
from service.routing import KeyedRoute
from service.schemas.common import HitsPublic

router = APIRouter(prefix="/v1", tags=["retrieval"], route_class=KeyedRoute)


class RetrieveRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    #: Longer than ``KNOWDESK_SEARCH__MAX_QUERY_CHARS`` (10,000): answered from its first part, with a note.
    query: str = Field(min_length=1, max_length=1_000_000)
    top_k: int = Field(default=5, ge=1, le=MAX_TOP_K)
    #: Chunks of one document at most; unset: the search settings' cap (``KNOWDESK_SEARCH__CAP``/``CAP_SCOPE``).
    per_document: int | None = Field(default=None, ge=1, le=100)
    filters: dict[str, str | list[str]] = Field(default_factory=dict)


@router.post("/retrieve", response_model=HitsPublic)
def retrieve(body: RetrieveRequest, caller: Reader, rt: RuntimeDep) -> dict[str, Any]:
    """Cited passages: `{"query", "documents", "notes", "hits": [{rank, score, title, uri, section, text, ...}]}`."""
    hits = rt.retrieve(
        body.query,
        workspace=caller.workspace,
        filters=parse_filters(body.filters),
        top_k=body.top_k,
        per_document=body.per_document,
    )
    return output.retrieve_json(body.query, hits, query_notes(body.query, rt.settings.search))
