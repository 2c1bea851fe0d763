"""Training in the browser (``/admin/training``): scenarios (behavioral and scenario-specific)
with their drafts, live versions, publish / unpublish and rollback, and the agent's profile
(name, persona, ground rules) the same way.

Every change goes through ``rt.training`` (``training.service.Training``), the use cases
``/v1/training`` calls: the same checks (``ScenarioDraft.checked``, ``ProfileDraft.checked``), and
a published scenario-specific scenario is indexed before the page answers. A read key sees the
pages without their forms; changes need the write scope and a CSRF token. A refused form comes back
with the message by its field and what was typed, and nothing is stored.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from app.runtime import Runtime
from core.errors import AuthError, Conflict, InvalidInput, KnowdeskError, NotFound
from core.models import Channel
from helpcenter.versions import line_diff
from service.deps import RuntimeDep
from service.keys import Principal
from service.routes.workspace import caller_of, can_write, reader_page, refused, render, see_other, signin, writer_form
from training.drafts import ProfileDraft, ScenarioDraft, ScenarioRecord, slugify
from training.models import AIProfile, Scenario, ScenarioKind

router = APIRouter(prefix="/admin/training", tags=["admin"], include_in_schema=False)
#: A scenario's answer and triggers may hold 20 000 characters each, 3 form bytes a byte at worst.
FORM_BYTES = 512 * 1024
SCENARIO_FIELDS = ("id", "kind", "title", "triggers", "answer", "is_instruction", "segments", "directory",
                   "threshold")


def as_text(data: dict[str, Any]) -> str:
    """A scenario's or profile's content as lines a diff compares."""
    lines: list[str] = []
    for key, value in data.items():
        if isinstance(value, list | tuple):
            lines += [f"{key}:"] + [f"  - {v}" for v in value]
        elif isinstance(value, str) and "\n" in value:
            lines += [f"{key}:"] + [f"  {line}" for line in value.splitlines()]
        else:
            lines.append(f"{key}: {'' if value is None else value}")
    return "\n".join(lines)


def problem_of(exc: ValidationError) -> tuple[str, str]:
    """The form field and message of a draft model's first refusal."""
    first = exc.errors()[0]
    field = str(first["loc"][0]) if first["loc"] else "form"
    return field, str(first["msg"]).removeprefix("Value error, ")


# -- the list --------------------------------------------------------------------------------------
@router.get("", response_class=HTMLResponse)
def training_list(request: Request, rt: RuntimeDep, notice: str = "") -> Response:
    try:
        caller = caller_of(request, rt)
    except AuthError as exc:
        return signin(request, exc)
    draft, live = rt.training.store.profile_draft(caller.workspace)
    return render(request, "training.html", caller, {
        "scenarios": rt.training.store.scenarios(caller.workspace), "profile": draft, "profile_live": live,
        "notice": notice[:200]})


# -- scenarios -------------------------------------------------------------------------------------
def scenario_values(record: ScenarioRecord | None) -> dict[str, str]:
    if record is None:
        return {"kind": ScenarioKind.SPECIFIC.value, "channels": ""}
    d = record.draft
    return {"id": record.id, "kind": d.kind.value, "title": d.title, "triggers": "\n".join(d.triggers),
            "answer": d.answer, "is_instruction": "on" if d.is_instruction else "",
            "channels": " ".join(c.value for c in d.channels), "segments": " ".join(d.segments),
            "directory": d.directory, "threshold": "" if d.threshold is None else f"{d.threshold:g}"}


def draft_of(form: dict[str, str], channels: list[str]) -> tuple[ScenarioDraft | None, dict[str, str]]:
    """The draft a scenario form describes, or the problems by field (before the use case's checks)."""
    threshold: float | None = None
    raw = form.get("threshold", "").strip()
    if raw:
        try:
            threshold = float(raw)
        except ValueError:
            return None, {"threshold": f"{raw!r} is not a number: give one between 0 and 1, or leave it empty "
                                       "for the agent's default"}
    try:
        draft = ScenarioDraft(
            kind=form.get("kind", ""), title=form.get("title", ""),
            triggers=tuple(t for t in form.get("triggers", "").replace("\r\n", "\n").split("\n") if t.strip()),
            answer=form.get("answer", "").replace("\r\n", "\n"), is_instruction=form.get("is_instruction") == "on",
            channels=tuple(channels), segments=tuple(s for s in re.split(r"[\s,]+", form.get("segments", "")) if s),
            directory=form.get("directory", ""), threshold=threshold)
    except ValidationError as exc:
        field, message = problem_of(exc)
        return None, {field if field in SCENARIO_FIELDS or field == "channels" else "form": message}
    return draft, {}


