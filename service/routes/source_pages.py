"""Adding and editing a source in the browser (``/admin/sources/new``, ``/admin/sources/{name}/edit``).

The form of a kind is made from its connector's ``Options`` model (``ingest/connectors/<kind>``), so
every option of every kind is offered with its type, default and limits, and the hint the model's
docstring gives it. What is typed is checked by that same model (each problem by its field), then
stored through ``POST /v1/sources`` or ``PATCH /v1/sources/{name}`` (``service.routes.sources``): the
same server-path policy, admin-only network switches and nothing stored when something is wrong.
Secrets are never options: a SaaS kind's credentials come from the server's environment, and the
page names the variables without showing a value. The source's page also shows its recent runs and
starts a sync, a full re-index or a cancel (``service/routes/workspace.py`` answers those posts).
"""

from __future__ import annotations

import re
import types
from dataclasses import dataclass
from typing import Any, Union, get_args, get_origin
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, ValidationError
from starlette.concurrency import run_in_threadpool

from app.runtime import Runtime
from core.errors import AuthError, KnowdeskError
from core.models import Source, SourceKind
from ingest.connectors.registry import connector_class, credentials_class
from service.deps import RuntimeDep
from service.keys import Principal
from service.routes import sources
from service.routes.workspace import (
    caller_of,
    can_write,
    reader_page,
    refused,
    render,
    see_other,
    signin,
    writer_form,
    writer_item,
)
from service.source_policy import NETWORK_SWITCHES

router = APIRouter(prefix="/admin/sources", tags=["admin"], include_in_schema=False)
KINDS = [k.value for k in SourceKind]
PREFIX = "opt-"
#: ``name: what it does`` at the start of a docstring's sentence (``a/b:`` and ``a, b:`` name several).
_DOC_NAMES = re.compile(r"(?:^|(?<=\. )|(?<=; ))([a-z_]+(?:(?:/|, )[a-z_]+)*): ")


@dataclass(frozen=True)
class OptionField:
    """One option of a kind as a form field: ``widget`` is text, number, lines, flag or tristate."""

    name: str
    widget: str
    required: bool
    default: Any
    hint: str
    admin: bool

    @property
    def id(self) -> str:
        return PREFIX + self.name

    @property
    def label(self) -> str:
        return self.name.replace("_", " ").capitalize()


def doc_hints(model: type[BaseModel]) -> dict[str, str]:
    """``name: what it does`` sentences of an options model's docstring, by option name."""
    doc = " ".join((model.__doc__ or "").replace("``", "").split())
    found = list(_DOC_NAMES.finditer(doc))
    hints: dict[str, str] = {}
    for i, m in enumerate(found):
        text = doc[m.end() : found[i + 1].start() if i + 1 < len(found) else len(doc)].strip().rstrip(";")
        text += "" if not text or text.endswith(".") else "."
        for name in re.split(r"/|, ", m.group(1)):
            if name in model.model_fields and text:
                hints.setdefault(name, text if text.startswith("http") else text[0].upper() + text[1:])
    return hints


def _widget(annotation: Any) -> str:
    args = [a for a in get_args(annotation) if a is not type(None)]
    optional = get_origin(annotation) in (Union, types.UnionType)
    base = args[0] if optional and len(args) == 1 else annotation
    if get_origin(base) is list:
        return "lines"
    if base is bool:
        return "tristate" if optional else "flag"
    return "number" if base in (int, float) else "text"


def _limits(metadata: list[Any]) -> str:
    words = {"ge": "at least", "gt": "more than", "le": "at most", "lt": "less than"}
    parts = [
        f"{text} {getattr(m, key)}"
        for m in metadata
        for key, text in words.items()
        if getattr(m, key, None) is not None
    ]
    return ", ".join(parts)


def option_fields(kind: SourceKind) -> list[OptionField]:
    """The form fields of ``kind``: every field of its connector's options model, in its order."""
    model = connector_class(kind).Options
    hints = doc_hints(model)
    fields = []
    for name, info in model.model_fields.items():
        widget = _widget(info.annotation)
        default = None if info.is_required() else info.default
        extra = [_limits(info.metadata)]
        if widget in ("number", "text") and default not in (None, ""):
            extra.append(f"default {default}")
        if widget == "lines":
            extra.append("one a line")
        rules = "; ".join(e for e in extra if e)
        hint = " ".join(x for x in [hints.get(name, ""), f"{rules[:1].upper()}{rules[1:]}." if rules else ""] if x)
        fields.append(
            OptionField(
                name=name,
                widget=widget,
                required=info.is_required(),
                default=default,
                hint=hint,
                admin=name in NETWORK_SWITCHES.get(kind, ()),
            )
        )
    return fields


