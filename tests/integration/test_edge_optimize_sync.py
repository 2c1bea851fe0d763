"""A sync past ``KNOWDESK_QDRANT__OPTIMIZE_AFTER_POINTS`` starts Edge optimisation in the background
(a child process on a copy); retrieval answers throughout and after."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.runtime import Runtime
from core.models import Source, SourceKind
from core.settings import Settings
from retrieval.edge import close_edge_stores

pytestmark = pytest.mark.slow


def test_a_sync_starts_optimisation_in_the_background(tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "returns.md").write_text("# Returns\n\nUnopened coffee can be returned within 30 days.", encoding="utf-8")
    (folder / "grinder.md").write_text("# Grinder\n\nError E-12 means the burrs are blocked.", encoding="utf-8")
    rt = Runtime(Settings(home=tmp_path / "home", qdrant={"optimize_after_points": 1}))
    try:
        source = Source(workspace="default", name="docs", kind=SourceKind.FOLDER, options={"path": str(folder)})
        rt.sources.add(source)
        assert rt.sync(source).status == "succeeded"
        optimizer = rt.engine.optimizer
        assert optimizer is not None and optimizer.started == 1  # by the sync, in the background
        hits = rt.retrieve("how long can I return coffee", workspace="default")
        assert hits and hits[0].document_id == "docs:returns.md"
        assert optimizer is not None and optimizer.wait(timeout=300)
        assert optimizer.last is not None and optimizer.last.startswith("nothing to optimize in knowdesk__")
        assert rt.retrieve("error E-12", workspace="default")[0].document_id == "docs:grinder.md"
        assert rt.sync(source).written == 0 and optimizer.started == 1  # nothing written: nothing due
    finally:
        close_edge_stores()
