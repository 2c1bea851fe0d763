"""Qdrant Edge optimisation off the serving path: a copy is optimised in a child process and swapped in;
searches answer meanwhile, writes wait and are kept, a failed child leaves the live collection alone."""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.errors import IndexError_
from retrieval.edge import EdgeCandidates, EdgeIndex, EdgeStore
from retrieval.edge_optimize import CHILD, EdgeOptimizer
from retrieval.search import Searcher
from retrieval.sparse import BM25Encoder
from tests.contracts.test_index_backends import DistinctEmbedder, chunks_of, document

WS = "acme"
# The real child, started only once the test creates the gate file: the optimisation is certainly
# running (copy taken, writes held) while the test searches.
GATED = ("import os, sys, time\n"
         "from retrieval.edge_optimize import main\n"
         "while not os.path.exists(sys.argv[1]):\n"
         "    time.sleep(0.02)\n"
         "sys.exit(main(sys.argv[2:]))\n")


class Setup:
    def __init__(self, root: Path) -> None:
        self.embedder = DistinctEmbedder()
        self.store = EdgeStore(root=root / "edge")
        self.index = EdgeIndex(store=self.store, alias="kd", model_id=self.embedder.model_id,
                               dimension=self.embedder.dimension, chunker_version="v1", sparse=BM25Encoder())
        self.searcher = Searcher(engine=EdgeCandidates(store=self.store, alias="kd"), embedder=self.embedder,
                                 sparse=BM25Encoder())

    def write(self, n: int, paragraphs: int = 50) -> None:
        doc = document(WS, "bulk", f"doc-{n}")
        chunks = chunks_of(doc, [f"bulk text marker{n}x{i} paragraph" for i in range(paragraphs)])
        self.index.replace_document(doc, chunks, self.embedder.embed_documents([c.embed_text for c in chunks]))

    def search(self, query: str) -> list[str]:
        return [h.chunk_id for h in self.searcher.search(query, workspace=WS, top_k=3)]


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[Setup]:
    s = Setup(tmp_path)
    s.index.ensure_collection()
    for n in range(40):  # 2,000 points, then half of them deleted: past the vacuum thresholds
        s.write(n)
    s.index.delete_documents(WS, [f"bulk:doc-{n}" for n in range(0, 40, 2)])
    yield s
    s.store.close()


