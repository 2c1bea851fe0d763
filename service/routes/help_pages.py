"""The help center in the browser (``/admin/help``): topics and their articles with every
translation (stale ones flagged), a Markdown editor with a server-rendered preview, draft /
publish / unpublish, and each translation's versions with a diff and a rollback.

Every read and change goes through ``rt.helpcenter`` (``helpcenter.service.HelpCenter``), the use
cases ``/v1/help-center`` calls: the same checks, and a published text is indexed before the page
answers. A read key sees every page (the editor shows the text, not the form); changes need the
write scope and a CSRF token (``service/routes/workspace.py``). A refused form comes back with the
message by its field and what was typed, and nothing is stored. The editor's topic selector moves the
article with the text in one change; a form sent after the article was moved or deleted elsewhere, or
after its CSRF token expired, comes back with everything typed (topics: ``help_topic_pages.py``).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool

from app.knowledge_ci.models import ChangeStatus
from app.runtime import Runtime
from core.errors import AuthError, Conflict, InvalidInput, KnowdeskError, NotFound
from helpcenter.models import Article, ArticleInput, Status, Topic, TopicInput, Translation, TranslationInput
from helpcenter.publisher import PublishReport
from helpcenter.versions import compare
from service import hardening, web_session
from service.deps import RuntimeDep
from service.keys import Principal
from service.routes.portal import render_markdown
from service.routes.workspace import (
    caller_of,
    can_write,
    form_of,
    reader_page,
    refused,
    render,
    see_other,
    signin,
    writer_form,
)

router = APIRouter(prefix="/admin/help", tags=["admin"], include_in_schema=False)
#: An article's form: as large as the server takes (a 200 KiB body may triple once form-encoded), so an
#: overlong body is refused by the store's rule, by its field, with the text kept.
EDITOR_FORM_BYTES = hardening.MAX_BODY_BYTES
#: The editor's message when the topic chosen is not (or no longer) there.
NO_TOPIC = ("there is no topic {topic!r} (deleted meanwhile?), so nothing was saved; choose one from the list and "
            "save again (your text is kept)")
#: The store's field names -> the form's.
FIELDS = {"topic id": "id", "topic name": "name", "default_locale": "locale"}


def field_of(exc: KnowdeskError, default: str) -> str:
    """The form field an error of the help center's use cases is about."""
    if isinstance(exc, Conflict):
        return "slug" if "slug" in exc.fields else "id"
    name = str(exc.fields.get("field") or default)
    return FIELDS.get(name, name)


def text_of(form: dict[str, str], field: str) -> str:
    """A typed text as stored: the browser's CRLF line ends become LF."""
    return form.get(field, "").replace("\r\n", "\n")


# -- topics and articles ------------------------------------------------------------------------
def listing(rt: Runtime, caller: Principal, *, stale_only: bool) -> list[dict[str, Any]]:
    """Topics in order (sub-topics after their parent), each with its articles."""
    hc = rt.helpcenter
    topics = hc.store.topics(caller.workspace)
    articles = hc.store.articles(caller.workspace)
    if stale_only:
        articles = [a for a in articles if any(t.stale for t in a.translations)]
    return [{"topic": t, "articles": [a for a in articles if a.topic == t.id]} for t in nested(topics)]


def nested(topics: list[Topic]) -> list[Topic]:
    """Topics in order, each top-level one followed by its sub-topics."""
    tops = [t for t in topics if t.parent is None]
    return [x for top in tops for x in (top, *[t for t in topics if t.parent == top.id])]


def help_page(request: Request, rt: Runtime, caller: Principal, *, stale_only: bool = False, notice: str = "",
              values: dict[str, str] | None = None, errors: dict[str, str] | None = None,
              status: int = 200) -> Response:
    groups = listing(rt, caller, stale_only=stale_only)
    held = rt.knowledge_ci.list(caller.workspace, status=ChangeStatus.PENDING, limit=20)
    return render(request, "help.html", caller, {
        "groups": groups, "stale_only": stale_only, "notice": notice, "values": values or {}, "held": held,
        "errors": errors or {}, "parents": [g["topic"] for g in groups if g["topic"].parent is None],
        "count": sum(len(g["articles"]) for g in groups)}, status=status)


