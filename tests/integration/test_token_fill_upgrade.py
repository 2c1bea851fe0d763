"""Upgrading an index written before token vectors were stored (issue 17), with the real MiniLM on Qdrant Edge
through the real sync and CLI: the default search ranks such an index without the second stage (never computing
token vectors at query time), `knowdesk reindex --tokens` reports and fills them, after which the ranking equals a
fresh index's; and a sync fills its own source's (unchanged documents and reused chunks alike)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from app.runtime import Runtime, get_runtime, reset_runtime
from app.tokens import fill_tokens
from core.models import Source, SourceKind
from retrieval.edge import close_edge_stores
from retrieval.rerank import LateReranker
from retrieval.search import Searcher, knowledge_by_default
from retrieval.tokens import TokenCoverage
from service.cli import app
from tests.integration.test_late_tokens_sync import PAGES, QUESTIONS

pytestmark = pytest.mark.slow



@contextmanager
def synced_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Runtime, Source, Path]]:
    """A folder source of ``PAGES`` synced into a fresh home with the defaults (the second stage on for the
    bundled model); the runtime is reset and the Edge stores closed afterwards."""
    folder = tmp_path / "docs"
    folder.mkdir()
    for name, text in PAGES.items():
        (folder / name).write_text(text, encoding="utf-8")
    monkeypatch.setenv("KNOWDESK_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    for name in ("KNOWDESK_SEARCH__RERANK", "KNOWDESK_SEARCH__RERANK_MISSING", "KNOWDESK_SYNC__FILL_TOKENS"):
        monkeypatch.delenv(name, raising=False)
    reset_runtime()
    rt = get_runtime()
    source = rt.sources.add(Source(workspace="default", name="docs", kind=SourceKind.FOLDER,
                                   options={"path": str(folder)}))
    assert rt.sync(source).status == "succeeded"
    try:
        yield rt, source, folder
    finally:
        reset_runtime()
        close_edge_stores()


@pytest.fixture
def synced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Runtime, Source, Path]]:
    with synced_folder(tmp_path, monkeypatch) as got:
        yield got


def searcher(rt: Runtime, **search: str) -> Searcher:
    """A new searcher over the live index (no token vectors cached from earlier queries)."""
    return rt.engine.searcher(alias=rt.settings.qdrant.alias, embedder=rt.embedder, sparse=rt.sparse,
                              config=rt.settings.search.model_copy(update=search))


def ranking(found: Searcher) -> list[list[tuple[str, float]]]:
    filters = knowledge_by_default(None)
    return [[(h.chunk_id, h.score) for h in found.search(q, workspace="default", filters=filters, top_k=5)]
            for q in QUESTIONS]


def ids(rankings: list[list[tuple[str, float]]]) -> list[list[str]]:
    return [[key for key, _ in hits] for hits in rankings]


def same(a: list[list[tuple[str, float]]], b: list[list[tuple[str, float]]]) -> None:
    assert ids(a) == ids(b)
    for x, y in zip(a, b, strict=True):
        assert [s for _, s in x] == pytest.approx([s for _, s in y], abs=2e-3)


def cli(*args: str) -> Result:
    return CliRunner().invoke(app, list(args))


def said(result: Result) -> str:
    return " ".join(re.sub(r"[│╭╮╰╯─]", " ", result.output).split())


def drop_token_vectors(rt: Runtime) -> None:
    """The state of an index written before token vectors were stored."""
    rt.engine.token_store.drop(rt.index.target)


def test_a_pre_upgrade_index_ranks_without_the_stage_until_filled_then_as_a_fresh_one(
        synced: tuple[Runtime, Source, Path]) -> None:
    rt, _, _ = synced
    live = searcher(rt)
    assert live.params.rerank and not live.computes_missing_tokens
    fresh = ranking(live)
    total = rt.index.count("default")
    assert rt.index.token_coverage("default") == TokenCoverage(kept=total, total=total)

    drop_token_vectors(rt)
    old = searcher(rt)
    before = ranking(old)
    reranker = old.reranker
    assert isinstance(reranker, LateReranker)
    assert reranker.sources["computed"] == 0 and reranker.sources["missing"] > 0  # nothing computed inline
    assert old.rerank_skipped == len(QUESTIONS)
    same(before, ranking(searcher(rt, rerank="off")))  # sane: the fused order, as with the stage off

    checked = cli("reindex", "--tokens", "--check")
    assert checked.exit_code == 0, checked.output
    assert f"0 of {total} chunks" in said(checked) and "incomplete" in said(checked)

    filled = cli("reindex", "--tokens")
    assert filled.exit_code == 0, filled.output
    assert f"{total} of {total} chunks (100.0%) now; {total} filled" in said(filled)
    assert rt.index.token_coverage("default") == TokenCoverage(kept=total, total=total)

    after = searcher(rt)
    same(fresh, ranking(after))  # the same ranking as the freshly written index
    assert after.rerank_skipped == 0
    assert isinstance(after.reranker, LateReranker) and after.reranker.sources["computed"] == 0
    assert "complete" in said(cli("reindex", "--tokens", "--check"))

    # the explicit opt-in still computes at query time, and ranks alike
    drop_token_vectors(rt)
    computing = searcher(rt, rerank_missing="compute")
    same(fresh, ranking(computing))
    assert isinstance(computing.reranker, LateReranker) and computing.reranker.sources["computed"] > 0


def test_a_sync_fills_its_sources_token_vectors_unchanged_and_rewritten_documents_alike(
        synced: tuple[Runtime, Source, Path]) -> None:
    rt, source, folder = synced
    drop_token_vectors(rt)
    # one document rewritten (its first section changed, its second reused), two unchanged
    page = PAGES["billing.md"].replace("choose Cancel plan.", "choose Cancel plan, then confirm.")
    (folder / "billing.md").write_text(page, encoding="utf-8")
    report = rt.sync(source)
    assert report.status == "succeeded" and report.written == 1 and report.unchanged == 2
    total = rt.index.count("default")
    assert rt.index.token_coverage("default") == TokenCoverage(kept=total, total=total)
    # the rewritten document's chunks got theirs as it was written (reused ones from the same forward pass),
    # the unchanged documents' at the end of the sync
    billing = sum(1 for hit, _ in rt.index.stored_chunks("default") if hit.document_id.endswith("billing.md"))
    assert billing and any(f"filled for {total - billing} chunks" in note for note in report.notes), report.notes
    found = searcher(rt)
    ranking(found)
    assert found.rerank_skipped == 0

    # bad input: an unknown source, --check without --tokens, --tokens with --model
    unknown = cli("reindex", "nope", "--tokens")
    assert unknown.exit_code == 1 and "no source named 'nope'" in said(unknown)
    assert cli("reindex", "--check").exit_code != 0
    assert "--tokens" in said(cli("reindex", "--tokens", "--model", "x"))
    assert fill_tokens(rt, target="docs", check=True).after == TokenCoverage(
        kept=rt.index.count("default", source_id=source.source_id), total=rt.index.count(
            "default", source_id=source.source_id))
