"""A model or chunk migration (``reindex all --model``) keeps what the service writes itself.

Authored help-center articles, training scenarios and enabled actions are in no registered source;
the new collection must hold them before the alias switches, or the agent loses its help center at
the switch (measured before this test: after ``reindex all --model multilingual-e5-small`` on the
quickstart data, 0 of 225 answerability questions were answered right).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.reindex import migrate_index
from app.runtime import Runtime
from core.models import DocumentKind, Source, SourceKind
from core.settings import Settings
from retrieval.edge import close_edge_stores
from retrieval.generations import IndexSpec
from retrieval.index import close_clients
from retrieval.search import SearchFilters
from tests.integration.test_migration import SAMPLES, other_model  # noqa: F401 (the fixture)

pytestmark = pytest.mark.slow
ARTICLES = ("skip-a-delivery", "reset-password", "mill-warranty", "return-policy")


@pytest.fixture
def rt(tmp_path: Path) -> Iterator[Runtime]:
    from helpcenter.markdown_io import from_export
    from service.quickstart import install_sample_actions
    from training.yaml_io import import_yaml

    runtime = Runtime(Settings(home=tmp_path / "home"))
    data = json.loads(SAMPLES.read_text(encoding="utf-8"))
    data["articles"] = [a for a in data["articles"] if a["id"] in ARTICLES]
    runtime.helpcenter.import_bundle("default", from_export(data))
    import_yaml(runtime.training, "default", (SAMPLES.parent / "training.yaml").read_text(encoding="utf-8"))
    install_sample_actions(runtime, "default")
    folder = tmp_path / "files"
    folder.mkdir()
    (folder / "opening-hours.md").write_text("# Opening hours\n\nThe roastery shop opens Monday to Friday, "
                                             "9:00 to 17:00.\n", encoding="utf-8")
    source = Source(workspace="default", name="files", kind=SourceKind.FOLDER, options={"path": str(folder)})
    runtime.sources.add(source)
    assert runtime.sync(source).status == "succeeded"
    yield runtime
    close_clients()
    close_edge_stores()


def _documents(rt: Runtime, kind: DocumentKind, query: str) -> list[str]:
    hits = rt.retrieve(query, workspace="default", filters=SearchFilters(kind=kind.value), top_k=3)
    return [h.document_id for h in hits]


def test_a_migration_rebuilds_the_help_center_training_and_actions_before_the_switch(
        rt: Runtime, other_model: str) -> None:  # noqa: F811 (the fixture)
    before = {kind: _documents(rt, kind, query) for kind, query in (
        (DocumentKind.ARTICLE, "How do I skip next month's box?"),
        (DocumentKind.SCENARIO, "Where is my order?"),
        (DocumentKind.ACTION, "Track my parcel BR-104233"),
    )}
    assert all(before.values()), before
    points = rt.index.count("default")

    report = migrate_index(rt, IndexSpec(model=other_model, max_tokens=128, overlap_tokens=16))

    assert report.status == "succeeded" and report.switched_from
    assert {"files", "help-center", "training", "actions"} <= set(report.sources), report.sources
    assert rt.live[1].model == other_model
    assert rt.index.count("default") >= points, "smaller chunks: at least as many points, never fewer"
    for kind, query in ((DocumentKind.ARTICLE, "How do I skip next month's box?"),
                        (DocumentKind.SCENARIO, "Where is my order?"),
                        (DocumentKind.ACTION, "Track my parcel BR-104233")):
        after = _documents(rt, kind, query)
        assert after and after[0] == before[kind][0], (kind, before[kind], after)
    # the state records the new versions: reconciling afterwards embeds nothing again
    assert rt.helpcenter.reindex("default").written == 0
    assert rt.training.reindex("default") == (0, 0)
