"""Actions: import OpenAPI specs, list and configure actions, write secrets (never read back),
the network allowlist and per-session headers."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from actions.models import ActionDef
from actions.store import HOST_NAME
from core.models import Channel
from service.deps import Admin, Reader, RuntimeDep, Writer
from service.routing import KeyedRoute
from service.schemas.actions import (
    ActionPublic,
    ActionRemovedPublic,
    ActionsPublic,
    AllowlistPublic,
    ImportReportPublic,
    SpecPublic,
    SpecRemovedPublic,
    SpecsPublic,
)

router = APIRouter(prefix="/v1/actions", tags=["actions"], route_class=KeyedRoute)


class ImportRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$", description="The spec's name in the workspace.")
    spec: str | dict[str, Any] = Field(description="The OpenAPI 3.x / Swagger 2.0 document (JSON/YAML text or JSON).")
    base_url: str | None = Field(default=None, description="Overrides the spec's servers / host.")
    channels: list[Channel] = Field(default_factory=list, description="Enable the imported actions on these.")


class UpdateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    channels: list[Channel] | None = None
    segments: list[str] | None = None
    confirm: bool | None = None


class SecretRequest(BaseModel):
    """Write-only: the fields of the scheme's kind (value | token | username+password | client_id+client_secret)."""

    model_config = ConfigDict(extra="forbid")

    value: str | None = None
    token: str | None = None
    username: str | None = None
    password: str | None = None
    client_id: str | None = None
    client_secret: str | None = None


class AllowRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    #: The schema's pattern names host names and IPv4 addresses; IPv6 addresses and networks
    #: (``10.0.0.0/8``) are accepted too.
    allow: list[str] = Field(description="Private IPs, networks or host names actions may reach.",
                             json_schema_extra={"items": {"type": "string", "pattern": HOST_NAME.pattern}})


class HeadersRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    headers: dict[str, str] = Field(description="Sent with this session's calls; override workspace secrets.")


class SpecRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    base_url: str = Field(min_length=8)


def _json(a: ActionDef) -> dict[str, Any]:
    return a.public()


@router.post("/import", status_code=201, response_model=ImportReportPublic)
def import_spec(body: ImportRequest, caller: Writer, rt: RuntimeDep) -> dict[str, Any]:
    """Import a spec: one action per operation; skipped operations are listed with their reasons."""
    import json

    text = json.dumps(body.spec) if isinstance(body.spec, dict) else body.spec
    report = rt.actions.import_spec(caller.workspace, body.name, text, base_url=body.base_url,
                                    channels=tuple(body.channels))
    return report.model_dump(mode="json")


@router.get("", response_model=ActionsPublic)
def list_actions(caller: Reader, rt: RuntimeDep, spec: str | None = None) -> dict[str, Any]:
    """The workspace's actions (with channels, segments and the confirmation flag)."""
    return {"actions": [_json(a) for a in rt.actions.store.actions(caller.workspace, spec=spec)]}


@router.get("/specs", response_model=SpecsPublic)
def list_specs(caller: Reader, rt: RuntimeDep) -> dict[str, Any]:
    """Imported specs, their base URLs and security schemes, and which secrets are set (never values)."""
    store = rt.actions.store
    return {"specs": [s.model_dump(mode="json") for s in store.specs(caller.workspace)],
            "secrets": store.secret_names(caller.workspace)}


@router.put("/specs/{name}", response_model=SpecPublic)
def update_spec(name: str, body: SpecRequest, caller: Writer, rt: RuntimeDep) -> dict[str, Any]:
    """Set a spec's base URL."""
    return rt.actions.store.set_base_url(caller.workspace, name, body.base_url).model_dump(mode="json")


@router.delete("/specs/{name}", response_model=SpecRemovedPublic)
def delete_spec(name: str, caller: Writer, rt: RuntimeDep) -> dict[str, Any]:
    """Remove a spec, its actions (from the index too) and its secrets."""
    return {"removed": [a.id for a in rt.actions.delete_spec(caller.workspace, name)]}


@router.put("/specs/{name}/secrets/{scheme}", status_code=204)
def set_secret(name: str, scheme: str, body: SecretRequest, caller: Admin, rt: RuntimeDep) -> None:
    """Write the secret of a security scheme. It is never returned."""
    values = {k: v for k, v in body.model_dump().items() if v is not None}
    rt.actions.store.set_secret(caller.workspace, name, scheme, values)


@router.delete("/specs/{name}/secrets/{scheme}", status_code=204)
def delete_secret(name: str, scheme: str, caller: Admin, rt: RuntimeDep) -> None:
    rt.actions.store.delete_secret(caller.workspace, name, scheme)


@router.get("/network", response_model=AllowlistPublic)
def get_network(caller: Reader, rt: RuntimeDep) -> dict[str, Any]:
    """The allowlist of private hosts and networks actions may reach."""
    return {"allow": rt.actions.store.allowlist(caller.workspace)}


@router.put("/network", response_model=AllowlistPublic)
def set_network(body: AllowRequest, caller: Admin, rt: RuntimeDep) -> dict[str, Any]:
    return {"allow": rt.actions.store.set_allowlist(caller.workspace, body.allow)}


@router.put("/sessions/{session_id}/headers", status_code=204)
def set_session_headers(session_id: str, body: HeadersRequest, caller: Writer, rt: RuntimeDep) -> None:
    """Headers for one session's calls (e.g. the customer's own token). Write-only."""
    rt.agent.store.get(caller.workspace, session_id)
    rt.actions.store.set_session_headers(caller.workspace, session_id, body.headers)


@router.get("/{action_id}", response_model=ActionPublic)
def get_action(action_id: str, caller: Reader, rt: RuntimeDep) -> dict[str, Any]:
    return _json(rt.actions.store.get(caller.workspace, action_id))


@router.patch("/{action_id}", response_model=ActionPublic)
def update_action(action_id: str, body: UpdateRequest, caller: Writer, rt: RuntimeDep) -> dict[str, Any]:
    """Enable on channels (an empty list disables), restrict to segments, set the confirmation flag."""
    action = rt.actions.update(
        caller.workspace, action_id,
        channels=tuple(body.channels) if body.channels is not None else None,
        segments=tuple(body.segments) if body.segments is not None else None,
        confirm=body.confirm,
    )
    return _json(action)


@router.delete("/{action_id}", response_model=ActionRemovedPublic)
def delete_action(action_id: str, caller: Writer, rt: RuntimeDep) -> dict[str, Any]:
    return {"removed": rt.actions.delete(caller.workspace, action_id).id}
