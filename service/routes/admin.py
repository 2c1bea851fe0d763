"""The analytics page at /admin/insights: server-rendered (Jinja2), charts as inline SVG.

Shows the latest insights of the window with trend sparklines, CSAT over time with its
breakdowns, and handoff reasons over time. Needs a read key: ``Authorization``/``X-API-Key``
headers, or the sign-in form (a POST with a CSRF token; the browser then holds a session cookie,
see ``service/web_session.py``). A key in the url is never read.
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Cookie, Depends, Header, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from app.conflicts import latest_conflicts
from core.errors import AuthError, InvalidInput, NotFound
from core.tables import utcnow
from evaluation.feedback_cases import export_dataset
from insights.models import parse_since
from service import web_session
from service.deps import RuntimeDep
from service.insights_gate import gate
from service.keys import KeyStore, Principal, Scope

router = APIRouter(prefix="/admin", tags=["admin"], include_in_schema=False)
templates = Jinja2Templates(directory=str(Path(__file__).resolve().parent.parent / "templates" / "admin"))
PALETTE = ["#7a3e0f", "#1f6feb", "#2da44e", "#bf3989", "#9a6700", "#57606a", "#cf222e", "#8250df"]
_SINCE = re.compile(r"^\d{1,4}[mhdw]$")
#: Where a sign-in may send the browser back to: an admin page of this site, never another host.
_NEXT = re.compile(r"^/admin/[A-Za-z0-9_./?=&%-]*$")
KIND_NAMES = {"knowledge_gap": "Knowledge gap", "complaint": "Complaint", "request": "Request", "other": "Other"}


def sparkline(values: list[int], width: int = 120, height: int = 28) -> dict[str, Any]:
    """SVG polyline points of ``values`` scaled into ``width`` x ``height`` (2px margin)."""
    top = max(values) if values and max(values) > 0 else 1
    step = (width - 4) / max(1, len(values) - 1)
    points = [(2 + i * step, height - 2 - (v / top) * (height - 4)) for i, v in enumerate(values)]
    return {"width": width, "height": height, "points": " ".join(f"{x:.1f},{y:.1f}" for x, y in points),
            "last": points[-1] if points else (0, 0)}


def line_chart(series: list[tuple[str, list[float | None]]], labels: list[str], *, lo: float, hi: float,
               width: int = 640, height: int = 200) -> dict[str, Any]:
    """Lines (gaps where a value is None), y from ``lo`` to ``hi``, x labels every few days."""
    left, bottom, right, top = 36, 24, 22, 8
    plot_w, plot_h = width - left - right, height - top - bottom
    step = plot_w / max(1, len(labels) - 1)

    def y(v: float) -> float:
        return top + plot_h - (v - lo) / (hi - lo or 1) * plot_h

    lines = []
    for index, (name, values) in enumerate(series):
        segments: list[list[str]] = [[]]
        dots = []
        for i, v in enumerate(values):
            if v is None:
                segments.append([])
                continue
            segments[-1].append(f"{left + i * step:.1f},{y(v):.1f}")
            dots.append({"x": round(left + i * step, 1), "y": round(y(v), 1), "value": v, "label": labels[i]})
        lines.append({"name": name, "color": PALETTE[index % len(PALETTE)], "dots": dots,
                      "segments": [" ".join(s) for s in segments if s]})
    ticks = [{"y": round(y(v), 1), "label": f"{v:g}"} for v in _ticks(lo, hi)]
    every = max(1, len(labels) // 7)
    xlabels = [{"x": round(left + i * step, 1), "label": labels[i][5:]} for i in range(0, len(labels), every)]
    return {"width": width, "height": height, "left": left, "right": width - right, "top": top,
            "bottom": top + plot_h, "lines": lines, "ticks": ticks, "xlabels": xlabels}


def _ticks(lo: float, hi: float) -> list[float]:
    span = hi - lo
    step = next((s for s in (1, 2, 5, 10, 20, 50, 100, 200, 500) if span / s <= 5), 1000)
    return [lo + i * step for i in range(int(span // step) + 1)]


def page_key(
    request: Request,
    authorization: Annotated[str | None, Header()] = None,
    x_api_key: Annotated[str | None, Header()] = None,
    knowdesk_admin_session: Annotated[str | None, Cookie()] = None,
) -> str | None:
    """The key a page request presents: the ``Authorization`` or ``X-API-Key`` header, else the
    key behind the sign-in session cookie."""
    token = x_api_key or _sessions(request).key(knowdesk_admin_session)
    if authorization:
        scheme, _, value = authorization.partition(" ")
        token = value if scheme.lower() == "bearer" else authorization
    return token


PageKey = Annotated[str | None, Depends(page_key)]


def _principal(rt: Any, token: str | None) -> Principal:
    principal = KeyStore(db=rt.db).verify(token)
    principal.require(Scope.READ)
    return principal


@router.get("/insights", response_class=HTMLResponse)
def insights_page(
    request: Request,
    rt: RuntimeDep,
    token: PageKey,
    since: str = "7d",
) -> Response:
    """The analytics page (see the module docstring for how to sign in)."""
    try:
        caller = _principal(rt, token)
    except AuthError as exc:
        return _signin(request, exc.message, since, status=exc.http_status)
    try:
        length = parse_since(since)
    except InvalidInput as exc:
        return _signin(request, exc.message, "7d", status=422)
    try:
        run = gate(request.app.state).run_for(rt, caller, since)
    except NotFound:  # a read key and no stored run of this window: the newest stored run, if any
        run = rt.insights.insights.latest(caller.workspace)
        if run is None:
            return _signin(request, "no insights are computed yet; they are computed on schedule or by a write key",
                           since, status=404)
        since, length = run.since, parse_since(run.since)
    return templates.TemplateResponse(request, "insights.html", page_context(rt, caller.workspace, since, length, run))


@router.get("/feedback.jsonl", response_class=PlainTextResponse)
def feedback_export(
    request: Request,
    rt: RuntimeDep,
    token: PageKey,
    since: str = "30d",
) -> Response:
    """The one-click export of the page: thumbs-down conversations as an evaluation dataset file."""
    try:
        caller = _principal(rt, token)
    except AuthError as exc:
        return _signin(request, exc.message, since, status=exc.http_status)
    try:
        end = utcnow()
        text, _ = export_dataset(rt.insights.feedback, caller.workspace, start=end - parse_since(since), end=end,
                                 name=f"feedback-{caller.workspace}")
    except (InvalidInput, NotFound) as exc:
        return PlainTextResponse(exc.message + "\n", status_code=exc.http_status)
    return PlainTextResponse(text, media_type="application/x-ndjson", headers={
        "Content-Disposition": f'attachment; filename="feedback-{caller.workspace}.jsonl"'})


@router.post("/signin", response_class=HTMLResponse)
async def signin(request: Request, rt: RuntimeDep) -> Response:
    """The sign-in form's POST: CSRF checked, key checked, then a session cookie and a redirect."""
    raw = await request.body()
    form = {k: v[0] for k, v in parse_qs(raw.decode("utf-8", "replace"), max_num_fields=10).items()}
    since = form.get("since", "7d")
    if not _SINCE.match(since):
        since = "7d"
    if problem := web_session.csrf_problem(request, form.get("csrf")):
        return _signin(request, problem, since, status=403, next_path=form.get("next", ""))
    back = form.get("next", "")
    back = back if _NEXT.match(back) else ""
    key = form.get("key", "").strip()
    try:
        KeyStore(db=rt.db).verify(key).require(Scope.READ)
    except AuthError as exc:
        return _signin(request, exc.message, since, status=exc.http_status, next_path=back)
    response = RedirectResponse(back or f"/admin/insights?since={since}", status_code=303)
    web_session.set_cookie(response, request, web_session.SESSION_COOKIE, _sessions(request).create(key))
    response.delete_cookie(web_session.CSRF_COOKIE, path=web_session.PATH)
    return response


