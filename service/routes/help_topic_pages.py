"""A help-center topic's page in the browser (``/admin/help/topics/{id}``): rename it, name it per
language (the portal shows a topic's name in the reader's language), put it inside another topic or
back at the top level, and set its position, as ``PATCH /v1/help-center/topics/{id}`` does.

The change goes through ``rt.helpcenter.update_topic`` (the API's use case): the store's checks
(one level of nesting, a known parent, configured languages) and the re-index of the topic's
published articles, whose breadcrumb changes. A read key sees the topic without the form; a refused
form comes back with the message by its field and what was typed, and nothing is stored.
"""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool

from app.runtime import Runtime
from core.errors import Conflict, InvalidInput, NotFound
from helpcenter.models import Topic, TopicInput
from service.deps import RuntimeDep
from service.keys import Principal
from service.routes.help_pages import field_of
from service.routes.workspace import reader_page, refused, render, see_other, writer_form

router = APIRouter(prefix="/admin/help/topics", tags=["admin"], include_in_schema=False)
#: Positions as the store keeps them (a 32-bit integer).
POSITIONS = (-(2**31), 2**31 - 1)


def topic_page(request: Request, rt: Runtime, caller: Principal, topic: Topic, *,
               values: dict[str, str] | None = None, errors: dict[str, str] | None = None, notice: str = "",
               status: int = 200) -> Response:
    store = rt.helpcenter.store
    topics = store.topics(caller.workspace)
    locales = list(store.rules.locales)
    if values is None:
        values = {"name": topic.name, "parent": topic.parent or "", "position": str(topic.position)}
        values |= {f"names-{x}": topic.names.get(x, "") for x in locales}
    subs = [t for t in topics if t.parent == topic.id]
    parents = [("", "none: a top-level topic")] + [(t.id, f"{t.name} ({t.id})") for t in topics
                                                      if t.parent is None and t.id != topic.id]
    return render(request, "help_topic.html", caller, {
        "topic": topic, "values": values, "errors": errors or {}, "notice": notice, "locales": locales,
        "parent_options": parents, "subs": subs, "articles": store.articles(caller.workspace, topic=topic.id)},
        status=status)


def _typed(form: dict[str, str], locales: list[str]) -> dict[str, str]:
    keys = ["name", "parent", "position", *(f"names-{x}" for x in locales)]
    return {k: form.get(k, "").strip() for k in keys}


def _input(rt: Runtime, topic_id: str, values: dict[str, str], locales: list[str]) -> TopicInput:
    """The form as the store's input; ``InvalidInput`` names the field of what is wrong."""
    try:
        position = int(values["position"] or "0")
    except ValueError:
        raise InvalidInput(f"position {values['position']!r} is not a whole number; give e.g. 0, 10 or -5",
                           field="position") from None
    if not POSITIONS[0] <= position <= POSITIONS[1]:
        raise InvalidInput(f"position {position} is out of range; give a number from {POSITIONS[0]} to "
                           f"{POSITIONS[1]}", field="position")
    names = {}
    for x in locales:
        if typed := values[f"names-{x}"]:
            try:
                names[x] = rt.helpcenter.store.rules.title(typed, f"{x} name")
            except InvalidInput as exc:
                raise InvalidInput(exc.message, field=f"names-{x}") from None
    return TopicInput(id=topic_id, name=values["name"], names=names, parent=values["parent"] or None,
                      position=position)


@router.get("/{topic_id}", response_class=HTMLResponse)
def topic_view(topic_id: str, request: Request, rt: RuntimeDep, notice: str = "") -> Response:
    got = reader_page(request, rt, lambda caller: rt.helpcenter.store.topic(caller.workspace, topic_id))
    if isinstance(got, Response):
        return got
    caller, topic = got
    return topic_page(request, rt, caller, topic, notice=notice[:200])


@router.post("/{topic_id}", response_class=HTMLResponse)
async def topic_save(topic_id: str, request: Request, rt: RuntimeDep) -> Response:
    """Save as ``PATCH /v1/help-center/topics/{id}`` does (the published articles' breadcrumbs are
    re-indexed before the page answers)."""
    got = await writer_form(request, rt)
    if isinstance(got, Response):
        return got
    caller, form = got
    hc = rt.helpcenter
    try:
        topic = await run_in_threadpool(hc.store.topic, caller.workspace, topic_id)
    except NotFound as exc:
        return refused(request, caller, exc.message + "; it was deleted, so nothing was saved", 404)
    locales = list(hc.store.rules.locales)
    values = _typed(form, locales)
    try:
        data = _input(rt, topic_id, values, locales)
        await run_in_threadpool(hc.update_topic, caller.workspace, data)
    except (InvalidInput, Conflict) as exc:
        errors = {field_of(exc, "name"): exc.message}
        return await run_in_threadpool(lambda: topic_page(request, rt, caller, topic, values=values, errors=errors,
                                                          status=422))
    except NotFound as exc:  # deleted while the form was sent
        return refused(request, caller, exc.message + "; it was deleted, so nothing was saved", 404)
    return see_other(f"/admin/help/topics/{quote(topic_id)}?notice={quote('saved topic ' + data.name)}")
