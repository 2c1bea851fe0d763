"""CSAT: request surveys after sessions resolve, record scores, aggregate them.

Rules (documented in the README):

- A survey can be requested for a resolved (or closed) session on a channel whose survey
  setting is enabled; its ``csat.survey_requested`` webhook event is due ``delay_seconds`` after
  the request. Requesting twice returns the first request.
- A score is 1 to 5; a comment is required below ``comment_required_below`` (3: scores 1 and 2),
  otherwise 422. One score per session: a second one is a 409 (scores are not edited, so
  aggregates and the webhook receiver never see a score change under them).
- The score captures the session's channel, whether it was handed off, the reason and the
  human assignee of its last handoff, so aggregates stay what they were when it was given.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from agent.sessions import SessionStatus, SessionStore
from agent.tables import HandoffRow, SessionRow
from core.errors import ConfigError, Conflict, InvalidInput, NotFound
from core.settings import InsightsCsatSettings
from core.tables import utcnow

from .models import CsatReport, Point, Score, Stats, Survey, SurveyStatus
from .tables import ScoreRow, SurveyRow
from .webhook import CsatWebhook

DONE = (SessionStatus.RESOLVED, SessionStatus.CLOSED)


class CsatService:
    """Surveys, scores and aggregates. Construct with ``CsatService(sessions=..., settings=..., webhook=...)``."""

    def __init__(self, *, sessions: SessionStore, settings: InsightsCsatSettings, webhook: CsatWebhook) -> None:
        self.sessions, self.settings, self.webhook = sessions, settings, webhook
        self.db = sessions.db

    # -- surveys ---------------------------------------------------------------------------------
    def request_survey(self, workspace: str, session_id: str, *, now: datetime | None = None) -> Survey:
        """Schedule the survey of a resolved session on its channel (idempotent)."""
        session = self.sessions.get(workspace, session_id)
        if session.status not in DONE:
            raise Conflict(f"session {session_id!r} is {session.status.value}; request a survey once it is resolved")
        channel = self.settings.survey_channels.get(session.channel.value)
        if channel is None or not channel.enabled:
            raise ConfigError(f"CSAT surveys are off on the {session.channel.value} channel; enable them with "
                              f"KNOWDESK_INSIGHTS__SURVEY_CHANNELS__{session.channel.value.upper()}__ENABLED=true")
        now = now or utcnow()
        with self.db.session() as s:
            existing = s.get(SurveyRow, session_id)
            if existing is not None:
                return _survey(existing)
            row = SurveyRow(session_id=session_id, workspace=workspace, channel=session.channel.value,
                            status=SurveyStatus.SCHEDULED.value, due_at=now + timedelta(seconds=channel.delay_seconds),
                            requested_at=now)
            s.add(row)
        self.webhook.enqueue(workspace, "csat.survey_requested", session_id,
                             {"session_id": session_id, "ticket": session.ticket, "channel": row.channel,
                              "contact": session.contact.model_dump(mode="json"), "due_at": row.due_at.isoformat()},
                             at=row.due_at)
        return _survey(row)

    def sweep(self, workspace: str, *, since: timedelta = timedelta(days=7), now: datetime | None = None) -> int:
        """Request surveys for sessions resolved in the last ``since`` on enabled channels."""
        now = now or utcnow()
        enabled = [c for c, v in self.settings.survey_channels.items() if v.enabled]
        with self.db.session() as s:
            ids = s.scalars(select(SessionRow.id).where(
                SessionRow.workspace == workspace, SessionRow.status.in_([d.value for d in DONE]),
                SessionRow.channel.in_(enabled), SessionRow.updated_at >= now - since,
                SessionRow.id.not_in(select(SurveyRow.session_id)))).all()
        for sid in ids:
            self.request_survey(workspace, sid, now=now)
        return len(ids)

    # -- scores ----------------------------------------------------------------------------------
    def record(self, workspace: str, session_id: str, score: int, comment: str = "",
               *, at: datetime | None = None) -> Score:
        """Store the session's score and send the ``csat.score`` webhook event."""
        comment = (comment or "").strip()
        if not 1 <= score <= 5:
            raise InvalidInput(f"score must be an integer from 1 to 5, not {score}", field="score")
        if score < self.settings.comment_required_below and not comment:
            raise InvalidInput(f"a comment is required with a score of {score}: say what went wrong",
                               field="comment")
        session = self.sessions.get(workspace, session_id)
        if session.status not in DONE:
            raise Conflict(f"session {session_id!r} is {session.status.value}; scores are given once it is resolved")
        handoffs = self.sessions.handoffs(workspace, session_id=session_id, limit=1)
        last = handoffs[0] if handoffs else None
        row = ScoreRow(session_id=session_id, workspace=workspace, score=score, comment=comment,
                       channel=session.channel.value, handed_off=last is not None,
                       handoff_reason=last.reason if last else None, assignee=last.assignee if last else None,
                       created_at=at or utcnow())
        try:
            with self.db.session() as s:
                s.add(row)
        except IntegrityError as exc:
            previous = self.score(workspace, session_id)
            raise Conflict(f"session {session_id!r} already has a score ({previous.score}, given "
                           f"{previous.created_at:%Y-%m-%d %H:%M} UTC); one score per session",
                           session_id=session_id) from exc
        with self.db.session() as s:
            survey = s.get(SurveyRow, session_id)
            if survey is not None:
                survey.status, survey.answered_at = SurveyStatus.ANSWERED.value, row.created_at
        result = _score(row)
        event = self.webhook.enqueue(workspace, "csat.score", session_id,
                                     {"ticket": session.ticket, **result.model_dump(mode="json")})
        self.webhook.deliver_due(event_id=event)
        return result

    def score(self, workspace: str, session_id: str) -> Score:
        with self.db.session() as s:
            row = s.get(ScoreRow, session_id)
            if row is None or row.workspace != workspace:
                raise NotFound(f"session {session_id!r} has no CSAT score")
            return _score(row)

    def assign(self, workspace: str, handoff_id: str, assignee: str) -> None:
        """Record the human who took a handoff (``agent_handoffs.assignee``)."""
        self.sessions.handoff(workspace, handoff_id)  # NotFound for another workspace's handoff
        with self.db.session() as s:
            s.execute(update(HandoffRow).where(HandoffRow.id == handoff_id, HandoffRow.workspace == workspace)
                      .values(assignee=assignee.strip() or None))

    # -- aggregates ------------------------------------------------------------------------------
    def scores(self, workspace: str, start: datetime, end: datetime) -> list[Score]:
        with self.db.session() as s:
            rows = s.scalars(select(ScoreRow).where(ScoreRow.workspace == workspace, ScoreRow.created_at >= start,
                                                    ScoreRow.created_at < end).order_by(ScoreRow.created_at))
            return [_score(r) for r in rows]

    def report(self, workspace: str, start: datetime, end: datetime,
               topics: Mapping[str, str] | None = None) -> CsatReport:
        """Aggregates of the scores given in ``[start, end)``; ``topics`` maps session id to theme."""
        scores = self.scores(workspace, start, end)
        topics = topics or {}
        by_day: dict[str, list[int]] = defaultdict(list)
        for sc in scores:
            by_day[sc.created_at.date().isoformat()].append(sc.score)
        days = (end.date() - start.date()).days + 1
        series = [Point(day=d, count=len(by_day[d]), mean=_mean(by_day[d]))
                  for d in ((start.date() + timedelta(days=i)).isoformat() for i in range(max(days, 0)))]
        handed = [sc for sc in scores if sc.handed_off]
        return CsatReport(
            start=start, end=end, overall=stats(sc.score for sc in scores),
            by_channel=_group(scores, lambda sc: sc.channel),
            by_topic=_group(scores, lambda sc: topics.get(sc.session_id, "unclustered")),
            by_resolution=_group(scores, lambda sc: "handed_off" if sc.handed_off else "ai_only"),
            by_agent=_group(handed, lambda sc: sc.assignee or "unassigned"),
            series=series,
        )


