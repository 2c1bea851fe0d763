"""Confidence: a weighted mean of signals in [0, 1], with weights and thresholds in settings.

Signals (all in [0, 1]):

- ``retrieval``: the best dense (cosine) similarity of question and chunk, mapped linearly from
  ``retrieval_floor`` (0) to ``retrieval_ceiling`` (1);
- ``margin``: how clearly the best document beats the next one (0.15 cosine apart = 1);
- ``coverage``: the share of the question's content terms found in the retrieved text;
- ``support``: the share of the reply the cited text supports (1.0 for an extractive answer);
- ``scenario``: a matched scenario's similarity, which replaces the others when it answers.

``evidence_signals`` adds what the cited document itself holds of the question (see there).

``combine`` gives the raw confidence (a weighted mean, kept in the decision's signals as
``raw_confidence``). ``Calibrator`` turns the signals into the calibrated confidence the agent decides
on: a logistic regression over the fitted file's features (Platt scaling with one weight per signal,
any of ``SIGNALS``), optionally followed by a monotone (isotonic) map of its probability, fitted by
``evaluation/fit_confidence.py`` on the fit parts of the answer-correctness sets and kept in
``agent/fitted/confidence.json`` (fitted with the second ranking stage off) and
``confidence-late.json`` (with it on; the default whenever it re-ranks), each with the answer
threshold chosen there for a target precision.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.errors import ConfigError
from core.models import Hit
from core.settings import AgentSettings

MARGIN_SCALE = 0.15
FITTED = Path(__file__).parent / "fitted" / "confidence.json"
#: The calibration fitted on runs with the second ranking stage on (``KNOWDESK_SEARCH__RERANK=late``):
#: the default whenever the stage re-ranks, ``FITTED`` when it does not (``calibration_for``).
FITTED_LATE = FITTED.with_name("confidence-late.json")
#: The calibrator's inputs: the four signals above, the best quoted unit's match with the question
#: (``answer_match``, the extractive answerer's score) and the best dense cosine before the
#: floor/ceiling mapping (``top_cosine``, which keeps apart what ``retrieval`` clips to 1).
FEATURES = ("retrieval", "margin", "coverage", "support", "answer_match", "top_cosine")
#: The cited document's own evidence (``evidence_signals``), recorded on every answer-path decision.
EVIDENCE = ("cited_coverage", "rare_support", "reply_coverage", "lead", "dense_agrees", "cited_top")
#: Whether the cited document is in the customer's language (``language_signal``): the bundled MiniLM is
#: English-only, so an answer to a German question from an English article (or from another language's
#: neighbour) is right less often than its similarity signals say.
#: ``english_question`` (``english_signal``): whether the question is in English at all, which the similarity
#: signals of the English-only model also overrate otherwise, even when the cited article is in its language.
LANGUAGE = ("same_language", "english_question")
#: Every signal a fitted calibration may weigh.
SIGNALS = FEATURES + EVIDENCE + LANGUAGE


@dataclass(frozen=True, slots=True)
class Signals:
    retrieval: float
    margin: float
    coverage: float
    support: float

    def as_dict(self) -> dict[str, float]:
        return {
            k: round(v, 4)
            for k, v in (
                ("retrieval", self.retrieval),
                ("margin", self.margin),
                ("coverage", self.coverage),
                ("support", self.support),
            )
        }


def retrieval_signals(hits: Sequence[Hit], settings: AgentSettings) -> tuple[float, float]:
    """(retrieval, margin) from the hits' dense scores."""
    best_by_doc: dict[str, float] = {}
    for hit in hits:
        dense = hit.dense_score if hit.dense_score is not None else 0.0
        best_by_doc[hit.document_id] = max(best_by_doc.get(hit.document_id, -1.0), dense)
    ranked = sorted(best_by_doc.values(), reverse=True)
    if not ranked:
        return 0.0, 0.0
    span = max(1e-6, settings.retrieval_ceiling - settings.retrieval_floor)
    retrieval = _unit((ranked[0] - settings.retrieval_floor) / span)
    margin = _unit((ranked[0] - ranked[1]) / MARGIN_SCALE) if len(ranked) > 1 else 1.0
    return retrieval, margin


