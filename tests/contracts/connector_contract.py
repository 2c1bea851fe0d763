"""The contract every connector passes, written once.

A connector's test module subclasses ``ConnectorContract`` and provides a ``contract_env``
fixture returning a ``ContractEnv``: something that builds the connector and can add, edit
and delete items at the source (a folder, a JSON export, a loopback server speaking the vendor
API). The same tests then run for every connector.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from qdrant_client import QdrantClient

from core.db import Database
from core.models import Document, FetchFailure, Source
from ingest.chunking import Chunker
from ingest.connectors.base import Checkpoint, Connector, IdLister, IncrementalReader
from ingest.parsing import Parser
from ingest.sources import SourceStore
from ingest.state import SyncState
from ingest.sync import Pipeline, SyncOptions, run_sync
from retrieval.index import QdrantIndex
from retrieval.sparse import BM25Encoder
from tests.fakes import HashEmbedder


class SourceFixture(Protocol):
    """Mutations of the source behind a connector; native ids are the connector's."""

    source: Source

    def connector(self) -> Connector: ...

    def add(self, key: str, title: str, body: str) -> str:
        """Create an item; returns its native id as the connector will report it."""
        ...

    def edit(self, key: str, body: str) -> None: ...

    def delete(self, key: str) -> None: ...


@dataclass
class ContractEnv:
    fixture: SourceFixture
    db: Database
    qdrant: QdrantClient


def _items(it: Any) -> tuple[list[Document], list[FetchFailure], list[Checkpoint]]:
    docs, fails, cps = [], [], []
    for item in it:
        if isinstance(item, Document):
            docs.append(item)
        elif isinstance(item, FetchFailure):
            fails.append(item)
        elif isinstance(item, Checkpoint):
            cps.append(item)
        else:  # pragma: no cover - a contract violation
            raise AssertionError(f"connector yielded {type(item).__name__}")
    return docs, fails, cps


class ConnectorContract:
    """Subclass and provide the ``contract_env`` fixture."""

    def _sync(self, env: ContractEnv, *, full: bool = False, embedder: HashEmbedder | None = None) -> Any:
        embedder = embedder or HashEmbedder()
        chunker = Chunker(tokens=embedder, max_tokens=128, overlap_tokens=16)
        index = QdrantIndex(
            client=env.qdrant,
            alias="contract",
            model_id=embedder.model_id,
            dimension=embedder.dimension,
            chunker_version=chunker.version,
            sparse=BM25Encoder(),
        )
        source = env.fixture.source
        store = SourceStore(db=env.db)
        if source.name not in {s.name for s in store.list(source.workspace)}:
            store.add(source)  # the cursor is saved on the source row: incremental reads are exercised
        pipeline = Pipeline(
            parser=Parser(),
            chunker=chunker,
            embedder=embedder,
            writer=index,
            options=SyncOptions(shrink_guard_ratio=1.0),
        )
        state = SyncState(db=env.db, workspace=source.workspace, source=source.name)
        return run_sync(
            source=source, connector=env.fixture.connector(), state=state, pipeline=pipeline, full=full
        ), state

    def test_full_listing_yields_documents_of_this_source(self, contract_env: ContractEnv) -> None:
        fx = contract_env.fixture
        a = fx.add("alpha", "Alpha guide", "The alpha guide explains the first steps in detail.")
        b = fx.add("beta", "Beta guide", "The beta guide explains the second steps in detail.")
        docs, fails, _ = _items(fx.connector().list_documents())
        assert not fails, fails
        by_id = {d.native_id: d for d in docs}
        assert {a, b} <= set(by_id)
        assert len(by_id) == len(docs), "native ids must be unique"
        for d in docs:
            assert d.workspace == fx.source.workspace and d.source_id == fx.source.source_id
            assert d.content and d.media_type
            assert d.uri, "every document needs a uri for citations"
        assert by_id[a].title in ("Alpha guide", "")

    def test_id_listing_matches_full_listing_and_sees_deletions(self, contract_env: ContractEnv) -> None:
        fx = contract_env.fixture
        connector = fx.connector()
        if not isinstance(connector, IdLister):
            return
        a = fx.add("alpha", "Alpha", "Alpha text that is long enough to index.")
        b = fx.add("beta", "Beta", "Beta text that is long enough to index.")
        docs, _, _ = _items(connector.list_documents())
        assert set(fx.connector().list_ids()) == {d.native_id for d in docs}  # type: ignore[attr-defined]
        fx.delete("beta")
        ids = set(fx.connector().list_ids())  # type: ignore[attr-defined]
        assert a in ids and b not in ids

    def test_incremental_read_sees_an_edit(self, contract_env: ContractEnv) -> None:
        fx = contract_env.fixture
        connector = fx.connector()
        if not isinstance(connector, IncrementalReader):
            return
        a = fx.add("alpha", "Alpha", "Alpha original text that is long enough.")
        _, _, checkpoints = _items(connector.list_documents())
        assert checkpoints, "an incremental connector's full listing ends with a checkpoint"
        fx.edit("alpha", "Alpha edited text, new content for the index.")
        docs, _, cps = _items(fx.connector().read_since(checkpoints[-1].cursor))  # type: ignore[attr-defined]
        assert cps, "read_since ends with a checkpoint"
        edited = [d for d in docs if d.native_id == a]
        assert edited and b"edited" in edited[-1].content

    def test_sync_keeps_the_index_matching_the_source(self, contract_env: ContractEnv) -> None:
        fx = contract_env.fixture
        a = fx.add("alpha", "Alpha", "Alpha guide text about grinding coffee beans at home.")
        b = fx.add("beta", "Beta", "Beta guide text about descaling the espresso machine.")
        embedder = HashEmbedder()
        report, state = self._sync(contract_env, embedder=embedder)
        assert report.status == "succeeded", report
        assert {a, b} <= set(state.indexed())
        embedded = embedder.embedded
        report, _ = self._sync(contract_env, full=True, embedder=embedder)
        assert report.chunks_embedded == 0 and embedder.embedded == embedded, "unchanged content re-embedded"
        fx.edit("alpha", "Alpha guide rewritten: grinding coffee beans for cold brew.")
        fx.delete("beta")
        report, state = self._sync(contract_env, embedder=embedder)
        assert report.written >= 1 and report.deleted == 1, report
        assert a in state.indexed() and b not in state.indexed()

    def test_check_describes_what_it_reached(self, contract_env: ContractEnv) -> None:
        assert isinstance(contract_env.fixture.connector().check(), str)


Factory = Callable[..., SourceFixture]
