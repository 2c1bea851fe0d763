"""Dropbox folders as a source, through the official ``dropbox`` SDK.

- native id = the Dropbox file id (``id:...``), stable across renames and moves, so a file moved
  inside the chosen folders keeps its document; topic = its folder path.
- Full listing: ``files/list_folder`` (recursive) and ``list_folder/continue`` per chosen folder;
  increments continue from the saved cursors (one per folder), so renames, edits and deletions
  are exact (a cursor the API calls expired restarts that folder's listing).
- A file whose ``content_hash`` (and path) equals what the last run stored is ``Unchanged``: it is
  not downloaded. Files over the size cap or not downloadable are failures with a reason;
  unsupported types are skipped and counted.
- Deletions (entries the listing reports deleted, moves out of the chosen folders) come from the
  complete id listing the sync compares with the index; ``list_ids`` lists every folder.
- Citations: an existing shared link of the file when there is one, else its Dropbox web path.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from contextlib import closing
from datetime import UTC, datetime
from typing import Any

from dropbox import files as dbx_files
from pydantic import Field, field_validator

from core.errors import KnowdeskError, SourceAuthError
from core.models import Document, DocumentKind, FetchFailure, Source
from ingest.connectors.base import Checkpoint, ConnectorContext, ConnectorOptions, ConnectorStore, Item, Unchanged
from ingest.connectors.dropbox.client import build_client, classify, is_reset
from ingest.connectors.dropbox.credentials import DropboxCredentials
from ingest.connectors.http import RetryPolicy
from ingest.connectors.options import StrList
from ingest.parsing import SUPPORTED_MEDIA_TYPES, media_type_for, oversized_message

log = logging.getLogger(__name__)

WEB_HOME = "https://www.dropbox.com/home"
_STORE_PREFIX = "file:"


class DropboxOptions(ConnectorOptions):
    """Options of a Dropbox source.

    folders: Dropbox folder paths to read recursively (default: everything the token sees).
    shared_links: cite a file's existing shared link (needs the ``sharing.read`` scope).
    audience: groups allowed to see these documents (empty: public to every channel).
    base_url: send the SDK's API and content requests to this url instead of Dropbox's hosts.
    language: ISO code when known. page_size: entries per listing page (1-2000).
    """

    folders: StrList = Field(default=[], validate_default=True)  # [] becomes [""]: the whole Dropbox
    shared_links: bool = True
    audience: StrList = []
    base_url: str | None = None
    language: str | None = None
    page_size: int = Field(default=2000, ge=1, le=2000)

    @field_validator("folders")
    @classmethod
    def _paths(cls, value: list[str]) -> list[str]:
        out = []
        for raw in value or [""]:
            path = "/" + raw.strip().strip("/") if raw.strip().strip("/") else ""
            out.append(path)
        return sorted(set(out))


class DropboxConnector:
    """Reads files from chosen Dropbox folders (see the module docstring)."""

    Options = DropboxOptions

    def __init__(self, *, source: Source, options: DropboxOptions, context: ConnectorContext,
                 credentials: DropboxCredentials, retry: RetryPolicy | None = None) -> None:
        self._source = source
        self._opts = options
        self._max_bytes = context.max_file_bytes
        self._context = context
        self._store: ConnectorStore | None = context.store
        self._retry = retry or RetryPolicy()
        self._client = build_client(credentials=credentials, base_url=options.base_url)
        self._links_ok = options.shared_links
        self.skipped: dict[str, int] = {}

    # -- the contract -------------------------------------------------------------------------------
    def check(self) -> str:
        account = self._call(self._client.users_get_current_account, "Dropbox users/get_current_account")
        for folder in self._opts.folders:
            if folder:
                self._call(lambda f=folder: self._client.files_get_metadata(f), f"Dropbox folder {folder}")
        name = getattr(getattr(account, "name", None), "display_name", "") or account.email
        return f"Dropbox account {name}: folders {', '.join(f or '/' for f in self._opts.folders)}"

    def list_documents(self) -> Iterator[Item]:
        return self._read({})

    def read_since(self, cursor: Mapping[str, Any]) -> Iterator[Item]:
        return self._read(dict(cursor.get("folders", {})))

    def list_ids(self) -> Iterator[str]:
        ids: set[str] = set()
        for folder in self._opts.folders:
            for entry, _ in self._entries(folder, cursor=None):
                if isinstance(entry, dbx_files.FileMetadata) and entry.id not in ids:
                    ids.add(entry.id)
        self._forget_missing(ids)
        yield from sorted(ids)

    # -- reading --------------------------------------------------------------------------------------
    def _read(self, cursors: dict[str, str]) -> Iterator[Item]:
        self.skipped = {}
        cursors = {f: c for f, c in cursors.items() if f in self._opts.folders}
        complete = not cursors
        seen: set[str] = set()
        for folder in self._opts.folders:
            for entry, page_cursor in self._entries(folder, cursor=cursors.get(folder)):
                if entry is None:  # end of a page: everything before is covered by the cursor
                    cursors[folder] = page_cursor
                    yield Checkpoint(cursor={"folders": dict(cursors)})
                elif isinstance(entry, dbx_files.DeletedMetadata):
                    log.info("Dropbox: %s was deleted or moved out of %s", entry.path_display, folder or "/")
                elif isinstance(entry, dbx_files.FileMetadata) and entry.id not in seen:
                    seen.add(entry.id)
                    item = self._item(entry)
                    if item is not None:
                        yield item
        if complete:
            self._forget_missing(seen)

    def _entries(self, folder: str, *, cursor: str | None) -> Iterator[tuple[Any, str]]:
        """(entry, cursor) for every entry, then (None, cursor) after each page."""
        what = f"Dropbox list_folder {folder or '/'}"
        page: Any = None
        if cursor is not None:
            try:
                page = self._call(lambda: self._client.files_list_folder_continue(cursor), what + "/continue",
                                  keep_reset=True)
            except _CursorReset:
                log.warning("%s: the saved cursor expired; listing the folder again", what)
        if page is None:
            page = self._call(lambda: self._client.files_list_folder(
                folder, recursive=True, include_non_downloadable_files=True, limit=self._opts.page_size), what)
        while True:
            for entry in page.entries:
                yield entry, page.cursor
            yield None, page.cursor
            if not page.has_more:
                return
            page = self._call(lambda c=page.cursor: self._client.files_list_folder_continue(c), what + "/continue")

    def _item(self, entry: Any) -> Item | None:
        path = entry.path_display or entry.path_lower or entry.name
        media_type = media_type_for(entry.name)
        if media_type not in SUPPORTED_MEDIA_TYPES:
            key = ("." + entry.name.rsplit(".", 1)[1].lower()) if "." in entry.name else "(none)"
            self.skipped[key] = self.skipped.get(key, 0) + 1
            return None
        stored = self._stored(entry.id)
        if (stored and stored.get("hash") == entry.content_hash and stored.get("path") == path
                and self._context.is_indexed(entry.id)):
            return Unchanged(native_id=entry.id)
        uri = f"{WEB_HOME}{path}"
        if entry.size > self._max_bytes:
            return self._failure(entry, uri, stage="fetch", message=f"{path}: " + oversized_message(
                entry.size, self._max_bytes, fix="raise KNOWDESK_SYNC__MAX_FILE_BYTES or move the file out of the "
                "source's folders"))
        if entry.is_downloadable is False:
            return self._failure(entry, uri, stage="fetch", message=(
                f"{path} cannot be downloaded from Dropbox (a cloud-only document); export it to PDF or DOCX"))
        try:
            content = self._download(entry.id, path)
            uri = self._shared_link(entry.id) or uri
        except KnowdeskError as exc:
            if isinstance(exc, SourceAuthError) and exc.fields.get("status") == 401:
                raise  # the token is bad: every other file would fail the same way
            return self._failure(entry, uri, stage="fetch", message=exc.message, retryable=exc.retryable)
        sharing = getattr(entry, "sharing_info", None)
        shared_folder = getattr(sharing, "parent_shared_folder_id", None) or ""
        doc = Document(
            workspace=self._source.workspace,
            source_id=self._source.source_id,
            native_id=entry.id,
            uri=uri,
            kind=DocumentKind.FILE,
            language=self._opts.language,
            topic=tuple(p for p in path.split("/")[1:-1] if p),
            updated_at=_utc(entry.server_modified),
            audience=tuple(self._opts.audience),
            media_type=str(media_type),
            content=content,
            metadata={"path": path, "name": entry.name, "rev": entry.rev or "", "shared_folder_id": shared_folder},
        )
        if self._store is not None:
            self._store.put(_STORE_PREFIX + entry.id, {"hash": entry.content_hash, "path": path})
        return doc

    def _download(self, file_id: str, path: str) -> bytes:
        def fetch() -> bytes:
            _, response = self._client.files_download(file_id)
            with closing(response):
                return bytes(response.content)

        return bytes(self._call(fetch, f"Dropbox download {path}"))

    def _shared_link(self, file_id: str) -> str | None:
        if not self._links_ok:
            return None
        try:
            result = self._call(lambda: self._client.sharing_list_shared_links(path=file_id, direct_only=True),
                                "Dropbox sharing/list_shared_links")
        except KnowdeskError as exc:
            if exc.retryable:
                raise
            log.warning("%s; citing Dropbox paths instead of shared links", exc.message)
            self._links_ok = False
            return None
        links = [link.url for link in result.links if getattr(link, "url", None)]
        return links[0] if links else None

    # -- helpers ----------------------------------------------------------------------------------------
    def _call(self, fn: Any, what: str, *, keep_reset: bool = False) -> Any:
        def classify_here(exc: Exception) -> KnowdeskError | None:
            if keep_reset and is_reset(exc):
                raise _CursorReset(what) from exc
            return classify(exc, what=what)

        return self._retry.call(fn, classify=classify_here, what=what)

    def _stored(self, file_id: str) -> dict[str, Any] | None:
        return self._store.get(_STORE_PREFIX + file_id) if self._store is not None else None

    def _forget_missing(self, present: set[str]) -> None:
        """Drop stored hashes of files that no longer exist, so a restored file is fetched again."""
        if self._store is None:
            return
        known = self._store.keys()  # a method of ConnectorStore, not a dict view
        gone = [k for k in known if k.startswith(_STORE_PREFIX) and k[len(_STORE_PREFIX) :] not in present]
        if gone:
            self._store.delete(gone)

    def _failure(self, entry: Any, uri: str, *, stage: str, message: str, retryable: bool = False) -> FetchFailure:
        if self._store is not None:
            self._store.delete([_STORE_PREFIX + entry.id])
        return FetchFailure(source_id=self._source.source_id, native_id=entry.id, uri=uri, stage=stage,
                            message=message, retryable=retryable)


class _CursorReset(Exception):
    """A list_folder cursor expired (the API's ``reset`` error)."""


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value

