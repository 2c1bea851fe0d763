"""What both index engines share (``index.QdrantIndex`` on qdrant-client, ``edge.EdgeIndex`` on
Qdrant Edge): the collection schema and names, the point of a chunk, the workspace filter, and the
checks and errors of a write, as plain functions so neither engine builds on the other.

Points, payloads and point ids are the same on both engines, so both hold the same data. Filters
and points are qdrant-client models; ``edge_store`` translates them for Edge.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from qdrant_client import models

from core.errors import ConfigError
from core.ids import chunk_id, point_id
from core.models import Chunk, Document, DocumentKind
from retrieval.sparse import BM25Encoder

DENSE = "dense"
#: The kinds of knowledge (what answers cite), apart from scenarios and action descriptions.
KNOWLEDGE = (DocumentKind.ARTICLE.value, DocumentKind.PAGE.value, DocumentKind.FILE.value)
SPARSE = "bm25"
UPSERT_BATCH = 256
DELETE_BATCH = 256

#: The payload indexes of every collection.
PAYLOAD_INDEXES: dict[str, models.PayloadSchemaType | models.KeywordIndexParams] = {
    "workspace": models.KeywordIndexParams(type=models.KeywordIndexType.KEYWORD, is_tenant=True),
    "source_id": models.PayloadSchemaType.KEYWORD,
    "document_id": models.PayloadSchemaType.KEYWORD,
    "kind": models.PayloadSchemaType.KEYWORD,
    "language": models.PayloadSchemaType.KEYWORD,
    "topic": models.PayloadSchemaType.KEYWORD,
    "audience": models.PayloadSchemaType.KEYWORD,
    "updated_at": models.PayloadSchemaType.DATETIME,
    "chunk_hash": models.PayloadSchemaType.KEYWORD,  # vector reuse looks chunks up by text hash
}


def slug(value: str) -> str:
    """Lowercase ``[a-z0-9_]`` form of a name, for collection names."""
    return re.sub(r"[^a-z0-9_]+", "_", value.lower()).strip("_") or "x"


def collection_name(alias: str, model_id: str, chunker_version: str, dimension: int) -> str:
    """The collection one model and chunker write: ``<alias>__<model>__<chunker>__d<dimension>``."""
    return f"{slug(alias)}__{slug(model_id)}__{slug(chunker_version)}__d{dimension}"


def match(key: str, value: str | Sequence[str]) -> models.FieldCondition:
    """A keyword condition: equal to one value, or any of several."""
    if isinstance(value, str):
        return models.FieldCondition(key=key, match=models.MatchValue(value=value))
    return models.FieldCondition(key=key, match=models.MatchAny(any=list(value)))


def workspace_filter(workspace: str, conditions: Mapping[str, str | Sequence[str] | None]) -> models.Filter:
    """A filter that always holds the workspace condition (tenant isolation), plus the others."""
    if not workspace:
        raise ValueError("a workspace is required")
    must: list[models.Condition] = [match("workspace", workspace)]
    must += [match(key, value) for key, value in conditions.items() if value is not None]
    return models.Filter(must=must)


def point_filter(workspace: str | None, source_id: str | None) -> models.Filter | None:
    """Points of one workspace (and one source), of one source in every workspace, or all (None)."""
    must: list[models.Condition] = [match(key, value) for key, value in
                                    (("workspace", workspace), ("source_id", source_id)) if value]
    return models.Filter(must=must) if must else None


def check_vectors(document: Document, chunks: Sequence[Chunk], vectors: np.ndarray, dimension: int) -> None:
    """Raise ``ValueError`` when chunks and vectors differ in number or a vector has the wrong size."""
    if len(chunks) != len(vectors):
        raise ValueError(f"{len(chunks)} chunks but {len(vectors)} vectors for {document.id}")
    if len(chunks) and np.asarray(vectors).shape[1] != dimension:
        raise ValueError(f"vectors have size {np.asarray(vectors).shape[1]}, expected {dimension}")


def surplus_ids(document: Document, kept: int, previous_chunks: int) -> list[Any]:
    """Point ids of the chunks ``kept .. previous_chunks-1`` a shrunk document leaves behind."""
    return [point_id(document.workspace, chunk_id(document.id, n)) for n in range(kept, previous_chunks)]


def chunk_point(document: Document, chunk: Chunk, vector: np.ndarray, sparse: BM25Encoder) -> models.PointStruct:
    """The point of one chunk: its dense and BM25 vectors and the payload searches filter and cite."""
    payload: dict[str, Any] = {
        "workspace": document.workspace,
        "source_id": document.source_id,
        "document_id": document.id,
        "native_id": document.native_id,
        "chunk_index": chunk.index,
        "chunk_id": chunk.id,
        "kind": str(document.kind),
        "title": document.title,
        "uri": document.uri,
        "section": list(chunk.section),
        "language": document.language,
        "topic": list(document.topic),
        "audience": list(document.audience),
        "updated_at": document.updated_at.isoformat() if document.updated_at else None,
        "text": chunk.text,
        "chunk_hash": chunk.hash,
        "meta": dict(document.metadata),
    }
    return models.PointStruct(
        id=point_id(document.workspace, chunk.id),
        vector={
            DENSE: np.asarray(vector, dtype=np.float32).tolist(),
            SPARSE: sparse.encode_document(chunk.embed_text, document.language),
        },
        payload=payload,
    )


def other_collection(alias: str, live: str, configured: str) -> ConfigError:
    """The error of an index whose alias points to a collection built for another model or chunker."""
    return ConfigError(
        f"the live index (alias {alias!r}) is collection {live!r}, built with another "
        f"embedding model or chunker than the configured one ({configured!r}). "
        "Re-index to switch (`knowdesk reindex`), or restore the previous model setting.",
        alias=alias,
        live=live,
        configured=configured,
    )


def other_dimension(live: str, size: int | None, dimension: int) -> ConfigError:
    """The error of writing into the alias target when its vectors have another size."""
    return ConfigError(
        f"collection {live!r} holds {size}-dimensional vectors, the model makes "
        f"{dimension}; re-index (`knowdesk reindex`)",
        live=live,
    )
