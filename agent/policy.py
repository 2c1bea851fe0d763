"""Per-workspace agent policy: autopilot per channel, topic gating and the handoff triggers.

Every trigger has a switch (``AgentConfig``) and a threshold (``AgentSettings``) and returns a
score in [0, 1] that goes into the trace whether it fired or not:

- ``human_request``: per-language request rules (``intents.py``) on the message and each clause,
  and the fitted classifier on the message's vector (``classifier.py``); a clause that negates or
  reports a past contact ("no need for a human", "I talked to an agent") does not count, and such
  a message is not taken from the classifier either.
- ``frustration``: per-language frustration words, VADER's negative sentiment with shouting and a
  repeated question, and the fitted classifier; the highest of them.
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

from .classifier import IntentModel
from .decision import Sentiment, TriggerResult
from .intents import frustration_score, human_rule, is_guarded, shouting
from .language import detect_language
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


_WORD = re.compile(r"\b[A-Za-z]{3,}\b")
_UPPER_WORD = re.compile(r"\b[A-Z]{3,}\b")


class Triggers:
    """Evaluates the handoff triggers and topic gates for one message.

    Args:
        cache: phrase vectors from the retrieval model.
        settings: thresholds.
    """

    def __init__(self, *, cache: VectorCache, settings: AgentSettings, model: IntentModel | None = None) -> None:
        self.cache = cache
        self.settings = settings
        self._vader = SentimentIntensityAnalyzer()
        model_id = getattr(cache.embedder, "model_id", None)
        if model is None:
            model = IntentModel.load_for(model_id)
        # the fitted weights mean something only for the embedding model they were fitted on
        fits = model.fits(model_id)
        self.model = model if fits else IntentModel(reasons={}, model="")

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
    RULE_SCORE = 0.95

    def human_request(self, text: str, parts: Sequence[str], vector: np.ndarray, enabled: bool) -> TriggerResult:
        """``parts``: the message's clauses; ``vector``: the whole message's vector."""
        threshold = self.settings.human_request_threshold
        guarded = [p for p in (text, *parts) if is_guarded(p)]
        rule_hit, clause = None, None
        for candidate in dict.fromkeys((text, *parts)):
            hit = human_rule(candidate)
            if hit.language is not None:
                rule_hit, clause = hit, candidate
                break
        score = self.RULE_SCORE if rule_hit is not None else 0.0
        detail: dict[str, object] = {
            "clause": clause,
            "negated_clauses": len([p for p in guarded if p != text or not parts]),
            "rule": rule_hit.matched if rule_hit else None,
            "rule_language": rule_hit.language if rule_hit else None,
        }
        learned = self._learned("human_requested", text, vector, threshold)
        if learned is not None:
            detail["model_probability"], model_score = learned
            if not guarded:
                score = max(score, model_score)
        return TriggerResult(
            name="human_request",
            enabled=enabled,
            score=round(score, 4),
            threshold=threshold,
            fired=enabled and score >= threshold,
            detail=detail,
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
        shout = 1.0 if len(upper) >= 2 and len(upper) >= 0.5 * max(1, len(words)) else 0.0
        if "!!" in text or "?!" in text:
            shout = max(shout, 0.5)
        repeated = 0.0
        if previous is not None and len(previous):
            repeated = 1.0 if float(np.max(self.cache.scale(previous @ vector))) >= 0.88 else 0.0
        words_score, hit = frustration_score(text)
        signals = min(1.0, 0.55 * negative + 0.25 * shout + 0.35 * repeated)
        score = max(words_score, signals)
        threshold = self.settings.frustration_threshold
        detail: dict[str, object] = {
            "sentiment": sentiment.compound,
            "shouting": max(shout, shouting(text)),
            "insults": words_score,
            "repeated": repeated,
            "rule": hit.matched,
            "rule_language": hit.language,
        }
        learned = self._learned("frustration", text, vector, threshold)
        if learned is not None:
            detail["model_probability"], model_score = learned
            score = max(score, model_score)
        result = TriggerResult(
            name="frustration",
            enabled=enabled,
            score=round(min(1.0, score), 4),
            threshold=threshold,
            fired=enabled and score >= threshold,
            detail=detail,
        )
        return result, sentiment

    def _learned(self, reason: str, text: str, vector: np.ndarray, threshold: float) -> tuple[float, float] | None:
        """The classifier's (probability, score), only for text in a language its model reads: MiniLM
        is English-only, and its vectors of other languages put unrelated questions near requests
        ("Comment supprimer mon compte ?"); a multilingual model's classifiers read every language."""
        if not self.model.reads(detect_language(text)):
            return None
        return self.model.score(reason, vector, trigger_threshold=threshold)

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
