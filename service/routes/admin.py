"""The analytics page at /admin/insights: server-rendered (Jinja2), charts as inline SVG.

Shows the latest insights of the window with trend sparklines, CSAT over time with its
breakdowns, and handoff reasons over time. Needs a read key: ``Authorization``/``X-API-Key``
headers, or open ``/admin/insights?key=<key>`` once in a browser (stored in an HttpOnly cookie
for this path, then redirected to the page without the key in the address).
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Cookie, Header, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from core.errors import AuthError, InvalidInput
from core.tables import utcnow
from insights.models import parse_since
from service.deps import RuntimeDep
from service.keys import KeyStore, Principal, Scope

router = APIRouter(prefix="/admin", tags=["admin"], include_in_schema=False)
templates = Jinja2Templates(directory=str(Path(__file__).resolve().parent.parent / "templates" / "admin"))
COOKIE = "knowdesk_admin_key"
PALETTE = ["#7a3e0f", "#1f6feb", "#2da44e", "#bf3989", "#9a6700", "#57606a", "#cf222e", "#8250df"]
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


def _principal(rt: Any, authorization: str | None, x_api_key: str | None, cookie: str | None) -> Principal:
    token = x_api_key or cookie
    if authorization:
        scheme, _, value = authorization.partition(" ")
        token = value if scheme.lower() == "bearer" else authorization
    principal = KeyStore(db=rt.db).verify(token)
    principal.require(Scope.READ)
    return principal


@router.get("/insights", response_class=HTMLResponse)
def insights_page(
    request: Request,
    rt: RuntimeDep,
    since: str = "7d",
    key: str | None = None,
    authorization: Annotated[str | None, Header()] = None,
    x_api_key: Annotated[str | None, Header()] = None,
    knowdesk_admin_key: Annotated[str | None, Cookie()] = None,
) -> Response:
    """The analytics page (see the module docstring for how to sign in)."""
    if key:
        KeyStore(db=rt.db).verify(key).require(Scope.READ)
        response = RedirectResponse(f"/admin/insights?since={since}", status_code=303)
        response.set_cookie(COOKIE, key, httponly=True, samesite="strict", path="/admin")
        return response
    try:
        caller = _principal(rt, authorization, x_api_key, knowdesk_admin_key)
    except AuthError as exc:
        return templates.TemplateResponse(request, "signin.html", {"message": exc.message},
                                          status_code=exc.http_status)
    try:
        length = parse_since(since)
    except InvalidInput as exc:
        return templates.TemplateResponse(request, "signin.html", {"message": exc.message}, status_code=422)
    return templates.TemplateResponse(request, "insights.html", page_context(rt, caller.workspace, since, length))


def page_context(rt: Any, workspace: str, since: str, length: timedelta) -> dict[str, Any]:
    """Everything the page shows, with chart geometry computed here (the template only draws)."""
    ic = rt.insights
    run = ic.latest_or_refresh(workspace, since)
    end = utcnow()
    start = end - max(length * 2, timedelta(days=14))
    report = ic.csat.report(workspace, start, end, topics=ic.topics(workspace))
    days = [p.day for p in report.series]
    csat_chart = line_chart([("mean score", [p.mean for p in report.series])], days, lo=1, hi=5)
    reasons = ic.handoff_reasons(workspace, start, end)
    hi = max([max(v) for v in reasons.values()] + [1])
    reason_chart = line_chart([(r, [float(n) for n in v]) for r, v in reasons.items()], days, lo=0,
                              hi=float(max(5, hi + (-hi % 5))))
    insights = [{"item": i, "kind_name": KIND_NAMES.get(i.kind.value, i.kind.value), "spark": sparkline(i.series)}
                for i in run.insights]
    return {"workspace": workspace, "since": since, "run": run, "insights": insights, "report": report,
            "csat_chart": csat_chart, "reason_chart": reason_chart,
            "periods": ["24h", "7d", "14d", "30d"], "kinds": KIND_NAMES}
