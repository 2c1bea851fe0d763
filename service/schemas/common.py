"""Shared response pieces: the public base model, timestamps, error bodies, retrieval hits."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema

Timestamp = Annotated[str, WithJsonSchema({"type": "string", "format": "date-time"})]
"""An ISO 8601 timestamp, sent exactly as the store renders it."""


#: A time window ``parse_since`` accepts: a number and a unit (m, h, d, w), above zero and at most
#: ten years (the schema's pattern names a subset: minutes below 10^6, hours below 10^4).
SINCE_PATTERN = (r"^([1-9][0-9]{0,5}m|[1-9][0-9]{0,3}h|([1-9][0-9]{0,2}|[12][0-9]{3}|3[0-5][0-9]{2}|36[0-4][0-9]|3650)d"
                 r"|([1-9][0-9]?|[1-4][0-9]{2}|5[01][0-9]|52[0-1])w)$")
Since = Annotated[str, WithJsonSchema({"type": "string", "pattern": SINCE_PATTERN,
                                       "description": "A time window: a number and a unit, e.g. 7d, 24h, 30m or 2w."})]
"""The ``since`` query parameter (checked by ``insights.models.parse_since``, which names what is wrong)."""


def declared(pattern: str | None = None, max_length: int | None = None, **more: Any) -> dict[str, Any]:
    """``json_schema_extra`` for a field: a rule the route checks itself (with its own message),
    declared in the published schema so clients and the fuzzer know it. A ``pattern`` constrains
    strings only, so it also fits an optional field's ``anyOf``."""
    return {k: v for k, v in {"pattern": pattern, "maxLength": max_length, **more}.items() if v is not None}


class Public(BaseModel):
    """Base of response models: a body with a field the model does not name fails the response
    (a 500 in tests) instead of silently dropping data."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class ErrorPublic(BaseModel):
    """Every error answer: a stable code, a message saying what to do, and the error's fields
    (``scope`` for a missing scope, ``retry_after``, the id that was not found...)."""

    model_config = ConfigDict(extra="allow", json_schema_extra={
        "examples": [{"error": "not_found", "message": "no source 'docs' in workspace 'default'"}]})

    error: str = Field(description="Stable code: unauthorized, forbidden, not_found, conflict, invalid_input...")
    message: str = Field(description="What was wrong and what to do.")


class ProblemPublic(BaseModel):
    """One invalid input: the field's dotted path (``body`` for the whole body) and why."""

    field: str
    message: str


class ValidationErrorPublic(ErrorPublic):
    """A 422: ``invalid_input`` with one entry per problem when the request failed validation;
    checks made after validation (``invalid_input``, ``parse_error``) send the message only."""

    model_config = ConfigDict(extra="allow", json_schema_extra={"examples": [{
        "error": "invalid_input", "message": "query: String should have at least 1 character",
        "problems": [{"field": "query", "message": "String should have at least 1 character"}]}]})

    problems: list[ProblemPublic] = Field(default_factory=list)


class HealthPublic(Public):
    status: str


class HitPublic(Public):
    """One cited passage."""

    rank: int | None
    score: float
    dense_score: float | None
    document_id: str
    chunk_id: str
    source: str
    title: str
    uri: str | None
    section: list[str]
    kind: str
    language: str | None
    topic: list[str]
    text: str


class HitsPublic(Public):
    """A query and its passages, best first."""

    query: str
    documents: int | None = None
    """How many distinct documents the hits come from."""
    notes: list[str] | None = None
    """What was done to the query (for example: cut to its first 10,000 characters)."""
    hits: list[HitPublic]


ERROR_DESCRIPTIONS: dict[int, str] = {
    400: "The configuration given is invalid.",
    401: "Missing, malformed, unknown or revoked API key (checked before the body).",
    403: "The API key lacks the scope this operation needs (checked before the body).",
    404: "The named thing does not exist in the key's workspace.",
    409: "The thing already exists or is busy.",
    413: "The request or a stored text is too large.",
    422: "The request is invalid: every problem with its field.",
    429: "Too many recomputations: wait for the Retry-After seconds.",
    502: "The upstream source failed.",
}


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` entries for error statuses, with the body the API sends."""
    return {code: {"model": ValidationErrorPublic if code == 422 else ErrorPublic,
                   "description": ERROR_DESCRIPTIONS[code]} for code in codes}
