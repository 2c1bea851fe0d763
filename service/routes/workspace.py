"""The content team's workspace in the browser: sources, their sync runs (``/admin/sources``).

Server-rendered pages over the same calls the HTTP API makes: adding and editing a source
(``service/routes/source_pages.py``) go through ``service.routes.sources`` (so the same option
checks, server-path policy and nothing stored when something is wrong), a sync through
``service.routes.runs.sync``, run records through the source's ``SyncState``. Signing in is the
admin pages' form (``service/routes/admin.py``); a read key sees every page, a write key also gets
the forms, and a form posted with a read key is refused with 403. Every form carries a CSRF token
that must equal the one in its cookie (double submit). The run page refreshes its counts from
``.../progress`` with a small static script (``/admin/static/run.js``; the CSP allows scripts from
this server only), or with a meta refresh when scripts are off. The handoff queue lives in
``service/routes/handoff_pages.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qs, quote

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from app.runtime import Runtime
from core.errors import AuthError, KnowdeskError, NotFound
from core.models import SourceKind
from core.tables import utcnow
from service import web_session
from service.deps import RuntimeDep
from service.keys import Principal, Scope
from service.routes import admin, runs, sources

router = APIRouter(prefix="/admin", tags=["admin"], include_in_schema=False)
STATIC = Path(__file__).resolve().parent.parent / "templates" / "admin" / "static"
MAX_FORM_BYTES = 16 * 1024


# -- signing in, CSRF and rendering, shared by every workspace page ------------------------------------
def caller_of(request: Request, rt: Runtime) -> Principal:
    """The signed-in principal (API key headers or the session cookie); ``AuthError`` when none."""
    token = admin.page_key(request, request.headers.get("authorization"), request.headers.get("x-api-key"),
                           request.cookies.get(web_session.SESSION_COOKIE))
    return admin._principal(rt, token)


def signin(request: Request, exc: AuthError) -> Response:
    """The sign-in form, which comes back to this page once the key is accepted."""
    back = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return admin._signin(request, exc.message, "7d", status=exc.http_status, next_path=back)


T = TypeVar("T")


def reader_page(request: Request, rt: Runtime, load: Callable[[Principal], T],
                missing: tuple[type[KnowdeskError], ...] = (NotFound,)) -> tuple[Principal, T] | Response:
    """A page's signed-in caller and what ``load`` reads for it, or the answer instead: the sign-in
    form (not signed in) or a 404 page naming what is missing (``missing`` errors of ``load``)."""
    try:
        caller = caller_of(request, rt)
    except AuthError as exc:
        return signin(request, exc)
    try:
        return caller, load(caller)
    except missing as exc:
        return refused(request, caller, exc.message, 404)


def can_write(caller: Principal) -> bool:
    return Scope.WRITE in caller.scopes


def render(request: Request, template: str, caller: Principal, context: dict[str, Any], *,
           status: int = 200) -> Response:
    """``template`` with the nav, the caller's rights and a CSRF token (set in its cookie if new)."""
    token = request.cookies.get(web_session.CSRF_COOKIE) or web_session.csrf_token()
    page = {"workspace": caller.workspace, "can_write": can_write(caller), "csrf": token,
            "section": template.split(".")[0], **context}
    response = admin.templates.TemplateResponse(request, template, page, status_code=status)
    if request.cookies.get(web_session.CSRF_COOKIE) != token:
        web_session.set_cookie(response, request, web_session.CSRF_COOKIE, token, max_age=8 * 3600)
    return response


def refused(request: Request, caller: Principal, message: str, status: int) -> Response:
    return render(request, "refused.html", caller, {"message": message}, status=status)


async def form_of(request: Request, max_bytes: int = MAX_FORM_BYTES) -> dict[str, str]:
    raw = await request.body()
    if len(raw) > max_bytes:
        return {}
    return {k: v[0] for k, v in parse_qs(raw.decode("utf-8", "replace"), max_num_fields=30).items()}


async def writer_form(request: Request, rt: Runtime, *,
                      max_bytes: int = MAX_FORM_BYTES) -> tuple[Principal, dict[str, str]] | Response:
    """A posted form's caller and fields, or the answer refusing it (not signed in, read key, CSRF);
    ``max_bytes`` bounds the form (an article's body needs more than the default)."""
    try:
        caller = caller_of(request, rt)
    except AuthError as exc:
        return signin(request, exc)
    form = await form_of(request, max_bytes)
    if not can_write(caller):
        return refused(request, caller, "this key can only read; changes need a key with the write scope "
                       "(`knowdesk keys create --scope write`)", 403)
    if web_session.csrf_problem(request, form.get("csrf")):
        return refused(request, caller, "the form expired or came from another site; reload the page and send "
                       "it again", 403)
    return caller, form


