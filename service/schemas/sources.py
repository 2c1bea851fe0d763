"""Responses of /v1/sources, its sync runs and /v1/retrieve."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from core.models import FetchFailure
from service.schemas.common import Public, Timestamp


class SourcePublic(Public):
    """A configured source of the key's workspace."""

    name: str
    kind: str
    workspace: str
    options: dict[str, Any]
    enabled: bool
    options_hidden: list[str] | None = None
    """For a read-only key: the names of the options whose values are withheld (``options`` is empty)."""


class SourcesPublic(Public):
    sources: list[SourcePublic]


class SyncReportPublic(Public):
    """What a sync did (``wait: true``, and the ``report`` of a finished run)."""

    source: str
    workspace: str
    mode: str
    status: str
    fetched: int
    written: int
    unchanged: int
    deleted: int
    failed: int
    chunks_embedded: int
    chunks_reused: int
    seconds: float
    failures: list[FetchFailure] = Field(description="The first 100 failures.")
    notes: list[str]
    started_at: Timestamp | None
    progress: dict[str, int]


class SyncStartedPublic(Public):
    """A sync started in the background (202): in this process, or as a Prefect flow run."""

    mode: Literal["in-process", "prefect"]
    status: Literal["started", "already_running"]
    flow_run_id: str | None = Field(default=None, description="The Prefect flow run (mode prefect).")
    source: str
    runs: str = Field(description="Where the run records are listed.")


class RunPublic(Public):
    """One sync run's record."""

    id: str
    source: str
    mode: str
    status: str
    started_at: Timestamp
    finished_at: Timestamp | None
    report: dict[str, Any] | None = Field(description="The run's SyncReport once it finished.")
    duration_seconds: float | None


class FlowRunPublic(Public):
    """A Prefect flow run of the source's deployment."""

    id: str
    name: str
    state: str | None
    state_name: str | None
    parameters: dict[str, Any]
    start_time: Timestamp | None
    end_time: Timestamp | None
    duration_seconds: float


class RunsPublic(Public):
    """Recent runs, newest first; with a Prefect server, its flow runs (or why they could not be read)."""

    runs: list[RunPublic]
    flow_runs: list[FlowRunPublic] | None = None
    flow_runs_error: str | None = None


class CancelPublic(Public):
    mode: Literal["in-process", "prefect"]
    status: Literal["cancelling", "not_running"]
    cancelled: list[str] | None = Field(default=None, description="The Prefect flow runs asked to cancel.")


class SchedulePublic(Public):
    """A source's schedule: a cron expression or an interval, in a timezone; paused when not enabled."""

    kind: Literal["cron", "interval"]
    cron: str | None = Field(description="The cron expression (kind cron), read in ``timezone``.")
    interval_seconds: int | None = Field(description="Seconds between runs (kind interval).")
    timezone: str = Field(description="IANA timezone name, e.g. UTC or Europe/Paris.")
    enabled: bool = Field(description="False: stored but paused (no scheduled run).")
    anchor: Timestamp = Field(description="When it was set; an interval counts from it.")


class SourceSchedulePublic(Public):
    """A source's schedule and when it runs next."""

    source: str
    source_enabled: bool = Field(description="A disabled source is never synced on schedule.")
    schedule: SchedulePublic | None = Field(description="None when the source has no schedule.")
    next_run_at: Timestamp | None = Field(
        description="When the schedule fires next (UTC), as the Prefect server computes it; null without a "
                    "schedule, when it is paused or when the source is disabled.")
    runner: Literal["prefect", "none"] = Field(
        description="prefect: a Prefect server is configured (PREFECT_API_URL), and `knowdesk schedule` or a worker "
                    "of its pool runs the scheduled syncs; none: no Prefect server, so no scheduled sync runs.")
