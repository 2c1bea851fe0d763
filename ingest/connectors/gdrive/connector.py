"""Google Drive folders or shared drives as a source, through google-api-python-client (Drive v3).

- native id = the Drive file id (a shortcut's target id, so a shortcut and its target are one
  document); topic = the folder path below the chosen folder or drive; uri = ``webViewLink``.
- Full listing: ``files.list`` per chosen folder (recursively, by ``'ID' in parents``) or per shared
  drive (``corpora=drive``), trashed files excluded. Increments: the Changes API from saved page
  tokens (``changes.getStartPageToken``, then ``changes.list`` until ``newStartPageToken``), so
  edits, renames, moves and newly visible files are read; what was trashed, removed, moved out
  of scope or is no longer shared drops out of the complete id listing and is deleted.
- Google Docs are exported as HTML (headings kept), Sheets as CSV rendered to an HTML table,
  Slides as text; PDF, DOCX, Markdown, HTML and text files are downloaded (``alt=media``).
- A file whose ``version``/``md5Checksum``/``modifiedTime``/name and audience equal what the last
  run stored is ``Unchanged`` (not downloaded). Files over the size cap are failures with a reason.
- Audience: the ``audience`` option when set; otherwise from the file's permissions (``anyone``:
  public; else ``domain:``, ``group:``, ``user:`` principals), when the listing returns them.
"""

from __future__ import annotations

import csv
import html
import io
import logging
from collections.abc import Iterator, Mapping
from typing import Any

from pydantic import Field, model_validator

from core.errors import KnowdeskError, SourceAuthError
from core.models import Document, DocumentKind, FetchFailure, Source
from ingest.connectors.base import Checkpoint, ConnectorContext, ConnectorOptions, ConnectorStore, Item, Unchanged
from ingest.connectors.gdrive.client import build_service, classify
from ingest.connectors.gdrive.credentials import GDriveCredentials
from ingest.connectors.http import RetryPolicy
from ingest.connectors.options import StrList
from ingest.parsing import SUPPORTED_MEDIA_TYPES, media_type_for, oversized_message

log = logging.getLogger(__name__)

FOLDER = "application/vnd.google-apps.folder"
SHORTCUT = "application/vnd.google-apps.shortcut"
#: Google-native type -> (export type, the media type we parse it as).
EXPORTS = {
    "application/vnd.google-apps.document": ("text/html", "text/html"),
    "application/vnd.google-apps.spreadsheet": ("text/csv", "text/html"),
    "application/vnd.google-apps.presentation": ("text/plain", "text/plain"),
}
FILE_FIELDS = ("id,name,mimeType,parents,driveId,trashed,version,md5Checksum,modifiedTime,size,webViewLink,"
               "shortcutDetails(targetId,targetMimeType),permissions(type,role,domain,emailAddress)")
_STORE_PREFIX = "file:"


class GDriveOptions(ConnectorOptions):
    """Options of a Google Drive source.

    folders: folder ids to read recursively. drives: shared drive ids to read whole (at least
    one of the two). audience: groups allowed to see these documents (default: from permissions).
    base_url: the API root instead of https://www.googleapis.com. language: ISO code when known.
    page_size: files per listing page (1-1000).
    """

    folders: StrList = []
    drives: StrList = []
    audience: StrList = []
    base_url: str | None = None
    language: str | None = None
    page_size: int = Field(default=1000, ge=1, le=1000)

    @model_validator(mode="after")
    def _scope(self) -> GDriveOptions:
        if not self.folders and not self.drives:
            raise ValueError("give folders (folder ids, read recursively) and/or drives (shared drive ids)")
        return self


