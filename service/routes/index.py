"""/v1/index: the live index's token vectors for the second ranking stage (issue 17).

``POST /v1/index/tokens`` is ``knowdesk reindex --tokens [SOURCE|all] [--check]`` for the caller's
workspace: the coverage of stored token vectors, and (without ``check``) the missing ones filled
from the text stored in each point (no fetch, no re-embedding of dense or BM25 vectors). It runs
before the response; a long fill can also run as the ``fill-token-vectors`` Prefect flow.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import APIRouter

from core.errors import InvalidInput
from core.models import check_name
from service.deps import RuntimeDep, Writer
from service.routing import KeyedRoute
from service.schemas.common import errors
from service.schemas.index import TokenFillPublic, TokenFillRequest

if TYPE_CHECKING:
    from app.tokens import TokenReport

router = APIRouter(prefix="/v1/index", tags=["index"], route_class=KeyedRoute)


@router.post("/tokens", response_model=TokenFillPublic, responses=errors(404, 422))
def fill_tokens(caller: Writer, rt: RuntimeDep, body: TokenFillRequest | None = None) -> dict[str, Any]:
    """Coverage of the second ranking stage's stored token vectors in the workspace (one source or
    `all`), and with `check` false (the default) the missing ones filled. 404: no such source."""
    from app.tokens import fill_tokens as fill

    body = body or TokenFillRequest()
    try:
        source = body.source if body.source == "all" else check_name(body.source, "source name")
    except ValueError as exc:
        raise InvalidInput(str(exc), field="source") from exc
    report = fill(rt, target=source, workspace=caller.workspace, check=body.check)
    return token_json(report, workspace=caller.workspace)


def token_json(report: TokenReport, *, workspace: str) -> dict[str, Any]:
    """A ``TokenReport`` as ``TokenFillPublic``."""
    data = report.model_dump(mode="json")
    after = report.after
    return {"source": data["target"], "workspace": workspace, "collection": data["collection"],
            "model": data["model"], "keeps_tokens": data["keeps_tokens"], "before": data["before"],
            "after": data["after"], "filled": data["filled"], "complete": bool(after is not None and after.complete),
            "seconds": data["seconds"], "stopped": data["stopped"], "notes": data["notes"]}