def evidence_signals(question: str, hits: Sequence[Hit], cited: Sequence[str], reply: str) -> dict[str, float]:
    """Signals of whether the cited document, not a neighbour of it, answers ``question`` (all in [0, 1]).

    A neighbouring article (the plan page for a plan change, the shop page for a gift card) scores
    high on similarity; what sets the right one apart is that it holds the question's own terms:

    - ``cited_coverage``: the share of the question's content terms in the cited document's retrieved
      chunks (title, section and text);
    - ``rare_support``: the same share weighted by each term's rarity among the retrieved documents
      (a term every retrieved document holds says little; one only the cited document holds, much;
      a term none holds counts fully against it);
    - ``reply_coverage``: the share of the question's terms in the reply and the cited titles;
    - ``lead``: how far the top document's fused score leads the next distinct document's, relative
      to its own (1 when only one document was retrieved);
    - ``dense_agrees``: 1 when the dense ranking and the fused ranking put the same document first;
    - ``cited_top``: 1 when the cited document is the fused ranking's first.
    """
    from .answering import terms

    wanted = terms(question)
    by_doc: dict[str, set[str]] = {}
    fused: dict[str, float] = {}
    dense: dict[str, float] = {}
    titles: dict[str, str] = {}
    for hit in hits:
        by_doc.setdefault(hit.document_id, set()).update(terms(f"{hit.title} {' '.join(hit.section)} {hit.text}"))
        fused[hit.document_id] = max(fused.get(hit.document_id, float("-inf")), hit.score)
        dense[hit.document_id] = max(dense.get(hit.document_id, -1.0), hit.dense_score or 0.0)
        titles.setdefault(hit.document_id, hit.title)
    if not wanted or not by_doc:
        return dict.fromkeys(EVIDENCE, 0.0)
    held: set[str] = set().union(*(by_doc.get(d, set()) for d in cited))
    n = len(by_doc)
    weight = {t: math.log((n + 1) / (sum(t in seen for seen in by_doc.values()) + 0.5)) for t in wanted}
    ranked = sorted(fused.values(), reverse=True)
    top = max(fused, key=lambda d: fused[d])
    lead = 1.0 if len(ranked) < 2 else (ranked[0] - ranked[1]) / ranked[0] if ranked[0] > 0 else 0.0
    said = terms(" ".join([reply, *(titles.get(d, "") for d in cited)]))
    values = {
        "cited_coverage": len(wanted & held) / len(wanted),
        "rare_support": sum(weight[t] for t in wanted & held) / max(1e-9, sum(weight.values())),
        "reply_coverage": len(wanted & said) / len(wanted),
        "lead": lead,
        "dense_agrees": float(max(dense, key=lambda d: dense[d]) == top),
        "cited_top": float(top in cited),
    }
    return {k: round(_unit(v), 4) for k, v in values.items()}


def language_signal(customer: str | None, cited: Sequence[str | None]) -> dict[str, float]:
    """``same_language``: 1 when a cited document is in the customer's language, or when either language is
    unknown (nothing says they differ); 0 when every cited document's known language differs from it, or
    nothing is cited. Languages compare by their primary subtag (``pt-BR`` is ``pt``)."""
    if not cited:
        return {"same_language": 0.0}
    known = {c.split("-")[0].lower() for c in cited if c}
    if not customer or not known:
        return {"same_language": 1.0}
    return {"same_language": float(customer.split("-")[0].lower() in known)}


def english_signal(customer: str | None) -> dict[str, float]:
    """``english_question``: 1 when the customer's detected language is English or undetected, else 0
    (languages compare by their primary subtag)."""
    return {"english_question": float(not customer or customer.split("-")[0].lower() == "en")}


def combine(signals: Signals, settings: AgentSettings) -> float:
    """The weighted mean of the signals, in [0, 1]."""
    weights = (settings.weight_retrieval, settings.weight_margin, settings.weight_coverage, settings.weight_support)
    values = (signals.retrieval, signals.margin, signals.coverage, signals.support)
    total = sum(weights)
    if total <= 0:
        return 0.0
    return round(_unit(sum(w * v for w, v in zip(weights, values, strict=True)) / total), 4)


