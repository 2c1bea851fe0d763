"""/v1/training: the AI profile and training scenarios (drafts, versions, publish, rollback).

Publishing freezes the draft into an immutable version; scenario-specific scenarios are indexed
(kind=scenario, one point per trigger question) before the response. Reads need the read
scope, changes the write scope; everything is scoped to the key's workspace.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from core.errors import NotFound
from core.models import NON_BLANK, Channel
from retrieval.search import SearchFilters
from service.deps import Reader, RuntimeDep, Writer
from service.routing import KeyedRoute
from service.schemas.common import declared, errors
from service.schemas.training import (
    AIProfilePublic,
    DirectoriesPublic,
    ProfilePublic,
    ScenarioDeleteHeld,
    ScenarioDetailPublic,
    ScenarioPublic,
    ScenarioRecordPublic,
    ScenarioSearchPublic,
    ScenariosPublic,
    TrainingReindexPublic,
    VersionsPublic,
)
from training.drafts import (
    ID,
    MAX_TEXT,
    MAX_TITLE,
    MAX_TRIGGER,
    MAX_TRIGGERS,
    SEGMENT,
    ProfileDraft,
    ScenarioDraft,
    ScenarioRecord,
    ScenarioStatus,
    slugify,
)
from training.gate import Published
from training.models import ScenarioKind

router = APIRouter(prefix="/v1/training", tags=["training"], route_class=KeyedRoute)


def _profile_schema(schema: dict[str, Any]) -> None:
    """What ``ProfileDraft.checked`` accepts, declared: a non-blank name and bounded texts."""
    props = schema["properties"]
    props["name"].update(declared(NON_BLANK, MAX_TITLE))
    for text in ("persona", "ground_rules"):
        props[text].update(declared(max_length=MAX_TEXT))


class ProfileBody(ProfileDraft):
    model_config = ConfigDict(json_schema_extra=_profile_schema)

    publish: bool = False


def _scenario_schema(schema: dict[str, Any]) -> None:
    """What ``ScenarioDraft.checked`` and ``check_id`` accept, declared (each checks it itself too):
    a non-blank title and answer, trigger questions for a specific scenario and none for a
    behavioral one, segments and ids by their patterns."""
    props = schema["properties"]
    props["title"].update(declared(NON_BLANK, MAX_TITLE))
    props["answer"].update(declared(NON_BLANK, MAX_TEXT))
    props["answer"].pop("default", None)  # required: the empty default is refused
    props["triggers"].update(declared(items={"type": "string", "pattern": NON_BLANK, "maxLength": MAX_TRIGGER},
                                      maxItems=MAX_TRIGGERS))
    props["segments"].update(declared(items={"type": "string", "pattern": SEGMENT.pattern}))
    props["directory"].update(declared(max_length=200))
    props["id"].update(declared(ID.pattern))
    schema["required"] = sorted({*schema.get("required", []), "answer"})
    schema["oneOf"] = [
        {"properties": {"kind": {"const": ScenarioKind.SPECIFIC.value}, "triggers": {"minItems": 1}},
         "required": ["triggers"]},
        {"properties": {"kind": {"const": ScenarioKind.BEHAVIORAL.value}, "triggers": {"maxItems": 0}}},
    ]


class ScenarioBody(ScenarioDraft):
    model_config = ConfigDict(json_schema_extra=_scenario_schema)

    #: Default: from the title.
    id: str | None = None
    publish: bool = False


class Note(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: str = Field(default="", max_length=200)


class Rollback(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: int = Field(ge=1, le=2**31 - 1)


class ScenarioSearch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    query: str = Field(min_length=1, max_length=4000)
    channel: Channel | None = None
    segments: list[str] = Field(default_factory=list)
    top_k: int = Field(default=5, ge=1, le=50)


def record_json(r: ScenarioRecord) -> dict[str, Any]:
    return {"id": r.id, **r.draft.model_dump(mode="json"), "status": r.status.value,
            "published_version": r.published_version, "latest_version": r.latest_version,
            "updated_at": r.updated_at.isoformat(), "pending_change": r.pending_change}


def published_json(done: Published, what: str = "scenario") -> dict[str, Any]:
    """A publish's answer: the version now live, or (``pending_change`` set) the one knowledge CI holds."""
    version = done.scenario if what == "scenario" else done.profile
    if version is None:
        raise NotFound(f"nothing of this {what} is published", what=what)
    return version.model_dump(mode="json") | {"pending_change": done.pending_change}


def _draft(body: ScenarioBody) -> ScenarioDraft:
    return ScenarioDraft(**body.model_dump(exclude={"id", "publish"}))


# -- profile ---------------------------------------------------------------------------------------
@router.get("/profile", response_model=ProfilePublic)
def get_profile(caller: Reader, rt: RuntimeDep) -> dict[str, Any]:
    """The draft, the live version number and the published profile (what the agent uses)."""
    draft, live = rt.training.store.profile_draft(caller.workspace)
    published = rt.training.profile(caller.workspace)
    return {"draft": draft.model_dump(mode="json"), "published_version": live,
            "published": published.model_dump(mode="json") if published else None}


@router.put("/profile", response_model=ProfilePublic)
def put_profile(body: ProfileBody, caller: Writer, rt: RuntimeDep) -> dict[str, Any]:
    _, pending = rt.training.save_profile(caller.workspace, ProfileDraft(**body.model_dump(exclude={"publish"})),
                                          publish=body.publish)
    return get_profile(caller, rt) | {"pending_change": pending}