@router.post("/signout", response_class=RedirectResponse, status_code=303)
async def signout(request: Request) -> Response:
    _sessions(request).end(request.cookies.get(web_session.SESSION_COOKIE))
    response = RedirectResponse("/admin/insights", status_code=303)
    response.delete_cookie(web_session.SESSION_COOKIE, path=web_session.PATH)
    return response


def _sessions(request: Request) -> web_session.WebSessions:
    state = request.app.state
    if not hasattr(state, "admin_sessions"):
        state.admin_sessions = web_session.WebSessions()
    sessions: web_session.WebSessions = state.admin_sessions
    return sessions


def _signin(request: Request, message: str, since: str, *, status: int, next_path: str = "") -> Response:
    """The sign-in form, with a fresh CSRF token in a hidden field and in its cookie; ``next_path``
    (an admin page) is where a successful sign-in goes instead of the insights page."""
    token = web_session.csrf_token()
    context = {"message": message, "since": since, "csrf": token, "next": next_path if _NEXT.match(next_path) else ""}
    response = templates.TemplateResponse(request, "signin.html", context, status_code=status)
    web_session.set_cookie(response, request, web_session.CSRF_COOKIE, token, max_age=3600)
    return response


def session_examples(db: Any, workspace: str, session_ids: list[str]) -> list[dict[str, Any]]:
    """What a support lead recognises a conversation by: ticket, channel, day and the customer's first
    words (stored redacted), instead of a bare session id. Sessions deleted since are left out."""
    from agent.sessions import Role, SessionStore

    store = SessionStore(db=db)
    examples = []
    for sid in session_ids:
        try:
            info = store.get(workspace, sid)
        except NotFound:
            continue
        first = next((m.text for m in store.messages(workspace, sid) if m.role == Role.CUSTOMER), "")
        excerpt = first if len(first) <= 90 else first[:89].rstrip() + "…"
        examples.append({"id": sid, "ticket": info.ticket, "channel": info.channel.value,
                         "day": info.created_at.strftime("%Y-%m-%d"), "excerpt": excerpt})
    return examples


