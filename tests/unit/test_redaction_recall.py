"""Redaction recall and false positives on the written test set (``tests/fixtures/pii_set.py``):
every personal value in every format is removed, and ordinary support text is left unchanged.
The figures are printed (``-s``) and reported in the README's Security section."""

from __future__ import annotations

import collections
import re

from agent.redaction import scrub
from tests.fixtures.pii_set import ORDINARY, all_cases


def _leaked(value: str, redacted: str) -> bool:
    """Whether the value, or its letters and digits without separators, survives the redaction."""
    compact = re.sub(r"[\W_]", "", value).lower()
    return value in redacted or compact in re.sub(r"[\W_]", "", redacted).lower()


def test_recall_is_complete_and_ordinary_text_is_untouched() -> None:
    cases = all_cases()
    assert len(cases) >= 200
    missed = [(kind, sentence, scrub(sentence)) for kind, value, sentence in cases if _leaked(value, scrub(sentence))]
    per_kind = collections.Counter(kind for kind, _, _ in cases)
    missed_kind = collections.Counter(kind for kind, _, _ in missed)
    changed = [(text, scrub(text)) for text in ORDINARY]
    false_positives = [pair for pair in changed if pair[0] != pair[1]]
    recall = 1 - len(missed) / len(cases)
    print(f"\nredaction recall {recall:.3f} on {len(cases)} values "
          + ", ".join(f"{k} {per_kind[k] - missed_kind[k]}/{per_kind[k]}" for k in sorted(per_kind))
          + f"; false positives {len(false_positives)} of {len(ORDINARY)} ordinary texts")
    assert not missed, missed
    assert not false_positives, false_positives
