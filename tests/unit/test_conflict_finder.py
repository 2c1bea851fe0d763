"""Quantities and the comparison of the conflicting-facts finder, on hand-written passages with
chosen vectors (the candidate pairs and real-model quality: tests/integration/test_conflicts.py)."""

from __future__ import annotations

import numpy as np
import pytest

from core.models import DocumentKind, Hit
from insights.conflicts import ConflictFinder, FinderSettings, family, find_conflicts
from insights.quantities import quantities


def _q(text: str) -> list[tuple[str, float, float]]:
    return [(q.dimension, round(q.lo, 2), round(q.hi, 2)) for q in quantities(text)]


@pytest.mark.parametrize(("text", "expected"), [
    ("Refunds are paid within 14 days.", [("days", 14, 14)]),
    ("Send it back within two weeks.", [("days", 14, 14)]),
    ("Delivery takes 1 to 7 business days.", [("business_days", 1, 7)]),
    ("Lieferung in 3 Werktagen.", [("business_days", 3, 3)]),
    ("Les remboursements sous 30 jours.", [("days", 30, 30)]),
    ("Valid for 36 months.", [("days", 1095, 1095)]),
    ("Valid for 3 years.", [("days", 1095, 1095)]),
    ("Cancel up to 48 hours before, or 90 minutes.", [("hours", 48, 48), ("hours", 1.5, 1.5)]),
    ("The plan costs €29 per month.", [("EUR/month", 29, 29)]),
    ("A gift membership costs €60 for 6 months.", [("EUR", 60, 60), ("days", 182.5, 182.5)]),
    ("Shipping costs $5.90 or 4,90 € and 1,000 NOK.", [("USD", 5.9, 5.9), ("EUR", 4.9, 4.9), ("NOK", 1000, 1000)]),
    ("Students get 20% off, 15 Prozent for seniors.", [("percent", 20, 20), ("percent", 15, 15)]),
    ("A 250 g bag or a 1.5 kg bag.", [("grams", 250, 250), ("grams", 1500, 1500)]),
    ("Descale every 2 months.", [("every:days", 60.83, 60.83)]),
    ("Students must be at least 16 years old.", [("age", 5840, 5840)]),
    ("Boxes ship on the 10th of every month; your 8th coffee is free.",
     [("day_of_month", 10, 10), ("ordinal:coffe", 8, 8)]),
    ("Open from 07:30 to 19:00.", [("time", 7.5, 7.5), ("time", 19, 19)]),
    ("Groups of up to 40 guests.", [("count:guest", 40, 40)]),
    ("Version 4.3 or later, and the small one €35.", [("EUR", 35, 35)]),
])
def test_quantities_are_read_with_their_dimension_and_normalised(text: str,
                                                                 expected: list[tuple[str, float, float]]) -> None:
    assert _q(text) == expected


def _hit(doc: str, text: str, language: str = "en", index: int = 0) -> Hit:
    native = doc.split(":", 1)[1]
    return Hit(chunk_id=f"{doc}#{index}", document_id=doc, source_id=doc.split(":")[0], title=doc, uri=None,
               section=(), text=text, kind=DocumentKind.FILE, language=language, topic=(), score=0.0,
               payload={"native_id": native, "chunk_index": index})


def _find(*texts: tuple[str, str, str, int]) -> list[tuple[str, str, str, str]]:
    """Passages (document, text, language, topic): passages of one topic get the same vector."""
    hits = [_hit(doc, text, language) for doc, text, language, _ in texts]
    vectors = np.stack([np.eye(8, dtype=np.float32)[topic] for *_, topic in texts])
    _, found = find_conflicts(hits, vectors, FinderSettings())
    return [(c.a.document_id, c.a.value, c.b.document_id, c.b.value) for c in found]


def test_the_same_thing_with_different_values_is_a_conflict_and_other_things_are_not() -> None:
    found = _find(
        ("a:refunds.md", "Unopened tins can be returned for a full refund within 14 days of delivery.", "en", 0),
        ("b:refunds.md", "Send an unopened tin back within 30 days of delivery for a full refund.", "en", 0),
        ("a:tour.md", "Roastery tours last 90 minutes.", "en", 1),  # another topic: never compared
        ("b:keg.md", "A keg can be rented for 30 days.", "en", 2),
    )
    assert found == [("a:refunds.md", "14 days", "b:refunds.md", "30 days")]


@pytest.mark.parametrize(("a", "b"), [
    ("Unopened tins can be returned within 14 days of delivery.", "Return unopened tins within two weeks of delivery."),
    ("The Starter tin holds 50 g and the Classic tin holds 100 g.", "The Classic tin holds 100 g, the Starter 50 g."),
    ("Delivery now costs €25 per order instead of €30.", "Delivery costs €25 per order."),
    ("Catering costs €15 per person.", "Catering for 10 people costs €150."),  # a rate and a total
    ("Green coffee samples come in packs of 300 g.", "Green coffee comes in bags of 60 kg."),  # 200 times apart
])
def test_consistent_passages_are_not_conflicts(a: str, b: str) -> None:
    assert _find(("a:x.md", a, "en", 0), ("b:x.md", b, "en", 0)) == []


def test_translations_are_compared_whole_by_the_order_of_their_quantities() -> None:
    english = "Refunds within 14 days. Delivery takes 3 business days."
    assert family(_hit("help-center:refunds/de", "")) == family(_hit("help-center:refunds/en", "")) == "refunds"
    found = _find(("help-center:refunds/en", english, "en", 0),
                  ("help-center:refunds/de", "Erstattung innerhalb von 30 Tagen. Lieferung in 3 Werktagen.", "de", 1))
    assert found == [("help-center:refunds/de", "30 Tagen", "help-center:refunds/en", "14 days")] or found == [
        ("help-center:refunds/en", "14 days", "help-center:refunds/de", "30 Tagen")]
    same = _find(("help-center:refunds/en", english, "en", 0),
                 ("help-center:refunds/de", "Erstattung innerhalb von 14 Tagen. Lieferung in 3 Werktagen.", "de", 1))
    assert same == []
    # a translation that says other things (another count of quantities) is not aligned
    loose = _find(("help-center:refunds/en", english, "en", 0),
                  ("help-center:refunds/de", "Erstattung innerhalb von 30 Tagen.", "de", 1))
    assert loose == []


class _Chunks:
    def __init__(self, *texts: str) -> None:
        self.items = [(_hit(f"a:{n}.md", t), np.ones(4, dtype=np.float32)) for n, t in enumerate(texts)]

    def stored_chunks(self, workspace: str) -> list[tuple[Hit, np.ndarray]]:
        return self.items


def test_an_empty_or_tiny_workspace_has_no_conflicts() -> None:
    for chunks in (_Chunks(), _Chunks("Refunds within 14 days.")):
        report = ConflictFinder(chunks=chunks).find("w")
        assert (report.conflicts, report.candidate_pairs) == ([], 0)
    report = ConflictFinder(chunks=_Chunks("Refunds within 14 days of delivery.", "Refunds within 30 days of delivery.")
                            ).find("w")
    assert report.chunks == 2 and [(c.a.value, c.b.value) for c in report.conflicts] == [("14 days", "30 days")]
