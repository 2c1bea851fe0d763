"""A bounded cache of the vectors near-duplicate detection embeds (answer sentences and article units).

Each draft proposal compares its answer's sentences with the units (sentences, table rows, sections)
of the articles it retrieved (``duplicates.coverage``). The same published articles come back for
many resolutions, so their units are the same texts proposal after proposal: embedding them again
costs a model call per proposal for nothing. ``UnitVectors`` keeps each text's vector under the
sha256 of the text and the model's id (a vector of another model is never returned), least recently
used first out past ``capacity`` entries, for the life of the process (the runtime builds one
``Resolutions``, so every proposal of the process shares it). With ``kept`` (the runtime's: a
``VectorFile`` under ``KNOWDESK_HOME``), a text missing from memory is looked up on disk before it
is embedded, and what is embedded is stored there, so another process (or this one after a restart)
does not embed the same units again.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING

import numpy as np

from core.errors import InvalidInput

if TYPE_CHECKING:
    from app.resolutions.vector_file import VectorFile
    from retrieval.embedders import DenseEncoder

#: Vectors kept by default: 384 float32 (MiniLM) are 1.5 KB, so 20,000 units take about 30 MB.
CAPACITY = 20_000


class UnitVectors:
    """``duplicates.Embed`` with a cache: texts -> vectors of the current encoder, each text embedded once.

    Args:
        encoder: returns the encoder to use now (the runtime's, which follows a switch of the live
            index's model; the cache keys vectors by its ``model_id``).
        capacity: the most vectors kept in memory (least recently used dropped first); at least 1.
        kept: vectors kept on disk across processes (None: in memory only).

    Raises:
        InvalidInput: ``capacity`` below 1.

    Example::

        embed = UnitVectors(encoder=lambda: rt.embedder)
        vectors = embed(["PayPal works for subscriptions.", "Refunds take 5 days."])
    """

    def __init__(self, *, encoder: Callable[[], DenseEncoder], capacity: int = CAPACITY,
                 kept: VectorFile | None = None) -> None:
        if capacity < 1:
            raise InvalidInput(f"the unit vector cache needs a capacity of at least 1, got {capacity}",
                               field="capacity")
        self._encoder = encoder
        self.capacity = capacity
        self._kept: OrderedDict[tuple[str, str], np.ndarray] = OrderedDict()
        self.file = kept
        self._lock = threading.Lock()
        #: texts answered from the cache (memory or file) and texts sent to the encoder, since the process started
        self.hits = 0
        self.misses = 0
        self.file_hits = 0  #: of ``hits``, the texts read from ``kept``

    def __len__(self) -> int:
        return len(self._kept)

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        encoder = self._encoder()
        model = encoder.model_id
        keys = [(model, hashlib.sha256(t.encode("utf-8")).hexdigest()) for t in texts]
        found: dict[tuple[str, str], np.ndarray] = {}
        with self._lock:
            for key in keys:
                vector = self._kept.get(key)
                if vector is not None:
                    self._kept.move_to_end(key)
                    found[key] = vector
        # each missing text once, in one encoder call (a text may repeat within a call)
        missing = {key: text for key, text in zip(keys, texts, strict=True) if key not in found}
        if missing and self.file is not None:
            on_disk = self.file.get(model, [sha for _, sha in missing], dimension=encoder.dimension)
            read = {k for k in missing if k[1] in on_disk}
            for key in read:
                found[key] = on_disk[key[1]]
                del missing[key]
            self._remember(on_disk.keys(), found, model)
            with self._lock:
                self.file_hits += sum(key in read for key in keys)
        if missing:
            fresh = np.asarray(encoder.embed_documents(list(missing.values())))
            if fresh.shape[0] != len(missing):
                raise ValueError(f"the encoder returned {fresh.shape[0]} vectors for {len(missing)} texts")
            for key, row in zip(missing, fresh, strict=True):
                kept = row.copy()  # not a view: an evicted vector must not keep its whole batch alive
                kept.setflags(write=False)
                found[key] = kept
            self._remember([sha for _, sha in missing], found, model)
            if self.file is not None:
                self.file.put(model, {sha: found[(model, sha)] for _, sha in missing})
        with self._lock:
            self.hits += len(texts) - len(missing)
            self.misses += len(missing)
        if not texts:
            return np.zeros((0, encoder.dimension), dtype=np.float32)
        return np.stack([found[key] for key in keys])

    def _remember(self, hashes: Iterable[str], found: dict[tuple[str, str], np.ndarray], model: str) -> None:
        with self._lock:
            for sha in hashes:
                key = (model, sha)
                self._kept[key] = found[key]
                self._kept.move_to_end(key)
            while len(self._kept) > self.capacity:
                self._kept.popitem(last=False)
