"""Scenario matching: behavioral scenarios for every decision, the best specific scenario by meaning.

Specific scenarios are indexed one point per trigger question (kind=scenario, ``meta.scenario_id``),
so the message's vector finds the closest trigger; the published scenario (from the
``TrainingReader``) answers when the similarity reaches its threshold and it applies to the
session's channel and the contact's segments.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from core.models import PUBLIC, Channel, DocumentKind, Hit, Viewer
from training.models import Scenario, TrainingReader

from .decision import ScenarioTrace

log = logging.getLogger(__name__)


class Retriever(Protocol):
    """What the agent needs from search (``app.retrieve.Retrieve`` satisfies it): ``viewer`` says
    whose audience restrictions apply; without one, public documents only."""

    def search(
        self,
        query: str,
        *,
        workspace: str,
        filters: Any = None,
        top_k: int = 5,
        per_document: int | None = None,
        query_vector: np.ndarray | None = None,
        viewer: Viewer = PUBLIC,
    ) -> list[Hit]: ...


@dataclass(frozen=True, slots=True)
class ScenarioMatch:
    scenario: Scenario
    similarity: float
    threshold: float


class ScenarioMatcher:
    """Finds the behavioral scenarios that apply and the specific scenario that answers, if any."""

    def __init__(self, *, retriever: Retriever, reader: TrainingReader | None, default_threshold: float) -> None:
        self.retriever = retriever
        self.reader = reader
        self.default_threshold = default_threshold

    def behavioral(self, workspace: str, channel: Channel, segments: tuple[str, ...]) -> list[Scenario]:
        if self.reader is None:
            return []
        return list(self.reader.behavioral(workspace, channel=channel, segments=segments))

    def specific(
        self,
        workspace: str,
        message: str,
        vector: np.ndarray,
        channel: Channel,
        segments: tuple[str, ...],
        filters: Any,
    ) -> tuple[ScenarioMatch | None, list[ScenarioTrace]]:
        """The best applicable specific scenario at or above its threshold, and what was considered."""
        if self.reader is None:
            return None, []
        hits = self.retriever.search(
            message, workspace=workspace, filters=filters, top_k=3, per_document=1, query_vector=vector
        )
        considered: list[ScenarioTrace] = []
        best: ScenarioMatch | None = None
        for hit in hits:
            if hit.kind != DocumentKind.SCENARIO:
                continue
            meta = hit.payload.get("meta") or {}
            scenario_id = str(meta.get("scenario_id") or hit.document_id.split(":", 1)[-1])
            scenario = self.reader.scenario(workspace, scenario_id)
            similarity = float(hit.dense_score or 0.0)
            if scenario is None:
                log.debug("scenario %s is indexed but not published", scenario_id)
                continue
            threshold = scenario.threshold if scenario.threshold is not None else self.default_threshold
            applies = scenario.applies_to(channel, segments)
            matched = applies and similarity >= threshold
            considered.append(
                ScenarioTrace(
                    id=scenario.id,
                    title=scenario.title,
                    kind=str(scenario.kind),
                    score=round(similarity, 4),
                    applied=False,
                )
            )
            if matched and (best is None or similarity > best.similarity):
                best = ScenarioMatch(scenario=scenario, similarity=similarity, threshold=threshold)
        return best, considered
