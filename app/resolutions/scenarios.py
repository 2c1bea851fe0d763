"""Approving a draft as a training scenario instead of an article (issue 20, item 2: "a draft Q&A
article or scenario answer"): the customer's question becomes the trigger question(s), the reply's
reusable sentences the answer. The scenario is created and published through the training service's
public ``create(..., publish=True)``, the path ``POST /v1/training/scenarios`` takes (and any gate it
applies), so the agent matches it from the index right after."""

from __future__ import annotations

from typing import Any, Protocol

from core.errors import Conflict, InvalidInput
from training.drafts import MAX_TITLE, MAX_TRIGGER, ScenarioDraft, ScenarioRecord
from training.models import ScenarioKind

from . import drafting
from .models import ApproveAs, Draft

#: The directory resolution scenarios are filed in (the training pages group by directory).
DIRECTORY = "Resolutions"
#: How many ids are tried when the title's id is taken ("pay-paypal", "pay-paypal-2", ...).
MAX_ID_TRIES = 50


def approve_as(value: str | ApproveAs) -> ApproveAs:
    """The reviewer's choice, or ``InvalidInput`` naming the choices."""
    try:
        return ApproveAs(value)
    except ValueError as exc:
        raise InvalidInput(f"cannot approve a draft as {value!r}; choose one of "
                           f"{', '.join(a.value for a in ApproveAs)}", field="as") from exc


class ScenarioAuthor(Protocol):
    """What approving as a scenario needs from training (``training.service.Training``)."""

    def create(self, workspace: str, scenario_id: str, draft: ScenarioDraft, *,
               publish: bool = False) -> ScenarioRecord:
        """Create the scenario ``scenario_id`` and, with ``publish``, publish and index it.

        Raises:
            Conflict: the id is taken. InvalidInput: the draft is invalid.
        """
        ...


def scenario_of(draft: Draft) -> ScenarioDraft:
    """The training scenario a draft makes: its title, its question (and title) as triggers, its answer."""
    triggers = tuple(dict.fromkeys(t for t in (draft.question.strip(), draft.title.strip())
                                   if t and len(t) <= MAX_TRIGGER))
    if not triggers:
        raise InvalidInput("the draft's question is longer than a trigger question may be "
                           f"({MAX_TRIGGER} characters); shorten the title and approve again", field="title")
    return ScenarioDraft(kind=ScenarioKind.SPECIFIC, title=draft.title[:MAX_TITLE], triggers=triggers,
                         answer=draft.answer, directory=DIRECTORY)


def create_scenario(author: ScenarioAuthor, workspace: str, draft: Draft) -> dict[str, Any]:
    """Create and publish the draft's scenario under a free id from its title; what it did, for
    ``Draft.published``.

    Raises:
        InvalidInput: the scenario is invalid (training's own checks). Conflict: no free id.
    """
    content = scenario_of(draft)
    language = draft.locale.split("-")[0]
    base = drafting.slug_of(draft.title, set(), language)
    taken: set[str] = set()
    for _ in range(MAX_ID_TRIES):
        scenario_id = drafting.slug_of(draft.title, taken, language) if taken else base
        try:
            record = author.create(workspace, scenario_id, content, publish=True)
        except Conflict as exc:
            if exc.fields.get("id") != scenario_id:  # not the id taken: publishing refused it
                raise
            taken.add(scenario_id)
            continue
        return {"as": ApproveAs.SCENARIO.value, "scenario_id": record.id, "status": record.status.value,
                "version": record.published_version, "title": content.title, "answer": content.answer,
                "triggers": list(content.triggers),
                # set when knowledge CI held the publish: the scenario is live only once the change is accepted
                "pending_change": record.pending_change}
    raise Conflict(f"every scenario id from {base!r} to {base}-{MAX_ID_TRIES} is taken; rename the draft's title",
                   scenario_id=base)
