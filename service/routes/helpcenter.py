"""/v1/help-center: topics, articles and translations; publishing indexes, unpublishing removes.

Reads need the read scope, changes the write scope; everything is scoped to the key's workspace.
Write responses carry ``index``: what the change did to the index (written, deleted...).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Response
from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema

from core.errors import InvalidInput, NotFound
from core.models import NON_BLANK, WHITESPACE, StoredInt
from helpcenter.models import (
    LOCALE,
    MAX_TITLE,
    SLUG,
    Article,
    ArticleInput,
    Status,
    Topic,
    TopicInput,
    TranslationInput,
    Version,
)
from helpcenter.publisher import PublishReport
from helpcenter.versions import compare
from retrieval.search import SearchFilters
from service import output
from service.deps import Reader, RuntimeDep, Writer
from service.routing import KeyedRoute
from service.schemas.common import declared, errors
from service.schemas.helpcenter import (
    ArticleChangePublic,
    ArticleDeletedPublic,
    ArticlePublic,
    ArticlesPublic,
    HelpReindexPublic,
    HelpSearchPublic,
    LocaleTextPublic,
    TopicChangePublic,
    TopicPublic,
    TopicsPublic,
    VersionDiffPublic,
    VersionPublic,
    VersionsPublic,
)

router = APIRouter(prefix="/v1/help-center", tags=["help center"], route_class=KeyedRoute)


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


_SLUG = declared(SLUG.pattern)
_TITLE = declared(NON_BLANK, MAX_TITLE)
#: Translated names by locale (a locale the help center is configured for: ``KNOWDESK_HELPCENTER__LOCALES``).
_NAMES = declared(propertyNames={"pattern": LOCALE.pattern}, additionalProperties={"type": "string", **_TITLE})
#: Markdown text: not blank, no NUL; at most ``KNOWDESK_HELPCENTER__MAX_BODY_BYTES`` in UTF-8
#: (the schema's character limit fits the default 200 KiB at 4 bytes a character).
_MARKDOWN = declared(f"^[^\\x00]*[^\\x00{WHITESPACE}][^\\x00]*$", 50_000)


#: A locale in a path: one of the configured locales (``KNOWDESK_HELPCENTER__LOCALES``).
LocaleParam = Annotated[str, WithJsonSchema({"type": "string", "pattern": LOCALE.pattern})]


class TopicBody(_Body):
    id: str = Field(json_schema_extra=_SLUG)
    name: str = Field(json_schema_extra=_TITLE)
    names: dict[str, str] = Field(default_factory=dict, json_schema_extra=_NAMES)
    #: Another existing topic (one level deep).
    parent: str | None = Field(default=None, json_schema_extra=_SLUG)
    position: StoredInt = 0


class TopicUpdate(_Body):
    name: str | None = Field(default=None, json_schema_extra=_TITLE)
    names: dict[str, str] | None = Field(default=None, json_schema_extra=_NAMES)
    parent: str | None = Field(default=None, json_schema_extra=_SLUG)
    position: StoredInt | None = None


class ArticleBody(_Body):
    slug: str = Field(json_schema_extra=_SLUG)
    #: An existing topic.
    topic: str = Field(json_schema_extra=_SLUG)
    #: A configured locale (default: the help center's default locale).
    locale: str | None = Field(default=None, json_schema_extra=declared(LOCALE.pattern))
    title: str = Field(json_schema_extra=_TITLE)
    body: str = Field(json_schema_extra=_MARKDOWN)
    position: StoredInt = 0
    publish: bool = False


class ArticleUpdate(_Body):
    topic: str | None = Field(default=None, json_schema_extra=_SLUG)
    position: StoredInt | None = None
    default_locale: str | None = Field(default=None, json_schema_extra=declared(LOCALE.pattern))


class TranslationBody(_Body):
    title: str = Field(json_schema_extra=_TITLE)
    body: str = Field(json_schema_extra=_MARKDOWN)
    publish: bool = False
    base_version: int | None = Field(
        default=None, ge=0, le=2**31 - 1,
        description="The version this edit started from (``version`` of the text read, 0 for a new locale; or "
                    "send it as ``If-Match``): when the text was saved again since, nothing is written and the "
                    "answer is 409 with ``current_version``. Omitted: the text is written whatever was saved "
                    "meanwhile.")


class Locales(_Body):
    locales: list[str] | None = Field(default=None, json_schema_extra=declared(items={"pattern": LOCALE.pattern}))


class RollbackBody(_Body):
    #: A saved version of the translation (``GET .../versions``).
    version: int = Field(ge=1, le=2**31 - 1)


class SearchBody(_Body):
    query: str = Field(min_length=1, max_length=4000, json_schema_extra=declared(NON_BLANK))
    locale: str | None = Field(default=None, json_schema_extra=declared(LOCALE.pattern))
    top_k: int = Field(default=5, ge=1, le=50)


def topic_json(t: Topic) -> dict[str, Any]:
    return t.model_dump(mode="json")


def article_json(a: Article, *, bodies: bool = True, base: str = "/help") -> dict[str, Any]:
    return {
        "slug": a.slug, "topic": a.topic, "default_locale": a.default_locale, "position": a.position,
        "created_at": a.created_at.isoformat(), "updated_at": a.updated_at.isoformat(),
        "translations": [
            t.model_dump(mode="json", exclude={"slug"} if bodies else {"slug", "body"})
            | {"url": f"{base}/{t.locale}/articles/{a.slug}"}
            for t in a.translations
        ],
    }


def _changed(a: Article, report: PublishReport) -> dict[str, Any]:
    return {"article": article_json(a), "index": report.model_dump(mode="json")}


# -- topics -----------------------------------------------------------------------------------------
@router.get("/topics", response_model=TopicsPublic)
def list_topics(caller: Reader, rt: RuntimeDep) -> dict[str, Any]:
    return {"topics": [topic_json(t) for t in rt.helpcenter.store.topics(caller.workspace)]}


@router.post("/topics", status_code=201, response_model=TopicPublic, responses=errors(409))
def create_topic(body: TopicBody, caller: Writer, rt: RuntimeDep) -> dict[str, Any]:
    return topic_json(rt.helpcenter.create_topic(caller.workspace, TopicInput(**body.model_dump())))


@router.patch("/topics/{topic_id}", response_model=TopicChangePublic)
def update_topic(topic_id: str, body: TopicUpdate, caller: Writer, rt: RuntimeDep) -> dict[str, Any]:
    """Rename, move or re-order a topic; its published articles are re-indexed. With knowledge CI
    configured the change may be held (``index.pending_change``: the topic shown is as it still is;
    it changes once the change is accepted)."""
    current = rt.helpcenter.store.topic(caller.workspace, topic_id)
    changes = body.model_dump(exclude_unset=True)
    data = TopicInput(**(current.model_dump() | changes))
    topic, report = rt.helpcenter.update_topic(caller.workspace, data)
    return topic_json(topic) | {"index": report.model_dump(mode="json")}


@router.delete("/topics/{topic_id}", status_code=204, responses=errors(409))
def delete_topic(topic_id: str, caller: Writer, rt: RuntimeDep) -> Response:
    rt.helpcenter.delete_topic(caller.workspace, topic_id)
    return Response(status_code=204)


# -- articles ---------------------------------------------------------------------------------------
@router.get("/articles", response_model=ArticlesPublic)
def list_articles(caller: Reader, rt: RuntimeDep, topic: str | None = None, status: Status | None = None,
                  stale: bool | None = None) -> dict[str, Any]:
    """Articles without bodies; ``status`` keeps those with a translation in that status,
    ``stale=true`` those with a translation older than its default locale's text."""
    articles = rt.helpcenter.store.articles(caller.workspace, topic=topic)
    if status is not None:
        articles = [a for a in articles if any(t.status is status for t in a.translations)]
    if stale is not None:
        articles = [a for a in articles if any(t.stale for t in a.translations) is stale]
    return {"articles": [article_json(a, bodies=False) for a in articles]}


