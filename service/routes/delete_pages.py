"""Deleting in the browser: a source, an imported action spec, one action operation.

Each item's page has a *Delete* button that opens a confirmation page naming what leaves (a source's
documents and chunks in the index, its runs and sync state; a spec's operations and secrets; an
operation and whether the agent offers it now). Its form posts ``confirm=yes`` with the CSRF token;
a post without it deletes nothing and shows the confirmation again. The delete itself is the HTTP
API's own function (``DELETE /v1/sources/{name}``, ``DELETE /v1/actions/specs/{name}``,
``DELETE /v1/actions/{id}``), so it needs the same write scope and takes the same code path. A read
key gets the 403 page that says why; something already gone gets a 404 page that says so.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool

from app.runtime import Runtime
from core.errors import AuthError, KnowdeskError, NotFound
from service.deps import RuntimeDep
from service.keys import Principal
from service.routes import actions, sources
from service.routes.workspace import caller_of, can_write, refused, render, see_other, signin, writer_form

router = APIRouter(prefix="/admin", tags=["admin"], include_in_schema=False)
T = TypeVar("T")
READ_ONLY = ("this key can only read; deleting needs a key with the write scope "
             "(`knowdesk keys create --scope write`)")
TO_SOURCES = ("/admin/sources", "Back to the sources")
TO_ACTIONS = ("/admin/actions", "Back to the actions")
NOT_CONFIRMED = "nothing was deleted: press the Delete button on this page to confirm"
#: Document ids are read from the sync state in batches of this many (SQL ``IN`` lists stay small).
BATCH = 500


def writer_page(request: Request, rt: Runtime, load: Callable[[Principal], T],
                back: tuple[str, str]) -> tuple[Principal, T] | Response:
    """A confirmation page's caller (write scope) and what ``load`` reads, or the page instead: the
    sign-in form, the 403 page of a read key, or a 404 page naming what is missing."""
    try:
        caller = caller_of(request, rt)
    except AuthError as exc:
        return signin(request, exc)
    if not can_write(caller):
        return refused(request, caller, READ_ONLY, 403)
    try:
        return caller, load(caller)
    except NotFound as exc:
        return gone(request, caller, exc, back)


async def delete_form(request: Request, rt: Runtime, load: Callable[[Principal], T],
                      back: tuple[str, str]) -> tuple[Principal, dict[str, str], T] | Response:
    """A posted delete's caller (write scope, CSRF checked), its fields and what ``load`` reads, or the
    page refusing it (a 404 page when the item is gone)."""
    got = await writer_form(request, rt)
    if isinstance(got, Response):
        return got
    caller, form = got
    try:
        item = await run_in_threadpool(load, caller)
    except NotFound as exc:
        return gone(request, caller, exc, back)
    return caller, form, item


def gone(request: Request, caller: Principal, exc: KnowdeskError, back: tuple[str, str]) -> Response:
    """The 404 page of a delete whose item does not exist (any more), with a link to ``back``."""
    message = f"{exc.message}. Nothing was deleted: it may have been deleted already."
    return render(request, "refused.html", caller, {"message": message, "back": back}, status=404)


def confirm_page(request: Request, caller: Principal, page: dict[str, Any], *, problem: str = "",
                 status: int = 200) -> Response:
    """``page``: ``what`` (e.g. "source handbook"), ``action`` (the form's url), ``back`` and
    ``back_label`` (the item's page), ``removes`` (lines), optionally ``operations``, ``keeps``
    (what stays), ``warning``, ``blocked`` (why it cannot be deleted now: the page has no Delete button)
    and ``other`` (a delete to offer instead)."""
    return render(request, "confirm_delete.html", caller, {"problem": problem, "operations": [], "keeps": [],
                                                           "warning": "", "blocked": "", "other": "", **page},
                  status=status)


def confirmation(request: Request, rt: Runtime, load: Callable[[Principal], dict[str, Any]],
                 back: tuple[str, str], *, blocked_status: int = 409) -> Response:
    """The GET side of every delete page: the confirmation of what ``load`` reads (with ``blocked``, the
    reason it cannot be deleted now, as its problem and ``blocked_status``)."""
    got = writer_page(request, rt, load, back)
    if isinstance(got, Response):
        return got
    caller, facts = got
    blocked = facts.get("blocked", "")
    return confirm_page(request, caller, facts, problem=blocked, status=blocked_status if blocked else 200)


async def confirmed_delete(request: Request, rt: Runtime, load: Callable[[Principal], dict[str, Any]],
                           back: tuple[str, str], delete: Callable[[Principal], Any],
                           done: Callable[[dict[str, Any], Any], str]) -> Response:
    """The POST side of every delete page: write scope and CSRF (``delete_form``), the confirmation
    again (422) unless the form says ``confirm=yes``, then ``delete(caller)`` (the API's function) and
    a redirect to ``done(facts, result)``; a 404 page when the item is gone, the API's refusal else."""
    got = await delete_form(request, rt, load, back)
    if isinstance(got, Response):
        return got
    caller, form, facts = got
    if form.get("confirm") != "yes":
        return confirm_page(request, caller, facts, problem=facts.get("blocked") or NOT_CONFIRMED, status=422)
    try:
        result = await run_in_threadpool(delete, caller)
    except NotFound as exc:
        return gone(request, caller, exc, back)
    except KnowdeskError as exc:
        return refused(request, caller, exc.message, exc.http_status)
    return see_other(done(facts, result))


def plural(n: int, word: str) -> str:
    """``n`` and ``word``, plural unless ``n`` is 1 ("1 chunk", "3 chunks")."""
    return f"{n} {word}{'' if n == 1 else 's'}"


# -- a source ----------------------------------------------------------------------------------------
def source_facts(rt: Runtime, caller: Principal, name: str) -> dict[str, Any]:
    """What deleting source ``name`` removes (``NotFound`` when there is no such source)."""
    source = sources.get_source(name, caller, rt)
    state = rt.state(caller.workspace, name)
    ids = list(state.indexed().values())
    chunks = sum(d.chunk_count for i in range(0, len(ids), BATCH) for d in state.get_many(ids[i:i + BATCH]).values())
    runs = state.runs(limit=200)
    running = any(r["status"] == "running" for r in runs)
    docs = plural(len(ids), "document")
    where = {"folder": "the files in its folder", "helpcenter-export": "the export file"}.get(
        source["kind"], f"the {source['kind']} content it reads")
    recorded = f"{plural(len(runs), 'recorded run')}{' or more' if len(runs) == 200 else ''}"
    return {
        "what": f"source {name}", "kind": "source", "name": name, "documents": len(ids), "chunks": chunks,
        "action": f"/admin/sources/{quote(name)}/delete", "back": f"/admin/sources/{quote(name)}/edit",
        "back_label": f"Source {name}",
        "removes": [
            f"its {docs} and their {plural(chunks, 'chunk')} leave the search index: the agent no longer "
            "answers or cites from them" if ids else "nothing is indexed from it yet (0 documents, 0 chunks)",
            f"its {source['kind']} options, its schedule and its sync state (cursor, what each document was "
            "when it was last read)",
            f"its {recorded}: a source added again as {name} starts with no runs"
            if runs else "it has no recorded runs",
        ],
        "keeps": [f"{where} (nothing at the source itself is touched; adding the source again re-indexes it)"],
        "warning": "A sync of this source is running: cancel it on the source's page first, so it writes "
                   "nothing after the delete." if running else "",
    }


@router.get("/sources/{name}/delete", response_class=HTMLResponse)
def source_confirm(name: str, request: Request, rt: RuntimeDep) -> Response:
    return confirmation(request, rt, lambda caller: source_facts(rt, caller, name), TO_SOURCES)


@router.post("/sources/{name}/delete", response_class=HTMLResponse)
async def source_delete(name: str, request: Request, rt: RuntimeDep) -> Response:
    """Delete as ``DELETE /v1/sources/{name}`` does, once confirmed; then the list with what left."""
    def done(facts: dict[str, Any], _: Any) -> str:
        notice = (f"deleted source {name}: {plural(facts['documents'], 'document')} "
                  f"({plural(facts['chunks'], 'chunk')}) left the index")
        return f"/admin/sources?notice={quote(notice)}"

    return await confirmed_delete(request, rt, lambda caller: source_facts(rt, caller, name), TO_SOURCES,
                                  lambda caller: sources.remove_source(name, caller, rt), done)


# -- an imported spec ---------------------------------------------------------------------------------
def spec_facts(rt: Runtime, caller: Principal, name: str) -> dict[str, Any]:
    """What deleting spec ``name`` removes (``NotFound`` when there is no such spec)."""
    spec = rt.actions.store.spec(caller.workspace, name)
    ops = actions.list_actions(caller, rt, spec=name)["actions"]
    secrets = [s["scheme"] for s in actions.list_specs(caller, rt)["secrets"] if s["spec"] == name]
    enabled = sum(1 for a in ops if a["channels"])
    return {
        "what": f"spec {name}", "kind": "spec", "name": name, "count": len(ops),
        "action": f"/admin/actions/specs/{quote(name)}/delete", "back": f"/admin/actions#spec-{quote(name)}",
        "back_label": "Actions",
        "removes": [
            f"the spec {spec.title or name} (version {spec.version}) and its base URL",
            f"its {plural(len(ops), 'operation')} ({enabled} enabled): the agent stops offering them and "
            "they leave the search index",
            f"its stored secrets ({', '.join(secrets)})" if secrets else "no secret is stored for it",
        ],
        "operations": ops,
        "keeps": ["the network allowlist (it belongs to the workspace, not to a spec)"],
    }


@router.get("/actions/specs/{name}/delete", response_class=HTMLResponse)
def spec_confirm(name: str, request: Request, rt: RuntimeDep) -> Response:
    return confirmation(request, rt, lambda caller: spec_facts(rt, caller, name), TO_ACTIONS)


@router.post("/actions/specs/{name}/delete", response_class=HTMLResponse)
async def spec_delete(name: str, request: Request, rt: RuntimeDep) -> Response:
    """Delete as ``DELETE /v1/actions/specs/{name}`` does, once confirmed."""
    def done(_: dict[str, Any], removed: Any) -> str:
        notice = f"deleted spec {name} and its {plural(len(removed['removed']), 'operation')}"
        return f"/admin/actions?notice={quote(notice)}"

    return await confirmed_delete(request, rt, lambda caller: spec_facts(rt, caller, name), TO_ACTIONS,
                                  lambda caller: actions.delete_spec(name, caller, rt), done)


# -- one operation -------------------------------------------------------------------------------------
def operation_facts(rt: Runtime, caller: Principal, action_id: str) -> dict[str, Any]:
    """What deleting operation ``action_id`` removes (``NotFound`` when there is no such operation)."""
    a = actions.get_action(action_id, caller, rt)
    call = f"{a['method'].upper()} {a['path']}"
    return {
        "what": f"operation {action_id}", "kind": "operation", "name": action_id, "call": call,
        "action": f"/admin/actions/operations/{quote(action_id)}/delete",
        "back": f"/admin/actions/operations/{quote(action_id)}", "back_label": f"Operation {action_id}",
        "removes": [
            f"the operation {action_id} ({call}) and its settings (channels, segments, confirmation)",
            f"it is enabled on {', '.join(a['channels'])}: the agent stops offering it there and it leaves the "
            "search index" if a["channels"] else "it is disabled, so the agent does not offer it now",
        ],
        "keeps": [f"the spec {a['spec']} and its other operations; importing the spec again brings this "
                  "operation back as a new one"],
    }


@router.get("/actions/operations/{action_id}/delete", response_class=HTMLResponse)
def operation_confirm(action_id: str, request: Request, rt: RuntimeDep) -> Response:
    return confirmation(request, rt, lambda caller: operation_facts(rt, caller, action_id), TO_ACTIONS)


@router.post("/actions/operations/{action_id}/delete", response_class=HTMLResponse)
async def operation_delete(action_id: str, request: Request, rt: RuntimeDep) -> Response:
    """Delete as ``DELETE /v1/actions/{id}`` does, once confirmed."""
    def done(facts: dict[str, Any], _: Any) -> str:
        notice = f"deleted operation {action_id} ({facts['call']})"
        return f"/admin/actions?notice={quote(notice)}"

    return await confirmed_delete(request, rt, lambda caller: operation_facts(rt, caller, action_id), TO_ACTIONS,
                                  lambda caller: actions.delete_action(action_id, caller, rt), done)
