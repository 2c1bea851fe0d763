"""Bodies of ``/v1/index``: the token vectors of the second ranking stage (issue 17)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from core.models import SOURCE_NAME
from service.schemas.common import Public, declared


class TokenFillRequest(BaseModel):
    """Which chunks to cover: one source of the caller's workspace, or ``all`` its sources."""

    model_config = ConfigDict(extra="forbid")

    #: checked by the route (``check_name``, which says the rule), declared for clients and the fuzzer
    source: str = Field(default="all", description="A source name of the workspace, or `all` (default).",
                        json_schema_extra=declared(pattern=SOURCE_NAME, max_length=63))
    check: bool = Field(default=False, description="Only report the coverage; fill nothing.")


class TokenCoveragePublic(Public):
    """How many chunks have stored token vectors."""

    kept: int
    total: int


class TokenFillPublic(Public):
    """What ``POST /v1/index/tokens`` found (``check``) or filled, as ``knowdesk reindex --tokens``."""

    source: str
    workspace: str
    collection: str
    model: str
    keeps_tokens: bool = Field(description="False when the live index keeps no token vectors (another model).")
    before: TokenCoveragePublic | None
    after: TokenCoveragePublic | None
    filled: int = Field(description="Chunks whose token vectors were computed and stored now.")
    complete: bool = Field(description="Every chunk in scope has token vectors (after the fill).")
    seconds: float
    stopped: bool
    notes: list[str]
