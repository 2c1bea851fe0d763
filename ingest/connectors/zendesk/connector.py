"""Zendesk Help Center articles as a source.

Every published translation of an article is its own document (native id ``ARTICLE/LOCALE``,
kind=article) linked to its siblings by ``metadata["article_id"]``; the category and section
chain is the topic path; drafts are skipped. Articles limited to a user segment are skipped
unless ``include_restricted`` is set, and then carry the segment in ``Document.audience``.

- Full listing: each locale's article listing (``/api/v2/help_center/{locale}/articles``,
  cursor pagination), so every translation comes with its own body.
- Increments: the incremental articles export (``/api/v2/help_center/incremental/articles
  ?start_time=``) from the saved ``end_time`` minus an overlap window, then each changed
  article's translations. A checkpoint follows every export page.
- Deletions: the same locale listings, ids only (drafts and skipped segments left out), plus
  the ids of the listed articles' attachments.
- Attachments (``attachments``, on by default): an article's files
  (``/api/v2/help_center/articles/{id}/attachments``) are documents of their own, native id
  ``ARTICLE/attachments/ID`` (they belong to the article, not to one translation), titled by the
  file name, cited by ``content_url``, filed under the article's topic plus its title, with the
  language and audience of the article's source-locale translation (or of its first read
  translation when that one is not read). Only PDF, DOCX, HTML, Markdown and text files up to
  ``attachment_max_mb`` are downloaded; others (images) and larger ones are skipped and counted
  in the run report. A file whose ``updated_at`` and ``size`` are unchanged is not downloaded
  again. Increments re-list the attachments of changed articles; an attachment removed from an
  article that was not otherwise edited is pruned by the next full sync. A failed download is a
  failure of that file only.
"""

from __future__ import annotations

import html
import logging
import time
import weakref
from collections.abc import Iterator, Mapping
from datetime import datetime
from functools import partial
from typing import Any, ClassVar

from pydantic import Field

from core.errors import ConfigError, KnowdeskError, SourceAuthError, SourceNotFound
from core.models import Document, DocumentKind, FetchFailure, Source
from ingest.connectors.attachments import MB, AttachmentRef, Attachments, as_int
from ingest.connectors.base import Checkpoint, ConnectorContext, ConnectorOptions, Item
from ingest.connectors.http import RetryPolicy
from ingest.connectors.options import StrList
from ingest.connectors.zendesk.client import ZendeskClient
from ingest.connectors.zendesk.credentials import ZendeskCredentials

log = logging.getLogger(__name__)


class ZendeskOptions(ConnectorOptions):
    """base_url: ``https://SUBDOMAIN.zendesk.com``. locales: only these (default: every enabled
    locale). include_restricted: also index articles limited to a user segment (and their
    attachments). overlap_minutes: how far before the saved cursor an incremental read starts.
    attachments: index articles' PDF/DOCX/HTML/Markdown/text attachments. attachment_max_mb: skip
    (and report) attachments larger than this."""

    base_url: str = Field(pattern=r"^https?://")
    locales: StrList = []
    include_restricted: bool = False
    overlap_minutes: int = Field(default=10, ge=0)
    timeout: float = Field(default=30.0, gt=0)
    attachments: bool = True
    attachment_max_mb: float = Field(default=20.0, gt=0)