def scenario_page(request: Request, rt: Runtime, caller: Principal, record: ScenarioRecord | None, *,
                  values: dict[str, str] | None = None, errors: dict[str, str] | None = None, notice: str = "",
                  status: int = 200) -> Response:
    versions = rt.training.store.versions(caller.workspace, record.id) if record else []
    live = next((v for v in versions if v.live), None)
    changes = []
    if record is not None and live is not None:
        changes = line_diff(as_text(live.data), as_text(record.draft.model_dump(mode="json")))
    return render(request, "training_scenario.html", caller, {
        "record": record, "values": values if values is not None else scenario_values(record),
        "errors": errors or {}, "notice": notice, "versions": versions, "live": live, "changes": changes,
        "kinds": [(k.value, k.value) for k in ScenarioKind], "channels": [c.value for c in Channel]},
        status=status)


async def _scenario_form(request: Request, rt: Runtime) -> tuple[Principal, dict[str, str], list[str]] | Response:
    got = await writer_form(request, rt, max_bytes=FORM_BYTES)
    if isinstance(got, Response):
        return got
    caller, form = got
    # ``form_of`` keeps one value a name; the channel checkboxes repeat theirs as ``channel-<name>``.
    channels = [c.value for c in Channel if form.get(f"channel-{c.value}") == "on"]
    return caller, form, channels


def _typed(form: dict[str, str], channels: list[str]) -> dict[str, str]:
    return {k: form.get(k, "") for k in SCENARIO_FIELDS} | {"channels": " ".join(channels)}


@router.get("/scenarios/new", response_class=HTMLResponse)
def scenario_new(request: Request, rt: RuntimeDep) -> Response:
    try:
        caller = caller_of(request, rt)
    except AuthError as exc:
        return signin(request, exc)
    if not can_write(caller):
        return refused(request, caller, "writing a scenario needs a key with the write scope", 403)
    return scenario_page(request, rt, caller, None)


@router.post("/scenarios", response_class=HTMLResponse)
async def scenario_add(request: Request, rt: RuntimeDep) -> Response:
    got = await _scenario_form(request, rt)
    if isinstance(got, Response):
        return got
    caller, form, channels = got
    values = _typed(form, channels)
    draft, errors = draft_of(form, channels)
    sid = form.get("id", "").strip() or slugify(form.get("title", ""))
    held = None
    if draft is not None:
        try:
            created = await run_in_threadpool(lambda: rt.training.create(caller.workspace, sid, draft,
                                                                         publish=form.get("publish") == "on"))
            held = held_notice(created.pending_change)
        except (InvalidInput, Conflict) as exc:
            errors = {"id" if isinstance(exc, Conflict) else str(exc.fields.get("field") or "form"): exc.message}
    if errors:
        return await run_in_threadpool(lambda: scenario_page(request, rt, caller, None, values=values,
                                                             errors=errors, status=422))
    what = held or ("published: the agent uses it now" if form.get("publish") == "on"
                    else "saved as a draft (the agent does not use drafts)")
    return see_other(f"/admin/training/scenarios/{quote(sid)}?notice={quote(what)}")


@router.get("/scenarios/{scenario_id}", response_class=HTMLResponse)
def scenario_edit(scenario_id: str, request: Request, rt: RuntimeDep, notice: str = "") -> Response:
    got = reader_page(request, rt, lambda caller: rt.training.store.get(caller.workspace, scenario_id))
    if isinstance(got, Response):
        return got
    caller, record = got
    return scenario_page(request, rt, caller, record, notice=notice[:200])


@router.post("/scenarios/{scenario_id}", response_class=HTMLResponse)
async def scenario_save(scenario_id: str, request: Request, rt: RuntimeDep) -> Response:
    """Replace the draft; ``do=publish`` also makes it the live version (indexed before the answer)."""
    got = await _scenario_form(request, rt)
    if isinstance(got, Response):
        return got
    caller, form, channels = got
    try:
        record = await run_in_threadpool(rt.training.store.get, caller.workspace, scenario_id)
    except NotFound as exc:
        return refused(request, caller, exc.message, 404)
    values = _typed(form, channels) | {"id": scenario_id}
    draft, errors = draft_of(form, channels)
    publish = form.get("do") == "publish"
    held = None
    if draft is not None:
        try:
            updated = await run_in_threadpool(lambda: rt.training.update(caller.workspace, scenario_id, draft,
                                                                         publish=publish))
            held = held_notice(updated.pending_change)
        except InvalidInput as exc:
            errors = {str(exc.fields.get("field") or "form"): exc.message}
    if errors:
        return await run_in_threadpool(lambda: scenario_page(request, rt, caller, record, values=values,
                                                             errors=errors, status=422))
    what = held or ("saved and published: the agent uses it now" if publish
                    else "draft saved; the live version is unchanged")
    return see_other(f"/admin/training/scenarios/{quote(scenario_id)}?notice={quote(what)}")


