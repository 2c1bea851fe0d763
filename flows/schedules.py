"""A source's schedule checked, turned into Prefect's schedule, and its next run.

The rules are Prefect's own (its ``CronSchedule`` and ``IntervalSchedule`` models: the cron dialect,
IANA timezones), and the next run is computed by the same schedule code the Prefect server uses to
create flow runs, so what the API and the pages show is when ``knowdesk schedule`` runs the sync.
The CLI (``knowdesk sources schedule``), the HTTP API (``/v1/sources/{name}/schedule``) and the
source page all go through ``build_schedule``; ``flows.deployments`` turns a stored schedule into
its deployment with ``prefect_schedule``.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from prefect.client.schemas import schedules as client_schedules
from prefect.server.schemas import schedules as server_schedules
from pydantic import ValidationError

from core.errors import InvalidInput
from core.models import ScheduleKind, SourceSchedule
from core.tables import utcnow

_INTERVAL = re.compile(r"^(\d+)\s*([smhd]?)$")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
#: Longer texts are refused before they are parsed (the column holds 200 characters with its prefix).
MAX_CRON_CHARS = 120
#: A year: anything longer is a typo (and Prefect only looks 1,000 candidate dates ahead).
MAX_INTERVAL_SECONDS = 366 * 86400


def parse_interval(value: str | int) -> int:
    """``90``, ``"90"``, ``"30s"``, ``"15m"``, ``"6h"``, ``"1d"`` -> seconds; ``InvalidInput`` otherwise."""
    found = _INTERVAL.match(str(value).strip().lower())
    if not found or int(found.group(1)) == 0:
        raise _invalid("interval", f"interval {str(value)[:40]!r} is not a positive number of seconds or like "
                                   "30s, 15m, 6h, 1d")
    seconds = int(found.group(1)) * _UNITS[found.group(2)]
    if seconds > MAX_INTERVAL_SECONDS:
        raise _invalid("interval", f"interval {str(value)[:40]!r} is longer than a year; use a cron expression "
                                   "for rare syncs, e.g. \"0 3 1 * *\" (monthly)")
    return seconds


def _invalid(field: str, message: str) -> InvalidInput:
    """The error of one field, with ``problems`` in the shape of the API's 422 bodies."""
    return InvalidInput(message, field=field, problems=[{"field": field, "message": message}])


def _reason(exc: ValidationError) -> str:
    return str(exc.errors()[0]["msg"]).removeprefix("Value error, ").split("\n")[0].strip()


def check_timezone(timezone: str) -> str:
    """``timezone`` when it is an IANA name Prefect knows (``Europe/Paris``, ``UTC``); else ``InvalidInput``."""
    name = timezone.strip()
    try:
        client_schedules.CronSchedule(cron="0 0 * * *", timezone=name or "?")
    except ValidationError:
        raise _invalid("timezone", f"timezone {timezone[:64]!r} is not an IANA timezone name; e.g. \"UTC\", "
                                   "\"Europe/Paris\" or \"America/New_York\"") from None
    return name


def build_schedule(*, cron: str | None = None, interval: str | int | None = None, timezone: str = "UTC",
                   enabled: bool = True, anchor: datetime | None = None) -> SourceSchedule:
    """A checked schedule from what a person typed: exactly one of ``cron`` and ``interval``.

    Args:
        cron: a five-field cron expression, e.g. ``"0 3 * * *"`` (Prefect's dialect: no random or
            hashed fields).
        interval: seconds, or a number with a unit: ``"15m"``, ``"6h"``, ``"1d"``.
        timezone: the IANA timezone the cron's hours (and a long interval's clock time) are in.
        enabled: False keeps the schedule but pauses it.
        anchor: when an interval counts from (default: now).

    Raises:
        InvalidInput: naming the field (``cron``, ``interval``, ``timezone``) and what to type instead.
    """
    given = [name for name, value in (("cron", cron), ("interval", interval)) if value not in (None, "")]
    if len(given) != 1:
        raise _invalid("cron", "give exactly one of a cron expression (e.g. \"0 3 * * *\") or an interval (e.g. 6h)"
                       + ("" if given else "; to remove the schedule, delete it"))
    zone = check_timezone(timezone)
    when = anchor or utcnow().replace(microsecond=0)
    if cron not in (None, ""):
        assert cron is not None
        expr = " ".join(cron.split())
        if len(expr) > MAX_CRON_CHARS:
            raise _invalid("cron", f"the cron expression is {len(expr)} characters; at most {MAX_CRON_CHARS}")
        try:
            client_schedules.CronSchedule(cron=expr, timezone=zone)
        except ValidationError as exc:
            message = (f"cron expression {expr[:60]!r} is invalid ({_reason(exc)}); five fields: minute hour "
                       "day-of-month month day-of-week, e.g. \"0 3 * * *\" (03:00 daily)")
            raise _invalid("cron", message) from None
        schedule = SourceSchedule(kind=ScheduleKind.CRON, cron=expr, timezone=zone, enabled=enabled, anchor=when)
        if _next(schedule, utcnow()) is None:
            raise _invalid("cron", f"cron expression {expr[:60]!r} never fires (e.g. a day its months do not have); "
                                   "check the day-of-month, month and day-of-week fields")
        return schedule
    assert interval is not None
    return SourceSchedule(kind=ScheduleKind.INTERVAL, interval_seconds=parse_interval(interval), timezone=zone,
                          enabled=enabled, anchor=when)


def prefect_schedule(
        schedule: SourceSchedule) -> client_schedules.CronSchedule | client_schedules.IntervalSchedule:
    """The schedule a deployment of the source carries."""
    if schedule.kind is ScheduleKind.CRON:
        return client_schedules.CronSchedule(cron=schedule.cron or "", timezone=schedule.timezone)
    return client_schedules.IntervalSchedule(interval=timedelta(seconds=schedule.interval_seconds or 0),
                                             anchor_date=schedule.anchor, timezone=schedule.timezone)


def next_run(schedule: SourceSchedule | None, *, source_enabled: bool = True,
             now: datetime | None = None) -> datetime | None:
    """When the schedule fires next (UTC), as the Prefect server computes it; None when there is no
    schedule, it is paused or the source is disabled (a disabled source has no deployment)."""
    if schedule is None or not schedule.enabled or not source_enabled:
        return None
    return _next(schedule, now or utcnow())


def _next(schedule: SourceSchedule, start: datetime) -> datetime | None:
    model: server_schedules.CronSchedule | server_schedules.IntervalSchedule
    if schedule.kind is ScheduleKind.CRON:
        model = server_schedules.CronSchedule(cron=schedule.cron or "", timezone=schedule.timezone)
    else:
        model = server_schedules.IntervalSchedule(interval=timedelta(seconds=schedule.interval_seconds or 0),
                                                  anchor_date=schedule.anchor, timezone=schedule.timezone)
    # get_dates is a coroutine that awaits nothing; its generator is the same computation, synchronous
    try:
        found = next(iter(model._get_dates_generator(n=1, start=start)), None)
    except ValueError:  # croniter found no date (a cron that never fires): no next run
        return None
    return None if found is None else datetime.fromtimestamp(found.timestamp(), tz=UTC)