def stats(values: Iterable[int]) -> Stats:
    """Count, mean (2 decimals), CSAT share of 4-5 (4 decimals) and distribution of scores."""
    items = list(values)
    counts = Counter(items)
    return Stats(count=len(items), mean=_mean(items),
                 csat=round(sum(1 for v in items if v >= 4) / len(items), 4) if items else None,
                 distribution={str(k): counts.get(k, 0) for k in range(1, 6)})


def _mean(items: list[int]) -> float | None:
    return round(sum(items) / len(items), 2) if items else None


def _group(scores: list[Score], key: Callable[[Score], str]) -> dict[str, Stats]:
    groups: dict[str, list[int]] = defaultdict(list)
    for sc in scores:
        groups[key(sc)].append(sc.score)
    return {k: stats(v) for k, v in sorted(groups.items())}


def _survey(row: SurveyRow) -> Survey:
    return Survey(session_id=row.session_id, channel=row.channel, status=SurveyStatus(row.status),
                  due_at=row.due_at, requested_at=row.requested_at)


def _score(row: ScoreRow) -> Score:
    return Score(session_id=row.session_id, score=row.score, comment=row.comment, channel=row.channel,
                 handed_off=row.handed_off, handoff_reason=row.handoff_reason, assignee=row.assignee,
                 created_at=row.created_at)


__all__ = ["CsatService", "stats"]
