"""Per-workspace agent policy: autopilot per channel, topic gating and the handoff triggers.

Every trigger has a switch (``AgentConfig``) and a threshold (``AgentSettings``) and returns a
score in [0, 1] that goes into the trace whether it fired or not:

- ``human_request``: the best similarity of a clause with ways of asking for a person, or a
  request verb plus a person word; a clause that negates it ("no need for a human") scores 0.
- ``frustration``: VADER's negative sentiment plus shouting, insults and a repeated question.
- ``prohibited``: the best similarity of the message or a clause with the prohibited topics.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
from pydantic import Field
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from core.db import Database, insert_ignore
from core.models import Channel, Frozen
from core.settings import AgentSettings
from core.tables import WorkspaceRow, utcnow

from .decision import Sentiment, TriggerResult
from .meaning import VectorCache
from .redaction import RedactionConfig
from .tables import AgentConfigRow


class AgentConfig(Frozen):
    """A workspace's agent switches and plain-language lists.

    ``autopilot``: channel -> on/off (a missing channel is on). ``reply_topics``: when set, only
    messages about one of them are answered; ``skip_topics``: messages about them go to the team.
    Topic entries are plain language, several phrasings separated by ``;``
    (``"legal threats; lawsuits; suing the company"``), matched by meaning.
    Who sees audience-restricted content is decided by ``agent.access`` (verified identities),
    not by the channel (``public_channels``, saved by earlier versions, is dropped on reading).
    """

    autopilot: dict[Channel, bool] = Field(default_factory=dict)
    reply_topics: tuple[str, ...] = ()
    skip_topics: tuple[str, ...] = ()
    prohibited_topics: tuple[str, ...] = ()
    human_request: bool = True
    frustration: bool = True
    prohibited: bool = True
    low_confidence: bool = True
    clarify: bool = True
    redaction: RedactionConfig = RedactionConfig()

    def autopilot_on(self, channel: Channel | str) -> bool:
        return self.autopilot.get(Channel(channel), True)


class ConfigStore:
    """Reads and writes each workspace's ``AgentConfig`` (defaults when none was saved)."""

    def __init__(self, *, db: Database) -> None:
        self.db = db

    def get(self, workspace: str) -> AgentConfig:
        with self.db.session() as s:
            row = s.get(AgentConfigRow, workspace)
            if row is None:
                return AgentConfig()
            # public_channels (saved before issue 19) no longer decides anything: agent.access does
            return AgentConfig.model_validate({k: v for k, v in row.config.items() if k != "public_channels"})

    def put(self, workspace: str, config: AgentConfig) -> AgentConfig:
        with self.db.session() as s:
            insert_ignore(s, WorkspaceRow.__table__, id=workspace, name=workspace, created_at=utcnow())
            row = s.get(AgentConfigRow, workspace)
            data = config.model_dump(mode="json")
            if row is None:
                s.add(AgentConfigRow(workspace=workspace, config=data))
            else:
                row.config = data
        return config


HUMAN_PHRASES = (
    "I want to talk to a person",
    "can I speak to a human",
    "connect me with a real person",
    "transfer me to a customer service agent",
    "I need to talk to someone from your support team",
    "let me chat with a live agent",
    "get me a representative",
    "is there a human I can talk to",
    "put me through to an operator",
    "I want a real human, not a bot",
)
_PERSON = (
    r"(?:humans?|persons?|people|agents?|representatives?|reps?|someone|somebody|operators?|staff|managers?"
    r"|supervisors?|team)"
)
_PERSON_WORD = re.compile(rf"\b{_PERSON}\b", re.IGNORECASE)
_REQUEST = re.compile(
    r"\b(?:talk|speak|chat|connect|transfer|put me through|call me|escalate|reach|want|need|get me)\b", re.IGNORECASE
)
_NEGATION = re.compile(
    r"\b(?:no|not|never|without|don't|dont|do not|doesn't|needn't|no need|rather than|instead of)\b|n't\b",
    re.IGNORECASE,
)
_INSULTS = re.compile(
    r"\b(?:useless|stupid|idiot\w*|garbage|rubbish|pathetic|incompetent|ridiculous|joke|scam\w*|worst|crap\w*|"
    r"terrible|awful|hopeless|dumb|clowns?|waste of time|fed up|sick of|shit\w*|damn\w*|wtf)\b",
    re.IGNORECASE,
)
_UPPER_WORD = re.compile(r"\b[A-Z]{3,}\b")
_WORD = re.compile(r"\b[A-Za-z]{3,}\b")