@router.post("/articles", status_code=201, response_model=ArticleChangePublic, responses=errors(404, 409))
def create_article(body: ArticleBody, caller: Writer, rt: RuntimeDep) -> dict[str, Any]:
    """A new article in one locale (default: the help center's default locale); ``publish`` indexes it."""
    hc = rt.helpcenter
    locale = body.locale or rt.settings.helpcenter.default_locale
    status = Status.PUBLISHED if body.publish else Status.DRAFT
    data = ArticleInput(slug=body.slug, topic=body.topic, default_locale=locale, position=body.position,
                        translations=(TranslationInput(locale=locale, title=body.title, body=body.body,
                                                       status=status),))
    article, report = hc.create_article(caller.workspace, data)
    return _changed(article, report)


@router.get("/articles/{slug}", response_model=ArticlePublic)
def get_article(slug: str, caller: Reader, rt: RuntimeDep) -> dict[str, Any]:
    return article_json(rt.helpcenter.store.get(caller.workspace, slug))


@router.patch("/articles/{slug}", response_model=ArticleChangePublic)
def update_article(slug: str, body: ArticleUpdate, caller: Writer, rt: RuntimeDep) -> dict[str, Any]:
    article, report = rt.helpcenter.update_article(caller.workspace, slug, **body.model_dump(exclude_unset=True))
    return _changed(article, report)