def held_notice(report: PublishReport) -> str | None:
    """What the editor is told when knowledge CI held the change back (None: it went through)."""
    if report.pending_change is None:
        return None
    return (f"held by knowledge CI: with this change some answers that worked got worse, so it is not live and "
            f"the text is as before; change {report.pending_change} waits for review (listed on the help "
            f"center page; knowdesk knowledge-ci show {report.pending_change}, then accept or reject)")


@router.get("", response_class=HTMLResponse)
def help_list(request: Request, rt: RuntimeDep, stale: str = "", notice: str = "") -> Response:
    try:
        caller = caller_of(request, rt)
    except AuthError as exc:
        return signin(request, exc)
    return help_page(request, rt, caller, stale_only=stale == "1", notice=notice[:200])


@router.post("/topics", response_class=HTMLResponse)
async def topic_add(request: Request, rt: RuntimeDep) -> Response:
    got = await writer_form(request, rt)
    if isinstance(got, Response):
        return got
    caller, form = got
    values = {k: form.get(k, "").strip() for k in ("id", "name", "parent")}
    data = TopicInput(id=values["id"], name=values["name"], parent=values["parent"] or None)
    try:
        await run_in_threadpool(rt.helpcenter.create_topic, caller.workspace, data)
    except (InvalidInput, Conflict) as exc:
        errors = {field_of(exc, "id"): exc.message}
        return await run_in_threadpool(lambda: help_page(request, rt, caller, values=values, errors=errors,
                                                         status=422))
    return see_other(f"/admin/help?notice={quote('topic ' + values['name'] + ' added')}#topic-{values['id']}")


def new_page(request: Request, rt: Runtime, caller: Principal, values: dict[str, str],
             errors: dict[str, str] | None = None, status: int = 200) -> Response:
    hc = rt.helpcenter
    topics = [("", "choose a topic")] + [(t.id, f"{t.name} ({t.id})") for t in hc.store.topics(caller.workspace)]
    return render(request, "help_new.html", caller, {
        "values": values, "errors": errors or {}, "topic_options": topics,
        "locale_options": [(x, x) for x in hc.store.rules.locales]}, status=status)


@router.get("/new", response_class=HTMLResponse)
def article_new(request: Request, rt: RuntimeDep, topic: str = "") -> Response:
    try:
        caller = caller_of(request, rt)
    except AuthError as exc:
        return signin(request, exc)
    if not can_write(caller):
        return refused(request, caller, "writing an article needs a key with the write scope", 403)
    return new_page(request, rt, caller, {"topic": topic[:64], "locale": rt.settings.helpcenter.default_locale})


@router.post("/articles", response_class=HTMLResponse)
async def article_add(request: Request, rt: RuntimeDep) -> Response:
    got = await writer_form(request, rt, max_bytes=EDITOR_FORM_BYTES)
    if isinstance(got, Response):
        return got
    caller, form = got
    values = {k: form.get(k, "").strip() for k in ("slug", "topic", "locale", "title")}
    values |= {"body": text_of(form, "body"), "publish": form.get("publish", "")}
    locale = values["locale"] or rt.settings.helpcenter.default_locale
    data = ArticleInput(slug=values["slug"], topic=values["topic"], default_locale=locale, translations=(
        TranslationInput(locale=locale, title=values["title"], body=values["body"],
                         status=Status.PUBLISHED if values["publish"] == "on" else Status.DRAFT),))
    try:
        _, report = await run_in_threadpool(rt.helpcenter.create_article, caller.workspace, data)
    except (InvalidInput, Conflict) as exc:
        errors = {field_of(exc, "body"): exc.message}
        return await run_in_threadpool(lambda: new_page(request, rt, caller, values, errors, 422))
    if (held := held_notice(report)) is not None:  # the article was not created: back to the list
        return see_other(f"/admin/help?notice={quote(held)}")
    what = ("published: the agent answers from it now" if values["publish"] == "on"
            else "saved as a draft (the agent does not see drafts)")
    return see_other(f"/admin/help/articles/{quote(values['slug'])}/{locale}?notice={quote(what)}")


