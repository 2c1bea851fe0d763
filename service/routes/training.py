"""/v1/training: the AI profile and training scenarios (drafts, versions, publish, rollback).

Publishing freezes the draft into an immutable version; scenario-specific scenarios are indexed
(kind=scenario, one point per trigger question) before the response. Reads need the read
scope, changes the write scope; everything is scoped to the key's workspace.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from pydantic import BaseModel, ConfigDict, Field

from core.models import Channel
from retrieval.search import SearchFilters
from service.deps import Caller, RuntimeDep
from service.keys import Scope
from training.drafts import ProfileDraft, ScenarioDraft, ScenarioRecord, ScenarioStatus, slugify
from training.models import ScenarioKind

router = APIRouter(prefix="/v1/training", tags=["training"])


class ProfileBody(ProfileDraft):
    publish: bool = False


class ScenarioBody(ScenarioDraft):
    id: str | None = None
    publish: bool = False


class Note(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: str = Field(default="", max_length=200)


class Rollback(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: int = Field(ge=1)


class ScenarioSearch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    query: str = Field(min_length=1, max_length=4000)
    channel: Channel | None = None
    segments: list[str] = Field(default_factory=list)
    top_k: int = Field(default=5, ge=1, le=50)


def record_json(r: ScenarioRecord) -> dict[str, Any]:
    return {"id": r.id, **r.draft.model_dump(mode="json"), "status": r.status.value,
            "published_version": r.published_version, "latest_version": r.latest_version,
            "updated_at": r.updated_at.isoformat()}


def _draft(body: ScenarioBody) -> ScenarioDraft:
    return ScenarioDraft(**body.model_dump(exclude={"id", "publish"}))


# -- profile ---------------------------------------------------------------------------------------
@router.get("/profile")
def get_profile(caller: Caller, rt: RuntimeDep) -> dict[str, Any]:
    """The draft, the live version number and the published profile (what the agent uses)."""
    caller.require(Scope.READ)
    draft, live = rt.training.store.profile_draft(caller.workspace)
    published = rt.training.profile(caller.workspace)
    return {"draft": draft.model_dump(mode="json"), "published_version": live,
            "published": published.model_dump(mode="json") if published else None}


@router.put("/profile")
def put_profile(body: ProfileBody, caller: Caller, rt: RuntimeDep) -> dict[str, Any]:
    caller.require(Scope.WRITE)
    rt.training.save_profile(caller.workspace, ProfileDraft(**body.model_dump(exclude={"publish"})),
                             publish=body.publish)
    return get_profile(caller, rt)


@router.post("/profile/publish")
def publish_profile(caller: Caller, rt: RuntimeDep, body: Note | None = None) -> dict[str, Any]:
    caller.require(Scope.WRITE)
    return rt.training.store.publish_profile(caller.workspace, body.note if body else "").model_dump(mode="json")


@router.get("/profile/versions")
def profile_versions(caller: Caller, rt: RuntimeDep) -> dict[str, Any]:
    caller.require(Scope.READ)
    return {"versions": [v.model_dump(mode="json") for v in rt.training.store.profile_versions(caller.workspace)]}


@router.post("/profile/rollback")
def rollback_profile(body: Rollback, caller: Caller, rt: RuntimeDep) -> dict[str, Any]:
    """Publish an earlier version's content again, as a new version."""
    caller.require(Scope.WRITE)
    return rt.training.store.rollback_profile(caller.workspace, body.version).model_dump(mode="json")


# -- scenarios -------------------------------------------------------------------------------------
@router.get("/scenarios")
def list_scenarios(caller: Caller, rt: RuntimeDep, directory: str | None = None, kind: ScenarioKind | None = None,
                   status: ScenarioStatus | None = None) -> dict[str, Any]:
    caller.require(Scope.READ)
    records = rt.training.store.scenarios(caller.workspace, directory=directory, kind=kind, status=status)
    return {"scenarios": [record_json(r) for r in records]}


@router.post("/scenarios", status_code=201)
def create_scenario(body: ScenarioBody, caller: Caller, rt: RuntimeDep) -> dict[str, Any]:
    """A new scenario (id from the title when not given); ``publish`` publishes and indexes it."""
    caller.require(Scope.WRITE)
    sid = body.id or slugify(body.title)
    return record_json(rt.training.create(caller.workspace, sid, _draft(body), publish=body.publish))


