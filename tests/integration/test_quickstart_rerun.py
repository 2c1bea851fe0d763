"""Re-running the quickstart keeps what a person changed in the sample help center and training."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from app.runtime import Runtime
from core.ids import document_id
from core.settings import Settings
from helpcenter.models import Status, TranslationInput
from helpcenter.publisher import SOURCE_ID
from retrieval.search import SearchFilters
from service.quickstart import import_samples
from tests.fakes import HashEmbedder

WS = "default"
EDITED = "how-brewly-works"
UNPUBLISHED = "choose-a-plan"


@pytest.fixture
def rt(tmp_path: Path) -> Iterator[Runtime]:
    runtime = Runtime(Settings(home=tmp_path / "home"))
    runtime.components.__dict__["embedder"] = HashEmbedder()  # plumbing only: what is indexed, not how well it ranks
    yield runtime


def _indexed_text(rt: Runtime, slug: str) -> str:
    """The indexed text of the article's English document ("" when it has no points)."""
    doc = document_id(SOURCE_ID, f"{slug}/en")
    if rt.index.count(WS, document_id=doc) == 0:
        return ""
    hits = rt.retrieve(f"{slug.replace('-', ' ')} zebracorn wording", workspace=WS, top_k=50, per_document=20,
                       filters=SearchFilters(kind=["article"]))
    return " ".join(h.text for h in hits if h.document_id == doc)


def test_a_rerun_keeps_edited_and_unpublished_articles_in_the_database_and_the_index(rt: Runtime) -> None:
    first = import_samples(rt, WS)
    assert first["helpcenter"]["articles"] >= 40 and first["training"]["published"]
    hc = rt.helpcenter
    hc.put_translation(WS, EDITED, TranslationInput(locale="en", title="How Brewly works (edited)",
                                                    body="Our own wording: zebracorn beans ship on Fridays.",
                                                    status=Status.PUBLISHED))
    hc.unpublish(WS, UNPUBLISHED)
    scenario = rt.training.store.scenarios(WS)[0]
    rt.training.store.update(WS, scenario.id, scenario.draft.model_copy(update={"title": "Renamed by a person"}))
    rt.training.store.unpublish(WS, scenario.id)
    assert "zebracorn" in _indexed_text(rt, EDITED) and _indexed_text(rt, UNPUBLISHED) == ""

    again = import_samples(rt, WS)

    assert again["helpcenter"]["articles"] == 0 and again["helpcenter"]["changed"] == []
    assert again["helpcenter"]["index"]["written"] == 0 and again["training"]["created"] == []
    article = hc.store.get(WS, EDITED)
    [en] = [t for t in article.translations if t.locale == "en"]
    assert en.title == "How Brewly works (edited)" and "zebracorn" in en.body
    assert all(t.status is Status.DRAFT for t in hc.store.get(WS, UNPUBLISHED).translations)
    text = _indexed_text(rt, EDITED)
    assert "zebracorn" in text and "Our own wording" in text
    assert _indexed_text(rt, UNPUBLISHED) == ""
    kept = rt.training.store.get(WS, scenario.id)
    assert kept.draft.title == "Renamed by a person" and kept.status.value == "draft"


def test_a_rerun_seeds_a_sample_article_that_is_missing(rt: Runtime) -> None:
    import_samples(rt, WS)
    rt.helpcenter.delete_article(WS, EDITED)
    again = import_samples(rt, WS)
    assert again["helpcenter"]["articles"] == 1 and again["helpcenter"]["changed"] == [EDITED]
    assert _indexed_text(rt, EDITED)