# -- one translation: the editor ---------------------------------------------------------------
def editor_page(request: Request, rt: Runtime, caller: Principal, article: Article, locale: str, *,
                values: dict[str, str] | None = None, errors: dict[str, str] | None = None, notice: str = "",
                preview: str | None = None, status: int = 200, newer: Translation | None = None) -> Response:
    """The editor; ``values`` are what the form shows (as typed when it comes back), ``topic_was``
    among them the article's topic when the form was first loaded (a move since is noticed on save),
    ``position_was`` and ``default_locale_was`` likewise, and ``base_version`` the version of the text
    the edit started from. ``newer``: the text someone else saved meanwhile (shown beside the form)."""
    own = article.translation(locale)
    default = article.translation(article.default_locale)
    if values is None:
        values = {"title": own.title, "body": own.body} if own else {"title": "", "body": ""}
    loaded = {"topic": article.topic, "position": str(article.position), "default_locale": article.default_locale}
    values = loaded | {f"{k}_was": v for k, v in loaded.items()} | {"base_version": str(own.version if own else 0)} \
        | values
    shown = preview if preview is not None else values.get("body", "")
    hc = rt.helpcenter
    topics = hc.store.topics(caller.workspace)
    names = {t.id: t.name for t in topics}
    return render(request, "help_article.html", caller, {
        "article": article, "locale": locale, "own": own, "default": default, "values": values,
        "errors": errors or {}, "notice": notice, "preview_html": render_markdown(shown) if shown.strip() else "",
        "previewing": preview is not None, "locales": hc.store.rules.locales,
        "default_html": render_markdown(default.body) if default and default.locale != locale else "",
        "topic": next((t for t in topics if t.id == article.topic), None),
        "topic_options": [(t.id, f"{names.get(t.parent, t.parent)} › {t.name} ({t.id})" if t.parent else
                           f"{t.name} ({t.id})") for t in nested(topics)],
        "versions": hc.store.versions(caller.workspace, article.slug, locale) if own else [],
        "language_options": [(x, x) for x in hc.store.rules.locales if article.translation(x) or x == locale],
        "newer": newer,
        "newer_html": render_markdown(newer.body) if newer else "",
        "portal": f"{hc.publisher.base_url}/{locale}/articles/{article.slug}"}, status=status)


def _found(rt: Runtime, caller: Principal, slug: str, locale: str) -> Article:
    rt.helpcenter.store.rules.locale(locale)
    return rt.helpcenter.store.get(caller.workspace, slug)


def gone_page(request: Request, rt: Runtime, caller: Principal, slug: str, locale: str,
              values: dict[str, str]) -> Response:
    """The article was deleted while its editor was open: the new-article form with what was typed
    (nothing is lost; saving it writes the article again), 404."""
    kept = {"slug": slug, "topic": values.get("topic", ""), "locale": locale, "title": values.get("title", ""),
            "body": values.get("body", "")}
    message = (f"article {slug!r} was deleted while you edited it, so nothing was saved. What you typed is "
               "below: save it to write the article again, or leave this page to drop it.")
    return new_page(request, rt, caller, kept, {"form": message}, 404)


def _editor_values(form: dict[str, str]) -> dict[str, str]:
    values = {"title": form.get("title", "").strip(), "body": text_of(form, "body")}
    for key in ("topic", "topic_was", "position", "position_was", "default_locale", "default_locale_was",
                "base_version"):
        if key in form:
            values[key] = form[key].strip()
    return values