def test_searches_and_writes_go_on_during_optimisation_and_the_writes_are_replayed(setup: Setup,
                                                                                   tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    optimizer = EdgeOptimizer(store=setup.store, min_points=1000, command=[sys.executable, "-c", GATED, str(gate)])
    target = setup.index.target
    expected = setup.search("bulk text marker7x31 paragraph")
    assert "bulk:doc-7#31" in expected
    assert setup.store.written(target) >= 2000 and optimizer.after_writes(target) is True
    assert optimizer.running and optimizer.start(target) is False  # one at a time

    assert "bulk:doc-7#31" in setup.search("bulk text marker7x31 paragraph")  # answered while optimising
    writer = threading.Thread(target=setup.write, args=(99, 5))
    writer.start()
    writer.join(60)
    assert not writer.is_alive()  # the write does not wait for the child
    assert optimizer.running
    setup.index.delete_documents(WS, ["bulk:doc-9"])  # so does a delete
    assert "bulk:doc-99#3" in setup.search("bulk text marker99x3 paragraph")  # live at once
    assert setup.index.count(WS, document_id="bulk:doc-9") == 0

    gate.touch()
    assert optimizer.wait(timeout=300)
    assert optimizer.last is not None and optimizer.last.startswith(f"optimized {target}"), optimizer.last
    info = setup.index.shard.info()
    # the optimised copy was taken before the write and the delete: both were replayed on it
    assert info.points_count == setup.index.count(WS) == 19 * 50 + 5
    assert "bulk:doc-7#31" in setup.search("bulk text marker7x31 paragraph")
    assert "bulk:doc-99#3" in setup.search("bulk text marker99x3 paragraph")
    assert setup.index.count(WS, document_id="bulk:doc-9") == 0
    assert setup.store.written(target) == 5 + 1  # the replayed writes are not optimised yet
    assert not any(p.name.startswith(".") and p.is_dir() and "optimizing" in p.name for p in setup.store.root.iterdir())
    assert "nothing to optimize" in EdgeOptimizer(store=setup.store, min_points=0).optimize(target)


def test_optimisation_starts_only_past_the_threshold(setup: Setup) -> None:
    target = setup.index.target
    assert EdgeOptimizer(store=setup.store, min_points=0).after_writes(target) is False  # off
    assert EdgeOptimizer(store=setup.store, min_points=10_000).after_writes(target) is False
    assert list(CHILD[1:]) == ["-m", "retrieval.edge_optimize"]


def test_a_failed_child_leaves_the_live_collection_as_it_was(setup: Setup) -> None:
    target = setup.index.target
    before = setup.index.shard.info().points_count
    failing = EdgeOptimizer(store=setup.store, min_points=1, command=[sys.executable, "-c", "import sys; sys.exit(3)"])
    with pytest.raises(IndexError_, match="exit 3"):
        failing.optimize(target)
    assert setup.index.shard.info().points_count == before
    assert "bulk:doc-7#31" in setup.search("bulk text marker7x31 paragraph")
    assert not (setup.store.root / f".{target}.optimizing").exists()
    assert failing.after_writes(target) is True and failing.wait(60)
    assert failing.last is not None and "exit 3" in failing.last  # the background pass logs, never raises


def test_the_engine_optimises_after_writes_in_the_background_and_says_so_on_demand(tmp_path: Path) -> None:
    from core.settings import QdrantSettings
    from retrieval.edge_store import close_edge_stores
    from retrieval.factory import IndexEngine

    embedder = DistinctEmbedder()
    engine = IndexEngine(settings=QdrantSettings(path=tmp_path / "edge", optimize_after_points=50), home=tmp_path)
    index = engine.index(model_id=embedder.model_id, dimension=embedder.dimension, chunker_version="v1",
                         sparse=BM25Encoder())
    try:
        index.ensure_collection()
        assert engine.after_writes(index) is False  # nothing written yet
        doc = document(WS, "bulk", "doc-1")
        chunks = chunks_of(doc, [f"paragraph {i}" for i in range(60)])
        index.replace_document(doc, chunks, embedder.embed_documents([c.embed_text for c in chunks]))
        assert engine.after_writes(index) is True
        optimizer = engine.optimizer
        assert optimizer is not None and optimizer.wait(timeout=300)
        assert optimizer.last is not None and "nothing to optimize" in optimizer.last  # too few points for HNSW
        assert engine.optimize(index).startswith("nothing to optimize in knowdesk__")
    finally:
        close_edge_stores()


def test_a_copy_that_does_not_open_leaves_the_live_collection(setup: Setup, tmp_path: Path) -> None:
    target = setup.index.target
    bad = setup.store.root / f".{target}.optimizing"
    bad.mkdir()
    (bad / "edge_config.json").write_text("not json", encoding="utf-8")
    with pytest.raises(IndexError_):
        setup.store.replace_shard(target, bad)
    assert setup.index.count(WS) == 20 * 50
    assert "bulk:doc-7#31" in setup.search("bulk text marker7x31 paragraph")


def test_opening_the_store_undoes_an_optimisation_stopped_mid_swap(setup: Setup, tmp_path: Path) -> None:
    target = setup.index.target
    root = setup.store.root
    setup.store.close()
    (root / target).rename(root / f".{target}.retired")  # stopped between moving the live folder aside...
    (root / f".{target}.optimizing").mkdir()  # ...and moving the copy in
    store = EdgeStore(root=root)
    try:
        assert store.collection_exists(target) and store.shard(target).info().points_count == 20 * 50
        assert not [p.name for p in root.iterdir() if p.is_dir() and p.name.startswith(".")]
    finally:
        store.close()


def test_a_pass_finishing_after_the_store_closed_changes_nothing(setup: Setup, tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    optimizer = EdgeOptimizer(store=setup.store, min_points=1, command=[sys.executable, "-c", GATED, str(gate)])
    target = setup.index.target
    assert optimizer.start(target)
    while not (setup.store.root / f".{target}.optimizing").exists():
        optimizer.wait(0.05)
    setup.store.close()
    gate.touch()
    assert optimizer.wait(timeout=300)
    assert optimizer.last is not None and "store closed" in optimizer.last
    assert not (setup.store.root / f".{target}.optimizing").exists()


def test_the_write_count_survives_a_restart_and_resets_after_a_pass(setup: Setup, tmp_path: Path) -> None:
    target = setup.index.target
    written = setup.store.written(target)
    assert written >= 2000
    setup.store.close()
    reopened = EdgeStore(root=tmp_path / "edge")  # a restarted server: the count is not forgotten
    try:
        assert reopened.written(target) == written
        assert EdgeOptimizer(store=reopened, min_points=1000).due(target)
        reopened.optimized(target)
        assert reopened.written(target) == 0
    finally:
        reopened.close()
    again = EdgeStore(root=tmp_path / "edge")
    try:
        assert again.written(target) == 0
        again.delete_collection(target)
        assert again.written(target) == 0 and target not in (again.root / ".written.json").read_text()
    finally:
        again.close()
    setup.store = EdgeStore(root=tmp_path / "edge")  # the fixture closes it


def test_an_unreadable_write_count_file_counts_from_zero(tmp_path: Path) -> None:
    root = tmp_path / "edge"
    root.mkdir()
    (root / ".written.json").write_text("{not json", encoding="utf-8")
    store = EdgeStore(root=root)
    try:
        assert store.written("kd-anything") == 0
    finally:
        store.close()
