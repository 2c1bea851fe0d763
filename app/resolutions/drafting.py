"""Extractive drafting: the customer's question and the reusable sentences of a person's reply.

No model writes anything here. The question is the customer's asking sentence(s) before the handoff;
the answer keeps the reply's sentences in their order and drops what only fits one conversation:
greetings, thanks, sign-offs, the person's own actions on this case ("I've refunded ..."), ticket and
order numbers, and sentences that held personal data (already replaced by ``agent.redaction.scrub``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from agent.intents import human_rule
from agent.redaction import scrub

MAX_TITLE = 150
MAX_QUESTION_SENTENCES = 2

_SENTENCE = re.compile(r"(?<!\bMr\.)(?<!\bMs\.)(?<!\bDr\.)(?<!\bMrs\.)(?<!e\.g\.)(?<!i\.e\.)(?<=[.!?])\s+(?=\S)")
_PLACEHOLDER = re.compile(r"\[[A-Z][A-Z_]+\]")
#: "Hi Ole, only the cup ..." / "Dear Mr. Braun, we ...": the salutation goes, the sentence stays.
_SALUTATION = re.compile(r"^(hi|hello|hey|dear|good (morning|afternoon|evening))( there)?(,? (mr|mrs|ms|dr)\.?)?"
                         r"( [A-Z][\w'-]*){0,2}[,!:]\s+(?=\S)", re.I)
_GREETING = re.compile(r"^(hi|hello|hey|dear|good (morning|afternoon|evening)|greetings)\b", re.I)
_LEAD_IN = re.compile(
    r"^((hi|hello|hey)( there| team| brewly)?[,!.:]?\s+|(quick|short) question[:,]?\s+|"
    r"(sorry|excuse me)[,!.]?\s+|(so|ok|okay|well|also|and|but)[,]?\s+)", re.I)
_THANKS = re.compile(
    r"^(many |big )?(thanks|thank you)\b.*\b(reaching out|contacting|getting in touch|your (message|patience|"
    r"question|email)|writing|asking|waiting)", re.I)
_CLOSING = re.compile(
    r"^(let (me|us) know|hope (this|that) helps|i hope|have a (great|nice|good|lovely)|(best|kind|warm)( regards)?"
    r"\b|regards\b|cheers\b|all the best|thanks again|feel free to|don'?t hesitate|happy brewing|enjoy your|"
    r"good luck|see you|talk soon|speak soon)", re.I)
_CASE = re.compile(
    r"\b(i'?ve|i have|i just|i'?ll|i will|i went ahead|i checked|i can see|i looked|i'?m sorry|i am sorry|"
    r"we'?ve (refunded|sent|credited|issued|reset|updated|cancell?ed)|your (ticket|case))\b"
    r"|#\d{3,}|\b[A-Z]{2}-\d{4,}\b", re.I)


@dataclass(frozen=True, slots=True)
class Extract:
    """What a draft is made of: the question (title), the answer sentences, and what was dropped."""

    question: str
    title: str
    answer: str
    dropped: tuple[str, ...]


def sentences(text: str) -> list[str]:
    """``text`` split into sentences (line breaks and sentence ends), blank ones dropped."""
    out = []
    for line in text.splitlines():
        out += [s.strip() for s in _SENTENCE.split(line) if s.strip()]
    return out


def question_of(messages: Sequence[str]) -> str:
    """The customer's question: their asking sentences (ending in '?', else their longest ones), without
    requests for a person, at most ``MAX_QUESTION_SENTENCES``, redacted."""
    found = []
    for message in messages:
        for s in sentences(scrub(message)):
            if human_rule(s).language is not None or _THANKS.match(s):
                continue
            s = _lead_in(s)
            if len(s.split()) >= 3 and not (_GREETING.match(s) and not s.endswith("?")):
                found.append(s)
    asking = [s for s in found if s.endswith("?")]
    chosen = asking or sorted(found, key=len, reverse=True)[:1]
    return " ".join(chosen[:MAX_QUESTION_SENTENCES])


def title_of(question: str) -> str:
    """The article title: the question's first asking sentence, capitalised and bounded."""
    parts = sentences(question)
    first = next((s for s in parts if s.endswith("?")), parts[0] if parts else "")
    first = _lead_in(first)
    if len(first) > MAX_TITLE:
        first = first[: MAX_TITLE - 1].rsplit(" ", 1)[0] + "…"
    return first[:1].upper() + first[1:]


def answer_of(replies: Sequence[str]) -> tuple[str, tuple[str, ...]]:
    """The reusable sentences of the person's replies, paragraph breaks kept, and the dropped ones."""
    kept_paragraphs: list[str] = []
    dropped: list[str] = []
    for reply in replies:
        for paragraph in re.split(r"\n\s*\n", scrub(reply)):
            kept = []
            for s in sentences(paragraph):
                s = _unsalute(s)
                if _reusable(s):
                    kept.append(s)
                    continue
                # a clause with personal data goes, its sibling clauses may stay ("see /jobs; or mail [EMAIL]")
                clauses = [c.strip() for c in s.split(";")] if _PLACEHOLDER.search(s) and ";" in s else []
                good = [c for c in clauses if len(c.split()) >= 4 and _reusable(c)]
                if good:
                    kept.append(_sentence_end("; ".join(good)))
                dropped.append(s)
            if kept:
                kept_paragraphs.append(" ".join(kept))
    return "\n\n".join(kept_paragraphs), tuple(dropped)


def extract(customer: Sequence[str], replies: Sequence[str]) -> Extract:
    """Question, title and answer of one resolution."""
    question = question_of(customer)
    answer, dropped = answer_of(replies)
    return Extract(question=question, title=title_of(question) if question else "", answer=answer, dropped=dropped)


def slug_of(title: str, taken: set[str]) -> str:
    """A help-center slug from the title's words (at most 8), unique among ``taken``."""
    words = [w for w in re.findall(r"[a-z0-9]+", title.lower()) if w not in _STOP][:8] or ["answer"]
    base = "-".join(words)[:56].strip("-") or "answer"
    slug, n = base, 2
    while slug in taken:
        slug, n = f"{base}-{n}", n + 1
    return slug


def _reusable(sentence: str) -> bool:
    words = sentence.split()
    if _PLACEHOLDER.search(sentence) or _CASE.search(sentence):
        return False
    if _GREETING.match(sentence) and len(words) <= 6:
        return False
    if _THANKS.match(sentence) or _CLOSING.match(sentence):
        return False
    # a bare sign-off: a name or a team on its own line ("Tom", "The Brewly team")
    return not (len(words) <= 3 and not sentence.rstrip().endswith((".", "!", "?", ":")))


def _unsalute(sentence: str) -> str:
    rest = _SALUTATION.sub("", sentence, count=1)
    return rest[:1].upper() + rest[1:] if rest != sentence and len(rest.split()) >= 3 else sentence


def _sentence_end(text: str) -> str:
    return text if text.endswith((".", "!", "?")) else text + "."


def _lead_in(sentence: str) -> str:
    previous = None
    while previous != sentence:
        previous, sentence = sentence, _LEAD_IN.sub("", sentence, count=1)
    return sentence[:1].upper() + sentence[1:]


_STOP = frozenset(("a", "an", "the", "i", "my", "me", "we", "our", "you", "your", "is", "are", "do", "does", "can",
                   "could", "would", "should", "will", "to", "of", "for", "in", "on", "at", "with", "and", "or", "it",
                   "this", "that", "be", "there", "how", "what", "when", "which", "who"))