@router.delete("/articles/{slug}", response_model=ArticleDeletedPublic)
def delete_article(slug: str, caller: Writer, rt: RuntimeDep) -> dict[str, Any]:
    """Delete an article and every translation; its documents leave the index. With knowledge CI
    configured the delete may be held: ``deleted`` is then null and ``index.pending_change`` names the
    change (the article stays until it is accepted)."""
    report = rt.helpcenter.delete_article(caller.workspace, slug)
    return {"deleted": None if report.pending_change else slug, "index": report.model_dump(mode="json")}


@router.get("/articles/{slug}/{locale}", response_model=LocaleTextPublic)
def get_translation(slug: str, locale: LocaleParam, caller: Reader, rt: RuntimeDep, response: Response,
                    published: bool = False) -> dict[str, Any]:
    """One locale's text. Missing (or, with ``published=true``, unpublished) falls back to the
    default locale: ``fallback`` says so and ``served_locale`` names the locale returned. ``version``
    (also the ``ETag``) is what an edit of the locale sends back (0 when the locale has no text yet)."""
    hc = rt.helpcenter
    hc.store.rules.locale(locale)
    article = hc.store.get(caller.workspace, slug)
    if published:
        found = article.published(locale)
        if found is None:
            raise NotFound(f"article {slug!r} has no published text in {locale!r} or its default locale",
                           slug=slug)
        text, fallback = found
    else:
        own = article.translation(locale)
        fallback = own is None
        text = own or article.translations[0]  # the default locale's comes first
    own = article.translation(locale)
    response.headers["ETag"] = etag(own.version if own else 0)
    return {"slug": slug, "locale": locale, "served_locale": text.locale, "fallback": fallback,
            **text.model_dump(mode="json", exclude={"slug", "locale", "version"}),
            "version": own.version if own else 0}


#: ``If-Match``: ``*`` or one ETag of a text's version (``"3"``, weak ``W/"3"`` accepted).
IF_MATCH = r'^\s*(\*|(W/)?"?[0-9]{1,10}"?)\s*$'


def etag(version: int) -> str:
    """The ``ETag`` of a translation's text at ``version``."""
    return f'"{version}"'


def base_of(body: TranslationBody, if_match: str | None) -> int | None:
    """The version an edit started from: ``base_version``, else the ``If-Match`` ETag (``"3"``)."""
    if body.base_version is not None or if_match is None:
        return body.base_version
    if if_match.strip() == "*":  # any current text: no check
        return None
    tag = if_match.strip().removeprefix("W/").strip('"')
    if not tag.isdigit() or len(tag) > 10:
        raise InvalidInput(f"If-Match {if_match[:40]!r} is not an ETag of this text; send the ETag of "
                           "GET /v1/help-center/articles/{slug}/{locale} (e.g. \"3\")", field="If-Match")
    return int(tag)


@router.put("/articles/{slug}/{locale}", response_model=ArticleChangePublic, responses=errors(404, 409, 422))
def put_translation(slug: str, locale: LocaleParam, body: TranslationBody, caller: Writer, rt: RuntimeDep,
                    if_match: Annotated[str | None, Header(pattern=IF_MATCH),
                                        WithJsonSchema({"type": "string", "pattern": IF_MATCH})] = None
                    ) -> dict[str, Any]:
    """Write one locale's text (a new locale starts as a draft unless ``publish``). When the locale
    is published, the index is updated before the response. With ``base_version`` (or ``If-Match``)
    a text saved by someone else meanwhile is kept: 409 names its ``current_version``."""
    hc = rt.helpcenter
    article, report = hc.put_translation(caller.workspace, slug,
                                         TranslationInput(locale=locale, title=body.title, body=body.body),
                                         base_version=base_of(body, if_match))
    if body.publish:
        article, more = hc.publish(caller.workspace, slug, [locale])
        report = report + more
    return _changed(article, report)


@router.delete("/articles/{slug}/{locale}", response_model=ArticleChangePublic)
def delete_translation(slug: str, locale: LocaleParam, caller: Writer, rt: RuntimeDep) -> dict[str, Any]:
    """Delete one translation (not the default locale's); with knowledge CI configured the delete may be
    held (``index.pending_change``: the article shown still has the translation)."""
    article, report = rt.helpcenter.delete_translation(caller.workspace, slug, locale)
    return _changed(article, report)


