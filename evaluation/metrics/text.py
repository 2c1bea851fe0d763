"""Answer text metrics: token F1, ROUGE-L (the ``rouge-score`` package), must-include facts.

All of them tokenize the same way: Unicode-aware lowercase word tokens (the default tokenizer of
``rouge-score`` keeps ASCII only, which would drop German and Spanish letters).
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Sequence

from rouge_score import rouge_scorer

_TOKEN = re.compile(r"\w+", re.UNICODE)
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_MARKUP = re.compile(r"[*_`#>|]+")
_SPACE = re.compile(r"\s+")


def normalize(text: str) -> str:
    """NFKC, lowercase, markdown emphasis removed, whitespace collapsed."""
    text = unicodedata.normalize("NFKC", text).lower()
    text = _MARKUP.sub(" ", text).replace("\u00a0", " ")
    return _SPACE.sub(" ", text).strip()


def tokens(text: str) -> list[str]:
    return _TOKEN.findall(normalize(text))


class _Tokenizer:
    """The tokenizer ``rouge-score`` calls (an object with ``tokenize``)."""

    def tokenize(self, text: str) -> list[str]:
        return tokens(text)


_ROUGE = rouge_scorer.RougeScorer(["rougeL"], tokenizer=_Tokenizer())


def token_f1(prediction: str, reference: str) -> float:
    """Harmonic mean of token precision and recall (bag of words, SQuAD style)."""
    pred, ref = Counter(tokens(prediction)), Counter(tokens(reference))
    common = sum((pred & ref).values())
    if common == 0:
        return 0.0
    precision, recall = common / sum(pred.values()), common / sum(ref.values())
    return 2 * precision * recall / (precision + recall)


def rouge_l(prediction: str, reference: str) -> float:
    """ROUGE-L F-measure (longest common subsequence of tokens)."""
    return float(_ROUGE.score(reference, prediction)["rougeL"].fmeasure)


def numbers(text: str) -> set[str]:
    """Numbers in ``text`` with a decimal comma read as a point and thousands separators dropped."""
    out = set()
    for raw in _NUMBER.findall(text):
        value = raw.replace(",", ".")
        if value.count(".") > 1 or re.fullmatch(r"\d{1,3}\.\d{3}", value):
            value = value.replace(".", "")
        out.add(value.rstrip("0").rstrip(".") if "." in value else value)
    return out


def fact_present(fact: str, answer: str) -> bool:
    """A fact is present when its normalized text is in the normalized answer; a short fact with
    numbers ("€14.90", "30 days") also counts when all of its numbers appear in the answer."""
    norm_fact, norm_answer = normalize(fact), normalize(answer)
    if norm_fact and norm_fact in norm_answer:
        return True
    wanted = numbers(norm_fact)
    words = [t for t in _TOKEN.findall(norm_fact) if not t.isdigit()]
    return bool(wanted) and len(words) <= 2 and wanted <= numbers(norm_answer)


def facts_present(facts: Sequence[str], answer: str) -> list[bool]:
    return [fact_present(f, answer) for f in facts]


_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")
_LIST_MARK = re.compile(r"^\s*(?:[-*•]|\d+[.)])\s+")


def sentences(text: str, *, min_words: int = 3) -> list[str]:
    """Sentences and list items of ``text`` with at least ``min_words`` words (list markers removed)."""
    out = []
    for part in _SENTENCE.split(text):
        part = _LIST_MARK.sub("", part).strip()
        if len(tokens(part)) >= min_words:
            out.append(part)
    return out
