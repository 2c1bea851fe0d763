"""A new or emptied index under an existing state database: the next sync writes everything again."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.runtime import Runtime
from core.models import Source, SourceKind
from core.settings import Settings

pytestmark = pytest.mark.slow


def test_a_sync_after_the_index_was_emptied_writes_every_document_again(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "descale.md").write_text("# Descaling\n\nDescale the Brewly Mill every 3 months with citric acid.\n")
    (docs / "grind.md").write_text("# Grind size\n\nUse setting 12 for filter coffee and 4 for espresso.\n")
    rt = Runtime(Settings(home=tmp_path / "home"))
    source = rt.sources.add(Source(workspace="default", name="docs", kind=SourceKind.FOLDER,
                                   options={"path": str(docs)}))
    assert rt.sync(source).written == 2
    assert rt.sync(source).written == 0  # nothing changed, nothing lost: skipped by the state

    # the index is emptied (a new Qdrant server, a deleted folder) while the state database stays
    rt.index.delete_documents("default", ["docs:descale.md", "docs:grind.md"])
    assert rt.retrieve("how often should I descale", workspace="default") == []

    report = rt.sync(source)
    assert report.status == "succeeded" and report.written == 2 and report.unchanged == 0
    assert any("every document is read and written again" in n for n in report.notes)
    hits = rt.retrieve("how often should I descale", workspace="default")
    assert hits and hits[0].document_id == "docs:descale.md"
    assert rt.sync(source).written == 0  # and then back to normal skipping
    rt.qdrant.close()
