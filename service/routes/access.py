"""End-user access (issue 19): the group -> audience mapping and the identity-token secret.

``GET /v1/access`` (read) shows the mapping and whether a secret is set (never the secret);
``PUT /v1/access`` and ``POST /v1/access/secret`` need an admin key. The secret is shown once,
in the answer that sets it; tokens signed with the previous one are rejected from then on.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from agent.access import MIN_SECRET_CHARS, AccessConfig
from core.errors import check_size
from service.deps import Admin, Reader, RuntimeDep
from service.routing import KeyedRoute
from service.schemas.common import Public, errors

router = APIRouter(prefix="/v1", tags=["access"], route_class=KeyedRoute)
MAX_ACCESS_BYTES = 256 * 1024


class AccessPublic(AccessConfig):
    """The workspace's group -> audience mapping, contact groups, and whether tokens can be verified."""

    secret_set: bool


class SecretRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    #: Omit to have a random secret generated (recommended).
    secret: str | None = Field(default=None, min_length=MIN_SECRET_CHARS, max_length=512, pattern=r"^\S(.*\S)?$")


class SecretPublic(Public):
    """The new identity secret: shown once, sign identity tokens (HS256) with it."""

    secret: str


def _public(rt: Any, workspace: str, config: AccessConfig) -> dict[str, Any]:
    return config.model_dump(mode="json") | {"secret_set": rt.access.has_secret(workspace)}


@router.get("/access", response_model=AccessPublic)
def get_access(caller: Reader, rt: RuntimeDep) -> dict[str, Any]:
    """The group -> audience mapping, the groups configured for contacts, and whether a secret is set."""
    return _public(rt, caller.workspace, rt.access.get(caller.workspace))


@router.put("/access", response_model=AccessPublic, responses=errors(413))
def put_access(body: AccessConfig, caller: Admin, rt: RuntimeDep) -> dict[str, Any]:
    """Replace the mapping (`groups`: group -> audience labels; `contacts`: `email:`, `domain:` or
    `sub:` -> groups). Takes effect at the next message of every session."""
    check_size(body.model_dump(mode="json"), what="the access configuration", max_bytes=MAX_ACCESS_BYTES)
    return _public(rt, caller.workspace, rt.access.put(caller.workspace, body))


@router.post("/access/secret", response_model=SecretPublic)
def set_secret(caller: Admin, rt: RuntimeDep, body: SecretRequest | None = None) -> dict[str, Any]:
    """Set or rotate the identity secret (a random one when none is given); returned once."""
    return {"secret": rt.access.set_secret(caller.workspace, body.secret if body else None)}