@router.post("/profile/publish", response_model=AIProfilePublic)
def publish_profile(caller: Writer, rt: RuntimeDep, body: Note | None = None) -> dict[str, Any]:
    """Publish the draft; with knowledge CI configured it may be held (``pending_change``)."""
    return published_json(rt.training.publish_profile(caller.workspace, body.note if body else ""), "profile")


@router.get("/profile/versions", response_model=VersionsPublic)
def profile_versions(caller: Reader, rt: RuntimeDep) -> dict[str, Any]:
    return {"versions": [v.model_dump(mode="json") for v in rt.training.store.profile_versions(caller.workspace)]}


@router.post("/profile/rollback", response_model=AIProfilePublic, responses=errors(404))
def rollback_profile(body: Rollback, caller: Writer, rt: RuntimeDep) -> dict[str, Any]:
    """Publish an earlier version's content again, as a new version."""
    return published_json(rt.training.rollback_profile(caller.workspace, body.version), "profile")


# -- scenarios -------------------------------------------------------------------------------------
@router.get("/scenarios", response_model=ScenariosPublic)
def list_scenarios(caller: Reader, rt: RuntimeDep, directory: str | None = None, kind: ScenarioKind | None = None,
                   status: ScenarioStatus | None = None) -> dict[str, Any]:
    records = rt.training.store.scenarios(caller.workspace, directory=directory, kind=kind, status=status)
    return {"scenarios": [record_json(r) for r in records]}


@router.post("/scenarios", status_code=201, response_model=ScenarioRecordPublic, responses=errors(409))
def create_scenario(body: ScenarioBody, caller: Writer, rt: RuntimeDep) -> dict[str, Any]:
    """A new scenario (id from the title when not given); ``publish`` publishes and indexes it."""
    sid = body.id or slugify(body.title)
    return record_json(rt.training.create(caller.workspace, sid, _draft(body), publish=body.publish))


@router.get("/scenarios/{scenario_id}", response_model=ScenarioDetailPublic)
def get_scenario(scenario_id: str, caller: Reader, rt: RuntimeDep) -> dict[str, Any]:
    record = rt.training.store.get(caller.workspace, scenario_id)
    live = rt.training.scenario(caller.workspace, scenario_id)
    return record_json(record) | {"published": live.model_dump(mode="json") if live else None}


@router.put("/scenarios/{scenario_id}", response_model=ScenarioRecordPublic)
def update_scenario(scenario_id: str, body: ScenarioBody, caller: Writer, rt: RuntimeDep) -> dict[str, Any]:
    """Replace the draft; the live version changes only on publish (or ``publish: true``)."""
    return record_json(rt.training.update(caller.workspace, scenario_id, _draft(body), publish=body.publish))


@router.delete("/scenarios/{scenario_id}", status_code=204,
               responses={202: {"model": ScenarioDeleteHeld,
                                "description": "knowledge CI held the delete; the scenario stays until the change "
                                "is accepted"}})
def delete_scenario(scenario_id: str, caller: Writer, rt: RuntimeDep) -> Response:
    """Delete a scenario and its history (204). A published one goes through knowledge CI when it is
    configured; a held delete answers 202 with the change's id and deletes nothing."""
    pending = rt.training.delete(caller.workspace, scenario_id)
    if pending is not None:
        return JSONResponse(ScenarioDeleteHeld(pending_change=pending).model_dump(mode="json"), status_code=202)
    return Response(status_code=204)


@router.post("/scenarios/{scenario_id}/publish", response_model=ScenarioPublic)
def publish_scenario(scenario_id: str, caller: Writer, rt: RuntimeDep, body: Note | None = None) -> dict[str, Any]:
    """Publish the draft as a new version, indexed before the answer; with knowledge CI configured it
    may be held (``pending_change``: the version shown goes live once the change is accepted)."""
    return published_json(rt.training.publish(caller.workspace, scenario_id, body.note if body else ""))


@router.post("/scenarios/{scenario_id}/unpublish", response_model=ScenarioRecordPublic)
def unpublish_scenario(scenario_id: str, caller: Writer, rt: RuntimeDep) -> dict[str, Any]:
    return record_json(rt.training.unpublish(caller.workspace, scenario_id))


@router.get("/scenarios/{scenario_id}/versions", response_model=VersionsPublic)
def scenario_versions(scenario_id: str, caller: Reader, rt: RuntimeDep) -> dict[str, Any]:
    versions = rt.training.store.versions(caller.workspace, scenario_id)
    return {"versions": [v.model_dump(mode="json") for v in versions]}


@router.post("/scenarios/{scenario_id}/rollback", response_model=ScenarioPublic)
def rollback_scenario(scenario_id: str, body: Rollback, caller: Writer, rt: RuntimeDep) -> dict[str, Any]:
    """Publish an earlier version's content again, as a new version (history is kept)."""
    return published_json(rt.training.rollback(caller.workspace, scenario_id, body.version))


@router.get("/directories", response_model=DirectoriesPublic)
def directories(caller: Reader, rt: RuntimeDep) -> dict[str, Any]:
    return {"directories": rt.training.store.directories(caller.workspace)}


@router.post("/search", response_model=ScenarioSearchPublic)
def search(body: ScenarioSearch, caller: Reader, rt: RuntimeDep) -> dict[str, Any]:
    """Published scenario-specific scenarios whose trigger questions match ``query``, restricted to
    ``channel`` and ``segments`` when given (a preview of what the agent matches)."""
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


@router.post("/reindex", response_model=TrainingReindexPublic)
def reindex(caller: Writer, rt: RuntimeDep) -> dict[str, Any]:
    written, deleted = rt.training.reindex(caller.workspace)
    return {"written": written, "deleted": deleted}
