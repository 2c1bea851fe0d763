"""Near-duplicates of a resolution draft: the units an answer sentence is compared with (table rows read
with their header, list items, whole sections) and coverage, with a word-count fake embedder (the real
model's numbers are measured in bench/fit_duplicates)."""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from app.resolutions.duplicates import Candidate, candidates, coverage, queries, units
from core.models import DocumentKind, Hit

ARTICLE = """Brewly accepts the payment methods below.

Accepted payment methods
Method | Subscriptions | Shop orders
PayPal | Yes | Yes
Apple Pay, Google Pay | No | Yes

What is in the box
- Catch cup made of steel
- Cleaning brush for the burrs
- Burr removal tool
"""


def words(texts: Sequence[str]) -> np.ndarray:
    """A bag-of-words vector per text over a fixed small vocabulary (plumbing only)."""
    vocab = sorted({w for t in (ARTICLE, "dishwasher hopper lid never body") for w in re.findall(r"[a-z]+", t.lower())})
    out = np.zeros((len(texts), len(vocab)))
    for i, text in enumerate(texts):
        for w in re.findall(r"[a-z]+", text.lower()):
            if w in vocab:
                out[i, vocab.index(w)] += 1
    return out


def test_table_rows_are_read_with_their_header_and_sections_as_a_whole() -> None:
    found = units(ARTICLE)
    assert "PayPal (Method): Subscriptions: Yes; Shop orders: Yes" in found
    assert "Apple Pay, Google Pay (Method): Subscriptions: No; Shop orders: Yes" in found
    assert "Catch cup made of steel" in found  # a list item without its dash
    assert any(u.startswith("What is in the box: Catch cup") and "Burr removal tool" in u for u in found)
    assert "Method | Subscriptions | Shop orders" not in found and "Accepted payment methods" not in found


def test_an_answer_the_article_states_covers_more_than_a_new_one() -> None:
    article = [Candidate("help-center:payment-methods/en", "Payment methods", 0.4, {"c#0": ARTICLE})]
    restated = coverage("PayPal works for subscriptions and shop orders. The box has a catch cup and a cleaning "
                        "brush.", article, words)
    new = coverage("Never put the hopper or the body in the dishwasher.", article, words)
    assert restated["help-center:payment-methods/en"] > 0.6 > new["help-center:payment-methods/en"]
    assert coverage("", article, words) == {"help-center:payment-methods/en": 0.0}


def test_candidates_merge_chunks_per_document_best_cosine_first() -> None:
    def hit(chunk: str, cosine: float) -> Hit:
        doc = chunk.split("#")[0]
        return Hit(chunk_id=chunk, document_id=doc, source_id="help-center", title=doc, uri=None, section=(),
                   text=f"text of {chunk}", kind=DocumentKind.ARTICLE, language="en", topic=(), score=0.9,
                   dense_score=cosine)

    found = candidates([hit("a#0", 0.5), hit("b#0", 0.7), hit("a#1", 0.8), hit("a#0", 0.6)])
    assert [c.document_id for c in found] == ["a", "b"] and found[0].cosine == 0.8
    assert list(found[0].chunks) == ["a#0", "a#1"]
    assert queries("Can I pay?", "Yes. With PayPal.") == ["Can I pay?", "Yes. With PayPal.", "Yes.", "With PayPal."]