async def writer_item(request: Request, rt: Runtime, load: Callable[[Principal], T], *,
                      max_bytes: int = MAX_FORM_BYTES) -> tuple[Principal, dict[str, str], T] | Response:
    """``writer_form`` for a form about one thing: also what ``load`` reads for it, or a 404 page
    naming what is missing (``NotFound`` of ``load``)."""
    got = await writer_form(request, rt, max_bytes=max_bytes)
    if isinstance(got, Response):
        return got
    caller, form = got
    try:
        item = await run_in_threadpool(load, caller)
    except NotFound as exc:
        return refused(request, caller, exc.message, 404)
    return caller, form, item


def see_other(path: str) -> Response:
    return RedirectResponse(path, status_code=303)


@router.get("/static/{name}", include_in_schema=False, response_class=FileResponse)
def static(name: str) -> Response:
    """The pages' scripts (no inline script: the CSP forbids it)."""
    path = STATIC / name
    if "/" in name or not name.endswith(".js") or not path.is_file():
        return Response("not found", status_code=404, media_type="text/plain")
    return FileResponse(path, media_type="text/javascript", headers={"Cache-Control": "no-cache"})


# -- sources ------------------------------------------------------------------------------------------
def next_sync(answer: dict[str, Any] | None) -> str:
    """When a source syncs by itself, as a person reads it, from ``GET /v1/sources/{name}/schedule``."""
    schedule = (answer or {}).get("schedule")
    if not answer or not schedule:
        return "not scheduled"
    what = (f"cron “{schedule['cron']}”" if schedule["kind"] == "cron"
            else f"every {_duration(schedule['interval_seconds'])}") + f" ({schedule['timezone']})"
    if not answer["source_enabled"]:
        return f"{what}; the source is disabled"
    if not schedule["enabled"]:
        return f"{what}; paused"
    return f"{what}; next {answer['next_run_at'][:16].replace('T', ' ')} UTC"


def _duration(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f} {unit}" if seconds % size == 0 else f"{seconds / size:.1f} {unit}"
    return f"{seconds:.0f} s"


def source_rows(rt: Runtime, caller: Principal) -> list[dict[str, Any]]:
    listed = sources.list_sources(caller, rt)["sources"]
    scheduled = {name for name, schedule in rt.sources.schedules(caller.workspace).items() if schedule}
    rows = []
    for s in listed:
        last = next(iter(rt.state(caller.workspace, s["name"]).runs(limit=1)), None)
        # only a scheduled source asks the schedule API (it loads Prefect's schedule code)
        answer = sources.get_schedule(s["name"], caller, rt) if s["name"] in scheduled else None
        rows.append({**s, "last": last, "report": (last or {}).get("report") or {}, "next": next_sync(answer)})
    return rows


def sources_page(request: Request, rt: Runtime, caller: Principal, *, notice: str = "") -> Response:
    """The list; adding and editing a source: ``service/routes/source_pages.py``."""
    return render(request, "sources.html", caller, {
        "sources": source_rows(rt, caller), "notice": notice, "kinds": [k.value for k in SourceKind]})


@router.get("/sources", response_class=HTMLResponse)
def sources_list(request: Request, rt: RuntimeDep, notice: str = "") -> Response:
    try:
        caller = caller_of(request, rt)
    except AuthError as exc:
        return signin(request, exc)
    return sources_page(request, rt, caller, notice=notice[:200])


@router.post("/sources/{name}/enabled", response_class=HTMLResponse)
async def sources_enable(name: str, request: Request, rt: RuntimeDep) -> Response:
    got = await writer_form(request, rt)
    if isinstance(got, Response):
        return got
    caller, form = got
    on = form.get("enabled") == "on"
    try:
        await run_in_threadpool(sources.update_source, name, sources.SourceUpdate(enabled=on), caller, rt)
    except NotFound as exc:
        return refused(request, caller, exc.message, 404)
    what = "enabled" if on else "disabled: scheduled syncs and sync-all skip it, its documents stay indexed"
    return see_other(f"/admin/sources?notice={quote(f'{name} {what}')}")