def page_context(rt: Any, workspace: str, since: str, length: timedelta, run: Any) -> dict[str, Any]:
    """Everything the page shows, with chart geometry computed here (the template only draws)."""
    ic = rt.insights
    end = utcnow()
    start = end - max(length * 2, timedelta(days=14))
    report = ic.csat.report(workspace, start, end, topics=ic.topics(workspace))
    days = [p.day for p in report.series]
    csat_chart = line_chart([("mean score", [p.mean for p in report.series])], days, lo=1, hi=5)
    reasons = ic.handoff_reasons(workspace, start, end)
    hi = max([max(v) for v in reasons.values()] + [1])
    reason_chart = line_chart([(r, [float(n) for n in v]) for r, v in reasons.items()], days, lo=0,
                              hi=float(max(5, hi + (-hi % 5))))
    feedback = ic.feedback.report(workspace, end - length, end, topics=ic.topics(workspace))
    conflicts = latest_conflicts(rt, workspace)
    insights = [{"item": i, "kind_name": KIND_NAMES.get(i.kind.value, i.kind.value), "spark": sparkline(i.series),
                 "examples": session_examples(rt.db, workspace, i.example_sessions[:2])}
                for i in run.insights]
    return {"workspace": workspace, "since": since, "run": run, "insights": insights, "report": report,
            "csat_chart": csat_chart, "reason_chart": reason_chart, "feedback": feedback,
            "conflicts": conflicts,
            "periods": ["24h", "7d", "14d", "30d"], "kinds": KIND_NAMES}
