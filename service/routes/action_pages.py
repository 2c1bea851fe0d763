"""Actions in the browser (``/admin/actions``): the imported OpenAPI specs with their base URL and
security schemes (whether a secret is set, never its value), their operations enabled on channels
or not, each operation's confirmation flag and segments, and the network allowlist.

Every read and change calls the functions of ``/v1/actions`` (``service/routes/actions.py``) with
that API's own request models, so the checks are the same and there is no second path to the data.
Scopes follow the API: a read key sees the pages without their forms; a write key imports specs,
sets base URLs and enables, disables or configures operations; secrets and the allowlist need an
admin key (a read or write key gets a page that says so). Every form carries a CSRF token; a refused
form comes back with the message by its field and what was typed (never a secret), and nothing is
stored.
"""

from __future__ import annotations

from typing import Any, TypeVar
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, ValidationError
from starlette.concurrency import run_in_threadpool

from actions.store import SECRET_FIELDS
from app.runtime import Runtime
from core.errors import AuthError, KnowdeskError, NotFound
from core.models import Channel
from service import hardening
from service.deps import RuntimeDep
from service.keys import Principal, Scope
from service.routes import actions as api
from service.routes.workspace import (
    caller_of,
    reader_page,
    refused,
    render,
    see_other,
    signin,
    writer_form,
    writer_item,
)

M = TypeVar("M", bound=BaseModel)
router = APIRouter(prefix="/admin/actions", tags=["admin"], include_in_schema=False)
#: A spec pasted into the import form: as large as the server takes.
SPEC_FORM_BYTES = hardening.MAX_BODY_BYTES
CHANNELS = [c.value for c in Channel]
ADMIN_ONLY = (
    "this needs a key with the admin scope (`knowdesk keys create --scope admin`): secrets and the "
    "network allowlist decide what the server sends and where it connects"
)


def can_admin(caller: Principal) -> bool:
    return Scope.ADMIN in caller.scopes


def field_errors(exc: ValidationError) -> dict[str, str]:
    """Each refused field of an API request model -> its message (the first per field)."""
    errors: dict[str, str] = {}
    for e in exc.errors():
        field = str(e["loc"][0]) if e["loc"] else "form"
        errors.setdefault(field, str(e["msg"]).removeprefix("Value error, "))
    return errors


def ticked(form: dict[str, str]) -> list[str]:
    """The channels whose ``channel-<name>`` box is ticked, in the enum's order."""
    return [c for c in CHANNELS if form.get(f"channel-{c}") == "on"]


def parse(model: type[M], data: dict[str, Any]) -> tuple[M | None, dict[str, str]]:
    """``data`` as the API's request ``model``, or None and each refused field's message."""
    try:
        return model.model_validate(data), {}
    except ValidationError as exc:
        return None, field_errors(exc)


# -- the list ------------------------------------------------------------------------------------
def overview(rt: Runtime, caller: Principal) -> dict[str, Any]:
    """What the list shows, read through the API's own calls."""
    specs = api.list_specs(caller, rt)
    set_ = {(s["spec"], s["scheme"]) for s in specs["secrets"]}
    actions = api.list_actions(caller, rt)["actions"]
    return {
        "specs": [
            {
                **s,
                "schemes": [
                    {**x, "secret_set": (s["name"], x["name"]) in set_, "fields": SECRET_FIELDS[x["kind"]]}
                    for x in s["schemes"]
                ],
                "count": sum(1 for a in actions if a["spec"] == s["name"]),
            }
            for s in specs["specs"]
        ],
        "actions": actions,
    }


def actions_page(
    request: Request,
    rt: Runtime,
    caller: Principal,
    *,
    notice: str = "",
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    errors_for: str = "",
    status: int = 200,
) -> Response:
    """``errors_for`` names the form the errors belong to (``import``, ``base-<spec>``, ``secret-<spec>-<scheme>``)."""
    return render(
        request,
        "actions.html",
        caller,
        {
            **overview(rt, caller),
            "notice": notice,
            "values": values or {},
            "errors": errors or {},
            "errors_for": errors_for,
            "channels": CHANNELS,
            "can_admin": can_admin(caller),
        },
        status=status,
    )


@router.get("", response_class=HTMLResponse)
def actions_list(request: Request, rt: RuntimeDep, notice: str = "") -> Response:
    try:
        caller = caller_of(request, rt)
    except AuthError as exc:
        return signin(request, exc)
    return actions_page(request, rt, caller, notice=notice[:300])


