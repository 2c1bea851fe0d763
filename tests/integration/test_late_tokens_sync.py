"""The late stage's token vectors through a real sync of a folder (real MiniLM, Qdrant Edge): stored
at ingest equal to what the stage computes at query time, gone with a deleted file, and the ranking
with stored vectors equal to the ranking with computed ones, also on an index written before they
were stored (no re-ingest)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from app.reindex import reindex_source
from app.runtime import Runtime
from core.ids import point_id
from core.models import Source, SourceKind
from core.settings import Settings
from retrieval.edge import close_edge_stores
from retrieval.rerank import LateReranker, MiniLMTokens
from retrieval.search import Searcher, knowledge_by_default
from retrieval.tokens import LATE_MODEL, chunk_text

pytestmark = pytest.mark.slow

PAGES = {
    "billing.md": "# Billing\n\n## Cancel a plan\n\nOpen Settings, then Billing, and choose Cancel plan. The plan "
                  "stays active until the end of the period.\n\n## Refunds\n\nRefunds for annual plans are prorated "
                  "and reach your card within five working days.\n",
    "devices.md": "# Devices\n\n## Pairing\n\nHold the reset button for ten seconds until the light blinks blue, then "
                  "add the thermostat in the app.\n\n## Batteries\n\nCode E-10 means the batteries are low: replace "
                  "both AA batteries.\n",
    "account.md": "# Account\n\n## Password\n\nUse Forgot password on the sign-in page; the link in the email is "
                  "valid for one hour.\n\n## Two-factor sign-in\n\nTurn on two-factor sign-in under Security to get "
                  "a code by text message.\n",
}
QUESTIONS = ["how do I stop paying for my subscription", "my thermostat shows E-10", "I forgot my password",
             "when does the money come back after a refund", "connect a new thermostat"]


@pytest.fixture
def synced(tmp_path: Path) -> Iterator[tuple[Runtime, Source, Path]]:
    folder = tmp_path / "docs"
    folder.mkdir()
    for name, text in PAGES.items():
        (folder / name).write_text(text, encoding="utf-8")
    rt = Runtime(Settings(home=tmp_path / "home", search={"rerank": "late"}))
    source = rt.sources.add(Source(workspace="default", name="docs", kind=SourceKind.FOLDER,
                                   options={"path": str(folder)}))
    assert rt.sync(source).status == "succeeded"
    yield rt, source, folder
    close_edge_stores()


def ranking(searcher: Searcher) -> list[list[tuple[str, float]]]:
    filters = knowledge_by_default(None)
    return [[(h.chunk_id, h.score) for h in searcher.search(q, workspace="default", filters=filters, top_k=5)]
            for q in QUESTIONS]


def same(a: list[list[tuple[str, float]]], b: list[list[tuple[str, float]]]) -> None:
    assert [[key for key, _ in hits] for hits in a] == [[key for key, _ in hits] for hits in b]
    for x, y in zip(a, b, strict=True):
        assert [s for _, s in x] == pytest.approx([s for _, s in y], abs=2e-3)


def test_stored_token_vectors_match_the_computed_ones_and_rank_alike(synced: tuple[Runtime, Source, Path]) -> None:
    rt, source, folder = synced
    collection = rt.index.target
    tokens = rt.engine.token_store
    chunks = [hit for hit, _ in rt.index.stored_chunks("default")]
    assert len(chunks) >= 3
    ids = [point_id("default", h.chunk_id) for h in chunks]
    stored = tokens.read(collection, ids, model=LATE_MODEL)
    assert len(stored) == len(chunks)  # every chunk got its vectors at ingest
    texts = [chunk_text({"title": h.title, "section": h.section, "text": h.text}) for h in chunks]
    computed = MiniLMTokens().token_vectors(texts)
    for pid, vectors in zip(ids, computed, strict=True):
        mine = stored[pid].vectors.astype(np.float32)
        assert mine.shape == vectors.shape
        cosines = (mine * vectors).sum(axis=1) / (np.linalg.norm(mine, axis=1) * np.linalg.norm(vectors, axis=1))
        assert float(cosines.min()) >= 0.999

    live = rt.searcher  # RERANK=late: stored chunk vectors, the query's from its embedding pass
    with_stored = ranking(live)
    reranker = live.reranker
    assert isinstance(reranker, LateReranker)
    assert reranker.sources["stored"] > 0 and reranker.sources["computed"] == 0
    assert reranker.sources["query kept"] == len(QUESTIONS) and reranker.sources["query computed"] == 0

    for question in QUESTIONS:  # the query's vectors kept from its embedding pass equal the computed ones
        [mine] = [live.embedder.query_tokens(question)] if hasattr(live.embedder, "query_tokens") else [None]
        [theirs] = MiniLMTokens().token_vectors([question])
        assert mine is not None and mine.shape == theirs.shape
        assert float((mine * theirs).sum(axis=1).min()) >= 0.999

    def fresh_searcher(reranker: LateReranker) -> Searcher:
        return Searcher(engine=live.engine, embedder=live.embedder, sparse=live.sparse, config=live.config,
                        reranker=reranker)

    computing = LateReranker(cache=0)  # today's path: every vector computed at query time
    same(with_stored, ranking(fresh_searcher(computing)))
    assert computing.sources["stored"] == 0 and computing.sources["computed"] > 0

    # an index written before token vectors were stored: the stage computes them, ranks the same
    tokens.drop(collection)
    old = LateReranker(cache=0, stored=live.tokens)
    same(with_stored, ranking(fresh_searcher(old)))
    assert old.sources["stored"] == 0 and old.sources["computed"] > 0

    # re-indexing the source stores them again; a deleted file takes its vectors with it
    assert reindex_source(rt, source).status == "succeeded"
    assert len(tokens.read(collection, ids, model=LATE_MODEL)) == len(chunks)
    (folder / "devices.md").unlink()
    assert rt.sync(source).status == "succeeded"
    left = tokens.read(collection, ids, model=LATE_MODEL)
    kept = {point_id("default", h.chunk_id) for h in chunks if not h.document_id.endswith("devices.md")}
    assert set(left) == kept