@router.post("/sources/{name}/sync", response_class=HTMLResponse)
async def sources_sync(name: str, request: Request, rt: RuntimeDep) -> Response:
    """Start a sync as the API does, then show its run once its record exists (a few seconds at most)."""
    got = await writer_form(request, rt)
    if isinstance(got, Response):
        return got
    caller, form = got
    req = runs.SyncRequest(full=form.get("full") == "on")
    try:
        newest = await run_in_threadpool(_newest, rt, caller.workspace, name)
        await run_in_threadpool(runs.sync, name, caller, rt, request, req)
    except KnowdeskError as exc:
        return refused(request, caller, exc.message, exc.http_status)
    after = newest["id"] if newest and newest["status"] != "running" else ""
    return see_other(f"/admin/sources/{quote(name)}/runs/next?after={after}")


@router.post("/sources/{name}/cancel", response_class=HTMLResponse)
async def sources_cancel(name: str, request: Request, rt: RuntimeDep) -> Response:
    """Stop the source's running sync as ``POST /v1/sources/{name}/cancel`` does (it finishes the
    documents in flight and deletes nothing), then back to the run page."""
    got = await writer_form(request, rt)
    if isinstance(got, Response):
        return got
    caller, form = got
    try:
        answer = await run_in_threadpool(runs.cancel, name, caller, rt, request)
    except KnowdeskError as exc:
        return refused(request, caller, exc.message, exc.http_status)
    back = form.get("run", "")
    notice = quote("cancelling: it stops after the documents in flight" if answer["status"] == "cancelling"
                   else "no sync of this source is running")
    return see_other(f"/admin/sources/{quote(name)}/runs/{quote(back)}?notice={notice}" if back
                     else f"/admin/sources?notice={notice}")


def _newest(rt: Runtime, workspace: str, name: str) -> dict[str, Any] | None:
    rt.sources.get(workspace, name)
    return next(iter(rt.state(workspace, name).runs(limit=1)), None)


@router.get("/sources/{name}/runs/next", response_class=HTMLResponse)
def next_run(name: str, request: Request, rt: RuntimeDep, after: str = "") -> Response:
    """Where a started sync lands: its run page once the run is recorded (a source's first sync loads
    the models first), until then a page that looks again every second."""
    try:
        caller = caller_of(request, rt)
        newest = _newest(rt, caller.workspace, name)
    except AuthError as exc:
        return signin(request, exc)
    except NotFound as exc:
        return refused(request, caller, exc.message, 404)
    if newest is not None and newest["id"] != after:
        return see_other(f"/admin/sources/{quote(name)}/runs/{newest['id']}")
    return render(request, "run_pending.html", caller, {"name": name})


# -- runs ---------------------------------------------------------------------------------------------
def find_run(rt: Runtime, caller: Principal, name: str, run_id: str) -> dict[str, Any]:
    rt.sources.get(caller.workspace, name)
    for run in rt.state(caller.workspace, name).runs(limit=200):
        if run["id"] == run_id:
            return progress(run)
    raise NotFound(f"no run {run_id!r} among the recent runs of source {name!r}")


def progress(run: dict[str, Any]) -> dict[str, Any]:
    """The run with what a person watches: done so far, the total where known, the time left."""
    report = run.get("report") or {}
    done = sum(int(report.get(k) or 0) for k in ("written", "unchanged", "failed"))
    total = report.get("total")
    eta = None
    if run["status"] == "running" and total and done:
        elapsed = (utcnow() - datetime.fromisoformat(run["started_at"])).total_seconds()
        eta = round(max(0.0, elapsed / done * (int(total) - done)))
    return {**run, "done": done, "total": total, "eta_seconds": eta,
            "counts": {k: int(report.get(k) or 0) for k in ("fetched", "written", "unchanged", "failed", "deleted")},
            "failures": report.get("failures") or [], "notes": report.get("notes") or []}


@router.get("/sources/{name}/runs/{run_id}", response_class=HTMLResponse)
def run_page(name: str, run_id: str, request: Request, rt: RuntimeDep, notice: str = "") -> Response:
    try:
        caller = caller_of(request, rt)
    except AuthError as exc:
        return signin(request, exc)
    try:
        run = find_run(rt, caller, name, run_id)
    except NotFound as exc:
        return refused(request, caller, exc.message, 404)
    return render(request, "run.html", caller, {"name": name, "run": run, "notice": notice[:200]})


@router.get("/sources/{name}/runs/{run_id}/progress")
def run_progress(name: str, run_id: str, request: Request, rt: RuntimeDep) -> Response:
    """The run page's counts as JSON, for its script."""
    try:
        caller = caller_of(request, rt)
        run = find_run(rt, caller, name, run_id)
    except (AuthError, NotFound) as exc:
        return JSONResponse(exc.to_dict(), status_code=exc.http_status)
    keep = ("id", "status", "done", "total", "eta_seconds", "counts", "finished_at")
    return JSONResponse({k: run[k] for k in keep} | {"failures": len(run["failures"])})
