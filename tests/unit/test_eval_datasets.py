"""The evaluation dataset format: parsing, errors that name the line, relevance by id/url/slug, the bundled set."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from core.errors import InvalidInput
from evaluation.datasets import (
    Outcome,
    bundled_dataset_path,
    is_relevant,
    load_dataset,
    parse_dataset,
    relevance_keys,
)

HEADER = {"kind": "knowdesk.eval.dataset", "version": 1, "name": "t", "config": {"clarify": False}}
CASE = {"id": "a", "messages": ["How do I skip a box?"], "expect": {"outcome": "answer", "relevant": ["skip"]}}


def jsonl(*rows: dict) -> str:
    return "\n".join(json.dumps(r) for r in rows)


def test_header_and_cases_parse_with_string_and_object_turns() -> None:
    multi = {"id": "b", "messages": ["hi", {"text": "where is my order?", "expect": {"scenario": "where"}}],
             "channel": "whatsapp", "contact": {"email": "a@example.com", "segments": ["vip"]}}
    data = parse_dataset(jsonl(HEADER, CASE, multi))
    assert data.name == "t" and data.header.config == {"clarify": False}
    assert [c.id for c in data.cases] == ["a", "b"]
    assert data.cases[1].messages[1].expect is not None and data.cases[1].messages[1].expect.scenario == "where"
    assert data.cases[1].last == "where is my order?" and data.cases[1].contact.ref().segments == ("vip",)
    assert data.cases[0].fingerprint() != parse_dataset(jsonl({**CASE, "tags": ["x"]})).cases[0].fingerprint()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (jsonl(CASE, CASE), "appears twice"),
        ("{not json", "line 1: not JSON"),
        (jsonl(CASE, {"id": "c", "messages": []}), "line 2"),
        (jsonl(CASE, {**CASE, "id": "d", "surprise": 1}), "line 2"),
        (jsonl({**HEADER, "version": 2}, CASE), "version 2 is not supported"),
        (jsonl(CASE, HEADER), "header must be the first line"),
        (jsonl({"id": "e", "messages": ["x"], "expect": {"outcome": "answer", "handoff_reason": "frustration"}}),
         "use outcome 'handoff'"),
        (jsonl(HEADER), "has no cases"),
    ],
)
def test_malformed_datasets_say_what_and_where(text: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        parse_dataset(text)


def test_missing_file_is_a_clear_error(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidInput, match="does not exist"):
        load_dataset(tmp_path / "nope.jsonl")


def test_no_answer_accepts_handoff_or_clarify_only() -> None:
    assert Outcome.NO_ANSWER.accepts("handoff") and Outcome.NO_ANSWER.accepts("clarify")
    assert not Outcome.NO_ANSWER.accepts("answer") and Outcome.ANSWER.accepts("answer")


def test_relevance_by_id_url_native_id_and_slug() -> None:
    keys = relevance_keys("help-center:skip-a-delivery/de", "https://help.example/de/articles/skip-a-delivery")
    assert {"help-center:skip-a-delivery/de", "skip-a-delivery/de", "skip-a-delivery",
            "https://help.example/de/articles/skip-a-delivery"} <= keys
    assert is_relevant("files:wholesale-faq.docx", None, ("wholesale-faq.docx",))
    assert not is_relevant("help-center:skip-a-delivery/en", None, ("skip-a-delivery/de",))
    assert not is_relevant("help-center:pause-subscription/en", None, ("skip-a-delivery",))


def test_bundled_dataset_covers_what_the_issue_asks_for() -> None:
    data = load_dataset(bundled_dataset_path())
    assert len(data.cases) >= 100
    tags = Counter(t for c in data.cases for t in c.tags)
    for tag in ("answerable", "paraphrase", "scenario", "handoff", "out-of-scope", "multi-turn", "non-english",
                "action", "de", "es"):
        assert tags[tag] >= 2, tag
    reasons = {c.expect.handoff_reason for c in data.cases if c.expect.handoff_reason}
    assert {"human_requested", "frustration", "prohibited_topic", "low_confidence", "autopilot_off"} <= reasons
    assert all("actions" in c.requires for c in data.cases if c.expect.action)
    assert all(c.expect.outcome is Outcome.NO_ANSWER for c in data.cases if "out-of-scope" in c.tags)
