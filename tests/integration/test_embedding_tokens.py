"""The real MiniLM's vectors with token vectors for ingest (``embed_documents_with_tokens``): one forward
batch at a time, so a large call never holds every text's padded token matrix at once, and the same
results as embedding each text alone, in the caller's order."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from retrieval.embedding import SentenceTransformerEmbedder, text_key

pytestmark = pytest.mark.slow

WORDS = ["grind", "the", "beans", "coarse", "for", "a", "french", "press", "and", "fine", "espresso", "then",
         "descale", "mill", "monthly"]


def texts(n: int) -> list[str]:
    """``n`` texts of 3 to 120 words, lengths shuffled (so sorting by length reorders them)."""
    rng = np.random.default_rng(3)
    return [" ".join(rng.choice(WORDS, size=int(rng.integers(3, 120)))) + f" ({i})" for i in range(n)]


def test_tokens_come_batch_by_batch_and_equal_each_text_embedded_alone() -> None:
    embedder = SentenceTransformerEmbedder(model="all-MiniLM-L6-v2", batch_size=8, threads=1)
    model = embedder._model
    real = model.encode_document
    calls: list[int] = []

    def recorded(sentences: list[str], **kw: Any) -> Any:
        calls.append(len(sentences))
        return real(sentences, **kw)

    model.encode_document = recorded  # type: ignore[method-assign]
    try:
        sample = texts(40)
        vectors, tokens = embedder.embed_documents_with_tokens(sample)
    finally:
        model.encode_document = real  # type: ignore[method-assign]
    assert calls and max(calls) <= 8 and sum(calls) == 40, calls
    assert vectors.shape == (40, embedder.dimension) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert np.allclose(vectors, embedder.embed_documents(sample), atol=1e-4)
    for i in (0, 7, 19, 39):  # each text alone: no padding, no batch
        alone_vector, (alone,) = embedder.embed_documents_with_tokens([sample[i]])
        found = tokens[i]
        assert found is not None and alone is not None
        assert found.key == text_key(sample[i]) and found.vectors.dtype == np.float16
        assert found.vectors.shape == alone.vectors.shape == (embedder.count_tokens(sample[i]), embedder.dimension)
        assert np.allclose(found.vectors.astype(np.float32), alone.vectors.astype(np.float32), atol=2e-3)
        assert np.allclose(vectors[i], alone_vector[0], atol=1e-4)
