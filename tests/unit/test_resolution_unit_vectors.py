"""The unit-vector cache of near-duplicate detection (``app.resolutions.vectors``): a second proposal over
the same published units sends nothing to the encoder, its coverage is the same as without the cache,
and a vector of another model is never reused. A counting fake encoder (plumbing only)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any, cast

import numpy as np
import pytest

from app.resolutions.duplicates import Candidate, coverage
from app.resolutions.service import Resolutions
from app.resolutions.vectors import UnitVectors
from core.errors import InvalidInput
from core.models import DocumentKind, Hit

ARTICLE = """Payment methods
Method | Subscriptions | Shop orders
PayPal | Yes | Yes
Apple Pay, Google Pay | No | Yes

Refunds
Refunds reach your card within 5 working days. PayPal refunds arrive within 2 days.
"""
ANSWER = "PayPal works for subscriptions and shop orders. Your refund reaches PayPal within 2 days."


class CountingEncoder:
    """Deterministic vectors from each text's hash; counts the calls and the texts it embedded."""

    dimension = 16

    def __init__(self, model_id: str = "fake-a") -> None:
        self.model_id = model_id
        self.calls: list[list[str]] = []

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        self.calls.append(list(texts))
        rows = [np.frombuffer(hashlib.sha256(f"{self.model_id}:{t}".encode()).digest()[:16], dtype=np.uint8)
                for t in texts]
        return np.asarray(rows, dtype=np.float32).reshape(len(texts), self.dimension) / 255.0

    @property
    def embedded(self) -> int:
        return sum(len(c) for c in self.calls)


def _found() -> list[Candidate]:
    return [Candidate("help-center:payment-methods/en", "Payment methods", 0.5, {"c#0": ARTICLE})]


def test_a_second_proposal_over_the_same_units_does_not_call_the_encoder() -> None:
    encoder = CountingEncoder()
    cached = UnitVectors(encoder=lambda: encoder)
    direct = CountingEncoder()
    expected = coverage(ANSWER, _found(), direct.embed_documents)
    first = coverage(ANSWER, _found(), cached)
    assert first == expected and len(encoder.calls) == 1
    texts = encoder.embedded
    second = coverage(ANSWER, _found(), cached)
    assert second == expected
    assert len(encoder.calls) == 1 and encoder.embedded == texts  # nothing embedded again
    assert cached.hits == texts and cached.misses == texts


def test_only_new_texts_reach_the_encoder_once_each_and_vectors_are_equal() -> None:
    encoder = CountingEncoder()
    cached = UnitVectors(encoder=lambda: encoder)
    a = cached(["alpha unit", "beta unit"])
    b = cached(["beta unit", "gamma unit", "gamma unit", "alpha unit"])
    assert encoder.calls == [["alpha unit", "beta unit"], ["gamma unit"]]
    direct = CountingEncoder().embed_documents(["beta unit", "gamma unit", "gamma unit", "alpha unit"])
    assert np.array_equal(b, direct) and np.array_equal(a, direct[[3, 0]])
    assert cached([]).shape == (0, encoder.dimension) and len(encoder.calls) == 2


def test_another_model_never_gets_the_cached_vectors() -> None:
    current = {"encoder": CountingEncoder("fake-a")}
    cached = UnitVectors(encoder=lambda: current["encoder"])
    old = cached(["same text"])
    current["encoder"] = CountingEncoder("fake-b")
    new = cached(["same text"])
    assert current["encoder"].calls == [["same text"]] and not np.array_equal(old, new)


def test_the_cache_is_bounded_least_recently_used_first_out() -> None:
    encoder = CountingEncoder()
    cached = UnitVectors(encoder=lambda: encoder, capacity=2)
    cached(["one", "two"])
    cached(["one"])  # "two" is now the least recently used
    cached(["three"])
    assert len(cached) == 2
    cached(["one", "three"])
    assert len(encoder.calls) == 2  # one and three were kept
    cached(["two"])
    assert encoder.calls[-1] == ["two"]  # evicted, embedded again
    with pytest.raises(InvalidInput, match="capacity of at least 1"):
        UnitVectors(encoder=lambda: encoder, capacity=0)


def test_resolutions_share_the_cache_across_proposals() -> None:
    """``Resolutions.similar`` (run for every proposed draft) embeds the units of the same retrieved
    article once in a process."""
    def search(query: str, workspace: str) -> list[Hit]:
        return [Hit(chunk_id="help-center:payment-methods/en#0", document_id="help-center:payment-methods/en",
                    source_id="help-center", title="Payment methods", uri=None, section=(), text=ARTICLE,
                    kind=DocumentKind.ARTICLE, language="en", topic=(), score=0.9, dense_score=0.6)]

    encoder = CountingEncoder()
    unused = cast(Any, None)  # similar() reads no session, draft or help-center store
    service = Resolutions(sessions=unused, drafts=unused, helpcenter=unused, search=search,
                          embed=UnitVectors(encoder=lambda: encoder))
    first = service.similar("default", "Paying with PayPal", ANSWER)
    calls = len(encoder.calls)
    again = service.similar("default", "PayPal for orders", ANSWER)
    assert again == first and first[0].slug == "payment-methods" and (first[0].coverage or 0) > 0
    assert len(encoder.calls) == calls == 1