def _changed_facts(article: Article, values: dict[str, str]) -> tuple[int | None, str | None, dict[str, str]]:
    """The position and default language the form changes (None: left as they were when it was
    loaded, so a change made meanwhile by someone else stands), and the problems by field."""
    errors: dict[str, str] = {}
    position = None
    typed = values.get("position", str(article.position)).strip()  # a form without the field leaves it
    if typed != values.get("position_was", str(article.position)).strip():
        if not typed.lstrip("-").isdigit() or len(typed) > 11:
            errors["position"] = (f"the position {typed[:20]!r} is not a whole number; 0 comes first in the topic, "
                                  "then 1, 2… (articles with the same position are ordered by slug)")
        elif not -(2**31) <= int(typed) < 2**31:
            errors["position"] = f"the position {typed} is out of range; use a small whole number (0 comes first)"
        else:
            position = int(typed)
    language = values.get("default_locale", "").strip() or None
    if language == values.get("default_locale_was", article.default_locale):
        language = None
    return position, language, errors


def base_of(values: dict[str, str]) -> int | None:
    """The version the edit started from (None for a form without one, e.g. from an older page)."""
    typed = values.get("base_version", "")
    return int(typed) if typed.isdigit() and len(typed) <= 10 else None


def _move(rt: Runtime, caller: Principal, article: Article,
          values: dict[str, str]) -> tuple[str | None, tuple[str, int] | None]:
    """Where the form moves the article (None: it stays) or, when the move cannot be made, why
    (the message and the page's status: 409 moved by someone else meanwhile, 422 no such topic).

    The topic moves only when the editor changed the choice (``topic`` differs from ``topic_was``,
    the topic the form was loaded with); when the article was moved by someone else meanwhile, the
    editor's choice is not applied blindly: the form comes back to choose again."""
    wanted = values.get("topic", article.topic) or article.topic
    was = values.get("topic_was", article.topic) or article.topic
    if wanted in (was, article.topic):
        return None, None  # left alone (the topic stays as it is now, even if moved since) or already there
    topics = {t.id: t for t in rt.helpcenter.store.topics(caller.workspace)}
    if was != article.topic:
        now = topics.get(article.topic)
        name = f"{now.name} ({now.id})" if now else article.topic
        return None, (f"while you edited, this article was moved to {name} by someone else, so nothing was saved; "
                      "check the topic below and save again (your text is kept)", 409)
    if wanted not in topics:
        return None, (NO_TOPIC.format(topic=wanted), 422)
    return wanted, None


@router.get("/articles/{slug}", response_class=HTMLResponse)
def article_default(slug: str, request: Request, rt: RuntimeDep, locale: str = "") -> Response:
    """The article in its default locale, or in the locale the "add a translation" form names."""
    got = reader_page(request, rt, lambda caller: rt.helpcenter.store.get(caller.workspace, slug))
    if isinstance(got, Response):
        return got
    _, article = got
    return see_other(f"/admin/help/articles/{quote(slug)}/{quote(locale or article.default_locale)}")


@router.get("/articles/{slug}/{locale}", response_class=HTMLResponse)
def article_edit(slug: str, locale: str, request: Request, rt: RuntimeDep, notice: str = "") -> Response:
    got = reader_page(request, rt, lambda caller: _found(rt, caller, slug, locale), (NotFound, InvalidInput))
    if isinstance(got, Response):
        return got
    caller, article = got
    return editor_page(request, rt, caller, article, locale, notice=notice[:200])


async def _expired_editor(request: Request, rt: Runtime, slug: str, locale: str) -> Response | None:
    """An editor form whose CSRF token no longer matches (it was open longer than the token lives, or
    the browser dropped the cookie) comes back with what was typed and a fresh token, saving nothing;
    None when the post was refused for another reason (not signed in, a read key: ``writer_form``'s page)."""
    try:
        caller = caller_of(request, rt)
    except AuthError:
        return None
    form = await form_of(request, EDITOR_FORM_BYTES)
    if not can_write(caller) or not form or not web_session.csrf_problem(request, form.get("csrf")):
        return None
    try:
        article = await run_in_threadpool(_found, rt, caller, slug, locale)
    except (NotFound, InvalidInput):
        return None
    message = ("the form expired or came from another site, so nothing was saved; what you typed is kept "
               "below: check it and send it again")
    return await run_in_threadpool(lambda: editor_page(request, rt, caller, article, locale,
                                                       values=_editor_values(form), errors={"form": message},
                                                       status=403))


