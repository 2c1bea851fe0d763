"""A local folder of files (Markdown, HTML, PDF, DOCX, text) as a source.

native id = the file's path relative to the folder (POSIX); topic = its folder path;
incremental reads use file modification times with an overlap window.
"""

from __future__ import annotations

import fnmatch
import logging
import os
import time
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import field_validator

from core.errors import ConfigError, SourceNotFound
from core.models import Document, DocumentKind, FetchFailure, Source
from ingest.connectors.base import Checkpoint, ConnectorContext, ConnectorOptions, Item
from ingest.connectors.options import StrList
from ingest.parsing import SUPPORTED_EXTENSIONS, SUPPORTED_MEDIA_TYPES, media_type_for, oversized_message

log = logging.getLogger(__name__)

#: Seconds subtracted from the cursor: files written while the last run listed are not missed.
OVERLAP_SECONDS = 5.0


class FolderOptions(ConnectorOptions):
    """Options of a folder source.

    path: the folder. include/exclude: glob patterns on the relative path (default include:
    every supported type). recursive: descend into sub-folders. base_url: citations become
    ``base_url/relative/path`` instead of ``file://`` paths. language: ISO code when known.
    """

    path: str
    include: StrList = []
    exclude: StrList = []
    recursive: bool = True
    base_url: str | None = None
    language: str | None = None

    @field_validator("path")
    @classmethod
    def _absolute(cls, value: str) -> str:
        return str(Path(value).expanduser().resolve())


class FolderConnector:
    """Reads a folder. Unsupported files are skipped unless an include pattern names them,
    in which case each becomes a failure saying why."""

    Options = FolderOptions

    def __init__(self, *, source: Source, options: FolderOptions, context: ConnectorContext) -> None:
        self._source = source
        self._opts = options
        self._root = Path(options.path)
        self._max_bytes = context.max_file_bytes
        self.skipped: dict[str, int] = {}
        #: files the current read goes through (known once listed): the run's total
        self.expected: int | None = None

    def check(self) -> str:
        if not self._root.exists():
            raise SourceNotFound(
                f"folder {self._root} does not exist; fix the source's path option", path=str(self._root)
            )
        if not self._root.is_dir():
            raise ConfigError(f"{self._root} is not a folder", path=str(self._root))
        if not os.access(self._root, os.R_OK | os.X_OK):
            raise SourceNotFound(f"folder {self._root} is not readable by this process", path=str(self._root))
        return f"folder {self._root} ({sum(1 for _ in self._files())} files)"

    def list_documents(self) -> Iterator[Item]:
        return self._read(since=None)

    def read_since(self, cursor: Mapping[str, Any]) -> Iterator[Item]:
        return self._read(since=float(cursor.get("mtime", 0.0)) - OVERLAP_SECONDS)

    def list_ids(self) -> Iterator[str]:
        self.check()
        for path in self._files():
            yield self._native_id(path)

    # ----------------------------------------------------------------------------------------
    def _read(self, since: float | None) -> Iterator[Item]:
        self.check()
        self.skipped = {}
        started = time.time()
        # Listed first (paths only), so the run knows its total and can show progress against it.
        wanted: list[tuple[Path, str, os.stat_result | OSError]] = []
        for path in self._files():
            try:
                stat: os.stat_result | OSError = path.stat()
            except OSError as exc:
                stat = exc
            if since is not None and isinstance(stat, os.stat_result) and stat.st_mtime < since:
                continue
            wanted.append((path, self._native_id(path), stat))
        self.expected = len(wanted)
        for path, native, stat in wanted:
            try:
                if isinstance(stat, OSError):
                    raise stat
                yield self._document(path, native, stat)
            except OSError as exc:
                yield FetchFailure(
                    source_id=self._source.source_id,
                    native_id=native,
                    uri=path.as_uri(),
                    message=f"cannot read {native}: {exc.strerror or exc}",
                )
        yield Checkpoint(cursor={"mtime": started})

    def _document(self, path: Path, native: str, stat: os.stat_result) -> Document | FetchFailure:
        uri = f"{self._opts.base_url.rstrip('/')}/{native}" if self._opts.base_url else path.as_uri()
        if stat.st_size > self._max_bytes:
            return FetchFailure(
                source_id=self._source.source_id,
                native_id=native,
                uri=uri,
                stage="parse",
                message=f"{native}: {oversized_message(stat.st_size, self._max_bytes)}",
            )
        media_type = media_type_for(path.name)
        if media_type not in SUPPORTED_MEDIA_TYPES:
            return FetchFailure(
                source_id=self._source.source_id,
                native_id=native,
                uri=uri,
                stage="parse",
                message=f"{native}: unsupported file type {path.suffix or '(none)'}; supported: "
                f"{', '.join(sorted(SUPPORTED_EXTENSIONS))}; exclude it with --option exclude=PATTERN",
            )
        parents = Path(native).parent.parts
        return Document(
            workspace=self._source.workspace,
            source_id=self._source.source_id,
            native_id=native,
            uri=uri,
            kind=DocumentKind.FILE,
            language=self._opts.language,
            topic=tuple(parents),
            updated_at=datetime.fromtimestamp(stat.st_mtime, UTC),
            media_type=str(media_type),
            content=path.read_bytes(),
        )

    def _files(self) -> Iterator[Path]:
        pattern = "**/*" if self._opts.recursive else "*"
        real_root = self._root.resolve()
        for path in sorted(self._root.glob(pattern)):
            rel = path.relative_to(self._root)
            if any(part.startswith(".") for part in rel.parts) or not path.is_file():
                continue
            if not path.resolve().is_relative_to(real_root):  # a symlink out of the folder: never read
                self.skipped["(link outside the folder)"] = self.skipped.get("(link outside the folder)", 0) + 1
                continue
            name = rel.as_posix()
            if any(fnmatch.fnmatch(name, p) for p in self._opts.exclude):
                continue
            if self._opts.include:
                if any(fnmatch.fnmatch(name, p) for p in self._opts.include):
                    yield path
            elif path.suffix.lower() in SUPPORTED_EXTENSIONS:
                yield path
            else:
                key = path.suffix.lower() or "(none)"
                self.skipped[key] = self.skipped.get(key, 0) + 1

    def _native_id(self, path: Path) -> str:
        return path.relative_to(self._root).as_posix()
