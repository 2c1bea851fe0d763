"""The retrieve use case: the one entrance to search.

The HTTP route (``POST /v1/retrieve``), the CLI (``knowdesk retrieve``, one query or a batch file),
the agent, evaluation and insights all search through a ``Retrieve``: customer-facing retrieval
without a ``kind`` filter returns knowledge only (``retrieval.search.knowledge_by_default``); a
caller that names kinds (the agent's scenarios and actions) gets those.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from core.models import Hit
from retrieval.search import Searcher, SearchFilters, knowledge_by_default


class Retrieve:
    """Search over one live index generation; satisfies the agent's ``Retriever`` protocol.

    Args:
        searcher: hybrid search over the generation's collection.

    Example::

        hits = Retrieve(searcher=searcher).search("cancel my plan", workspace="default")
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
    ) -> list[Hit]:
        """The ``top_k`` best chunks for ``query`` (knowledge only unless ``filters`` names kinds)."""
        return self.searcher.search(query, workspace=workspace, filters=knowledge_by_default(filters), top_k=top_k,
                                    per_document=per_document, query_vector=query_vector)

    def search_many(
        self, queries: Sequence[tuple[str, SearchFilters | None, int]], workspace: str, per_document: int | None = None
    ) -> list[list[Hit]]:
        """Several searches (query, filters, top_k) embedded and sent in one batch."""
        return self.searcher.search_many([(q, knowledge_by_default(f), k) for q, f, k in queries],
                                         workspace=workspace, per_document=per_document)
