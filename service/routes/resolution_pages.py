"""Resolution drafts in the browser (``/admin/resolutions``): Q&A drafts proposed from handed-off
sessions a person resolved, filterable by status; a pending draft is approved (optionally with its title
and answer changed) as an article (published through the help center and knowledge CI's gate) or as a
training scenario (the form's ``as``), or rejected with a note.
A person's reply on a handoff's page (``POST /admin/handoffs/{id}/reply``) stores it, resolves the
session and proposes the draft. Writes need a write key and the CSRF token, as every admin form.

Reads and writes go through ``app.resolutions`` as ``/v1/resolutions`` and the CLI do.
"""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool

from app.resolutions.models import Draft, DraftStatus
from app.resolutions.service import MAX_REPLY_CHARS, ReplyResult
from app.runtime import Runtime
from core.errors import KnowdeskError
from service.deps import RuntimeDep
from service.keys import Principal
from service.routes.workspace import reader_page, refused, render, see_other, writer_form

router = APIRouter(prefix="/admin", tags=["admin"], include_in_schema=False)
STATUSES = [s.value for s in DraftStatus]
#: An approved answer may be edited in the form: more than the default form size.
FORM_BYTES = 128 * 1024


@router.get("/resolutions", response_class=HTMLResponse)
def drafts_page(request: Request, rt: RuntimeDep, status: str = "pending", notice: str = "") -> Response:
    status = status if status in (*STATUSES, "all") else "pending"

    def load(caller: Principal) -> list[Draft]:
        return rt.resolutions.drafts.list(caller.workspace, status=None if status == "all" else status, limit=200)

    got = reader_page(request, rt, load)
    if isinstance(got, Response):
        return got
    caller, drafts = got
    return render(request, "resolutions.html", caller, {
        "drafts": drafts, "status": status, "statuses": [*STATUSES, "all"], "notice": notice[:300]})


async def _decide(request: Request, rt: Runtime, draft_id: str, approve: bool) -> Response:
    got = await writer_form(request, rt, max_bytes=FORM_BYTES)
    if isinstance(got, Response):
        return got
    caller, form = got
    by = f"admin page (key {caller.key_id})"

    def decide() -> Draft:
        if approve:
            return rt.resolutions.approve(caller.workspace, draft_id, by=by, title=form.get("title"),
                                          answer=form.get("answer"), as_=form.get("as") or "article")
        return rt.resolutions.reject(caller.workspace, draft_id, by=by, note=form.get("note", ""))

    try:
        draft = await run_in_threadpool(decide)
    except KnowdeskError as exc:
        return refused(request, caller, exc.message, exc.http_status)
    if not approve:
        done = f"draft from ticket #{draft.ticket} rejected: nothing was published"
    elif draft.published.get("as") == "scenario":
        done = (f"draft from ticket #{draft.ticket} approved as training scenario "
                f"{draft.published.get('scenario_id')!r} ({draft.published.get('status')})")
    elif draft.published.get("pending_change"):
        done = (f"draft from ticket #{draft.ticket} approved; knowledge CI held the change "
                f"{draft.published['pending_change']}: not live until it is accepted")
    else:
        done = f"draft from ticket #{draft.ticket} approved and published as {draft.published.get('slug')!r}"
        if draft.published.get("kind") != draft.kind.value:
            done += " (a section of that article: it was published since and says nearly the same)"
    return see_other(f"/admin/resolutions?status=all&notice={quote(done)}")


@router.post("/resolutions/{draft_id}/approve", response_class=HTMLResponse)
async def approve(draft_id: str, request: Request, rt: RuntimeDep) -> Response:
    return await _decide(request, rt, draft_id, approve=True)


@router.post("/resolutions/{draft_id}/reject", response_class=HTMLResponse)
async def reject(draft_id: str, request: Request, rt: RuntimeDep) -> Response:
    return await _decide(request, rt, draft_id, approve=False)


@router.post("/handoffs/{handoff_id}/reply", response_class=HTMLResponse)
async def reply(handoff_id: str, request: Request, rt: RuntimeDep) -> Response:
    """A person's reply on the handoff's page: stored, and (box ticked) the session resolved and drafted."""
    got = await writer_form(request, rt)
    if isinstance(got, Response):
        return got
    caller, form = got
    text = form.get("text", "")[: MAX_REPLY_CHARS + 1]

    def send() -> ReplyResult:
        return rt.resolutions.reply(caller.workspace, handoff_id, text, by=f"admin page (key {caller.key_id})",
                                    resolve=form.get("resolve") == "on")

    try:
        result = await run_in_threadpool(send)
    except KnowdeskError as exc:
        return refused(request, caller, exc.message, exc.http_status)
    notice = f"reply stored on ticket #{result.session.ticket}"
    if result.draft is not None:
        notice += f"; draft {result.draft.id} waits for review in Drafts"
    elif result.skipped:
        notice += f"; no draft: {result.skipped}"
    return see_other(f"/admin/handoffs/{quote(handoff_id)}?notice={quote(notice[:300])}")
