"""The HTTP API (FastAPI): an app factory that includes one router per area.

Every request is scoped to its API key's workspace. Errors are JSON
``{"error": code, "message": text, ...}`` with the status of the error family.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.runtime import Runtime, get_runtime
from core.errors import KnowdeskError
from service import hardening
from service.background import Periodic
from service.routes import access as access_routes
from service.routes import (
    action_pages,
    audit_pages,
    chat_pages,
    conflicts,
    content_delete_pages,
    delete_pages,
    evals,
    feedback,
    handoff_pages,
    help_pages,
    help_topic_pages,
    helpcenter,
    index,
    key_pages,
    knowledge_ci,
    portal,
    resolution_pages,
    retrieval,
    runs,
    sessions,
    source_pages,
    sources,
    streaming,
    training,
    training_pages,
)
from service.routes import actions as actions_routes
from service.routes import admin as admin_routes
from service.routes import insights as insights_routes
from service.routes import keys as keys_routes
from service.routes import resolutions as resolutions_routes
from service.routes import workspace as workspace_routes
from service.routing import allowed_methods
from service.schemas.common import HealthPublic


def create_app(runtime: Runtime | None = None, *, local_token: str | None = None) -> FastAPI:
    """The API application. ``runtime`` defaults to the process's runtime (settings); ``local_token``
    is accepted for read requests of the CLI beside this server (``service.running``)."""
    rt = runtime or get_runtime()
    syncs = runs.BackgroundSyncs()

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        rt.batch_queries()  # while serving, concurrent requests share encoder calls
        # handoffs whose helpdesk delivery failed are retried while the API runs
        outbox = Periodic("helpdesk-outbox", 30.0, lambda: _deliver_handoffs(rt)).start()
        yield
        outbox.stop()
        syncs.shutdown()
        rt.stop_batching()

    app = FastAPI(
        title="knowdesk",
        version="0.1.0",
        lifespan=lifespan,
        description="Keeps a support agent's knowledge fresh and answers customers with it.",
    )
    app.state.runtime = rt
    app.state.local_token = local_token
    app.state.syncs = syncs
    hardening.install(app)

    @app.exception_handler(KnowdeskError)
    async def _knowdesk_error(_: Request, exc: KnowdeskError) -> JSONResponse:
        retry = getattr(exc, "retry_after", None)
        headers = {"Retry-After": str(max(1, round(retry)))} if exc.http_status == 429 and retry else None
        body = hardening.documented_problems(exc.to_dict())
        return JSONResponse(hardening.clean_text(body), status_code=exc.http_status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [
            {"field": ".".join(str(p) for p in e["loc"][1:]) or "body", "message": e["msg"]} for e in exc.errors()
        ]
        message = "; ".join(f"{p['field']}: {p['message']}" for p in problems)
        return hardening.error(422, "invalid_input", message, problems=problems)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        headers = dict(exc.headers or {})
        if exc.status_code == 405:  # every method of the path, not only those of the first route matched
            headers["Allow"] = ", ".join(allowed_methods(request))
        return JSONResponse({"error": code, "message": str(exc.detail)}, status_code=exc.status_code,
                            headers=headers)

    @app.get("/healthz", tags=["health"], response_model=HealthPublic)
    def healthz() -> dict[str, Any]:
        """Liveness: the process answers. No key needed."""
        return {"status": "ok"}

    app.include_router(retrieval.router)
    app.include_router(index.router)
    app.include_router(sources.router)
    app.include_router(runs.router)
    app.include_router(helpcenter.router)
    app.include_router(training.router)
    app.include_router(portal.router)
    app.include_router(sessions.router)
    app.include_router(streaming.router)
    app.include_router(evals.router)
    app.include_router(insights_routes.router)
    app.include_router(feedback.router)
    app.include_router(conflicts.router)
    app.include_router(knowledge_ci.router)
    app.include_router(resolutions_routes.router)
    app.include_router(resolutions_routes.signed)
    app.include_router(admin_routes.router)
    app.include_router(workspace_routes.router)
    # before the help and training pages, whose /{locale} and /{change} paths would take .../delete
    app.include_router(content_delete_pages.router)
    app.include_router(source_pages.router)
    app.include_router(handoff_pages.router)
    app.include_router(resolution_pages.router)
    app.include_router(help_pages.router)
    app.include_router(help_topic_pages.router)
    app.include_router(chat_pages.router)
    app.include_router(training_pages.router)
    app.include_router(audit_pages.router)
    app.include_router(actions_routes.router)
    app.include_router(action_pages.router)
    app.include_router(access_routes.router)
    app.include_router(keys_routes.router)
    app.include_router(key_pages.router)
    app.include_router(delete_pages.router)
    return app


def _deliver_handoffs(rt: Runtime) -> None:
    from agent.helpdesk import has_targets

    # Without a target there is nothing to deliver: do not build the agent (and open the index,
    # which the embedded engine locks to this process) only to find that out.
    if not has_targets(rt.settings.agent.helpdesk):
        return
    outbox = rt.agent.recorder.outbox
    if outbox is not None:  # None when no helpdesk or webhook is configured
        outbox.deliver_due()