@router.post("/scenarios/{scenario_id}/{change}", response_class=HTMLResponse)
async def scenario_change(scenario_id: str, change: str, request: Request, rt: RuntimeDep) -> Response:
    """``publish``, ``unpublish``, or ``rollback`` to the form's ``version`` (a new live version)."""
    got = await writer_form(request, rt)
    if isinstance(got, Response):
        return got
    caller, form = got
    t = rt.training
    try:
        if change == "publish":
            done = await run_in_threadpool(t.publish, caller.workspace, scenario_id)
            what = held_notice(done.pending_change) or f"version {_version(done.scenario)} is live"
        elif change == "unpublish":
            record = await run_in_threadpool(t.unpublish, caller.workspace, scenario_id)
            what = held_notice(record.pending_change) or "unpublished: the agent no longer uses it"
        elif change == "rollback" and form.get("version", "").isdigit():
            done = await run_in_threadpool(t.rollback, caller.workspace, scenario_id, int(form["version"]))
            what = held_notice(done.pending_change) or (
                f"version {form['version']}'s content is live again as version {_version(done.scenario)}")
        else:
            return refused(request, caller, f"no change {change!r}: publish, unpublish or rollback with a version",
                           404)
    except KnowdeskError as exc:
        return refused(request, caller, exc.message, exc.http_status)
    return see_other(f"/admin/training/scenarios/{quote(scenario_id)}?notice={quote(what)}")


# -- the agent's profile ---------------------------------------------------------------------------
def profile_page(request: Request, rt: Runtime, caller: Principal, *, values: dict[str, str] | None = None,
                 errors: dict[str, str] | None = None, notice: str = "", status: int = 200) -> Response:
    store = rt.training.store
    draft, live_version = store.profile_draft(caller.workspace)
    versions = store.profile_versions(caller.workspace)
    live = next((v for v in versions if v.live), None)
    return render(request, "training_profile.html", caller, {
        "values": values if values is not None else draft.model_dump(), "errors": errors or {}, "notice": notice,
        "versions": versions, "live_version": live_version,
        "changes": line_diff(as_text(live.data), as_text(draft.model_dump(mode="json"))) if live else []},
        status=status)


@router.get("/profile", response_class=HTMLResponse)
def profile(request: Request, rt: RuntimeDep, notice: str = "") -> Response:
    try:
        caller = caller_of(request, rt)
    except AuthError as exc:
        return signin(request, exc)
    return profile_page(request, rt, caller, notice=notice[:200])


@router.post("/profile", response_class=HTMLResponse)
async def profile_save(request: Request, rt: RuntimeDep) -> Response:
    got = await writer_form(request, rt, max_bytes=FORM_BYTES)
    if isinstance(got, Response):
        return got
    caller, form = got
    values = {k: form.get(k, "").replace("\r\n", "\n") for k in ("name", "persona", "ground_rules")}
    publish = form.get("do") == "publish"
    try:
        _, pending = await run_in_threadpool(lambda: rt.training.save_profile(caller.workspace,
                                                                              ProfileDraft(**values), publish=publish))
    except InvalidInput as exc:
        errors = {str(exc.fields.get("field") or "form"): exc.message}
        return await run_in_threadpool(lambda: profile_page(request, rt, caller, values=values, errors=errors,
                                                            status=422))
    what = held_notice(pending) or ("saved and published: the agent uses it now" if publish
                                    else "draft saved; the live profile is unchanged")
    return see_other(f"/admin/training/profile?notice={quote(what)}")


@router.post("/profile/{change}", response_class=HTMLResponse)
async def profile_change(change: str, request: Request, rt: RuntimeDep) -> Response:
    got = await writer_form(request, rt)
    if isinstance(got, Response):
        return got
    caller, form = got
    t = rt.training
    try:
        if change == "publish":
            done = await run_in_threadpool(t.publish_profile, caller.workspace)
        elif change == "rollback" and form.get("version", "").isdigit():
            done = await run_in_threadpool(t.rollback_profile, caller.workspace, int(form["version"]))
        else:
            return refused(request, caller, f"no change {change!r}: publish, or rollback with a version", 404)
    except KnowdeskError as exc:
        return refused(request, caller, exc.message, exc.http_status)
    what = held_notice(done.pending_change) or f"version {_version(done.profile)} is live"
    return see_other(f"/admin/training/profile?notice={quote(what)}")


def held_notice(change_id: str | None) -> str | None:
    """What the author is told when knowledge CI held a publish back (None: it went live)."""
    if change_id is None:
        return None
    return (f"held by knowledge CI: with this change some answers that worked got worse, so it is not live and the "
            f"agent answers as before; change {change_id} waits for review (knowdesk knowledge-ci show {change_id}, "
            "then accept or reject)")


def _version(published: Scenario | AIProfile | None) -> str:
    return str(published.version) if published is not None else "-"