@dataclass(frozen=True, slots=True)
class Calibrator:
    """P(the answer is correct and grounded | signals): ``sigmoid(weights . signals + bias)``.

    ``answer_threshold`` and ``target_precision`` record the threshold chosen at fitting (the
    settings' default ``agent.answer_threshold`` is that value; a test keeps the two equal).
    """

    weights: tuple[float, ...]
    bias: float
    answer_threshold: float
    target_precision: float
    model: str = ""
    #: From here up to ``answer_threshold`` the agent asks once instead of handing off.
    clarify_threshold: float = 0.5
    #: The signals the weights apply to, in order (``SIGNALS``, or ``a*b``: the product of two of them).
    features: tuple[str, ...] = FEATURES
    #: A monotone map of the logistic probability: (knots, values), linear between knots, flat
    #: outside them; None when the fit found the logistic probability calibrated enough.
    isotonic: tuple[tuple[float, ...], tuple[float, ...]] | None = None

    @classmethod
    def load(cls, path: Path = FITTED) -> Calibrator | None:
        """The fitted calibrator, or None when the file does not exist (the raw confidence is used).

        Raises:
            ConfigError: the file is not a fitted confidence file.
        """
        if not path.exists():
            return None
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            features = tuple(str(f) for f in data["features"])
            unknown = [f for f in features if not all(part in SIGNALS for part in f.split("*"))]
            if unknown or len(features) != len(data["weights"]):
                raise ValueError(f"features {list(features)} are not {len(data['weights'])} of {list(SIGNALS)}")
            isotonic = None
            if data.get("isotonic") is not None:
                knots = tuple(float(v) for v in data["isotonic"]["knots"])
                values = tuple(float(v) for v in data["isotonic"]["values"])
                if len(knots) != len(values) or len(knots) < 2 or list(knots) != sorted(knots) \
                        or list(values) != sorted(values) or not all(0.0 <= v <= 1.0 for v in values):
                    raise ValueError("isotonic knots and values must be two rising lists of equal length")
                isotonic = (knots, values)
            return cls(weights=tuple(float(w) for w in data["weights"]), bias=float(data["bias"]),
                       answer_threshold=float(data["answer_threshold"]),
                       target_precision=float(data["target_precision"]), model=str(data["model"]),
                       clarify_threshold=float(data.get("clarify_threshold", min(0.5, data["answer_threshold"]))),
                       features=features, isotonic=isotonic)
        except (ValueError, KeyError, TypeError) as exc:
            raise ConfigError(f"{path} is not a fitted confidence file ({exc}); "
                              "re-run python -m evaluation.fit_confidence") from exc

    def fits(self, model_id: str | None) -> bool:
        """Whether the signals of ``model_id`` (its cosine scale) are those it was fitted on."""
        from .classifier import fitted_for

        return fitted_for(self.model, model_id)

    def __call__(self, signals: Mapping[str, float]) -> float:
        """The calibrated confidence from a decision's signals (``features``; a missing one counts 0)."""
        values = [math.prod(float(signals.get(part, 0.0)) for part in name.split("*")) for name in self.features]
        z = self.bias + sum(w * v for w, v in zip(self.weights, values, strict=True))
        p = 1.0 / (1.0 + math.exp(-z)) if z >= 0 else math.exp(z) / (1.0 + math.exp(z))
        if self.isotonic is not None:
            p = monotone(p, *self.isotonic)
        return round(_unit(p), 4)


def calibration_for(reranked: bool) -> Path:
    """The default fitted calibration: the one fitted with the second ranking stage in the same state
    (its scores and quoted documents differ: a calibration fitted without it is over-confident with it)."""
    return FITTED_LATE if reranked else FITTED


def monotone(x: float, knots: Sequence[float], values: Sequence[float]) -> float:
    """The piecewise-linear map through (knots, values) at ``x``, flat beyond the first and last knot."""
    return float(np.interp(x, knots, values))


def scenario_confidence(similarity: float, threshold: float) -> float:
    """A matched scenario's confidence: its threshold maps to 0.6, a perfect match to 1."""
    if similarity < threshold:
        return round(_unit(similarity * 0.6 / max(threshold, 1e-6)), 4)
    return round(_unit(0.6 + 0.4 * (similarity - threshold) / max(1e-6, 1 - threshold)), 4)


def _unit(value: float) -> float:
    return float(min(1.0, max(0.0, value)))