# -- versions ---------------------------------------------------------------------------------------
def _versions(rt: RuntimeDep, workspace: str, slug: str, locale: str) -> tuple[Article, list[Version]]:
    rt.helpcenter.store.rules.locale(locale)
    article = rt.helpcenter.store.get(workspace, slug)
    return article, rt.helpcenter.store.versions(workspace, slug, locale)


@router.get("/articles/{slug}/{locale}/versions", response_model=VersionsPublic, responses=errors(404))
def list_versions(slug: str, locale: LocaleParam, caller: Reader, rt: RuntimeDep) -> dict[str, Any]:
    """Every saved text of one translation, newest first, without bodies; ``current`` names the version
    the translation's text equals (null when none does)."""
    article, versions = _versions(rt, caller.workspace, slug, locale)
    own = article.translation(locale)
    current = next((v.version for v in versions if own and (v.title, v.body) == (own.title, own.body)), None)
    return {"slug": slug, "locale": locale, "current": current,
            "versions": [v.model_dump(mode="json", exclude={"slug", "locale", "body"}) for v in versions]}


@router.get("/articles/{slug}/{locale}/versions/{number}", response_model=VersionPublic, responses=errors(404))
def get_version(slug: str, locale: LocaleParam, number: int, caller: Reader, rt: RuntimeDep) -> dict[str, Any]:
    """One saved text, with its body."""
    rt.helpcenter.store.rules.locale(locale)
    return rt.helpcenter.store.version(caller.workspace, slug, locale, number).model_dump(
        mode="json", exclude={"slug", "locale"})


@router.get("/articles/{slug}/{locale}/diff", response_model=VersionDiffPublic, responses=errors(404))
def diff(slug: str, locale: LocaleParam, caller: Reader, rt: RuntimeDep, old: int | None = None,
         new: int | None = None) -> dict[str, Any]:
    """Version ``new`` (default: the newest) against ``old`` (default: the one before ``new``): removed and
    added lines with three unchanged ones around each change, longer unchanged runs folded."""
    _, versions = _versions(rt, caller.workspace, slug, locale)
    store = rt.helpcenter.store
    b = store.version(caller.workspace, slug, locale, new) if new is not None else versions[0]
    if old is not None:
        a = store.version(caller.workspace, slug, locale, old)
    else:
        a = next((v for v in versions if v.version == b.version - 1), b)
    result = compare(a, b)
    return {"slug": slug, "locale": locale, **result.model_dump(mode="json")}


@router.post("/articles/{slug}/{locale}/rollback", response_model=ArticleChangePublic, responses=errors(404))
def rollback(slug: str, locale: LocaleParam, body: RollbackBody, caller: Writer, rt: RuntimeDep) -> dict[str, Any]:
    """Make an old version's text the current one, saved as a new version (history is never rewritten);
    the status is kept, so a published translation is re-indexed before the response."""
    rt.helpcenter.store.rules.locale(locale)
    article, report = rt.helpcenter.rollback(caller.workspace, slug, locale, body.version)
    return _changed(article, report)


@router.post("/articles/{slug}/publish", response_model=ArticleChangePublic)
def publish(slug: str, caller: Writer, rt: RuntimeDep, body: Locales | None = None) -> dict[str, Any]:
    """Publish some locales (default: every locale); they are retrievable when this returns."""
    article, report = rt.helpcenter.publish(caller.workspace, slug, body.locales if body else None)
    return _changed(article, report)


@router.post("/articles/{slug}/unpublish", response_model=ArticleChangePublic)
def unpublish(slug: str, caller: Writer, rt: RuntimeDep, body: Locales | None = None) -> dict[str, Any]:
    """Back to draft (default: every locale); their documents leave the index."""
    article, report = rt.helpcenter.unpublish(caller.workspace, slug, body.locales if body else None)
    return _changed(article, report)


@router.post("/search", response_model=HelpSearchPublic)
def search(body: SearchBody, caller: Reader, rt: RuntimeDep) -> dict[str, Any]:
    """Published articles for a query (retrieval over the help center only)."""
    hc = rt.helpcenter
    if body.locale is not None:
        hc.store.rules.locale(body.locale)
    filters = SearchFilters(kind="article", source_id=hc.publisher.source_id, language=body.locale)
    hits = rt.retrieve(body.query, workspace=caller.workspace, filters=filters, top_k=body.top_k, per_document=1)
    return {"query": body.query, "hits": output.hits_json(hits)}


@router.post("/reindex", response_model=HelpReindexPublic)
def reindex(caller: Writer, rt: RuntimeDep) -> dict[str, Any]:
    """Make the index equal to what is published (repairs an interrupted publish)."""
    return {"index": rt.helpcenter.reindex(caller.workspace).model_dump(mode="json")}
