"""Token vectors of the second ranking stage on an index written before they were stored: how many
chunks have them (coverage) and filling the missing ones without re-embedding anything.

An index written before ingest kept token vectors (``retrieval.tokens``) never gains them by itself:
a sync skips unchanged documents, and reused chunks carried none. Until they are filled the search
ranks a query with such a candidate without the stage (``SearchSettings.rerank_missing``).

- ``fill_tokens``: ``knowdesk reindex --tokens [SOURCE|all]``: one pass over the chunks that have none,
  in bounded batches committed one by one (stopped, it goes on where it was next time), from the text
  stored in each point: no fetch, no chunking, the dense and BM25 vectors untouched.
- ``fill_after_sync``: the end of every sync fills its own source's (``KNOWDESK_SYNC__FILL_TOKENS``).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np
from pydantic import BaseModel, Field

from core.models import RunReport, Source
from retrieval.tokens import KeptTokens, TokenCoverage, TokenFill, TokenVectors

if TYPE_CHECKING:
    from app.runtime import Runtime

log = logging.getLogger(__name__)

#: Chunks per forward pass and per committed batch.
FILL_BATCH = 64


class TokenReport(BaseModel):
    """What ``knowdesk reindex --tokens`` found (``check``) or did."""

    target: str
    collection: str
    model: str
    #: False when the live index keeps no token vectors (another model than the bundled MiniLM)
    keeps_tokens: bool = True
    before: TokenCoverage | None = None
    after: TokenCoverage | None = None
    filled: int = 0
    seconds: float = 0.0
    stopped: bool = False
    notes: list[str] = Field(default_factory=list)


class _BoundedTokens:
    """The late stage's token encoder, run in the process's embedding slots (``BoundedEmbedder``):
    concurrent syncs and a fill take turns on the cores instead of oversubscribing them."""

    def __init__(self, rt: Runtime) -> None:
        self._rt = rt

    @functools.cached_property
    def _inner(self) -> TokenVectors:
        from retrieval.rerank import MiniLMTokens  # only when something is missing (a complete index: never)

        return MiniLMTokens()

    def token_vectors(self, texts: Sequence[str]) -> list[np.ndarray]:
        return self._rt.bounded_embedder.bounded(lambda: self._inner.token_vectors(texts))


def fill_tokens(rt: Runtime, *, target: str = "all", workspace: str | None = None, check: bool = False,
                progress: Callable[[int, int], None] | None = None,
                should_stop: Callable[[], bool] | None = None) -> TokenReport:
    """Coverage of the live index's token vectors (``target``: a source of ``workspace``, or ``all``
    sources of it, or of every workspace when none is given), and with ``check=False`` the missing
    ones filled.

    Raises:
        NotFound: ``target`` names no source of the workspace.
    """
    index = rt.index
    source_id = None
    if target != "all":
        source_id = rt.sources.get(workspace or rt.settings.default_workspace, target).source_id
        workspace = workspace or rt.settings.default_workspace
    keeps = isinstance(index, KeptTokens) and index.tokens is not None
    collection = rt.engine.live_collection() or ""
    report = TokenReport(target=target, collection=collection, model=rt.live[1].model, keeps_tokens=keeps)
    if not keeps or not isinstance(index, KeptTokens):
        report.notes.append(f"the live index ({rt.live[1].model}) keeps no token vectors: only the bundled "
                            "all-MiniLM-L6-v2's are stored; with KNOWDESK_SEARCH__RERANK=late the second stage "
                            "computes them at query time")
        return report
    if check:
        report.before = report.after = index.token_coverage(workspace, source_id)
        return report
    done = index.fill_tokens(_BoundedTokens(rt), workspace=workspace, source_id=source_id, batch=FILL_BATCH,
                             progress=progress, should_stop=should_stop)
    assert done is not None
    return report.model_copy(update={"before": done.before, "after": done.after, "filled": done.filled,
                                     "seconds": done.seconds, "stopped": done.stopped})


def fill_after_sync(rt: Runtime, source: Source, report: RunReport,
                    should_stop: Callable[[], bool] | None = None) -> TokenFill | None:
    """Fill the missing token vectors of the synced source's chunks (an index written before they were
    stored gains them with its next sync), noted in the run's report. A complete source costs two counts.
    None when nothing was filled or the index keeps none."""
    if not rt.settings.sync.fill_tokens or report.status not in {"succeeded", "partial"}:
        return None
    index = rt.index
    if not isinstance(index, KeptTokens) or index.tokens is None:
        return None
    done = index.fill_tokens(_BoundedTokens(rt), workspace=source.workspace, source_id=source.source_id,
                             batch=FILL_BATCH, should_stop=should_stop)
    if done is None or (not done.filled and not done.stopped):
        return None
    stopped = "; stopped before the end: the next sync or `knowdesk reindex --tokens` goes on" if done.stopped else ""
    # chunks of an index written before token vectors were stored, or whose embedded heading the chunker
    # shortened (what ingest captured is not the text the stage scores)
    report.notes.append(f"token vectors of the second ranking stage filled for {done.filled} chunks that had none "
                        f"stored ({done.after.describe()} of this source now){stopped}")
    return done
