"""API keys bound to a workspace with scopes. Only a hash of the secret is stored.

A key reads ``kd_<id>_<secret>``; the id finds the row, the secret is compared in constant
time with its stored sha256. Scopes: read (retrieve, list), write (add sources, sync; implies
read), admin (everything; implies write).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import select

from core.db import Database, insert_ignore
from core.errors import AuthError, Conflict, Forbidden, InvalidInput, NotFound
from core.tables import ApiKeyRow, WorkspaceRow, utcnow


class Scope(StrEnum):
    READ = "read"
    WRITE = "write"
    ADMIN = "admin"


_IMPLIES = {
    Scope.ADMIN: {Scope.ADMIN, Scope.WRITE, Scope.READ},
    Scope.WRITE: {Scope.WRITE, Scope.READ},
    Scope.READ: {Scope.READ},
}


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: a key's id, its workspace and the scopes it grants."""

    key_id: str
    workspace: str
    scopes: frozenset[Scope]

    def require(self, scope: Scope) -> None:
        if scope not in self.scopes:
            raise Forbidden(
                f"this API key lacks the {scope.value!r} scope; create one with "
                f"`knowdesk keys create --scope {scope.value}`",
                scope=scope.value,
            )


MAX_NAME = 200  # the column's width
NAME_PATTERN = r"^[^\x00-\x1f\x7f-\x9f]*$"  # no control characters (line breaks, tabs, escapes)


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class KeyStore:
    """Create, list, revoke and verify API keys.

    Args:
        db: the state database.
    """

    def __init__(self, *, db: Database) -> None:
        self._db = db

    def create(self, workspace: str, *, scopes: list[str], name: str = "") -> tuple[str, str]:
        """A new key; returns (key id, full key). The full key is shown once and never stored."""
        if len(name) > MAX_NAME or not re.fullmatch(NAME_PATTERN, name):
            raise InvalidInput(f"a key's name is at most {MAX_NAME} characters with no line breaks, tabs or other "
                               "control characters", field="name")
        try:
            granted = sorted({Scope(s) for s in scopes} or {Scope.READ})
        except ValueError:
            raise InvalidInput(f"unknown scope in {scopes}; scopes are read, write, admin") from None
        key_id = secrets.token_hex(6)
        secret = secrets.token_urlsafe(24)
        with self._db.session() as s:
            insert_ignore(s, WorkspaceRow, id=workspace, name=workspace, created_at=utcnow())
            s.add(
                ApiKeyRow(
                    id=key_id,
                    workspace=workspace,
                    name=name,
                    secret_hash=_hash(secret),
                    scopes=[g.value for g in granted],
                )
            )
        return key_id, f"kd_{key_id}_{secret}"

    def list(self, workspace: str) -> list[dict[str, object]]:
        with self._db.session() as s:
            rows = s.scalars(select(ApiKeyRow).where(ApiKeyRow.workspace == workspace).order_by(ApiKeyRow.created_at))
            return [
                {
                    "id": r.id,
                    "name": r.name,
                    "workspace": r.workspace,
                    "scopes": r.scopes,
                    "created_at": r.created_at.isoformat(),
                    "revoked_at": r.revoked_at.isoformat() if r.revoked_at else None,
                }
                for r in rows
            ]

    def revoke(self, workspace: str, key_id: str) -> None:
        """Revoke a key of ``workspace``; ``NotFound`` for another workspace's or an unknown id,
        ``Conflict`` when it is already revoked (its first revocation time is kept)."""
        with self._db.session() as s:
            row = s.get(ApiKeyRow, key_id)
            if row is None or row.workspace != workspace:
                raise NotFound(f"no API key {key_id!r} in workspace {workspace!r}; `knowdesk keys list` shows them")
            if row.revoked_at is not None:
                raise Conflict(f"API key {key_id!r} was already revoked at {row.revoked_at.isoformat()}")
            row.revoked_at = utcnow()

    def verify(self, presented: str | None) -> Principal:
        """The principal of a presented key; ``AuthError`` for a missing, malformed or revoked key."""
        if not presented:
            raise AuthError("missing API key: send 'Authorization: Bearer <key>' or 'X-API-Key: <key>'")
        parts = presented.strip().split("_", 2)
        if len(parts) != 3 or parts[0] != "kd":
            raise AuthError("malformed API key: keys look like kd_<id>_<secret>")
        with self._db.session() as s:
            row = s.get(ApiKeyRow, parts[1])
            if row is None or not hmac.compare_digest(row.secret_hash, _hash(parts[2])):
                raise AuthError("unknown API key")
            if row.revoked_at is not None:
                raise AuthError("this API key was revoked")
            scopes: set[Scope] = set()
            for sc in row.scopes:
                scopes |= _IMPLIES[Scope(sc)]
            return Principal(key_id=row.id, workspace=row.workspace, scopes=frozenset(scopes))
