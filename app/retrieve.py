"""The retrieve use case: the one entrance to search.

The HTTP route (``POST /v1/retrieve``), the CLI (``knowdesk retrieve``, one query or a batch file),
the agent, actions, evaluation and insights all search through a ``Retrieve``: customer-facing
retrieval without a ``kind`` filter returns knowledge only (``retrieval.search.knowledge_by_default``);
a caller that names kinds (the agent's scenarios and actions) gets those.

Every search is for a ``Viewer``: the engine filters on the chunks' ``audience`` before ranking,
so a restricted document never reaches a caller whose viewer lacks its labels. The default viewer
sees public documents only; staff tools ask for ``Viewer.everyone()`` explicitly. The hits are
checked once more here, so an engine that mis-applied the filter drops them rather than leaking.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np

from core.models import PUBLIC, Hit, Viewer
from retrieval.search import Searcher, SearchFilters, knowledge_by_default

log = logging.getLogger(__name__)


class Retrieve:
    """Search over one live index generation; satisfies the agent's ``Retriever`` protocol.

    Args:
        searcher: hybrid search over the generation's collection.

    Example::

        hits = Retrieve(searcher=searcher).search("cancel my plan", workspace="default")
        staff = Retrieve(searcher=searcher).search("vpn setup", workspace="default", viewer=Viewer.everyone())
    """

    def __init__(self, *, searcher: Searcher) -> None:
        self.searcher = searcher

    def search(
        self,
        query: str,
        *,
        workspace: str,
        filters: SearchFilters | None = None,
        top_k: int = 5,
        per_document: int | None = None,
        query_vector: np.ndarray | None = None,
        viewer: Viewer = PUBLIC,
    ) -> list[Hit]:
        """The ``top_k`` best chunks for ``query`` that ``viewer`` may see (knowledge only unless
        ``filters`` names kinds; public documents only unless ``viewer`` holds labels)."""
        hits = self.searcher.search(query, workspace=workspace, filters=knowledge_by_default(filters), top_k=top_k,
                                    per_document=per_document, query_vector=query_vector, viewer=viewer)
        return visible(hits, viewer)

    def search_many(
        self, queries: Sequence[tuple[str, SearchFilters | None, int]], workspace: str, per_document: int | None = None,
        viewer: Viewer = PUBLIC,
    ) -> list[list[Hit]]:
        """Several searches (query, filters, top_k) embedded and sent in one batch, all for ``viewer``."""
        results = self.searcher.search_many([(q, knowledge_by_default(f), k) for q, f, k in queries],
                                            workspace=workspace, per_document=per_document, viewer=viewer)
        return [visible(hits, viewer) for hits in results]


def visible(hits: list[Hit], viewer: Viewer) -> list[Hit]:
    """``hits`` without any ``viewer`` may not see (none, when the engine filtered as asked)."""
    kept = [h for h in hits if viewer.allows(h.payload.get("audience"))]
    if len(kept) != len(hits):
        log.error("the index returned %d restricted chunk(s) the viewer may not see; dropped",
                  len(hits) - len(kept))
    return kept
