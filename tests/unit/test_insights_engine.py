"""The insights engine on synthetic vectors: clustering, labels, kinds, trends, series."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from core.errors import InvalidInput
from insights.classify import Classifier
from insights.clustering import NOISE, cluster, distinctive_terms, informative
from insights.engine import EngineOptions, build_insights
from insights.models import CustomerMessage, InsightKind, SessionFacts, Trend, Window, parse_since

END = datetime(2026, 11, 24, tzinfo=UTC)
WINDOW = Window.ending(END, timedelta(days=7))


def _blobs(rng: np.random.Generator, sizes: list[int], noise: int, dim: int = 48) -> tuple[np.ndarray, list[int]]:
    centres = np.eye(dim)[: len(sizes)]
    rows, truth = [], []
    for c, n in enumerate(sizes):
        rows.append(centres[c] + rng.normal(0, 0.08, size=(n, dim)))
        truth += [c] * n
    rows.append(rng.normal(0, 1, size=(noise, dim)))
    truth += [NOISE] * noise
    matrix = np.vstack(rows)
    return matrix / np.linalg.norm(matrix, axis=1, keepdims=True), truth


def test_parse_since() -> None:
    assert parse_since("7d") == timedelta(days=7) and parse_since(" 24h ") == timedelta(hours=24)
    assert parse_since("2w") == timedelta(weeks=2) and parse_since("30m") == timedelta(minutes=30)
    for bad in ("", "7", "0d", "7 days", "-1d"):
        with pytest.raises(InvalidInput, match="use a number and a unit"):
            parse_since(bad)


def test_pleasantries_are_not_informative() -> None:
    assert not informative("Thank you, that helps.") and not informative("ok") and not informative("Great, thanks!")
    assert informative("Do you ship to Norway?") and informative("E-12 error again")


@pytest.mark.parametrize("max_fit", [4000, 120])
def test_planted_blobs_become_clusters_and_scattered_points_noise(max_fit: int) -> None:
    vectors, truth = _blobs(np.random.default_rng(1), [60, 40, 25], noise=30)
    labels = cluster(vectors, threshold=0.5, min_size=5, max_fit=max_fit)
    for planted, expected_label in ((0, 0), (1, 1), (2, 2)):  # renumbered by size
        got = {int(labels[i]) for i, t in enumerate(truth) if t == planted}
        assert got == {expected_label}, (planted, got)
    assert sum(1 for i, t in enumerate(truth) if t == NOISE and labels[i] != NOISE) <= 2
    assert cluster(vectors[:3], min_size=5).tolist() == [NOISE] * 3


def test_distinctive_terms_name_each_cluster() -> None:
    texts = ["the E-12 error keeps coming back", "E-12 again on my grinder", "grinder shows E-12",
             "do you ship to Norway", "shipping to Norway possible?", "deliver to Oslo Norway",
             "how do I reset my password"]
    labels = np.array([0, 0, 0, 1, 1, 1, NOISE])
    found = distinctive_terms(texts, labels, 2, top=3)
    assert found[0].terms[0] == "e-12" and "grinder" in found[0].terms and found[0].keyword == "e-12"
    assert found[1].keyword == "norway" and "norway" in " ".join(found[1].terms)
    for item in found:  # no word twice
        words = " ".join(item.terms).split()
        assert len(words) == len(set(words))


def test_classifier_rules_in_order() -> None:
    c = Classifier()
    assert c.kind(gap_share=0.6, sentiment=-0.9, request_share=1.0) == InsightKind.KNOWLEDGE_GAP
    assert c.kind(gap_share=0.2, sentiment=-0.5, request_share=1.0) == InsightKind.COMPLAINT
    assert c.kind(gap_share=0.2, sentiment=0.3, request_share=0.5) == InsightKind.REQUEST
    assert c.kind(gap_share=0.0, sentiment=0.0, request_share=0.0) == InsightKind.OTHER
    assert c.sentiment("E-12 again!! the grinder is useless, terrible quality") < -0.5
    assert c.is_request("Please add oat milk to the shop") and c.is_request("any plans to add oat milk?")
    assert not c.is_request("How do I reset my password?")


def _messages(theme: str, texts: list[str], count: int, start: int, *, previous: bool) -> list[CustomerMessage]:
    base = WINDOW.previous_start if previous else WINDOW.start
    return [CustomerMessage(id=start + i, session_id=f"{theme}-{'p' if previous else 'c'}{i}",
                            text=texts[i % len(texts)], created_at=base + timedelta(hours=3 + i * 7))
            for i in range(count)]


def test_build_insights_kinds_trends_rates_and_series() -> None:
    themes = {
        "gap": (["Do you ship to Norway?", "Can you deliver to Oslo in Norway?"], 10, 4),
        "complaint": (["E-12 again, the grinder is useless and I am furious", "Terrible: E-12 keeps coming back"],
                      12, 12),
        "request": (["Please add oat milk to the shop", "Could you add oat milk to your shop?"], 6, 0),
    }
    rng = np.random.default_rng(3)
    messages: list[CustomerMessage] = []
    rows = []
    for t, (theme, (texts, now, before)) in enumerate(themes.items()):
        for previous, n in ((True, before), (False, now)):
            batch = _messages(theme, texts, n, len(messages), previous=previous)
            messages += batch
            centre = np.eye(32)[t]
            rows += [centre + rng.normal(0, 0.05, 32) for _ in batch]
    vectors = np.array(rows) / np.linalg.norm(np.array(rows), axis=1, keepdims=True)
    facts = {m.session_id: SessionFacts(session_id=m.session_id) for m in messages}
    for i, m in enumerate(m for m in messages if m.session_id.startswith("gap-c")):
        facts[m.session_id] = SessionFacts(session_id=m.session_id, handoff_reason="low_confidence" if i < 7 else None)
    facts["complaint-c0"] = SessionFacts(session_id="complaint-c0", handoff_reason="frustration")

    insights = build_insights(messages, vectors, facts, WINDOW, classifier=Classifier(),
                              options=EngineOptions(buckets=14, examples=3))
    by_kind = {i.kind: i for i in insights}
    assert [i.size for i in insights] == [12, 10, 6] and len(by_kind) == 3

    gap = by_kind[InsightKind.KNOWLEDGE_GAP]
    assert (gap.size, gap.previous_size, gap.trend, gap.change) == (10, 4, Trend.RISING, 1.5)
    assert gap.handoff_rate == 0.7 and gap.handoff_reasons == {"low_confidence": 7}
    assert gap.keyword == "norway" and len(gap.example_sessions) == 3 and len(gap.session_ids) == 10
    assert all(s.startswith("gap-c") for s in gap.session_ids)

    complaint = by_kind[InsightKind.COMPLAINT]
    assert complaint.trend == Trend.STEADY and complaint.handoff_rate == round(1 / 12, 4)
    assert complaint.sentiment < -0.2 and complaint.keyword == "e-12"

    request = by_kind[InsightKind.REQUEST]
    assert request.trend == Trend.NEW and request.change is None and request.request_share == 1.0
    assert sum(request.series) == 6 and sum(request.series[:7]) == 0  # all in the current week
    assert sum(gap.series) == 14 and sum(gap.series[:7]) == 4 and len(gap.series) == 14