class GDriveConnector:
    """Reads Google Drive folders and shared drives (see the module docstring)."""

    Options = GDriveOptions

    def __init__(self, *, source: Source, options: GDriveOptions, context: ConnectorContext,
                 credentials: GDriveCredentials, retry: RetryPolicy | None = None) -> None:
        self._source = source
        self._opts = options
        self._max_bytes = context.max_file_bytes
        self._context = context
        self._store: ConnectorStore | None = context.store
        self._retry = retry or RetryPolicy()
        self._api = build_service(credentials=credentials, base_url=options.base_url)
        self._folders: dict[str, dict[str, Any]] = {}  # folder id -> {name, parents}
        self.skipped: dict[str, int] = {}

    # -- the contract -------------------------------------------------------------------------------
    def check(self) -> str:
        try:
            return self._check()
        finally:
            self._api.close()

    def _check(self) -> str:
        about = self._call(self._api.about().get(fields="user(displayName,emailAddress)"), "Drive about.get")
        reached = []
        for fid in self._opts.folders:
            meta = self._call(self._api.files().get(fileId=fid, fields="id,name,mimeType", supportsAllDrives=True),
                              f"Drive folder {fid}")
            reached.append(f"folder {meta['name']}")
        for did in self._opts.drives:
            meta = self._call(self._api.drives().get(driveId=did, fields="id,name"), f"Drive shared drive {did}")
            reached.append(f"shared drive {meta['name']}")
        user = about.get("user", {})
        return f"Google Drive as {user.get('emailAddress') or user.get('displayName')}: {', '.join(reached)}"

    def list_documents(self) -> Iterator[Item]:
        return self._closing(self._read_all())

    def read_since(self, cursor: Mapping[str, Any]) -> Iterator[Item]:
        tokens = dict(cursor.get("tokens", {}))
        if set(tokens) != set(self._token_keys()):
            return self._closing(self._read_all())  # the scope changed: read everything again
        return self._closing(self._read_changes(tokens))

    def list_ids(self) -> Iterator[str]:
        try:
            ids = {self._target_id(f) for f, _ in self._walk()}
        finally:
            self._api.close()
        self._forget_missing(ids)
        yield from sorted(ids)

    def _closing(self, items: Iterator[Item]) -> Iterator[Item]:
        """``items``, then the client's connections closed (however the read ends)."""
        try:
            yield from items
        finally:
            self._api.close()

    # -- full and incremental reads -------------------------------------------------------------------
    def _read_all(self) -> Iterator[Item]:
        self.skipped = {}
        tokens = {key: self._start_token(key) for key in self._token_keys()}  # before listing: nothing is missed
        seen: set[str] = set()
        for meta, topic in self._walk():
            native = self._target_id(meta)
            if native not in seen:
                seen.add(native)
                item = self._item(meta, topic)
                if item is not None:
                    yield item
        self._forget_missing(seen)
        yield Checkpoint(cursor={"tokens": tokens})

    def _read_changes(self, tokens: dict[str, str]) -> Iterator[Item]:
        self.skipped = {}
        seen: set[str] = set()
        for key, token in list(tokens.items()):
            drive = key.removeprefix("drive:") if key.startswith("drive:") else None
            page_token: str | None = token
            while page_token:
                page = self._call(self._api.changes().list(
                    pageToken=page_token, driveId=drive, includeItemsFromAllDrives=True, supportsAllDrives=True,
                    includeRemoved=True, pageSize=self._opts.page_size,
                    fields=f"nextPageToken,newStartPageToken,changes(changeType,removed,fileId,file({FILE_FIELDS}))"),
                    "Drive changes.list")
                for change in page.get("changes", []):
                    meta = change.get("file")
                    if change.get("changeType", "file") != "file" or change.get("removed") or not meta:
                        continue  # removed or no longer shared: the id listing drops it
                    if meta.get("trashed"):
                        continue
                    for file_meta, topic in self._changed(meta):
                        native = self._target_id(file_meta)
                        if native not in seen:
                            seen.add(native)
                            item = self._item(file_meta, topic)
                            if item is not None:
                                yield item
                if page.get("newStartPageToken"):
                    tokens[key] = page["newStartPageToken"]
                page_token = page.get("nextPageToken")
                if page_token:
                    tokens[key] = page_token
                yield Checkpoint(cursor={"tokens": dict(tokens)})

    def _changed(self, meta: dict[str, Any]) -> Iterator[tuple[dict[str, Any], tuple[str, ...]]]:
        """A changed file in scope with its topic; a changed folder in scope yields its files."""
        topic = self._topic(meta)
        if topic is None:
            return
        if meta["mimeType"] == FOLDER:
            self._folders[meta["id"]] = meta
            yield from self._walk_folder(meta["id"], (*topic, meta["name"]))
        else:
            yield meta, topic

    # -- walking the scope ----------------------------------------------------------------------------
    def _token_keys(self) -> list[str]:
        return (["user"] if self._opts.folders else []) + [f"drive:{d}" for d in self._opts.drives]

    def _start_token(self, key: str) -> str:
        drive = key.removeprefix("drive:") if key.startswith("drive:") else None
        result = self._call(self._api.changes().getStartPageToken(driveId=drive, supportsAllDrives=True),
                            "Drive changes.getStartPageToken")
        return str(result["startPageToken"])

    def _walk(self) -> Iterator[tuple[dict[str, Any], tuple[str, ...]]]:
        """Every non-folder file in scope (trashed excluded) with its topic."""
        for fid in self._opts.folders:
            yield from self._walk_folder(fid, ())
        for did in self._opts.drives:
            files = list(self._list(f"Drive files.list drive {did}", q="trashed = false", corpora="drive", driveId=did))
            for meta in files:
                if meta["mimeType"] == FOLDER:
                    self._folders[meta["id"]] = meta
            for meta in files:
                if meta["mimeType"] != FOLDER:
                    yield meta, self._path_in_drive(meta, did)

    def _walk_folder(self, folder_id: str, topic: tuple[str, ...]) -> Iterator[tuple[dict[str, Any], tuple[str, ...]]]:
        pending = [(folder_id, topic)]
        visited: set[str] = set()
        while pending:
            fid, path = pending.pop(0)
            if fid in visited:
                continue
            visited.add(fid)
            for meta in self._list(f"Drive files.list folder {fid}", q=f"'{fid}' in parents and trashed = false",
                                   corpora="allDrives"):
                if meta["mimeType"] == FOLDER:
                    self._folders[meta["id"]] = meta
                    pending.append((meta["id"], (*path, meta["name"])))
                else:
                    yield meta, path

    def _list(self, what: str, **query: Any) -> Iterator[dict[str, Any]]:
        page_token: str | None = None
        while True:
            page = self._call(self._api.files().list(
                pageToken=page_token, pageSize=self._opts.page_size, includeItemsFromAllDrives=True,
                supportsAllDrives=True, fields=f"nextPageToken,files({FILE_FIELDS})", **query), what)
            yield from page.get("files", [])
            page_token = page.get("nextPageToken")
            if not page_token:
                return

    def _folder(self, folder_id: str) -> dict[str, Any]:
        if folder_id not in self._folders:
            self._folders[folder_id] = self._call(self._api.files().get(
                fileId=folder_id, fields="id,name,parents,driveId,mimeType", supportsAllDrives=True),
                f"Drive files.get {folder_id}")
        return self._folders[folder_id]

    def _topic(self, meta: dict[str, Any]) -> tuple[str, ...] | None:
        """The folder path of ``meta`` below a chosen folder or drive; None when out of scope."""
        if meta.get("driveId") in self._opts.drives:
            return self._path_in_drive(meta, meta["driveId"])
        path: list[str] = []
        parents, hops = meta.get("parents") or [], 0
        while parents and hops < 64:
            parent, hops = parents[0], hops + 1
            if parent in self._opts.folders:
                return tuple(reversed(path))
            try:
                folder = self._folder(parent)
            except KnowdeskError as exc:  # a parent we cannot see is outside what was shared with us
                log.debug("Drive: cannot resolve folder %s (%s): out of scope", parent, exc.message)
                return None
            path.append(folder["name"])
            parents = folder.get("parents") or []
        return None

    def _path_in_drive(self, meta: dict[str, Any], drive_id: str) -> tuple[str, ...]:
        path: list[str] = []
        parents = meta.get("parents") or []
        while parents and parents[0] != drive_id and parents[0] in self._folders and len(path) < 64:
            folder = self._folders[parents[0]]
            path.append(folder["name"])
            parents = folder.get("parents") or []
        return tuple(reversed(path))

    # -- one file ---------------------------------------------------------------------------------------
    def _item(self, meta: dict[str, Any], topic: tuple[str, ...]) -> Item | None:
        if meta["mimeType"] == SHORTCUT:
            target = (meta.get("shortcutDetails") or {}).get("targetId")
            try:
                meta = self._call(self._api.files().get(fileId=target, fields=FILE_FIELDS, supportsAllDrives=True),
                                  f"Drive shortcut target {target}")
            except KnowdeskError as exc:
                return self._failure(target or meta["id"], meta.get("webViewLink"),
                                     f"shortcut {meta['name']!r} points to a file we cannot read: {exc.message}")
            if meta.get("trashed"):
                return None
        mime, name = meta["mimeType"], meta["name"]
        export = EXPORTS.get(mime)
        media_type = export[1] if export else (mime if mime in SUPPORTED_MEDIA_TYPES else media_type_for(name))
        if media_type not in SUPPORTED_MEDIA_TYPES:
            key = mime if mime.startswith("application/vnd.google-apps.") else ("." + name.rsplit(".", 1)[-1].lower()
                                                                                 if "." in name else mime)
            self.skipped[key] = self.skipped.get(key, 0) + 1
            return None
        # the audience too: a sharing change must rewrite the document even if no version moved
        signature = "|".join([*(str(meta.get(k, "")) for k in ("version", "md5Checksum", "modifiedTime", "name")),
                              ",".join(self._audience(meta))])
        stored = self._store.get(_STORE_PREFIX + meta["id"]) if self._store is not None else None
        if (stored and stored.get("sig") == signature and stored.get("topic") == list(topic)
                and self._context.is_indexed(meta["id"])):
            return Unchanged(native_id=meta["id"])
        uri = meta.get("webViewLink") or f"https://drive.google.com/file/d/{meta['id']}/view"
        size = int(meta.get("size") or 0)
        if size > self._max_bytes:
            return self._failure(meta["id"], uri, f"{name}: " + oversized_message(
                size, self._max_bytes, fix="raise KNOWDESK_SYNC__MAX_FILE_BYTES or move the file out of the "
                "source's folders"))
        try:
            content = self._content(meta, export)
        except KnowdeskError as exc:
            if isinstance(exc, SourceAuthError) and exc.fields.get("status") == 401:
                raise  # the credentials are bad: every other file would fail the same way
            return self._failure(meta["id"], uri, exc.message, retryable=exc.retryable)
        if len(content) > self._max_bytes:
            return self._failure(meta["id"], uri, f"{name} (as exported): " + oversized_message(
                len(content), self._max_bytes))
        doc = Document(
            workspace=self._source.workspace, source_id=self._source.source_id, native_id=meta["id"],
            title=name if export else "", uri=uri, kind=DocumentKind.FILE,
            language=self._opts.language, topic=topic, updated_at=meta.get("modifiedTime"),
            audience=self._audience(meta), media_type=str(media_type), content=content,
            metadata={"mime_type": mime, "name": name, "version": str(meta.get("version", ""))},
        )
        if self._store is not None:
            self._store.put(_STORE_PREFIX + meta["id"], {"sig": signature, "topic": list(topic)})
        return doc

    def _content(self, meta: dict[str, Any], export: tuple[str, str] | None) -> bytes:
        files = self._api.files()
        if export is None:
            return bytes(self._call(files.get_media(fileId=meta["id"], supportsAllDrives=True),
                                    f"Drive download {meta['name']}"))
        request = files.export_media(fileId=meta["id"], mimeType=export[0])
        data = bytes(self._call(request, f"Drive export {meta['name']}"))
        if export[0] == "text/csv":
            return _csv_table(meta["name"], data)
        return data

    def _audience(self, meta: dict[str, Any]) -> tuple[str, ...]:
        if self._opts.audience:
            return tuple(self._opts.audience)
        principals = set()
        for perm in meta.get("permissions") or []:
            kind = perm.get("type")
            if kind == "anyone":
                return ()
            if kind == "domain" and perm.get("domain"):
                principals.add(f"domain:{perm['domain']}")
            elif kind in ("user", "group") and perm.get("emailAddress"):
                principals.add(f"{kind}:{perm['emailAddress'].lower()}")
        return tuple(sorted(principals))

    # -- helpers ----------------------------------------------------------------------------------------
    def _call(self, request: Any, what: str) -> Any:
        return self._retry.call(lambda: request.execute(num_retries=0), classify=lambda e: classify(e, what=what),
                                what=what)

    @staticmethod
    def _target_id(meta: dict[str, Any]) -> str:
        if meta["mimeType"] == SHORTCUT:
            return str((meta.get("shortcutDetails") or {}).get("targetId") or meta["id"])
        return str(meta["id"])

    def _forget_missing(self, present: set[str]) -> None:
        if self._store is None:
            return
        known = self._store.keys()  # a method of ConnectorStore, not a dict view
        gone = [k for k in known if k.startswith(_STORE_PREFIX) and k[len(_STORE_PREFIX) :] not in present]
        if gone:
            self._store.delete(gone)

    def _failure(self, native: str, uri: str | None, message: str, *, retryable: bool = False) -> FetchFailure:
        if self._store is not None:
            self._store.delete([_STORE_PREFIX + native])
        return FetchFailure(source_id=self._source.source_id, native_id=native, uri=uri, stage="fetch",
                            message=message, retryable=retryable)


def _csv_table(title: str, data: bytes) -> bytes:
    """A Sheets CSV export as an HTML table (header row kept), so rows stay readable as text."""
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig", errors="replace"))))
    out = [f"<html><body><h1>{html.escape(title)}</h1><table>"]
    for i, row in enumerate(rows):
        cell = "th" if i == 0 else "td"
        out.append("<tr>" + "".join(f"<{cell}>{html.escape(v)}</{cell}>" for v in row) + "</tr>")
    out.append("</table></body></html>")
    return "\n".join(out).encode("utf-8")