def options_of(fields: list[OptionField], form: dict[str, str]) -> dict[str, Any]:
    """The options a posted form gives (empty fields: the option's default)."""
    options: dict[str, Any] = {}
    for f in fields:
        raw = form.get(f.id, "").replace("\r\n", "\n")
        if f.widget == "flag":
            options[f.name] = raw == "on"
        elif f.widget == "tristate":
            if raw in ("true", "false"):
                options[f.name] = raw == "true"
        elif f.widget == "lines":
            if items := [line.strip() for line in raw.split("\n") if line.strip()]:
                options[f.name] = items
        elif raw.strip():
            options[f.name] = raw.strip()
    return options


def values_of(fields: list[OptionField], options: dict[str, Any]) -> dict[str, str]:
    """Form values showing ``options`` (stored ones; the defaults where an option is not set)."""
    values = {}
    for f in fields:
        value = options.get(f.name, f.default)
        if f.widget == "flag":
            values[f.id] = "on" if value else ""
        elif f.widget == "tristate":
            values[f.id] = "" if value is None else "true" if value else "false"
        elif f.widget == "lines":
            values[f.id] = "\n".join(str(v) for v in value or [])
        else:
            values[f.id] = "" if value is None or f.name not in options else str(value)
    return values


def option_errors(kind: SourceKind, options: dict[str, Any]) -> dict[str, str]:
    """Each option the kind's model refuses -> its message (by the form field's id)."""
    try:
        connector_class(kind).Options(**options)
    except ValidationError as exc:
        errors: dict[str, str] = {}
        for e in exc.errors():
            field = PREFIX + str(e["loc"][0]) if e["loc"] else "form"
            message = str(e["msg"]).removeprefix("Value error, ")
            errors.setdefault(field, "this option is required" if e["type"] == "missing" else message)
        return errors
    return {}


def api_errors(exc: KnowdeskError) -> dict[str, str]:
    """An error of the sources API by its form field (the option it names, the name, or the form)."""
    if "option" in exc.fields:
        return {PREFIX + str(exc.fields["option"]): exc.message}
    return {"name" if "source" in exc.fields else "form": exc.message}


def credentials_of(kind: SourceKind) -> list[str]:
    """The environment variables a kind's credentials come from (never shown with a value)."""
    model = credentials_class(kind)
    return [model.variable(name) for name in model.model_fields] if model else []


def form_page(
    request: Request,
    rt: Runtime,
    caller: Principal,
    kind: SourceKind,
    *,
    source: Source | None = None,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    notice: str = "",
    status: int = 200,
    sched_values: dict[str, str] | None = None,
    sched_errors: dict[str, str] | None = None,
) -> Response:
    fields = option_fields(kind)
    schedule = sources.get_schedule(source.name, caller, rt) if source else None
    if sched_values is None:
        sched_values = schedule_values(schedule["schedule"] if schedule else None)
    if values is None:
        values = {"name": "", "enabled": "on"} | values_of(fields, source.options if source else {})
        if source is not None:
            values["enabled"] = "on" if source.enabled else ""
    runs = rt.state(caller.workspace, source.name).runs(limit=10) if source else []
    return render(
        request,
        "source.html",
        caller,
        {
            "kind": kind.value,
            "kinds": KINDS,
            "fields": fields,
            "source": source,
            "values": values,
            "errors": errors or {},
            "notice": notice,
            "credentials": credentials_of(kind),
            "runs": runs,
            "running": any(r["status"] == "running" for r in runs),
            "roots": [str(r) for r in rt.settings.sources.allowed_roots],
            "schedule": schedule,
            "sched_values": sched_values,
            "sched_errors": sched_errors or {},
        },
        status=status,
    )


def schedule_values(schedule: dict[str, Any] | None) -> dict[str, str]:
    """The schedule form showing ``schedule`` (the API's ``schedule`` object), or an empty one."""
    if schedule is None:
        return {"sched-cron": "", "sched-interval": "", "sched-timezone": "UTC", "sched-enabled": "on"}
    return {"sched-cron": schedule["cron"] or "", "sched-interval": str(schedule["interval_seconds"] or ""),
            "sched-timezone": schedule["timezone"], "sched-enabled": "on" if schedule["enabled"] else ""}


def kind_of(value: str) -> SourceKind | None:
    return SourceKind(value) if value in KINDS else None


@router.get("/new", response_class=HTMLResponse)
def new(request: Request, rt: RuntimeDep, kind: str = "folder") -> Response:
    """The add form of a kind (``?kind=``; a small form on the page switches it)."""
    try:
        caller = caller_of(request, rt)
    except AuthError as exc:
        return signin(request, exc)
    if not can_write(caller):
        return refused(request, caller, "adding a source needs a key with the write scope", 403)
    chosen = kind_of(kind)
    if chosen is None:
        return refused(request, caller, f"unknown source kind {kind[:40]!r}; choose one of {', '.join(KINDS)}", 404)
    return form_page(request, rt, caller, chosen)