class ZendeskConnector:
    """Reads a Zendesk Help Center through its REST API.

    Args:
        source, options, context: as for every connector.
        credentials: ``KNOWDESK_ZENDESK__EMAIL`` and ``__API_TOKEN`` (the registry reads them).
        retry: the retry policy of every request (tests pass one with a recording ``sleep``).
    """

    Options: ClassVar[type[ConnectorOptions]] = ZendeskOptions

    def __init__(self, *, source: Source, options: ZendeskOptions, context: ConnectorContext,
                 credentials: ZendeskCredentials, retry: RetryPolicy | None = None) -> None:
        self._source = source
        self._credentials = credentials
        self._opts = options
        self._context = context
        self._retry = retry or RetryPolicy()
        self._api: ZendeskClient | None = None
        self._topics: dict[str, dict[int, tuple[str, ...]]] = {}
        self._segments: dict[int, tuple[str, ...]] = {}
        self._files = Attachments(source=source, context=context, max_bytes=int(options.attachment_max_mb * MB))

    @property
    def skipped(self) -> dict[str, int]:
        """Attachments not downloaded, by reason (the run report lists them)."""
        return self._files.skipped

    # -- contract ------------------------------------------------------------------------------
    def check(self) -> str:
        me = self._client().get("/api/v2/users/me").get("user") or {}
        role = str(me.get("role") or "anonymous")
        if not me.get("id") or role not in ("agent", "admin"):
            raise SourceAuthError(
                f"Zendesk at {self._opts.base_url} accepted the request as {role}, not as an agent or admin; "
                "the incremental export needs an agent's email and API token (KNOWDESK_ZENDESK__EMAIL, "
                "KNOWDESK_ZENDESK__API_TOKEN)")
        locales = self._locales()
        return f"Zendesk Help Center {self._opts.base_url} as {me.get('email') or me.get('name')} ({role}); " \
               f"locales {', '.join(locales)}"

    def list_documents(self) -> Iterator[Item]:
        started = int(time.time())
        read: dict[str, tuple[dict[str, Any], list[Document]]] = {}  # article id -> article, its documents
        failed: set[str] = set()  # article ids none of whose translations could be read
        for locale in self._locales():
            for article in self._client().paged(f"/api/v2/help_center/{locale}/articles", "articles"):
                item = self._document(article, article, locale)
                if item is not None:
                    yield item
                if isinstance(item, FetchFailure) and article.get("id"):
                    failed.add(str(article["id"]))
                if isinstance(item, Document):  # kept small: what the attachments need
                    entry = read.setdefault(str(article["id"]), (
                        {"id": article["id"], "source_locale": article.get("source_locale")}, []))
                    entry[1].append(item.model_copy(update={"content": b""}))
        if self._opts.attachments:
            for article, docs in read.values():
                yield from self._attachments(article, docs)
            for article_id in sorted(failed - set(read)):  # unreadable now: keep its attachments
                yield from self._files.parent_failed(article_id, "no translation of the article could be read")
            self._files.forget_missing(set(read) | failed)
        yield Checkpoint(cursor={"start_time": started})

    def read_since(self, cursor: Mapping[str, Any]) -> Iterator[Item]:
        if "start_time" not in cursor:
            yield from self.list_documents()
            return
        start = max(0, int(cursor["start_time"]) - self._opts.overlap_minutes * 60)
        locales = set(self._locales())
        done: set[int] = set()
        for articles, end_time in self._client().incremental_articles(start):
            for article in articles:
                article_id = int(article.get("id") or 0)
                if not article_id or article_id in done:
                    continue  # the export repeats articles that share a page-boundary timestamp
                done.add(article_id)
                docs: list[Document] = []
                for item in self._translations(article, locales):
                    if isinstance(item, Document):
                        docs.append(item)
                    yield item
                if docs and self._opts.attachments:
                    yield from self._attachments(article, docs)
            yield Checkpoint(cursor={"start_time": end_time})

    def list_ids(self) -> Iterator[str]:
        articles: set[str] = set()
        for locale in self._locales():
            for article in self._client().paged(f"/api/v2/help_center/{locale}/articles", "articles"):
                if self._wanted(article, article) and article.get("id"):
                    articles.add(str(article["id"]))
                    yield f"{article['id']}/{article.get('locale') or locale}"
        if self._opts.attachments:
            for article_id in sorted(articles):
                # remembered from the last listing of the article (re-listed whenever it changes)
                yield from self._files.ids(article_id, partial(self._refs, article_id))
            self._files.forget_missing(articles)

    # -- attachments ---------------------------------------------------------------------------
    def _attachments(self, article: dict[str, Any], docs: list[Document]) -> Iterator[Item]:
        """The attachments of an article whose translations ``docs`` were read."""
        article_id = str(article["id"])
        source_locale = str(article.get("source_locale") or "")
        parent = next((d for d in docs if d.metadata.get("locale") == source_locale), docs[0])
        try:
            refs = list(self._refs(article_id))
        except SourceNotFound:
            return  # deleted since it was listed: the id listing removes it and its attachments
        except KnowdeskError as exc:
            if isinstance(exc, SourceAuthError) and exc.fields.get("status") == 401:
                raise
            yield from self._files.listing_failed(article_id, exc.message, uri=parent.uri, retryable=exc.retryable)
            return
        yield from self._files.items(parent, refs, lambda ref: self._client().get_bytes(ref.download),
                                     parent_id=article_id)

    def _refs(self, article_id: str) -> Iterator[AttachmentRef]:
        for a in self._client().article_attachments(article_id):
            if not a.get("id"):
                continue
            content_url = str(a.get("content_url") or "")
            yield AttachmentRef(
                attachment_id=str(a["id"]),
                file_name=str(a.get("file_name") or a["id"]),
                url=content_url or str(a.get("url") or ""),
                download=content_url,
                content_type=str(a["content_type"]) if a.get("content_type") else None,
                size=as_int(a.get("size")),
                version=f"{a.get('updated_at') or a.get('created_at') or ''}|{a.get('size')}",
                updated_at=_time(a.get("updated_at") or a.get("created_at")),
            )

    # -- reading -------------------------------------------------------------------------------
    def _translations(self, article: dict[str, Any], locales: set[str]) -> Iterator[Item]:
        article_id = article["id"]
        try:
            translations = list(self._client().paged(
                f"/api/v2/help_center/articles/{article_id}/translations", "translations"))
        except SourceNotFound:
            log.info("Zendesk article %s is gone (archived or deleted); the id listing removes it", article_id)
            return
        except SourceAuthError:
            raise
        except KnowdeskError as exc:
            yield FetchFailure(source_id=self._source.source_id, native_id=None,
                               uri=str(article.get("html_url") or ""), message=exc.message,
                               retryable=exc.retryable)
            return
        for tr in translations:
            locale = str(tr.get("locale") or "")
            if locale in locales:
                item = self._document(article, tr, locale)
                if item is not None:
                    yield item

    def _wanted(self, article: dict[str, Any], version: dict[str, Any]) -> bool:
        if version.get("draft"):
            return False
        return not (article.get("user_segment_id") and not self._opts.include_restricted)

    def _document(self, article: dict[str, Any], version: dict[str, Any], locale: str) -> Item | None:
        """``version`` is the article itself (locale listing) or one of its translations."""
        if not self._wanted(article, version):
            return None
        article_id = str(article.get("id") or version.get("source_id") or "")
        locale = str(version.get("locale") or locale)
        native_id = f"{article_id}/{locale}"
        try:
            title = str(version.get("title") or version.get("name") or "")
            body = str(version.get("body") or "")
            updated = _time(version.get("updated_at") or article.get("updated_at"))
            segment = article.get("user_segment_id")
            return Document(
                workspace=self._source.workspace,
                source_id=self._source.source_id,
                native_id=native_id,
                title=title,
                uri=str(version.get("html_url") or article.get("html_url")
                        or f"{self._opts.base_url.rstrip('/')}/hc/{locale}/articles/{article_id}"),
                kind=DocumentKind.ARTICLE,
                language=locale.split("-")[0].lower(),
                topic=self._topic(locale, article.get("section_id")),
                updated_at=updated,
                audience=self._audience(int(segment)) if segment else (),
                media_type="text/html",
                content=f"<h1>{html.escape(title)}</h1>\n{body}".encode(),
                metadata={"article_id": article_id, "locale": locale,
                          "section_id": str(article.get("section_id") or ""),
                          "source_locale": str(article.get("source_locale") or "")},
            )
        except (KnowdeskError, ValueError, TypeError) as exc:
            message = exc.message if isinstance(exc, KnowdeskError) else str(exc)
            if isinstance(exc, SourceAuthError):
                raise
            return FetchFailure(source_id=self._source.source_id, native_id=native_id,
                                uri=str(article.get("html_url") or ""), message=f"article {native_id}: {message}")

    def _topic(self, locale: str, section_id: Any) -> tuple[str, ...]:
        if locale not in self._topics:
            api = self._client()
            categories = {int(c["id"]): str(c.get("name") or "")
                          for c in api.paged(f"/api/v2/help_center/{locale}/categories", "categories")}
            sections = {int(s["id"]): s for s in api.paged(f"/api/v2/help_center/{locale}/sections", "sections")}
            paths: dict[int, tuple[str, ...]] = {}
            for sid in sections:
                chain: list[str] = []
                node: dict[str, Any] | None = sections[sid]
                seen: set[int] = set()
                category = None
                while node is not None and int(node["id"]) not in seen:
                    seen.add(int(node["id"]))
                    chain.insert(0, str(node.get("name") or ""))
                    category = node.get("category_id")
                    parent = node.get("parent_section_id")
                    node = sections.get(int(parent)) if parent else None
                head = (categories[int(category)],) if category and int(category) in categories else ()
                paths[sid] = head + tuple(chain)
            self._topics[locale] = paths
        return self._topics[locale].get(int(section_id), ()) if section_id else ()

    def _audience(self, segment_id: int) -> tuple[str, ...]:
        if segment_id not in self._segments:
            try:
                seg = self._client().get(f"/api/v2/help_center/user_segments/{segment_id}").get("user_segment") or {}
            except SourceNotFound:
                seg = {}
            name = str(seg.get("name") or segment_id)
            kind = str(seg.get("user_type") or "")
            self._segments[segment_id] = (f"segment:{name}",) + ((f"user_type:{kind}",) if kind else ())
        return self._segments[segment_id]

    def _locales(self) -> list[str]:
        available, default = self._client().locales()
        if not self._opts.locales:
            return available
        unknown = [loc for loc in self._opts.locales if loc not in available]
        if unknown:
            raise ConfigError(f"Zendesk locales {', '.join(unknown)} are not enabled in the help center "
                              f"(enabled: {', '.join(available)}; default {default}); fix the locales option")
        return list(self._opts.locales)

    def _client(self) -> ZendeskClient:
        if self._api is None:
            creds = self._credentials
            if creds.email is None or creds.api_token is None:
                missing = [creds.variable(k) for k in ("email", "api_token") if getattr(creds, k) is None]
                raise ConfigError(f"the Zendesk source {self._source.name!r} needs credentials: "
                                  f"set {' and '.join(missing)}")
            self._api = ZendeskClient(base_url=self._opts.base_url, email=creds.email,
                                      api_token=creds.api_token.get_secret_value(),
                                      retry=self._retry, timeout=self._opts.timeout)
            weakref.finalize(self, self._api.close)  # the contract has no close(): release sockets with us
        return self._api


def _time(value: Any) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