@router.post("/import", response_class=HTMLResponse)
async def import_spec(request: Request, rt: RuntimeDep) -> Response:
    """Import a pasted spec as ``POST /v1/actions/import`` does; its report becomes the notice."""
    got = await writer_form(request, rt, max_bytes=SPEC_FORM_BYTES)
    if isinstance(got, Response):
        return got
    caller, form = got
    values = {
        "name": form.get("name", "").strip(),
        "spec": form.get("spec", "").replace("\r\n", "\n"),
        "base_url": form.get("base_url", "").strip(),
        "channels": " ".join(ticked(form)),
    }
    body, errors = parse(
        api.ImportRequest,
        {
            "name": values["name"],
            "spec": values["spec"],
            "base_url": values["base_url"] or None,
            "channels": ticked(form),
        },
    )
    if not values["spec"].strip():
        body = None
        errors.setdefault("spec", "paste the OpenAPI 3.x or Swagger 2.0 document (JSON or YAML)")
    if body is not None:
        try:
            report = await run_in_threadpool(api.import_spec, body, caller, rt)
        except KnowdeskError as exc:
            errors = {"spec": exc.message}
    if errors:
        return await run_in_threadpool(
            lambda: actions_page(request, rt, caller, values=values, errors=errors, errors_for="import", status=422)
        )
    skipped = report["skipped"]
    notice = (
        f"imported {values['name']}: {len(report['imported'])} operations"
        + (
            f"; skipped {len(skipped)}: " + "; ".join(f"{s['operation']} ({s['reason']})" for s in skipped[:5])
            if skipped
            else ""
        )
        + ("" if ticked(form) else "; none is enabled yet: enable them below")
    )
    return see_other(f"/admin/actions?notice={quote(notice[:300])}")


@router.post("/specs/{name}/base-url", response_class=HTMLResponse)
async def base_url(name: str, request: Request, rt: RuntimeDep) -> Response:
    got = await writer_form(request, rt)
    if isinstance(got, Response):
        return got
    caller, form = got
    typed = form.get("base_url", "").strip()
    body, errors = parse(api.SpecRequest, {"base_url": typed})
    if body is not None:
        try:
            await run_in_threadpool(api.update_spec, name, body, caller, rt)
        except NotFound as exc:
            return refused(request, caller, exc.message, 404)
        except KnowdeskError as exc:
            errors = {"base_url": exc.message}
    if errors:
        errors = {
            "base_url": "give the address the operations are called at, e.g. https://api.example.com/v1 ("
            + errors["base_url"]
            + ")"
        }
        return await run_in_threadpool(
            lambda: actions_page(
                request, rt, caller, values={"base_url": typed}, errors=errors, errors_for=f"base-{name}", status=422
            )
        )
    return see_other(f"/admin/actions?notice={quote(f'{name} is called at {typed}')}#spec-{name}")


async def admin_form(request: Request, rt: Runtime) -> tuple[Principal, dict[str, str]] | Response:
    """A posted form of an admin key (CSRF checked), or the page refusing it."""
    got = await writer_form(request, rt)
    if isinstance(got, Response):
        return got
    caller, form = got
    if not can_admin(caller):
        return refused(request, caller, ADMIN_ONLY, 403)
    return caller, form


@router.post("/specs/{name}/secrets/{scheme}", response_class=HTMLResponse)
async def secret(name: str, scheme: str, request: Request, rt: RuntimeDep) -> Response:
    """Write (``do=set``) or remove (``do=delete``) a scheme's secret; the value is never sent back."""
    got = await admin_form(request, rt)
    if isinstance(got, Response):
        return got
    caller, form = got
    if form.get("do") == "delete":
        await run_in_threadpool(api.delete_secret, name, scheme, caller, rt)
        return see_other(f"/admin/actions?notice={quote(f'secret of {name}/{scheme} removed')}#spec-{name}")
    fields = [f for v in SECRET_FIELDS.values() for f in v if f in form]
    body, errors = parse(api.SecretRequest, {f: form[f] for f in fields if form[f]})
    if body is not None:
        try:
            await run_in_threadpool(api.set_secret, name, scheme, body, caller, rt)
        except NotFound as exc:
            return refused(request, caller, exc.message, 404)
        except KnowdeskError as exc:
            errors = {"secret": exc.message}
    if errors:
        errors = {"secret": "; ".join(errors.values())}
        return await run_in_threadpool(
            lambda: actions_page(request, rt, caller, errors=errors, errors_for=f"secret-{name}-{scheme}", status=422)
        )
    return see_other(
        f"/admin/actions?notice={quote(f'secret of {name}/{scheme} saved (it is never shown)')}#spec-{name}"
    )