@router.post("/articles/{slug}/{locale}", response_class=HTMLResponse)
async def article_save(slug: str, locale: str, request: Request, rt: RuntimeDep) -> Response:
    """``do=preview`` renders the typed text (nothing stored); ``save`` keeps the status (a published
    text is live at once); ``publish`` saves and publishes, or neither when the text is refused.
    A changed topic moves the article in the same change (``HelpCenter.put_translation(topic=...)``):
    the text, the status and the topic are all kept, or none of them."""
    got = await writer_form(request, rt, max_bytes=EDITOR_FORM_BYTES)
    if isinstance(got, Response):  # refused; an expired form of a writer comes back with its text
        return await _expired_editor(request, rt, slug, locale) or got
    caller, form = got
    values = _editor_values(form)
    try:
        rt.helpcenter.store.rules.locale(locale)
        article = await run_in_threadpool(rt.helpcenter.store.get, caller.workspace, slug)
    except InvalidInput as exc:
        return refused(request, caller, exc.message, 404)
    except NotFound:
        return await run_in_threadpool(gone_page, request, rt, caller, slug, locale, values)
    do = form.get("do", "save")
    if do == "preview":
        return await run_in_threadpool(lambda: editor_page(request, rt, caller, article, locale, values=values,
                                                           preview=values["body"]))
    topic, problem = await run_in_threadpool(_move, rt, caller, article, values)
    if problem is not None:
        values["topic_was"] = article.topic  # the next save applies the choice made on this page
        return await run_in_threadpool(lambda: editor_page(request, rt, caller, article, locale, values=values,
                                                           errors={"topic": problem[0]}, status=problem[1]))
    position, language, problems = _changed_facts(article, values)
    if problems:
        return await run_in_threadpool(lambda: editor_page(request, rt, caller, article, locale, values=values,
                                                           errors=problems, status=422))
    data = TranslationInput(locale=locale, title=values["title"], body=values["body"])
    try:
        saved, report = await run_in_threadpool(lambda: rt.helpcenter.put_translation(
            caller.workspace, slug, data, publish=do == "publish", topic=topic, position=position,
            default_locale=language, base_version=base_of(values)))
    except KnowdeskError as exc:
        if isinstance(exc, NotFound) and exc.fields.get("slug") == slug:  # deleted since it was read above
            return await run_in_threadpool(gone_page, request, rt, caller, slug, locale, values)
        if isinstance(exc, Conflict) and exc.fields.get("field") == "version":
            return await run_in_threadpool(stale_page, request, rt, caller, slug, locale, values, exc)
        field = "default_locale" if exc.fields.get("field") == "default_locale" else field_of(exc, "body")
        errors = {field: NO_TOPIC.format(topic=topic) if field == "topic" else exc.message}
        return await run_in_threadpool(lambda: editor_page(request, rt, caller, article, locale, values=values,
                                                           errors=errors, status=422))
    own = saved.translation(locale)
    held = held_notice(report)
    what = (held if held is not None else "saved and published: the agent answers from it now" if do == "publish"
            else "saved; it is published, so the agent answers from it now" if own and own.status is Status.PUBLISHED
            else "saved as a draft (the agent does not see drafts)")
    if topic is not None:
        moved = next((t for t in rt.helpcenter.store.topics(caller.workspace) if t.id == topic), None)
        what = (f"not moved to topic {topic}, and {what}" if held is not None
                else f"moved to topic {moved.name if moved else topic}; {what}")
    return see_other(f"/admin/help/articles/{quote(slug)}/{locale}?notice={quote(what)}")


