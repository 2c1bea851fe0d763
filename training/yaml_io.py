"""Training as YAML (import and export): the AI profile and every scenario.

::

    profile:
      name: Bree
      persona: Friendly barista-turned-support-agent of Brewly.
      ground_rules: Never promise delivery dates.
      published: true
    scenarios:
      - id: where-is-my-order
        kind: specific
        title: Where is my order?
        directory: Orders
        triggers: ["Where is my order?", "My package has not arrived"]
        answer: Ask for the order number before anything else.
        is_instruction: true
        channels: [web, email]      # empty or absent: every channel
        segments: []                # empty or absent: every contact
        published: true
"""

from __future__ import annotations

from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from core.errors import InvalidInput, KnowdeskError
from training.drafts import ProfileDraft, ScenarioDraft, ScenarioStatus, check_id, slugify
from training.service import Training


class _ProfileEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = "Assistant"
    persona: str = ""
    ground_rules: str = ""
    published: bool = False


class _ScenarioEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str | None = None
    published: bool = False
    draft: ScenarioDraft


class _File(BaseModel):
    model_config = ConfigDict(extra="forbid")

    profile: _ProfileEntry | None = None
    scenarios: list[dict[str, Any]] = Field(default_factory=list)


class ImportSummary(BaseModel):
    """What an import did."""

    profile: str = "unchanged"
    created: list[str] = Field(default_factory=list)
    updated: list[str] = Field(default_factory=list)
    published: list[str] = Field(default_factory=list)
    unpublished: list[str] = Field(default_factory=list)
    #: Knowledge CI holds what the import publishes under this id: nothing of it is live yet.
    pending_change: str | None = None


def parse_yaml(text: str) -> tuple[_ProfileEntry | None, list[_ScenarioEntry]]:
    """Parse and check a training YAML document; every problem is reported at once.

    Raises:
        InvalidInput: invalid YAML, unknown fields, or invalid scenarios (nothing is changed).
    """
    try:
        raw = yaml.safe_load(text) or {}
        data = _File.model_validate(raw)
    except yaml.YAMLError as exc:
        raise InvalidInput(f"invalid YAML: {exc}".replace("\n", " ")) from exc
    except ValidationError as exc:
        raise InvalidInput(f"invalid training file: {_brief(exc)}") from exc
    problems: list[str] = []
    profile = None
    if data.profile is not None:
        try:
            checked = ProfileDraft(**data.profile.model_dump(exclude={"published"})).checked()
            profile = _ProfileEntry(**checked.model_dump(), published=data.profile.published)
        except InvalidInput as exc:
            problems.append(f"profile: {exc.message}")
    entries: list[_ScenarioEntry] = []
    seen: set[str] = set()
    for n, item in enumerate(data.scenarios, 1):
        where = f"scenario {n} ({item.get('id') or item.get('title') or 'untitled'})"
        try:
            fields = dict(item)
            sid = fields.pop("id", None)
            published = bool(fields.pop("published", False))
            draft = ScenarioDraft.model_validate(fields).checked()
            sid = check_id(str(sid)) if sid else slugify(draft.title)
            if sid in seen:
                raise InvalidInput(f"id {sid!r} is used twice")
            seen.add(sid)
            entries.append(_ScenarioEntry(id=sid, published=published, draft=draft))
        except ValidationError as exc:
            problems.append(f"{where}: {_brief(exc)}")
        except InvalidInput as exc:
            problems.append(f"{where}: {exc.message}")
    if problems:
        raise InvalidInput(f"{len(problems)} problem(s), nothing imported: " + "; ".join(problems[:20]),
                           problems=problems)
    return profile, entries


def import_yaml(training: Training, workspace: str, text: str, *, missing_only: bool = False) -> ImportSummary:
    """Import a training YAML: create or update drafts, publish or unpublish as each entry says.

    Re-importing the same file changes nothing (no new versions, nothing re-embedded). With
    ``missing_only`` (the quickstart's seeding) only scenarios that do not exist yet are created, and
    the profile only when it was never saved: nothing a person changed is touched.
    """
    profile, entries = parse_yaml(text)
    summary = ImportSummary()
    store = training.store
    if missing_only:
        known = {r.id for r in store.scenarios(workspace)}
        entries = [e for e in entries if str(e.id) not in known]
        if profile is not None and store.has_profile(workspace):
            profile = None
    publish_profile = False
    if profile is not None:
        draft = ProfileDraft(name=profile.name, persona=profile.persona, ground_rules=profile.ground_rules)
        current, _ = store.profile_draft(workspace)
        if current != draft:
            store.save_profile(workspace, draft)
            summary.profile = "updated"
        publish_profile = profile.published
    publish, unpublish = [], []
    for entry in entries:
        sid = str(entry.id)
        try:
            record = store.get(workspace, sid)
        except KnowdeskError:
            record = None
        if record is None:
            store.create(workspace, sid, entry.draft)
            summary.created.append(sid)
        elif record.draft != entry.draft:
            store.update(workspace, sid, entry.draft)
            summary.updated.append(sid)
        status = store.get(workspace, sid).status
        if entry.published and status is not ScenarioStatus.PUBLISHED:
            publish.append(sid)
        elif entry.published and (current_live := store.scenario(workspace, sid)) is not None:
            training.indexer.index(current_live)  # a no-op when the index already holds it
        elif not entry.published and status is not ScenarioStatus.DRAFT:
            unpublish.append(sid)
    # what the file publishes is one change: knowledge CI (when configured) reviews it once
    done = training.publish_many(workspace, publish, unpublish, note="import", profile=publish_profile)
    summary.pending_change = done.pending_change
    if done.pending_change is None:
        summary.published, summary.unpublished = publish, unpublish
        if done.profile is not None:
            summary.profile = f"published v{done.profile.version}"
    return summary


def export_yaml(training: Training, workspace: str) -> str:
    """The workspace's profile draft and every scenario draft as YAML (``import_yaml`` reads it)."""
    store = training.store
    draft, live = store.profile_draft(workspace)
    doc: dict[str, Any] = {"profile": draft.model_dump(mode="json") | {"published": live is not None}}
    scenarios = []
    for r in store.scenarios(workspace):
        item = {"id": r.id, **r.draft.model_dump(mode="json", exclude_defaults=True), "kind": r.draft.kind.value,
                "published": r.status is not ScenarioStatus.DRAFT}
        scenarios.append(item)
    doc["scenarios"] = scenarios
    return yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=100)


def _brief(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(map(str, e['loc'])) or 'file'}: {e['msg']}" for e in exc.errors()[:5])
