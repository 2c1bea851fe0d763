"""API keys over HTTP (admin scope), the same store as ``knowdesk keys``:

- ``GET /v1/keys``: the workspace's keys, revoked ones too, never their secrets.
- ``POST /v1/keys`` ``{"name", "scopes"}``: a new key, returned once (201); only its hash is kept.
- ``DELETE /v1/keys/{key_id}``: revoke (the row stays, with the time); 409 for a key already
  revoked or for the key making the call (revoking it would lock the caller out mid-session:
  use another admin key or the CLI).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path
from pydantic import BaseModel, ConfigDict, Field

from core.errors import Conflict
from service.deps import Admin, RuntimeDep
from service.keys import MAX_NAME, NAME_PATTERN, KeyStore, Principal, Scope
from service.routing import KeyedRoute
from service.schemas.common import Public, errors

router = APIRouter(prefix="/v1", tags=["keys"], route_class=KeyedRoute)
KeyId = Annotated[str, Path(min_length=1, max_length=32, pattern=r"^[0-9a-f]+$",
                             description="The key's id (the part after `kd_`)")]


class KeyRequest(BaseModel):
    """A key to create: a name people recognise and its scopes (admin implies write, write implies read)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(default="", max_length=MAX_NAME, pattern=NAME_PATTERN)
    scopes: list[Scope] = Field(default_factory=lambda: [Scope.READ], min_length=1, max_length=3)


class KeyPublic(Public):
    """A key without its secret."""

    id: str
    name: str
    workspace: str
    scopes: list[Scope]
    created_at: str
    revoked_at: str | None


class KeysPublic(Public):
    keys: list[KeyPublic]


class NewKeyPublic(Public):
    """The new key: ``key`` is shown in this answer only; send it as ``Authorization: Bearer <key>``."""

    id: str
    key: str
    name: str
    workspace: str
    scopes: list[Scope]


def store(rt: Any) -> KeyStore:
    return KeyStore(db=rt.db)


def create_key(rt: Any, caller: Principal, body: KeyRequest) -> dict[str, Any]:
    """Create a key in the caller's workspace; the answer holds the full key once."""
    scopes = sorted({s.value for s in body.scopes})
    key_id, key = store(rt).create(caller.workspace, scopes=scopes, name=body.name)
    return {"id": key_id, "key": key, "name": body.name, "workspace": caller.workspace, "scopes": scopes}


def revoke_key(rt: Any, caller: Principal, key_id: str) -> None:
    """Revoke a key of the caller's workspace, never the caller's own."""
    if key_id == caller.key_id:
        raise Conflict("this is the key making the request; revoke it with another admin key or "
                       "`knowdesk keys revoke`", key_id=key_id)
    store(rt).revoke(caller.workspace, key_id)


@router.get("/keys", response_model=KeysPublic)
def list_keys(caller: Admin, rt: RuntimeDep) -> dict[str, Any]:
    """The workspace's keys with scopes and creation and revocation times, oldest first."""
    return {"keys": store(rt).list(caller.workspace)}


@router.post("/keys", status_code=201, response_model=NewKeyPublic, responses=errors(422))
def post_key(body: KeyRequest, caller: Admin, rt: RuntimeDep) -> dict[str, Any]:
    """Create a key; the full key is in this answer only (store it safely)."""
    return create_key(rt, caller, body)


@router.delete("/keys/{key_id}", status_code=204, responses=errors(404, 409))
def delete_key(key_id: KeyId, caller: Admin, rt: RuntimeDep) -> None:
    """Revoke a key: it is refused from then on, and its web sessions end."""
    revoke_key(rt, caller, key_id)
