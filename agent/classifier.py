"""The learned part of the handoff triggers: one logistic regression per reason over the sentence
vector of the whole message (the retrieval model's, L2-normalized).

The coefficients live in ``agent/fitted/intents.json`` (all-MiniLM-L6-v2) or
``agent/fitted/intents-<model id>.json`` (another model, e.g. multilingual-e5-small), written by
``evaluation/fit_intents.py [--model NAME]`` from the fit part of
``evaluation/datasets/handoff_triggers.jsonl``, with each reason's probability threshold chosen
there for precision. A file also says which message languages its model reads (MiniLM: English
only; a multilingual model: every language). A missing file or a different model leaves the rules
alone (``score`` returns None), so a workspace on another embedding model still gets every rule.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.errors import ConfigError

FITTED = Path(__file__).parent / "fitted" / "intents.json"
_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


def fitted_path(model_id: str | None) -> Path:
    """Where the classifiers fitted on ``model_id``'s vectors are kept (MiniLM and its int8 encoder:
    ``intents.json``; any other model: ``intents-<model id>.json``)."""
    from retrieval.embedders import INT8_SUFFIX, is_int8
    from retrieval.embedding import DEFAULT_MODEL_ID

    base = (model_id or DEFAULT_MODEL_ID).strip()
    base = base[: -len(INT8_SUFFIX)] if is_int8(base) else base
    return FITTED if base == DEFAULT_MODEL_ID else FITTED.with_name(f"intents-{_SAFE.sub('_', base)}.json")


def fitted_for(fitted_model: str, model_id: str | None) -> bool:
    """Whether vectors of ``model_id`` are those of ``fitted_model``: the same model, or its int8
    encoder (derived from the same weights, cosine >= 0.98 to them)."""
    if not model_id or not fitted_model:
        return False
    from retrieval.embedders import INT8_SUFFIX, is_int8

    base = model_id.strip()[: -len(INT8_SUFFIX)] if is_int8(model_id) else model_id.strip()
    return base == fitted_model


@dataclass(frozen=True, slots=True)
class ReasonModel:
    """One reason's weights, bias and the probability from which it counts as detected."""

    weights: np.ndarray
    bias: float
    threshold: float

    def probability(self, vector: np.ndarray) -> float:
        z = float(np.dot(self.weights, vector)) + self.bias
        return 1.0 / (1.0 + math.exp(-z)) if z >= 0 else math.exp(z) / (1.0 + math.exp(z))


class IntentModel:
    """The fitted per-reason classifiers for one embedding model.

    Args:
        reasons: reason -> its fitted model. model: the embedding model they were fitted on.
        languages: the message languages the model's vectors are read for (None: every language).
    """

    def __init__(self, *, reasons: dict[str, ReasonModel], model: str,
                 languages: tuple[str, ...] | None = ("en",)) -> None:
        self.reasons, self.model, self.languages = reasons, model, languages

    @classmethod
    def load_for(cls, model_id: str | None) -> IntentModel:
        """The classifiers fitted for ``model_id`` (an empty model when none were fitted)."""
        return cls.load(fitted_path(model_id))

    def reads(self, language: str | None) -> bool:
        """Whether a message detected as ``language`` (None: not detected) is scored by the model."""
        return self.languages is None or language is None or language in self.languages

    @classmethod
    def load(cls, path: Path = FITTED) -> IntentModel:
        """Reads a fitted file; an empty model when the file does not exist.

        Raises:
            ConfigError: the file is not a fitted intents file.
        """
        if not path.exists():
            return cls(reasons={}, model="")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            reasons = {
                name: ReasonModel(
                    weights=np.asarray(entry["weights"], dtype=np.float32),
                    bias=float(entry["bias"]),
                    threshold=float(entry["threshold"]),
                )
                for name, entry in data["reasons"].items()
            }
            languages = data.get("languages", ["en"])
            if languages is not None and not (isinstance(languages, list)
                                              and all(isinstance(x, str) for x in languages)):
                raise TypeError(f"languages must be a list of language codes or null, not {languages!r}")
            return cls(reasons=reasons, model=str(data["model"]),
                       languages=None if languages is None else tuple(languages))
        except (ValueError, KeyError, TypeError) as exc:
            raise ConfigError(f"{path} is not a fitted intents file ({exc}); re-run evaluation/fit_intents.py") from exc

    def fits(self, model_id: str | None) -> bool:
        """Whether vectors of ``model_id`` are the ones fitted on: the same model, or its int8 encoder
        (derived from the same weights, cosine >= 0.98 to them)."""
        return fitted_for(self.model, model_id)

    def score(self, reason: str, vector: np.ndarray, *, trigger_threshold: float) -> tuple[float, float] | None:
        """(probability, score on the trigger's scale) or None without a fitted model of that size.

        The score maps the fitted threshold onto ``trigger_threshold`` (linear on each side), so
        the trigger fires exactly when the probability reaches the threshold chosen at fitting.
        """
        fitted = self.reasons.get(reason)
        if fitted is None or fitted.weights.shape != np.shape(vector):
            return None
        p = fitted.probability(np.asarray(vector, dtype=np.float32))
        t = min(max(fitted.threshold, 1e-6), 1 - 1e-6)
        if p < t:
            scaled = trigger_threshold * p / t
        else:
            scaled = trigger_threshold + (1.0 - trigger_threshold) * (p - t) / (1.0 - t)
        return round(p, 4), round(min(1.0, max(0.0, scaled)), 4)
