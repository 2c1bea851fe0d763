"""Responses of /v1/insights, CSAT and /v1/evals."""

from __future__ import annotations

from typing import Any

from pydantic import ConfigDict, Field

from csat.models import CsatReport, Score, Survey
from insights.models import Insight, InsightRun
from service.schemas.common import Public


class InsightPublic(Insight):
    """One theme of the window (without its full session list)."""

    session_ids: list[str] = Field(default_factory=list, exclude=True)


class InsightsPublic(InsightRun):
    """The stored insights of a window."""

    insights: list[InsightPublic]  # type: ignore[assignment]


class CsatWebhookPublic(Public):
    id: str
    type: str
    status: str
    attempts: int
    last_error: str | None


class CsatScorePublic(Score):
    """A session's CSAT score."""


class CsatDetailPublic(Score):
    """A session's CSAT score and its webhook deliveries."""

    webhook: list[CsatWebhookPublic]


class SurveyPublic(Survey):
    """A scheduled survey (sent as a webhook event at ``due_at``)."""


class CsatAnalyticsPublic(CsatReport):
    """CSAT aggregates over the window."""

    since: str


class AssigneePublic(Public):
    handoff_id: str
    assignee: str


class EvalReportPublic(Public):
    """An evaluation report: totals, metrics with their definitions, per-tag pass rates,
    calibration, failing cases (and every case with ``include_cases``)."""

    model_config = ConfigDict(extra="allow", frozen=True)

    kind: str
    version: int
    dataset: dict[str, Any]
    totals: dict[str, int]
    metrics: dict[str, int | float | None]
    counts: dict[str, int]
    definitions: dict[str, str]
    per_tag: dict[str, Any]
    handoff_by_reason: dict[str, Any]
    actions: dict[str, Any]
    calibration: dict[str, Any]
    llm_judge: dict[str, Any]
    failures: list[dict[str, Any]]
    unsupported: list[dict[str, Any]]
    cases: list[dict[str, Any]] | None = None
    notes: list[str] | None = None