@router.post("", response_class=HTMLResponse)
async def add(request: Request, rt: RuntimeDep) -> Response:
    """The add form: stored through ``POST /v1/sources`` and back to the list, or the form again with
    each problem by its field and what was typed."""
    got = await writer_form(request, rt)
    if isinstance(got, Response):
        return got
    caller, form = got
    kind = kind_of(form.get("kind", ""))
    if kind is None:
        return refused(request, caller, f"choose a source kind: one of {', '.join(KINDS)}", 422)
    fields = option_fields(kind)
    values = {k: v for k, v in form.items() if k.startswith(PREFIX) or k in ("name", "enabled")}
    options = options_of(fields, form)
    name = form.get("name", "").strip()
    errors = {} if name else {"name": "give the source a name (letters, digits, - and _)"}
    errors |= option_errors(kind, options)
    if not errors:
        try:
            body = sources.SourceRequest(name=name, kind=kind, options=options, enabled=form.get("enabled") == "on")
            await run_in_threadpool(sources.add_source, body, caller, rt)
        except ValidationError as exc:
            errors = {
                "name": str(exc.errors()[0]["msg"]) + " (letters, digits, - and _, starting with a letter or digit)"
            }
        except KnowdeskError as exc:
            errors = api_errors(exc)
    if errors:
        return await run_in_threadpool(
            lambda: form_page(request, rt, caller, kind, values=values, errors=errors, status=422)
        )
    return see_other(f"/admin/sources?notice={quote('added ' + name)}")


def _source(rt: Runtime, caller: Principal, name: str) -> Source:
    return rt.sources.get(caller.workspace, name)


@router.get("/{name}/edit", response_class=HTMLResponse)
def edit(name: str, request: Request, rt: RuntimeDep, notice: str = "") -> Response:
    """A source's page: its options (write keys), its recent runs, sync / full re-index / cancel."""
    got = reader_page(request, rt, lambda caller: _source(rt, caller, name))
    if isinstance(got, Response):
        return got
    caller, source = got
    return form_page(request, rt, caller, source.kind, source=source, notice=notice[:200])


@router.post("/{name}/edit", response_class=HTMLResponse)
async def save(name: str, request: Request, rt: RuntimeDep) -> Response:
    """New options (and enabled) through ``PATCH /v1/sources/{name}``; refused: the form again."""
    got = await writer_item(request, rt, lambda caller: _source(rt, caller, name))
    if isinstance(got, Response):
        return got
    caller, form, source = got
    fields = option_fields(source.kind)
    values = {k: v for k, v in form.items() if k.startswith(PREFIX) or k == "enabled"}
    options = options_of(fields, form)
    errors = option_errors(source.kind, options)
    if not errors:
        try:
            body = sources.SourceUpdate(options=options, enabled=form.get("enabled") == "on")
            await run_in_threadpool(sources.update_source, name, body, caller, rt)
        except KnowdeskError as exc:
            errors = api_errors(exc)
    if errors:
        return await run_in_threadpool(
            lambda: form_page(request, rt, caller, source.kind, source=source, values=values, errors=errors, status=422)
        )
    what = "saved; the next sync reads the source with these options"
    return see_other(f"/admin/sources/{quote(name)}/edit?notice={quote(what)}")


@router.post("/{name}/schedule", response_class=HTMLResponse)
async def save_schedule(name: str, request: Request, rt: RuntimeDep) -> Response:
    """The schedule form through ``PUT /v1/sources/{name}/schedule``; refused: the page again with the
    message by its field and what was typed (nothing stored)."""
    got = await writer_item(request, rt, lambda caller: _source(rt, caller, name))
    if isinstance(got, Response):
        return got
    caller, form, source = got
    values = {k: form.get(k, "") for k in ("sched-cron", "sched-interval", "sched-timezone", "sched-enabled")}
    try:
        body = sources.ScheduleRequest(cron=values["sched-cron"].strip() or None,
                                       interval=values["sched-interval"].strip() or None,
                                       timezone=values["sched-timezone"].strip() or "UTC",
                                       enabled=values["sched-enabled"] == "on")
        await run_in_threadpool(sources.put_schedule, name, body, caller, rt)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = {"cron": "sched-cron", "interval": "sched-interval"}.get(str(first["loc"][0]), "sched-timezone")
        errors = {field: str(first["msg"])}
    except KnowdeskError as exc:
        errors = {"sched-" + str(exc.fields.get("field")) if exc.fields.get("field") else "form": exc.message}
    else:
        return see_other(f"/admin/sources/{quote(name)}/edit?notice={quote('schedule saved')}#schedule")
    return await run_in_threadpool(lambda: form_page(request, rt, caller, source.kind, source=source,
                                                     sched_values=values, sched_errors=errors, status=422))


@router.post("/{name}/schedule/delete", response_class=HTMLResponse)
async def remove_schedule(name: str, request: Request, rt: RuntimeDep) -> Response:
    """Remove the schedule through ``DELETE /v1/sources/{name}/schedule``."""
    got = await writer_item(request, rt, lambda caller: _source(rt, caller, name))
    if isinstance(got, Response):
        return got
    caller, _, _ = got
    await run_in_threadpool(sources.delete_schedule, name, caller, rt)
    return see_other(f"/admin/sources/{quote(name)}/edit?notice={quote('schedule removed')}#schedule")
