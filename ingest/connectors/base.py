"""The connector contract every source implements.

A connector is built from a ``Source`` (its options validated by the connector's ``Options``
model) and reads items: ``Document`` or ``FetchFailure`` values, and ``Checkpoint`` markers
whose cursor may be saved once every item before them has been written. Capabilities are
separate protocols: a full listing, an incremental read since a cursor, and an id-only listing
used to find deletions.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, ClassVar, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict

from core.models import Document, FetchFailure, Frozen


class Checkpoint(Frozen):
    """A resumable position: everything yielded before it is covered by ``cursor``."""

    cursor: dict[str, Any]


class Unchanged(Frozen):
    """The source says this item exists and has not changed (an HTTP 304, an equal content hash):
    nothing to fetch, parse or embed, and not to be deleted."""

    native_id: str


Item = Document | FetchFailure | Checkpoint | Unchanged


class ConnectorStore(Protocol):
    """A small per-source key-value store for connector state (ETags, content hashes, tokens).

    Values are JSON objects. Writes made during a run are kept even if the run fails, so only
    store facts about the source (validators), never progress: progress is the cursor.
    """

    def get(self, key: str) -> dict[str, Any] | None: ...

    def put(self, key: str, value: dict[str, Any]) -> None: ...

    def put_many(self, values: Mapping[str, dict[str, Any]]) -> None: ...

    def delete(self, keys: list[str]) -> None: ...

    def keys(self) -> list[str]: ...


class ConnectorOptions(BaseModel):
    """Base of every connector's options model: unknown options are errors."""

    model_config = ConfigDict(frozen=True, extra="forbid")


@runtime_checkable
class Connector(Protocol):
    """Every connector: a full listing and a credentials/access check."""

    Options: ClassVar[type[ConnectorOptions]]

    def check(self) -> str:
        """Verify credentials and access; return a one-line description of what was reached.

        Raises:
            SourceAuthError, SourceNotFound, ConfigError: naming what is wrong.
        """
        ...

    def list_documents(self) -> Iterator[Item]:
        """Every document of the source (a complete read); may end with a ``Checkpoint``."""
        ...


@runtime_checkable
class IncrementalReader(Protocol):
    """A connector that can read only what changed since a cursor."""

    def read_since(self, cursor: Mapping[str, Any]) -> Iterator[Item]:
        """Documents changed since ``cursor`` (with an overlap window), then a ``Checkpoint``."""
        ...


@runtime_checkable
class IdLister(Protocol):
    """A connector that can list the native ids of everything that exists, cheaply."""

    def list_ids(self) -> Iterator[str]:
        """Every native id; raises rather than returning a partial listing."""
        ...


class ConnectorContext(BaseModel):
    """What a connector gets besides its source: the variables its credentials come from, limits from
    settings, and its state store (None when the caller has no database, e.g. a bare listing)."""

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)

    #: The ``KNOWDESK_*`` variables a connector's credentials model reads (``Credentials.from_env``);
    #: the composition root passes the process's, so a context built without them has no secrets.
    env: Mapping[str, str] = {}
    max_file_bytes: int = 50 * 1024 * 1024
    store: Any = None
    indexed: Any = None

    def is_indexed(self, native_id: str) -> bool:
        """True when the document is in the index and current. A connector checks this before
        yielding ``Unchanged`` (its own store may remember a version whose write never finished).
        Without a database (no ``indexed`` callback) it trusts the connector's store."""
        return True if self.indexed is None else bool(self.indexed(native_id))
