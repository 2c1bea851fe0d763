"""The second ranking stage: a last look at the best fused candidates of one query.

Each of the best ``RankParams.rerank_depth`` candidates gets three features beside its fused score:

- ``late``: late interaction (MaxSim) of the query's and the chunk's token vectors under the bundled
  all-MiniLM-L6-v2 (each query token's best cosine with any of the chunk's tokens, averaged): it
  matches a reworded question word by word where one pooled vector blurs it;
- ``heading``: the share of the query's content words found in the chunk's title and section path;
- ``phrase``: the share of the query's word pairs found, in order, in the chunk's text (an FAQ
  question asked as written sits in its answer's chunk word for word).

``retrieval.stages.rerank`` mixes them with weights fitted on the dev sets' fit split
(``bench/retrieval/fit_rerank.py`` -> ``retrieval/fitted/rerank.json``).

Where the token vectors come from, fastest first:

- chunks: an LRU of ``SearchSettings.rerank_cache`` chunks (float16); then the vectors stored at
  ingest (``retrieval.tokens``: captured from the forward pass that embedded the chunk); then, for a
  chunk without them, either nothing (``compute=False``, the search's default for an index that keeps
  token vectors: the candidate gets no features and the search ranks that query without the stage,
  ``retrieval.search.Searcher.rank``) or computed here with ``MiniLMTokens`` (``compute=True``: the
  query-time fallback, seconds per query on 2 cores; the default for an index of the int8 or e5 encoder,
  which store none, and ``KNOWDESK_SEARCH__RERANK_MISSING=compute``);
- the query: kept by the embedder from the forward pass that embedded the query
  (``SentenceTransformerEmbedder.query_tokens``), else computed here.

Both paths give the same vectors (cosine >= 0.999: the forward pass is the same, only the batch's
padding differs), so the features, and the fitted weights, are the same.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import logging
import re
import threading
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
from threadpoolctl import threadpool_limits

from retrieval.candidates import heading_text
from retrieval.embedding import DEFAULT_MODEL_ID, encoder_threads, load_model, normalize_rows, resolve_model
from retrieval.stages import Features
from retrieval.tokens import chunk_text, text_key

__all__ = ["LateReranker", "MiniLMTokens", "TokenEncoder", "chunk_text", "heading_cover", "maxsim", "phrase_cover",
           "words"]
logger = logging.getLogger(__name__)

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

_WORD = re.compile(r"\w+")
#: Words too common to say what a question is about (the heading and phrase features skip them).
STOP = frozenset({
    "a", "an", "and", "are", "as", "at", "be", "by", "can", "do", "does", "for", "from", "how", "i", "if", "in",
    "is", "it", "my", "of", "on", "or", "should", "the", "this", "to", "use", "using", "was", "what", "when",
    "where", "which", "who", "why", "will", "with", "you", "your", "me", "we", "our", "there", "their", "that",
    "not", "no"
})


def words(text: str) -> list[str]:
    """Lower-cased words of ``text``."""
    return _WORD.findall(text.lower())


def heading_cover(query_words: Sequence[str], heading: str) -> float:
    """The share of the query's content words (not ``STOP``) that the heading holds (0 without any)."""
    content = {w for w in query_words if w not in STOP}
    if not content:
        return 0.0
    return len(content & set(words(heading))) / len(content)


def phrase_cover(query_words: Sequence[str], text: str) -> float:
    """The share of the query's consecutive word pairs (not both ``STOP``) found in ``text``'s words."""
    pairs = {(a, b) for a, b in itertools.pairwise(query_words) if a not in STOP or b not in STOP}
    if not pairs:
        return 0.0
    found = words(text)
    return len(pairs & set(itertools.pairwise(found))) / len(pairs)


def maxsim(query: np.ndarray, chunk: np.ndarray) -> float:
    """Mean over the query's (normalized) token vectors of their best cosine with the chunk's."""
    if not len(query) or not len(chunk):
        return 0.0
    return float((query @ chunk.astype(np.float32).T).max(axis=1).mean())


def maxsims(query: np.ndarray, chunks: Sequence[np.ndarray]) -> list[float]:
    """``maxsim`` of the query with each chunk, as one matrix product over all their tokens.

    The product runs on one BLAS thread: it takes ~1 ms so, and ~40 ms when OpenBLAS's threads wait for
    cores the encoder and the other requests hold (measured on 2 loaded cores). Another thread's BLAS
    call meanwhile may run on one thread too (the limit is process-wide): slower, never wrong."""
    sizes = [len(c) for c in chunks]
    if not len(query) or not sum(sizes):
        return [maxsim(query, c) for c in chunks]
    tokens = np.concatenate([c for c in chunks if len(c)]).astype(np.float32)
    with threadpool_limits(1, user_api="blas"):
        scores = query @ tokens.T  # (query tokens, every chunk's tokens)
    starts = np.cumsum([0, *[n for n in sizes if n]])[:-1]
    best = np.maximum.reduceat(scores, starts, axis=1).mean(axis=0)
    found = iter(best.tolist())
    return [float(next(found)) if n else 0.0 for n in sizes]


class TokenEncoder(Protocol):
    """Token vectors of texts: one (tokens, dimension) array each, rows L2-normalized."""

    def token_vectors(self, texts: Sequence[str]) -> list[np.ndarray]: ...


