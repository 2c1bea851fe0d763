"""Files attached to a parent document (a help-center article, a wiki page) as documents of their own.

A connector lists a parent's attachments (``AttachmentRef``: id, file name, url, content type,
size and a cheap version signal from the listing) and hands them to ``Attachments.items`` with
the parent ``Document`` and a download function. Each attachment becomes a ``Document`` whose
native id is derived from the parent's (``PARENT/attachments/ID``), titled by its file name,
cited by its own url, filed under the parent's topic plus the parent's title, and carrying the
parent's language and audience (a restricted parent's attachment is restricted too).

- Only types the Parser reads (PDF, DOCX, HTML, Markdown, text) are downloaded; other types
  (images above all) and files over the size cap are skipped and counted in ``skipped``, which
  the run report lists.
- An attachment whose version signal and parent-derived fields equal what the last run stored,
  and which is indexed, is ``Unchanged``: it is not downloaded again.
- A failed download is a ``FetchFailure`` (the run goes on); a 401 raises, as every other
  request would fail the same way.
- Each parent's attachment ids are remembered in the connector store, so an id listing need not
  call the API once per parent; without a store it asks ``list_refs`` instead.

Example::

    attachments = Attachments(source=source, context=context, max_bytes=20 * 1024 * 1024)
    yield from attachments.items(parent_doc, refs, download=lambda ref: client.get_bytes(ref.download))
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from core.errors import KnowdeskError, SourceAuthError
from core.models import Document, DocumentKind, FetchFailure, Source
from ingest.connectors.base import ConnectorContext, ConnectorStore, Item, Unchanged
from ingest.parsing import SUPPORTED_MEDIA_TYPES, media_type_for

log = logging.getLogger(__name__)

_FILE = "attachment:"  # attachment native id -> what the last fetch saw
_PARENT = "attachments-of:"  # parent native id -> the ids of its indexable attachments
MB = 1024 * 1024


@dataclass(frozen=True)
class AttachmentRef:
    """One attachment as its parent's listing describes it.

    Args:
        attachment_id: the vendor's id. file_name: shown as the document title.
        url: where a reader opens it (the citation). download: what the client fetches.
        content_type: the listing's media type (None: guessed from the file name).
        size: bytes, when the listing says. version: a cheap change signal (updated_at,
            version number, size): equal means the file is the same. updated_at: the file's own.
    """

    attachment_id: str
    file_name: str
    url: str
    download: str
    content_type: str | None
    size: int | None
    version: str
    updated_at: datetime | None = None

    @property
    def media_type(self) -> str | None:
        declared = (self.content_type or "").split(";", 1)[0].strip().lower()
        if declared in SUPPORTED_MEDIA_TYPES:
            return declared
        guessed = media_type_for(self.file_name)
        # a generic declared type (octet-stream) defers to the file name; a specific one wins
        if declared and declared not in ("application/octet-stream", "binary/octet-stream"):
            return declared if guessed not in SUPPORTED_MEDIA_TYPES else guessed
        return guessed


def attachment_native_id(parent_native_id: str, attachment_id: str) -> str:
    return f"{parent_native_id}/attachments/{attachment_id}"


class Attachments:
    """Turns parents' attachment listings into items (see the module docstring).

    Args:
        source: the source the documents belong to.
        context: the connector's context: its store (version signals, remembered listings) and
            ``is_indexed``; ``context.max_file_bytes`` caps the size too.
        max_bytes: the attachment size cap (the smaller of it and ``context.max_file_bytes`` applies).
    """

    def __init__(self, *, source: Source, context: ConnectorContext, max_bytes: int) -> None:
        self._source = source
        self._context = context
        self._store: ConnectorStore | None = context.store
        self.max_bytes = min(max_bytes, context.max_file_bytes)
        #: what was not downloaded, by reason (a media type or "attachments over N MB")
        self.skipped: dict[str, int] = {}
        self.downloads = 0

    # -- which attachments count -------------------------------------------------------------
    def indexable(self, ref: AttachmentRef) -> bool:
        """A type the Parser reads and a known size within the cap."""
        return ref.media_type in SUPPORTED_MEDIA_TYPES and (ref.size is None or ref.size <= self.max_bytes)

    def _skip_reason(self, ref: AttachmentRef) -> str | None:
        if ref.media_type not in SUPPORTED_MEDIA_TYPES:
            return f"attachment type {ref.media_type or '(unknown)'}"
        if ref.size is not None and ref.size > self.max_bytes:
            return f"attachments over {self.max_bytes / MB:.3g} MB"
        return None

    # -- items ----------------------------------------------------------------------------------
    def items(self, parent: Document, refs: Iterable[AttachmentRef], download: Callable[[AttachmentRef], bytes],
              *, parent_id: str | None = None) -> Iterator[Item]:
        """An item per indexable attachment of ``parent``; remembers the parent's listing.

        ``parent_id`` is the id attachment ids derive from when it is not ``parent.native_id``
        (a Zendesk article's attachments belong to the article, not to one translation)."""
        parent_id = parent_id or parent.native_id
        kept: list[str] = []
        for ref in refs:
            if (reason := self._skip_reason(ref)) is not None:
                self.skipped[reason] = self.skipped.get(reason, 0) + 1
                if reason.startswith("attachments over"):
                    log.warning("%s: attachment %s of %s is %s bytes, over the %s-byte cap; skipped",
                                self._source.name, ref.file_name, parent_id, ref.size, self.max_bytes)
                continue
            native_id = attachment_native_id(parent_id, ref.attachment_id)
            kept.append(native_id)
            yield self._item(parent, ref, native_id, download)
        self.remember(parent_id, kept)

    def _item(self, parent: Document, ref: AttachmentRef, native_id: str,
              download: Callable[[AttachmentRef], bytes]) -> Item:
        shell = Document(
            workspace=parent.workspace,
            source_id=parent.source_id,
            native_id=native_id,
            title=ref.file_name,
            uri=ref.url,
            kind=DocumentKind.FILE,
            language=parent.language,
            topic=(*parent.topic, parent.title) if parent.title else parent.topic,
            updated_at=ref.updated_at,  # not the parent's: editing its text must not re-fetch files
            audience=parent.audience,
            media_type=str(ref.media_type),
            metadata={"parent": native_id.rsplit("/attachments/", 1)[0], "parent_document": parent.native_id,
                      "parent_title": parent.title, "attachment_id": ref.attachment_id,
                      "file_name": ref.file_name, "version": ref.version},
        )
        signature = shell.fingerprint  # every field but the content: a moved or renamed parent re-fetches
        stored = self._store.get(_FILE + native_id) if self._store is not None else None
        if (stored and stored.get("version") == ref.version and stored.get("signature") == signature
                and self._context.is_indexed(native_id)):
            return Unchanged(native_id=native_id)
        if not ref.download:
            return self._failure(native_id, ref, f"attachment {ref.file_name} of {parent.native_id}: the listing "
                                 "gave no download url")
        try:
            content = download(ref)
        except KnowdeskError as exc:
            if isinstance(exc, SourceAuthError) and exc.fields.get("status") == 401:
                raise  # bad credentials: every other request fails the same way
            return self._failure(native_id, ref, f"attachment {ref.file_name} of {parent.native_id}: {exc.message}",
                                 retryable=exc.retryable)
        self.downloads += 1
        if len(content) > self.max_bytes:
            return self._failure(native_id, ref, (
                f"attachment {ref.file_name} of {parent.native_id} is {len(content)} bytes, over the "
                f"{self.max_bytes}-byte cap (its listing said {ref.size}); raise the attachment_max_mb option"))
        if self._store is not None:
            self._store.put(_FILE + native_id, {"version": ref.version, "signature": signature})
        return shell.model_copy(update={"content": content})

    def _failure(self, native_id: str, ref: AttachmentRef, message: str, *, retryable: bool = False) -> FetchFailure:
        if self._store is not None:
            self._store.delete([_FILE + native_id])
        return FetchFailure(source_id=self._source.source_id, native_id=native_id, uri=ref.url,
                            message=message, retryable=retryable)

    def listing_failed(self, parent_id: str, message: str, *, uri: str | None = None,
                       retryable: bool = False) -> list[FetchFailure]:
        """Failures for a parent whose attachment listing failed: one per attachment it had last
        time (so a full sync does not prune them as missing), or one without an id."""
        ids: list[str | None] = list(self.remembered(parent_id) or []) or [None]
        return [FetchFailure(source_id=self._source.source_id, native_id=i, uri=uri, retryable=retryable,
                             message=f"attachments of {parent_id}: {message}") for i in ids]

    def parent_failed(self, parent_id: str, message: str, *, uri: str | None = None) -> list[FetchFailure]:
        """Failures for the attachments a parent had last time when the parent itself could not be
        read this run: a full sync counts them as seen, so it does not prune them."""
        return [FetchFailure(source_id=self._source.source_id, native_id=i, uri=uri, retryable=True,
                             message=f"attachment of {parent_id}, whose page could not be read: {message}")
                for i in self.remembered(parent_id) or []]

    # -- id listing -----------------------------------------------------------------------------
    def remember(self, parent_native_id: str, native_ids: list[str]) -> None:
        if self._store is not None:
            self._store.put(_PARENT + parent_native_id, {"ids": native_ids, "max_bytes": self.max_bytes})

    def remembered(self, parent_native_id: str) -> list[str] | None:
        """The attachment ids the last listing of this parent found (None: never listed, or under
        another size cap)."""
        if self._store is None:
            return None
        value = self._store.get(_PARENT + parent_native_id)
        if not value or value.get("max_bytes") != self.max_bytes:
            return None
        return [str(i) for i in value.get("ids") or []]

    def ids(self, parent_native_id: str, list_refs: Callable[[], Iterable[AttachmentRef]]) -> list[str]:
        """The native ids of a parent's indexable attachments: remembered, or listed now."""
        known = self.remembered(parent_native_id)
        if known is not None:
            return known
        ids = [attachment_native_id(parent_native_id, r.attachment_id) for r in list_refs() if self.indexable(r)]
        self.remember(parent_native_id, ids)
        return ids

    def forget_missing(self, parents: set[str]) -> None:
        """Drop what the store knows about attachments of parents that no longer exist (or are no
        longer read), so a restored parent lists and downloads its attachments again."""
        if self._store is None:
            return
        gone: list[str] = []
        known = self._store.keys()  # a method of ConnectorStore, not a dict view
        for key in known:
            if key.startswith(_PARENT) and key[len(_PARENT):] not in parents:
                gone.append(key)
            elif key.startswith(_FILE):
                native_id = key[len(_FILE):]
                parent = native_id.rsplit("/attachments/", 1)[0]
                listed = self.remembered(parent) if parent in parents else None
                if parent not in parents or (listed is not None and native_id not in listed):
                    gone.append(key)
        if gone:
            self._store.delete(gone)


def as_int(value: Any) -> int | None:
    try:
        return int(value) if value is not None and value != "" else None
    except (TypeError, ValueError):
        return None
