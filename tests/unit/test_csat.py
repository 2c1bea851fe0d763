"""CSAT: rules of scores and surveys, and aggregates against hand-computed values (SQLite and
PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from agent.sessions import ContactRef, SessionStatus, SessionStore
from core.db import Database
from core.errors import ConfigError, Conflict, InvalidInput, NotFound
from core.models import Channel
from core.settings import InsightsCsatSettings, SurveyChannelSettings
from csat.service import CsatService, stats
from csat.webhook import CsatWebhook

T0 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def _service(db: Database, **settings: object) -> CsatService:
    return CsatService(sessions=SessionStore(db=db), settings=InsightsCsatSettings(**settings),  # type: ignore[arg-type]
                       webhook=CsatWebhook(db=db, url=None, secret=""))


def _session(csat: CsatService, channel: Channel = Channel.WEB, *, resolve: bool = True,
             handoff: str | None = None, assignee: str | None = None) -> str:
    store = csat.sessions
    info = store.create("w", channel=channel, contact=ContactRef(email="c@example.com"))
    if handoff:
        h = store.record_handoff("w", info.id, reason=handoff, trigger_score=None, confidence=None, summary="s",
                                 sentiment={}, documents=[], scenarios=[], transcript=[])
        if assignee:
            csat.assign("w", h.id, assignee)
    if resolve:
        store.set_status("w", info.id, SessionStatus.RESOLVED)
    return info.id


def test_score_rules_comment_required_below_three_one_score_per_session(db: Database) -> None:
    csat = _service(db)
    sid = _session(csat)
    with pytest.raises(InvalidInput, match="comment is required with a score of 2"):
        csat.record("w", sid, 2)
    with pytest.raises(InvalidInput, match="from 1 to 5"):
        csat.record("w", sid, 6, "x")
    score = csat.record("w", sid, 1, "  The answer was wrong.  ")
    assert (score.score, score.comment, score.handed_off, score.channel) == (1, "The answer was wrong.", False, "web")
    with pytest.raises(Conflict, match="already has a score \\(1"):
        csat.record("w", sid, 5)
    assert csat.score("w", sid).score == 1
    assert csat.record("w", _session(csat), 3).comment == ""  # 3 and up need no comment


def test_scores_need_a_resolved_session_of_the_workspace(db: Database) -> None:
    csat = _service(db)
    open_session = _session(csat, resolve=False)
    with pytest.raises(Conflict, match="is open; scores are given once it is resolved"):
        csat.record("w", open_session, 5)
    with pytest.raises(NotFound):
        csat.record("other", _session(csat), 5)


def test_survey_is_scheduled_on_the_channel_with_its_delay_and_only_once(db: Database) -> None:
    csat = _service(db, survey_channels={"email": SurveyChannelSettings(delay_seconds=3600),
                                         "sms": SurveyChannelSettings(enabled=False)})
    sid = _session(csat, Channel.EMAIL)
    survey = csat.request_survey("w", sid, now=T0)
    assert survey.due_at == T0 + timedelta(hours=1) and survey.channel == "email"
    assert csat.request_survey("w", sid, now=T0 + timedelta(days=1)).due_at == survey.due_at
    with pytest.raises(ConfigError, match="SURVEY_CHANNELS__SMS__ENABLED"):
        csat.request_survey("w", _session(csat, Channel.SMS))
    with pytest.raises(Conflict, match="once it is resolved"):
        csat.request_survey("w", _session(csat, Channel.EMAIL, resolve=False))
    assert [e["type"] for e in csat.webhook.status("w", sid)] == ["csat.survey_requested"]


def test_sweep_requests_surveys_for_resolved_sessions_on_enabled_channels(db: Database) -> None:
    csat = _service(db, survey_channels={"web": SurveyChannelSettings(delay_seconds=0),
                                         "phone": SurveyChannelSettings(enabled=False)})
    resolved = _session(csat)
    _session(csat, Channel.PHONE)
    _session(csat, resolve=False)
    assert csat.sweep("w") == 1
    assert csat.sweep("w") == 0
    assert csat.webhook.status("w", resolved)[0]["status"] == "pending"


def test_aggregates_match_hand_computed_values(db: Database) -> None:
    csat = _service(db)
    rows = [  # channel, handoff reason, assignee, score
        (Channel.WEB, None, None, 5), (Channel.WEB, None, None, 4), (Channel.WEB, "low_confidence", "alice", 2),
        (Channel.EMAIL, "frustration", "alice", 1), (Channel.EMAIL, "low_confidence", "bob", 4),
        (Channel.EMAIL, None, None, 3), (Channel.SMS, "human_requested", None, 5),
    ]
    ids = []
    for n, (channel, reason, assignee, score) in enumerate(rows):
        sid = _session(csat, channel, handoff=reason, assignee=assignee)
        csat.record("w", sid, score, "not good" if score < 3 else "", at=T0 + timedelta(days=n % 3))
        ids.append(sid)
    topics = {ids[0]: "e-12", ids[1]: "e-12", ids[2]: "norway", ids[3]: "e-12"}
    report = csat.report("w", T0 - timedelta(days=1), T0 + timedelta(days=5), topics=topics)

    assert report.overall.count == 7
    assert report.overall.mean == round(24 / 7, 2)  # 5+4+2+1+4+3+5
    assert report.overall.csat == round(4 / 7, 4)
    assert report.overall.distribution == {"1": 1, "2": 1, "3": 1, "4": 2, "5": 2}
    assert {k: (v.count, v.mean) for k, v in report.by_channel.items()} == {
        "email": (3, round(8 / 3, 2)), "sms": (1, 5.0), "web": (3, round(11 / 3, 2))}
    assert {k: (v.count, v.mean) for k, v in report.by_resolution.items()} == {
        "ai_only": (3, 4.0), "handed_off": (4, 3.0)}
    assert {k: (v.count, v.mean) for k, v in report.by_agent.items()} == {
        "alice": (2, 1.5), "bob": (1, 4.0), "unassigned": (1, 5.0)}
    assert {k: (v.count, v.mean) for k, v in report.by_topic.items()} == {
        "e-12": (3, round(10 / 3, 2)), "norway": (1, 2.0), "unclustered": (3, 4.0)}
    by_day = {p.day: (p.count, p.mean) for p in report.series}
    assert by_day["2026-11-20"] == (3, round((5 + 1 + 5) / 3, 2))  # rows 0, 3, 6
    assert by_day["2026-11-21"] == (2, 4.0) and by_day["2026-11-22"] == (2, 2.5)
    assert by_day["2026-11-19"] == (0, None)
    assert stats([]).mean is None and stats([]).csat is None


def test_assignee_of_another_workspace_handoff_is_not_found(db: Database) -> None:
    csat = _service(db)
    store = csat.sessions
    info = store.create("w", channel=Channel.WEB)
    h = store.record_handoff("w", info.id, reason="frustration", trigger_score=None, confidence=None, summary="",
                             sentiment={}, documents=[], scenarios=[], transcript=[])
    with pytest.raises(NotFound):
        csat.assign("other", h.id, "alice")