class MiniLMTokens:
    """Token vectors of the bundled all-MiniLM-L6-v2 (the embedder's model: loaded once per process),
    without the special tokens, each row L2-normalized; texts past the 256-piece window are cut.

    Example::

        vectors = MiniLMTokens().token_vectors(["cancel my plan"])  # [array of shape (3, 384)]
    """

    def __init__(self, *, model: str = DEFAULT_MODEL_ID, device: str = "cpu", batch_size: int = 16,
                 threads: int | None = None) -> None:
        self._path, _ = resolve_model(model)
        self._device, self._batch_size, self._threads = device, batch_size, threads

    @functools.cached_property
    def _model(self) -> SentenceTransformer:
        import torch

        torch.set_num_threads(encoder_threads(self._threads))
        return load_model(str(self._path), self._device)

    def token_vectors(self, texts: Sequence[str]) -> list[np.ndarray]:
        if not texts:
            return []
        out = self._model.encode(list(texts), output_value="token_embeddings", batch_size=self._batch_size,
                                 show_progress_bar=False, convert_to_numpy=False)
        # without [CLS], [SEP]
        return [normalize_rows(np.asarray(tokens.float().cpu().numpy()[1:-1], dtype=np.float32)) for tokens in out]


class StoredVectors(Protocol):
    """Chunks' token vectors stored at ingest (``retrieval.tokens.StoredTokens``)."""

    def get(self, payloads: Mapping[str, Mapping[str, Any]], keys: Mapping[str, str]) -> dict[str, np.ndarray]: ...


class LateReranker:
    """The features of ``retrieval.stages.rerank`` for one query's candidates, with the chunks'
    token vectors kept in an LRU of ``cache`` chunks (float16; keyed by chunk id and text hash).

    Args:
        encoder: token vectors computed here (``MiniLMTokens`` by default): the fallback.
        cache: most chunks whose token vectors are kept (0: none).
        stored: the vectors stored at ingest, read before computing any (None: always computed).
        queries: the query's vectors kept by the embedder that embedded it (``query_tokens``), or None.
        compute: compute the vectors of chunks that have none stored (seconds per query); False: such
            chunks are left out of ``features`` (the caller ranks without the stage).

    ``sources`` counts where the vectors came from (``cached``, ``stored``, ``computed`` chunks;
    ``query kept``, ``query computed``) and the chunks left out (``missing``).
    """

    def __init__(self, *, encoder: TokenEncoder | None = None, cache: int = 2_000,
                 stored: StoredVectors | None = None,
                 queries: Callable[[str], np.ndarray | None] | None = None, compute: bool = True) -> None:
        self.encoder = encoder or MiniLMTokens()
        self.cache_size = cache
        self.stored = stored
        self.queries = queries
        self.compute = compute
        self.sources: Counter[str] = Counter()
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()
        self._told = False

    def features(self, query: str, payloads: Mapping[str, Mapping[str, Any]],
                 keys: Iterable[str]) -> dict[str, Features]:
        """``Features`` of each of ``keys`` (chunk ids in ``payloads``) for ``query``; without ``compute``,
        only of those whose token vectors are cached or stored."""
        keys = list(keys)
        if not keys:
            return {}
        texts = {key: chunk_text(payloads[key]) for key in keys}
        chunks = self._chunk_vectors(texts, payloads)
        keys = [key for key in keys if key in chunks]
        if not keys:
            return {}
        q = self._query_vectors(query)
        qwords = words(query)
        late = maxsims(q, [chunks[key] for key in keys])
        return {
            key: Features(late=score, heading=heading_cover(qwords, heading_text(payloads[key])),
                          phrase=phrase_cover(qwords, texts[key]))
            for key, score in zip(keys, late, strict=True)
        }

    def _query_vectors(self, query: str) -> np.ndarray:
        kept = self.queries(query) if self.queries is not None else None
        with self._lock:
            self.sources["query kept" if kept is not None else "query computed"] += 1
        if kept is not None:
            return kept
        [q] = self.encoder.token_vectors([query])
        return q

    def _chunk_vectors(self, texts: Mapping[str, str],
                       payloads: Mapping[str, Mapping[str, Any]]) -> dict[str, np.ndarray]:
        ids = {key: f"{key}\x1f{hashlib.sha1(text.encode()).hexdigest()[:16]}" for key, text in texts.items()}
        with self._lock:  # searches run in several threads (the HTTP API)
            found = {key: self._cache[i] for key, i in ids.items() if i in self._cache}
        cached = len(found)
        missing = {key: text_key(text) for key, text in texts.items() if key not in found}
        stored = self.stored.get(payloads, missing) if self.stored is not None and missing else {}
        found |= stored
        lacking = [key for key in texts if key not in found]
        computing = lacking if self.compute else []
        if lacking:
            self._tell(len(lacking), len(texts))
        if computing:
            computed = self.encoder.token_vectors([texts[key] for key in computing])
            found |= {key: v.astype(np.float16) for key, v in zip(computing, computed, strict=True)}
        with self._lock:
            self.sources.update({"cached": cached, "stored": len(stored), "computed": len(computing),
                                 "missing": len(lacking) - len(computing)})
            for key, vector in found.items():
                self._cache[ids[key]] = vector
                self._cache.move_to_end(ids[key])
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        return found

    def _tell(self, lacking: int, total: int) -> None:
        if self._told:
            return
        self._told = True
        if self.compute:
            logger.info("late stage: %d of %d candidates have no stored token vectors (an index written before "
                        "they were stored, or by an encoder that offers none: int8, e5); computing them at query "
                        "time (slow; `knowdesk reindex --tokens` fills them for the default model)", lacking, total)
        else:
            logger.warning("late stage: %d of %d candidates have no stored token vectors (an index written before "
                           "they were stored); queries with such candidates are ranked without the second stage "
                           "until `knowdesk reindex --tokens` (or the next sync) fills them; "
                           "KNOWDESK_SEARCH__RERANK_MISSING=compute computes them at query time instead (seconds "
                           "per query)", lacking, total)