class Triggers:
    """Evaluates the handoff triggers and topic gates for one message.

    Args:
        cache: phrase vectors from the retrieval model.
        settings: thresholds.
    """

    def __init__(self, *, cache: VectorCache, settings: AgentSettings) -> None:
        self.cache = cache
        self.settings = settings
        self._vader = SentimentIntensityAnalyzer()

    # -- topic gate -----------------------------------------------------------------------------
    def topic_gate(self, vectors: np.ndarray, config: AgentConfig) -> TriggerResult | None:
        """A fired result when the message is about a skipped topic or none of the reply topics."""
        threshold = self.settings.topic_threshold
        skipped, score = self._best(vectors, config.skip_topics)
        if skipped and score >= threshold:
            return TriggerResult(
                name="topic_skip", enabled=True, score=score, threshold=threshold, fired=True, detail={"topic": skipped}
            )
        if config.reply_topics:
            allowed, score = self._best(vectors, config.reply_topics)
            return TriggerResult(
                name="topic_allow",
                enabled=True,
                score=score,
                threshold=threshold,
                fired=score < threshold,
                detail={"topic": allowed},
            )
        return None

    def _best(self, vectors: np.ndarray, entries: Sequence[str]) -> tuple[str | None, float]:
        """The entry whose best variant (``;``-separated phrasings) is most similar, and its score."""
        variants, owners = [], []
        for entry in entries:
            for variant in (v.strip() for v in entry.split(";")):
                if variant:
                    variants.append(variant)
                    owners.append(entry)
        found = self.cache.best_of_many(vectors, variants)
        if found is None:
            return None, 0.0
        return owners[variants.index(found[1].phrase)], round(_unit(found[1].score), 4)

    # -- triggers -------------------------------------------------------------------------------
    def human_request(self, parts: Sequence[str], vectors: np.ndarray, enabled: bool) -> TriggerResult:
        """``parts``/``vectors``: the message's clauses and their vectors (same order)."""
        threshold = self.settings.human_request_threshold
        best, best_part, negated = 0.0, None, []
        sims = vectors @ self.cache.vectors(HUMAN_PHRASES).T if len(parts) else np.zeros((0, 1))
        for i, part in enumerate(parts):
            person = _PERSON_WORD.search(part)
            score = float(sims[i].max()) if len(sims) else 0.0
            if person and _REQUEST.search(part):
                score = max(score, 0.75)
            if person and _NEGATION.search(part[: person.start()]):
                negated.append(part)
                continue
            if score > best:
                best, best_part = score, part
        best = _unit(best)
        return TriggerResult(
            name="human_request",
            enabled=enabled,
            score=round(best, 4),
            threshold=threshold,
            fired=enabled and best >= threshold,
            detail={"clause": best_part, "negated_clauses": len(negated)},
        )

    def sentiment(self, text: str) -> Sentiment:
        compound = float(self._vader.polarity_scores(text)["compound"])
        label = "negative" if compound <= -0.05 else "positive" if compound >= 0.05 else "neutral"
        return Sentiment(label=label, compound=round(compound, 4))

    def frustration(
        self, text: str, vector: np.ndarray, previous: np.ndarray | None, enabled: bool
    ) -> tuple[TriggerResult, Sentiment]:
        """``previous``: vectors of the customer's earlier messages in the session (or None)."""
        sentiment = self.sentiment(text)
        negative = max(0.0, -sentiment.compound)
        words = [w for w in _WORD.findall(text) if w not in _PLACEHOLDERS]
        upper = [w for w in _UPPER_WORD.findall(text) if w not in _PLACEHOLDERS]
        shouting = 1.0 if len(upper) >= 2 and len(upper) >= 0.5 * max(1, len(words)) else 0.0
        if "!!" in text or "?!" in text:
            shouting = max(shouting, 0.5)
        insults = min(1.0, 0.6 * len(_INSULTS.findall(text)))
        repeated = 0.0
        if previous is not None and len(previous):
            repeated = 1.0 if float(np.max(previous @ vector)) >= 0.88 else 0.0
        score = min(1.0, 0.55 * negative + 0.25 * shouting + 0.35 * insults + 0.35 * repeated)
        threshold = self.settings.frustration_threshold
        result = TriggerResult(
            name="frustration",
            enabled=enabled,
            score=round(score, 4),
            threshold=threshold,
            fired=enabled and score >= threshold,
            detail={"sentiment": sentiment.compound, "shouting": shouting, "insults": insults, "repeated": repeated},
        )
        return result, sentiment

    def prohibited(self, vectors: np.ndarray, topics: Sequence[str], enabled: bool) -> TriggerResult:
        threshold = self.settings.prohibited_threshold
        topic, score = self._best(vectors, topics)
        return TriggerResult(
            name="prohibited_topic",
            enabled=enabled and bool(topics),
            score=score,
            threshold=threshold,
            fired=enabled and score >= threshold,
            detail={"topic": topic},
        )


_PLACEHOLDERS = {"EMAIL", "PHONE", "CARD", "IBAN", "NATIONAL_ID"}


def _unit(value: float) -> float:
    return float(min(1.0, max(0.0, value)))
