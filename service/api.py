"""The HTTP API (FastAPI). Every request is scoped to its API key's workspace.

Errors are JSON ``{"error": code, "message": text, ...}`` with the status of the error family.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from core.errors import KnowdeskError
from core.models import Source, SourceKind
from flows.runtime import Runtime, get_runtime
from retrieval.search import parse_filters
from service.keys import KeyStore, Principal, Scope

log = logging.getLogger(__name__)


class RetrieveRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    query: str = Field(min_length=1, max_length=4000)
    top_k: int = Field(default=5, ge=1, le=100)
    per_document: int = Field(default=2, ge=1, le=100)
    filters: dict[str, str | list[str]] = Field(default_factory=dict)


class SourceRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    kind: SourceKind
    options: dict[str, Any] = Field(default_factory=dict)
    enabled: bool = True


class SyncRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    full: bool = False
    force: bool = False
    wait: bool = False


def create_app(runtime: Runtime | None = None) -> FastAPI:
    """The API application. ``runtime`` defaults to the process's runtime (settings)."""
    rt = runtime or get_runtime()
    executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="sync")

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        executor.shutdown(wait=False, cancel_futures=True)

    app = FastAPI(title="knowdesk", version="0.1.0", lifespan=lifespan,
                  description="Keeps a support agent's knowledge fresh and retrieves cited passages.")
    running: dict[tuple[str, str], Future[Any]] = {}
    running_guard = threading.Lock()

    @app.exception_handler(KnowdeskError)
    async def _knowdesk_error(_: Request, exc: KnowdeskError) -> JSONResponse:
        return JSONResponse(exc.to_dict(), status_code=exc.http_status)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [{"field": ".".join(str(p) for p in e["loc"][1:]) or "body", "message": e["msg"]}
                    for e in exc.errors()]
        message = "; ".join(f"{p['field']}: {p['message']}" for p in problems)
        return JSONResponse({"error": "invalid_input", "message": message, "problems": problems}, status_code=422)

    def principal(authorization: Annotated[str | None, Header()] = None,
                  x_api_key: Annotated[str | None, Header()] = None) -> Principal:
        token = x_api_key
        if authorization:
            scheme, _, value = authorization.partition(" ")
            token = value if scheme.lower() == "bearer" else authorization
        return KeyStore(db=rt.db).verify(token)

    Caller = Annotated[Principal, Depends(principal)]

    @app.get("/healthz")
    def healthz() -> dict[str, Any]:
        return {"status": "ok"}

    @app.post("/v1/retrieve")
    def retrieve(body: RetrieveRequest, caller: Caller) -> dict[str, Any]:
        caller.require(Scope.READ)
        hits = rt.retrieve(body.query, workspace=caller.workspace, filters=parse_filters(body.filters),
                           top_k=body.top_k, per_document=body.per_document)
        return {"query": body.query, "hits": [_hit(h) for h in hits]}

    @app.get("/v1/sources")
    def list_sources(caller: Caller) -> dict[str, Any]:
        caller.require(Scope.READ)
        return {"sources": [_source(s) for s in rt.sources.list(caller.workspace)]}

    @app.post("/v1/sources", status_code=201)
    def add_source(body: SourceRequest, caller: Caller) -> dict[str, Any]:
        caller.require(Scope.WRITE)
        source = Source(workspace=caller.workspace, name=body.name, kind=body.kind, options=body.options,
                        enabled=body.enabled)
        return _source(rt.sources.add(source))

    @app.get("/v1/sources/{name}")
    def get_source(name: str, caller: Caller) -> dict[str, Any]:
        caller.require(Scope.READ)
        return _source(rt.sources.get(caller.workspace, name))

    @app.delete("/v1/sources/{name}", status_code=204)
    def remove_source(name: str, caller: Caller) -> None:
        caller.require(Scope.WRITE)
        rt.sources.get(caller.workspace, name)
        state = rt.state(caller.workspace, name)
        rt.index.delete_documents(caller.workspace, list(state.indexed().values()))
        state.forget(state.indexed().values())
        rt.sources.remove(caller.workspace, name)

    @app.post("/v1/sources/{name}/sync", status_code=202)
    def sync(name: str, caller: Caller, body: SyncRequest | None = None) -> Any:
        caller.require(Scope.WRITE)
        req = body or SyncRequest()
        source = rt.sources.get(caller.workspace, name)
        if req.wait:
            report = rt.sync(source, full=req.full, force=req.force)
            return JSONResponse(report.summary(), status_code=200)
        key = (caller.workspace, name)
        with running_guard:
            current = running.get(key)
            if current is not None and not current.done():
                return {"status": "already_running", "source": name, "runs": f"/v1/sources/{name}/runs"}
            running[key] = executor.submit(_background_sync, rt, source, req)
        return {"status": "started", "source": name, "runs": f"/v1/sources/{name}/runs"}

    @app.get("/v1/sources/{name}/runs")
    def runs(name: str, caller: Caller, limit: int = 20) -> dict[str, Any]:
        caller.require(Scope.READ)
        rt.sources.get(caller.workspace, name)
        return {"runs": rt.state(caller.workspace, name).runs(limit=max(1, min(limit, 200)))}

    return app


def _background_sync(rt: Runtime, source: Source, req: SyncRequest) -> None:
    try:
        rt.sync(source, full=req.full, force=req.force)
    except KnowdeskError as exc:  # the run record holds the failure; the log says it too
        log.warning("sync of %s failed: %s", source.name, exc.message)


def _source(source: Source) -> dict[str, Any]:
    return {"name": source.name, "kind": source.kind.value, "options": source.options, "enabled": source.enabled}


def _hit(hit: Any) -> dict[str, Any]:
    return {
        "chunk_id": hit.chunk_id,
        "document_id": hit.document_id,
        "source": hit.source_id,
        "title": hit.title,
        "uri": hit.uri,
        "section": list(hit.section),
        "kind": str(hit.kind),
        "language": hit.language,
        "topic": list(hit.topic),
        "score": round(hit.score, 6),
        "dense_score": None if hit.dense_score is None else round(hit.dense_score, 6),
        "text": hit.text,
    }