def stale_page(request: Request, rt: Runtime, caller: Principal, slug: str, locale: str, values: dict[str, str],
               exc: Conflict) -> Response:
    """Someone else saved this text after the editor loaded it: nothing was saved, the form keeps what
    was typed, the newer text is shown beside it, and the next save (now based on the newer version)
    replaces it deliberately. 409."""
    article = rt.helpcenter.store.get(caller.workspace, slug)
    newer = article.translation(locale)
    kept = values | {"base_version": str(newer.version if newer else 0)}
    current = exc.fields.get("current_version")
    message = (f"someone else saved the {locale} text (version {current}) after you opened this page, so yours was "
               "not saved. What you typed is still in the form and the newer text is shown next to it: compare them, "
               "then save again to replace it" if newer else
               f"the {locale} text was deleted after you opened this page, so nothing was saved; what you typed is "
               "still in the form: save again to write it")
    return editor_page(request, rt, caller, article, locale, values=kept, errors={"version": message},
                       status=409, newer=newer)


@router.post("/articles/{slug}/{locale}/status", response_class=HTMLResponse)
async def article_status(slug: str, locale: str, request: Request, rt: RuntimeDep) -> Response:
    got = await writer_form(request, rt)
    if isinstance(got, Response):
        return got
    caller, form = got
    hc, on = rt.helpcenter, form.get("publish") == "on"
    try:
        _, report = await run_in_threadpool(hc.publish if on else hc.unpublish, caller.workspace, slug, [locale])
    except KnowdeskError as exc:
        return refused(request, caller, exc.message, exc.http_status)
    what = held_notice(report) or (
        "published: the agent answers from it now" if on else "unpublished: back to a draft, out of the index")
    return see_other(f"/admin/help/articles/{quote(slug)}/{locale}?notice={quote(what)}")


# -- versions ----------------------------------------------------------------------------------
@router.get("/articles/{slug}/{locale}/versions", response_class=HTMLResponse)
def versions_page(slug: str, locale: str, request: Request, rt: RuntimeDep, old: int = 0, new: int = 0,
                  notice: str = "") -> Response:
    """Every saved text of the translation and the diff of two (default: the last change)."""
    got = reader_page(request, rt, lambda caller: (_found(rt, caller, slug, locale),
                                                   rt.helpcenter.store.versions(caller.workspace, slug, locale)),
                      (NotFound, InvalidInput))
    if isinstance(got, Response):
        return got
    caller, (article, versions) = got
    by_number = {v.version: v for v in versions}
    latest = versions[0]
    b = by_number.get(new) or latest
    a = by_number.get(old) or (by_number.get(b.version - 1) or b)
    current = article.translation(locale)
    return render(request, "help_versions.html", caller, {
        "article": article, "locale": locale, "versions": versions, "a": a, "b": b, "notice": notice[:200],
        "diff": compare(a, b), "current": latest.version if current and (current.title, current.body) == (
            latest.title, latest.body) else None})


@router.post("/articles/{slug}/{locale}/versions/{number}/rollback", response_class=HTMLResponse)
async def rollback(slug: str, locale: str, number: int, request: Request, rt: RuntimeDep) -> Response:
    """Version ``number``'s text becomes the current one again (a new version; the status is kept)."""
    got = await writer_form(request, rt)
    if isinstance(got, Response):
        return got
    caller, _ = got
    try:
        article, report = await run_in_threadpool(rt.helpcenter.rollback, caller.workspace, slug, locale, number)
    except KnowdeskError as exc:
        return refused(request, caller, exc.message, exc.http_status)
    own = article.translation(locale)
    live = " and is live (published)" if own and own.status is Status.PUBLISHED else " (a draft)"
    what = held_notice(report) or f"version {number} is the current text again{live}"
    return see_other(f"/admin/help/articles/{quote(slug)}/{locale}/versions?notice={quote(what)}")
