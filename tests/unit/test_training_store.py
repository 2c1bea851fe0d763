"""Training on SQLite and PostgreSQL: drafts, immutable versions, rollback, the reader the agent
uses (published only, channel and segment restrictions), and YAML import/export."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.db import Database
from core.errors import Conflict, InvalidInput, NotFound
from core.models import Channel
from training.drafts import ProfileDraft, ScenarioDraft, ScenarioStatus
from training.models import ScenarioKind, TrainingReader
from training.store import TrainingStore
from training.yaml_io import parse_yaml

WS = "default"
SAMPLE = Path(__file__).resolve().parents[2] / "service" / "samples" / "training.yaml"


def _rule(title: str = "No delivery dates", **extra: object) -> ScenarioDraft:
    return ScenarioDraft(kind=ScenarioKind.BEHAVIORAL, title=title, answer="Never promise a delivery date.",
                         is_instruction=True, **extra)  # type: ignore[arg-type]


def _specific(answer: str = "Ask for the order number.") -> ScenarioDraft:
    return ScenarioDraft(kind=ScenarioKind.SPECIFIC, title="Where is my order?",
                         triggers=("Where is my order?", " Where is my order? ", "Parcel missing"), answer=answer)


def test_publish_freezes_versions_and_rollback_publishes_an_old_one_again(db: Database) -> None:
    store = TrainingStore(db=db)
    store.create(WS, "order", _specific())
    assert store.scenario(WS, "order") is None  # drafts are invisible to the agent
    assert store.get(WS, "order").draft.triggers == ("Where is my order?", "Parcel missing")  # trimmed, deduped

    v1 = store.publish(WS, "order")
    assert v1.version == 1 and store.publish(WS, "order").version == 1  # nothing changed: no new version
    store.update(WS, "order", _specific("Ask for the order number and the email."))
    assert store.get(WS, "order").status is ScenarioStatus.CHANGED
    assert store.scenario(WS, "order").answer == "Ask for the order number."  # type: ignore[union-attr]
    assert store.publish(WS, "order", note="stricter").version == 2

    back = store.rollback(WS, "order", 1)
    assert back.version == 3 and back.answer == "Ask for the order number."
    versions = store.versions(WS, "order")
    assert [(v.version, v.live) for v in versions] == [(3, True), (2, False), (1, False)]
    assert versions[0].note == "rollback to version 1" and versions[1].data["answer"].endswith("the email.")
    with pytest.raises(NotFound):
        store.rollback(WS, "order", 9)

    store.unpublish(WS, "order")
    assert store.scenario(WS, "order") is None and store.get(WS, "order").status is ScenarioStatus.DRAFT
    store.delete(WS, "order")
    with pytest.raises(NotFound):
        store.get(WS, "order")


def test_the_reader_applies_channel_and_segment_restrictions(db: Database) -> None:
    store = TrainingStore(db=db)
    reader: TrainingReader = store  # the agent's contract
    store.create(WS, "always", _rule("Always"))
    store.create(WS, "phone", _rule("Phone only", channels=(Channel.PHONE,)))
    store.create(WS, "vip", _rule("VIP only", segments=("vip",)))
    store.create(WS, "unpublished", _rule("Not live"))
    for sid in ("always", "phone", "vip"):
        store.publish(WS, sid)
    assert [s.id for s in reader.behavioral(WS, channel="web")] == ["always"]
    assert [s.id for s in reader.behavioral(WS, channel=Channel.PHONE)] == ["always", "phone"]
    assert [s.id for s in reader.behavioral(WS, channel="web", segments=("vip",))] == ["always", "vip"]
    assert reader.behavioral("other", channel="web") == []


def test_the_profile_has_drafts_versions_and_rollback(db: Database) -> None:
    store = TrainingStore(db=db)
    assert store.profile(WS) is None
    store.save_profile(WS, ProfileDraft(name="Bree", persona="Warm.", ground_rules="No dates."))
    assert store.profile(WS) is None
    assert store.publish_profile(WS).version == 1
    store.save_profile(WS, ProfileDraft(name="Bree", persona="Terse.", ground_rules="No dates."))
    assert store.publish_profile(WS).version == 2 and store.profile(WS).persona == "Terse."  # type: ignore[union-attr]
    assert store.rollback_profile(WS, 1).persona == "Warm."
    assert [v.version for v in store.profile_versions(WS)] == [3, 2, 1]
    with pytest.raises(InvalidInput, match="name is empty"):
        store.save_profile(WS, ProfileDraft(name=" "))


@pytest.mark.parametrize(
    ("draft", "error"),
    [
        (ScenarioDraft(kind=ScenarioKind.SPECIFIC, title="T", answer="A"), "at least one trigger"),
        (ScenarioDraft(kind=ScenarioKind.BEHAVIORAL, title="T", triggers=("q",), answer="A"), "takes no trigger"),
        (ScenarioDraft(kind=ScenarioKind.BEHAVIORAL, title=" ", answer="A"), "title is empty"),
        (ScenarioDraft(kind=ScenarioKind.BEHAVIORAL, title="T", answer=""), "answer"),
        (ScenarioDraft(kind=ScenarioKind.BEHAVIORAL, title="T", answer="A", segments=("bad segment",)), "segment"),
    ],
)
def test_invalid_scenarios_are_rejected(db: Database, draft: ScenarioDraft, error: str) -> None:
    store = TrainingStore(db=db)
    with pytest.raises(InvalidInput, match=error):
        store.create(WS, "s", draft)
    assert store.scenarios(WS) == []


def test_ids_are_unique_and_directories_nest(db: Database) -> None:
    store = TrainingStore(db=db)
    store.create(WS, "a", _rule("A", directory="Orders/Shipping"))
    store.create(WS, "b", _rule("B", directory=" Orders "))
    with pytest.raises(Conflict):
        store.create(WS, "a", _rule())
    with pytest.raises(InvalidInput, match="scenario id"):
        store.create(WS, "Not An Id", _rule())
    assert store.directories(WS) == [{"directory": "Orders", "scenarios": 1},
                                     {"directory": "Orders/Shipping", "scenarios": 1}]
    assert [r.id for r in store.scenarios(WS, directory="Orders")] == ["b", "a"]
    assert [r.id for r in store.scenarios(WS, directory="Orders/Shipping")] == ["a"]


def test_the_sample_yaml_parses_and_bad_yaml_is_reported() -> None:
    profile, entries = parse_yaml(SAMPLE.read_text(encoding="utf-8"))
    assert profile is not None and profile.published
    kinds = [e.draft.kind for e in entries]
    assert kinds.count(ScenarioKind.SPECIFIC) == 8 and kinds.count(ScenarioKind.BEHAVIORAL) == 3
    with pytest.raises(InvalidInput, match="invalid YAML"):
        parse_yaml("scenarios: [unclosed")
    with pytest.raises(InvalidInput, match="nothing imported") as info:
        parse_yaml("scenarios:\n  - {kind: specific, title: T, answer: A}\n  - {kind: nope, title: T, answer: A}\n")
    assert len(info.value.fields["problems"]) == 2  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match=r"unknown|Extra"):
        parse_yaml("profiles: {}\n")
