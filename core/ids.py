"""Deterministic ids and content hashes: every re-run of a sync is idempotent because of them.

>>> document_id("help", "article-1/en")
'help:article-1/en'
>>> chunk_id("help:article-1/en", 0)
'help:article-1/en#0'
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
import uuid

#: Root namespace of every Qdrant point id. Never change it: every point id derives from it.
ROOT_NAMESPACE = uuid.UUID("4f1c2a8e-7d3b-5a6c-9e0f-1b2c3d4e5f60")

_WS = re.compile(r"\s+")


def document_id(source_id: str, native_id: str) -> str:
    """The id of a document: its source's id and the id the source gave it."""
    return f"{source_id}:{native_id}"


def chunk_id(doc_id: str, n: int) -> str:
    """The id of the n-th chunk (0-based) of a document."""
    return f"{doc_id}#{n}"


def workspace_namespace(workspace: str) -> uuid.UUID:
    """The uuid5 namespace of a workspace, so equal chunk ids in two workspaces never collide."""
    return uuid.uuid5(ROOT_NAMESPACE, workspace)


def point_id(workspace: str, chunk: str) -> str:
    """The Qdrant point id of a chunk: uuid5 of the chunk id in the workspace's namespace."""
    return str(uuid.uuid5(workspace_namespace(workspace), chunk))


def normalize_text(text: str) -> str:
    """Unicode NFC, whitespace folded: the form content hashes are taken of."""
    return _WS.sub(" ", unicodedata.normalize("NFC", text)).strip()


def content_hash(*parts: str) -> str:
    """sha256 (hex) of the normalized parts, joined with a separator no text contains."""
    digest = hashlib.sha256()
    for part in parts:
        digest.update(normalize_text(part).encode("utf-8"))
        digest.update(b"\x1f")
    return digest.hexdigest()


def bytes_hash(data: bytes, *parts: str) -> str:
    """sha256 (hex) of raw bytes plus metadata parts: a cheap fingerprint taken before parsing."""
    digest = hashlib.sha256(data)
    for part in parts:
        digest.update(b"\x1f")
        digest.update(part.encode("utf-8"))
    return digest.hexdigest()