@router.get("/scenarios/{scenario_id}")
def get_scenario(scenario_id: str, caller: Caller, rt: RuntimeDep) -> dict[str, Any]:
    caller.require(Scope.READ)
    record = rt.training.store.get(caller.workspace, scenario_id)
    live = rt.training.scenario(caller.workspace, scenario_id)
    return record_json(record) | {"published": live.model_dump(mode="json") if live else None}


@router.put("/scenarios/{scenario_id}")
def update_scenario(scenario_id: str, body: ScenarioBody, caller: Caller, rt: RuntimeDep) -> dict[str, Any]:
    """Replace the draft; the live version changes only on publish (or ``publish: true``)."""
    caller.require(Scope.WRITE)
    return record_json(rt.training.update(caller.workspace, scenario_id, _draft(body), publish=body.publish))


@router.delete("/scenarios/{scenario_id}", status_code=204)
def delete_scenario(scenario_id: str, caller: Caller, rt: RuntimeDep) -> Response:
    caller.require(Scope.WRITE)
    rt.training.delete(caller.workspace, scenario_id)
    return Response(status_code=204)


@router.post("/scenarios/{scenario_id}/publish")
def publish_scenario(scenario_id: str, caller: Caller, rt: RuntimeDep, body: Note | None = None) -> dict[str, Any]:
    caller.require(Scope.WRITE)
    return rt.training.publish(caller.workspace, scenario_id, body.note if body else "").model_dump(mode="json")


@router.post("/scenarios/{scenario_id}/unpublish")
def unpublish_scenario(scenario_id: str, caller: Caller, rt: RuntimeDep) -> dict[str, Any]:
    caller.require(Scope.WRITE)
    return record_json(rt.training.unpublish(caller.workspace, scenario_id))


@router.get("/scenarios/{scenario_id}/versions")
def scenario_versions(scenario_id: str, caller: Caller, rt: RuntimeDep) -> dict[str, Any]:
    caller.require(Scope.READ)
    versions = rt.training.store.versions(caller.workspace, scenario_id)
    return {"versions": [v.model_dump(mode="json") for v in versions]}


@router.post("/scenarios/{scenario_id}/rollback")
def rollback_scenario(scenario_id: str, body: Rollback, caller: Caller, rt: RuntimeDep) -> dict[str, Any]:
    """Publish an earlier version's content again, as a new version (history is kept)."""
    caller.require(Scope.WRITE)
    return rt.training.rollback(caller.workspace, scenario_id, body.version).model_dump(mode="json")


@router.get("/directories")
def directories(caller: Caller, rt: RuntimeDep) -> dict[str, Any]:
    caller.require(Scope.READ)
    return {"directories": rt.training.store.directories(caller.workspace)}


@router.post("/search")
def search(body: ScenarioSearch, caller: Caller, rt: RuntimeDep) -> dict[str, Any]:
    """Published scenario-specific scenarios whose trigger questions match ``query``, restricted to
    ``channel`` and ``segments`` when given (a preview of what the agent matches)."""
    caller.require(Scope.READ)
    filters = SearchFilters(kind="scenario", channel=body.channel.value if body.channel else None)
    hits = rt.retrieve(body.query, workspace=caller.workspace, filters=filters, top_k=body.top_k, per_document=1)
    matches = []
    for h in hits:
        scenario = rt.training.scenario(caller.workspace, str(h.payload.get("meta", {}).get("scenario_id", "")))
        if scenario is None or (scenario.segments and not set(scenario.segments) & set(body.segments)):
            continue  # unpublished since indexed, or restricted to segments the contact is not in
        matches.append({"scenario_id": scenario.id, "title": scenario.title, "trigger": h.text,
                        "score": round(h.score, 6), "dense_score": h.dense_score,
                        "scenario": scenario.model_dump(mode="json")})
    return {"query": body.query, "matches": matches}


@router.post("/reindex")
def reindex(caller: Caller, rt: RuntimeDep) -> dict[str, Any]:
    caller.require(Scope.WRITE)
    written, deleted = rt.training.reindex(caller.workspace)
    return {"written": written, "deleted": deleted}
