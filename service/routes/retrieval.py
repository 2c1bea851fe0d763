"""POST /v1/retrieve: hybrid retrieval scoped to the caller's workspace."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema

from agent.access import MAX_TOKEN_CHARS
from core.errors import InvalidInput
from core.models import MAX_TOP_K, WHITESPACE, Channel, DocumentKind, Viewer
from retrieval.search import FILTER_KEYS, parse_filters
from retrieval.stages import query_notes
from service import output
from service.deps import Reader, RuntimeDep
from service.keys import Scope
from service.routing import KeyedRoute
from service.schemas.common import HitsPublic, errors

router = APIRouter(prefix="/v1", tags=["retrieval"], route_class=KeyedRoute)


#: One filter value: comma-separated values, at least one of them not blank (``parse_filters``).
_VALUE: dict[str, Any] = {"type": "string", "pattern": f"^[^,]*[^,{WHITESPACE}][^,]*(,[^,]*)*$"}
#: ``kind`` and ``channel`` name one of their enum's values; ``language`` a language tag (the
#: schema lists common ISO 639-1 codes; the route accepts any ISO 639 code).
_KNOWN: dict[str, dict[str, Any]] = {
    "kind": {"type": "string", "enum": [k.value for k in DocumentKind]},
    "channel": {"type": "string", "enum": [c.value for c in Channel]},
    "language": {"type": "string", "pattern": r"^(en|de|es|fr|it|nl|pt|pl|sv|da|fi|nb|cs|ja|zh)(-[A-Z]{2})?$"},
}


def _filter_value(key: str) -> dict[str, Any]:
    one = _KNOWN.get(key, _VALUE)
    return one if key == "channel" else {"anyOf": [one, {"type": "array", "items": one, "minItems": 1}]}


#: What ``parse_filters`` accepts from JSON: the known keys, each a value or a non-empty list of
#: values (``channel``: one value).
FILTERS_SCHEMA: dict[str, Any] = {"type": "object", "additionalProperties": False,
                                  "properties": {key: _filter_value(key) for key in FILTER_KEYS}}
Filters = Annotated[dict[str, str | list[str]], WithJsonSchema(FILTERS_SCHEMA)]


class RetrieveRequest(BaseModel):
    #: ``all_audiences`` searches every document: it takes no session or identity token.
    model_config = ConfigDict(extra="forbid", json_schema_extra={"not": {
        "required": ["all_audiences"], "properties": {"all_audiences": {"const": True}},
        "anyOf": [{"required": ["session_id"], "properties": {"session_id": {"type": "string"}}},
                  {"required": ["identity_token"], "properties": {"identity_token": {"type": "string"}}}]}})

    #: Longer than ``KNOWDESK_SEARCH__MAX_QUERY_CHARS`` (10,000): answered from its first part, with a note.
    query: str = Field(min_length=1, max_length=1_000_000)
    top_k: int = Field(default=5, ge=1, le=MAX_TOP_K)
    #: Chunks of one document at most; unset: the search settings' cap (``KNOWDESK_SEARCH__CAP``/``CAP_SCOPE``).
    per_document: int | None = Field(default=None, ge=1, le=100)
    filters: Filters = Field(default_factory=dict)
    #: Search for this session's contact (what its verified identity may see).
    session_id: str | None = Field(default=None, min_length=1, max_length=64)
    #: Search for the contact a signed identity token names.
    identity_token: str | None = Field(default=None, min_length=1, max_length=MAX_TOKEN_CHARS)
    #: Every document whatever its audience (staff tools): needs an admin key.
    all_audiences: bool = False


@router.post("/retrieve", response_model=HitsPublic, responses=errors(403, 404))
def retrieve(body: RetrieveRequest, caller: Reader, rt: RuntimeDep) -> dict[str, Any]:
    """Cited passages: `{"query", "documents", "notes", "hits": [{rank, score, title, uri, section, text, ...}]}`.

    Public documents only, unless `session_id` or `identity_token` names a verified contact (then
    also what its groups open) or an admin key asks for `all_audiences`."""
    if body.all_audiences:
        if body.session_id is not None or body.identity_token is not None:
            raise InvalidInput("all_audiences searches every document; leave session_id and identity_token out")
        caller.require(Scope.ADMIN)
        viewer = Viewer.everyone()
    else:
        viewer = rt.viewer(caller.workspace, session_id=body.session_id, identity_token=body.identity_token)
    hits = rt.retrieve(
        body.query,
        workspace=caller.workspace,
        filters=parse_filters(body.filters),
        top_k=body.top_k,
        per_document=body.per_document,
        viewer=viewer,
    )
    return output.retrieve_json(body.query, hits, query_notes(body.query, rt.settings.search))