# -- one operation ---------------------------------------------------------------------------------
def operation_page(
    request: Request,
    rt: Runtime,
    caller: Principal,
    action: dict[str, Any],
    *,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    notice: str = "",
    status: int = 200,
) -> Response:
    if values is None:
        values = {
            "channels": " ".join(action["channels"]),
            "segments": " ".join(action["segments"]),
            "confirm": "on" if action["confirm"] else "",
        }
    return render(
        request,
        "action.html",
        caller,
        {"action": action, "values": values, "errors": errors or {}, "notice": notice, "channels": CHANNELS},
        status=status,
    )


@router.get("/operations/{action_id}", response_class=HTMLResponse)
def operation(action_id: str, request: Request, rt: RuntimeDep, notice: str = "") -> Response:
    got = reader_page(request, rt, lambda caller: api.get_action(action_id, caller, rt))
    if isinstance(got, Response):
        return got
    caller, action = got
    return operation_page(request, rt, caller, action, notice=notice[:200])


@router.post("/operations/{action_id}", response_class=HTMLResponse)
async def operation_save(action_id: str, request: Request, rt: RuntimeDep) -> Response:
    """Channels, segments and the confirmation flag, as ``PATCH /v1/actions/{id}``; ``do=enable`` /
    ``do=disable`` (the list's toggle) sets every channel or none and leaves the rest alone."""
    got = await writer_item(request, rt, lambda caller: api.get_action(action_id, caller, rt))
    if isinstance(got, Response):
        return got
    caller, form, action = got
    do = form.get("do", "save")
    values = {
        "channels": " ".join(ticked(form)),
        "segments": form.get("segments", ""),
        "confirm": form.get("confirm", ""),
    }
    if do in ("enable", "disable"):
        data: dict[str, Any] = {"channels": CHANNELS if do == "enable" else []}
    else:
        data = {
            "channels": ticked(form),
            "segments": values["segments"].replace(",", " ").split(),
            "confirm": values["confirm"] == "on",
        }
    body, errors = parse(api.UpdateRequest, data)
    if body is not None:
        try:
            action = await run_in_threadpool(api.update_action, action_id, body, caller, rt)
        except KnowdeskError as exc:
            errors = {"form": exc.message}
    if errors:
        return await run_in_threadpool(
            lambda: operation_page(request, rt, caller, action, values=values, errors=errors, status=422)
        )
    state = (
        f"enabled on {', '.join(action['channels'])}" if action["channels"] else "disabled: the agent does not offer it"
    )
    if do in ("enable", "disable"):
        return see_other(f"/admin/actions?notice={quote(f'{action_id} {state}')}#op-{action_id}")
    return see_other(f"/admin/actions/operations/{quote(action_id)}?notice={quote(f'saved: {state}')}")


# -- the network allowlist (admin) ---------------------------------------------------------------------
def network_page(
    request: Request,
    rt: Runtime,
    caller: Principal,
    *,
    text: str | None = None,
    errors: dict[str, str] | None = None,
    notice: str = "",
    status: int = 200,
) -> Response:
    if text is None:
        text = "\n".join(api.get_network(caller, rt)["allow"])
    return render(
        request, "actions_network.html", caller, {"text": text, "errors": errors or {}, "notice": notice}, status=status
    )


@router.get("/network", response_class=HTMLResponse)
def network(request: Request, rt: RuntimeDep, notice: str = "") -> Response:
    try:
        caller = caller_of(request, rt)
    except AuthError as exc:
        return signin(request, exc)
    if not can_admin(caller):
        return refused(request, caller, "the network allowlist is managed with an admin key; " + ADMIN_ONLY, 403)
    return network_page(request, rt, caller, notice=notice[:200])


@router.post("/network", response_class=HTMLResponse)
async def network_save(request: Request, rt: RuntimeDep) -> Response:
    """Replace the allowlist (one entry a line) as ``PUT /v1/actions/network`` does."""
    got = await admin_form(request, rt)
    if isinstance(got, Response):
        return got
    caller, form = got
    text = form.get("allow", "").replace("\r\n", "\n")
    entries = [line.strip() for line in text.split("\n") if line.strip()]
    body, errors = parse(api.AllowRequest, {"allow": entries})
    if body is not None:
        try:
            await run_in_threadpool(api.set_network, body, caller, rt)
        except KnowdeskError as exc:
            errors = {"allow": exc.message + "; one IP address, network (10.0.0.0/8) or host name a line"}
    if errors:
        return await run_in_threadpool(
            lambda: network_page(
                request, rt, caller, text=text, errors={"allow": "; ".join(errors.values())}, status=422
            )
        )
    what = f"{len(entries)} entries allowed" if entries else "no private address is allowed"
    return see_other(f"/admin/actions/network?notice={quote('saved: ' + what)}")
