"""API keys in the browser (``/admin/keys``, admin keys only): the workspace's keys with their
scopes and times, a form that creates one (the key is shown on the answering page once, never
stored or sent again) and a revoke button per key. Both go through ``service.routes.keys``, so
the rules are the API's: a name of at most 200 printable characters, at least one scope, and
never the key the page is signed in with.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from app.runtime import Runtime
from core.errors import AuthError, KnowdeskError
from service.deps import RuntimeDep
from service.keys import Principal, Scope
from service.routes import keys as api
from service.routes.action_pages import ADMIN_ONLY, admin_form, can_admin, field_errors
from service.routes.workspace import caller_of, refused, render, see_other, signin

router = APIRouter(prefix="/admin/keys", tags=["admin"], include_in_schema=False)
KEYS_ONLY = ADMIN_ONLY.split(":")[0] + ": a key can grant everything its creator can"


def keys_page(request: Request, rt: Runtime, caller: Principal, *, values: dict[str, str] | None = None,
              errors: dict[str, str] | None = None, created: dict[str, Any] | None = None, notice: str = "",
              status: int = 200) -> Response:
    rows = api.store(rt).list(caller.workspace)
    response = render(request, "keys.html", caller, {
        "keys": rows, "current": caller.key_id, "values": values or {"name": "", "scope": "read"},
        "errors": errors or {}, "created": created, "notice": notice, "scopes": [s.value for s in Scope]},
        status=status)
    if created:  # the one answer that holds a secret must not be kept by the browser or a proxy
        response.headers["cache-control"] = "no-store"
    return response


@router.get("", response_class=HTMLResponse)
def keys(request: Request, rt: RuntimeDep, notice: str = "") -> Response:
    try:
        caller = caller_of(request, rt)
    except AuthError as exc:
        return signin(request, exc)
    if not can_admin(caller):
        return refused(request, caller, KEYS_ONLY, 403)
    return keys_page(request, rt, caller, notice=notice[:200])


@router.post("", response_class=HTMLResponse)
async def create(request: Request, rt: RuntimeDep) -> Response:
    """Create a key as ``POST /v1/keys`` does; the page that answers shows it once."""
    got = await admin_form(request, rt)
    if isinstance(got, Response):
        return got
    caller, form = got
    values = {"name": form.get("name", "").strip(), "scope": form.get("scope", "")}
    errors: dict[str, str] = {}
    try:
        body = api.KeyRequest(name=values["name"], scopes=[values["scope"]])
    except ValidationError as exc:
        errors = {("scope" if k == "scopes" else k): v for k, v in field_errors(exc).items()}
    else:
        try:
            created = await run_in_threadpool(api.create_key, rt, caller, body)
        except KnowdeskError as exc:
            errors = {"name": exc.message}
    if errors:
        return await run_in_threadpool(lambda: keys_page(request, rt, caller, values=values, errors=errors,
                                                         status=422))
    return await run_in_threadpool(lambda: keys_page(request, rt, caller, created=created, status=201))


@router.post("/{key_id}/revoke", response_class=HTMLResponse)
async def revoke(key_id: str, request: Request, rt: RuntimeDep) -> Response:
    """Revoke a key as ``DELETE /v1/keys/{id}`` does (a 404 or 409 page says why it was refused)."""
    got = await admin_form(request, rt)
    if isinstance(got, Response):
        return got
    caller, _ = got
    try:
        await run_in_threadpool(api.revoke_key, rt, caller, key_id[:32])
    except KnowdeskError as exc:
        return refused(request, caller, exc.message, exc.http_status)
    return see_other(f"/admin/keys?notice={quote(f'revoked {key_id}: it is refused from now on')}")
