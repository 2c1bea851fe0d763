"""Fits the handoff classifiers (``agent/fitted/intents.json``) on the fit part of the trigger set.

One L2-regularised logistic regression per reason (``human_requested``, ``frustration``) over the
bundled model's sentence vector of the whole message; every other label is a negative. Each
reason's probability threshold is chosen on out-of-fold probabilities of the fit part (5 folds):
the lowest threshold at which the trigger as the agent runs it (the rules, or the classifier
outside guarded messages) keeps ``TARGET_PRECISION`` and lets at most ``MAX_NEAR_MISS`` of the near
misses through. The test part is never read here.

    python -m evaluation.fit_intents            # rewrites agent/fitted/intents.json
    python -m evaluation.fit_intents --model multilingual-e5-small --reasons human_requested
        # agent/fitted/intents-<model id>.json; frustration keeps its rules alone under e5 (README)

MiniLM is English-only, so its classifiers are used on English messages only (``languages``:
``["en"]``); a multilingual model's are used on every language (``languages``: null).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold

from agent.classifier import fitted_path
from agent.intents import is_guarded
from agent.meaning import clauses

from .triggers import REASONS, TriggerCase, load_cases

TARGET_PRECISION = {"human_requested": 0.97, "frustration": 0.95}
MAX_NEAR_MISS = 0.02
C = 1.0
FOLDS = 5
SEED = 23


def _model_allowed(reason: str, text: str) -> bool:
    return reason != "human_requested" or not any(is_guarded(t) for t in (text, *clauses(text)))


def out_of_fold(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Each case's probability from a model fitted without its fold."""
    probabilities = np.zeros(len(y))
    for train, held in StratifiedKFold(n_splits=FOLDS, shuffle=True, random_state=SEED).split(x, y):
        model = LogisticRegression(C=C, max_iter=2000).fit(x[train], y[train])
        probabilities[held] = model.predict_proba(x[held])[:, 1]
    return probabilities


def choose_threshold(
    reason: str, cases: Sequence[TriggerCase], probabilities: np.ndarray, *, per_language: bool = False
) -> tuple[float, dict[str, float]]:
    """The lowest threshold meeting the precision target and the near-miss bound (1.0: model unused);
    with ``per_language`` (a multilingual model, whose classifiers read every language) the target
    holds in each language's own predictions too, not only over all of them."""
    truth = np.array([reason in c.labels for c in cases])
    allowed = np.array([_model_allowed(reason, c.text) for c in cases])
    near = np.array([c.labels == ["near_miss"] for c in cases])
    languages = np.array([c.language for c in cases])
    best: tuple[float, dict[str, float]] = (1.0, {})
    for threshold in np.round(np.arange(0.99, 0.04, -0.01), 2):
        predicted = allowed & (probabilities >= threshold)
        tp = int((predicted & truth).sum())
        precision = tp / max(1, int(predicted.sum()))
        if per_language:
            precision = min([precision] + [float((predicted & truth & (languages == lang)).sum())
                                           / int((predicted & (languages == lang)).sum())
                                           for lang in set(languages) if (predicted & (languages == lang)).any()])
        near_rate = float((predicted & near).sum() / max(1, near.sum()))
        if precision >= TARGET_PRECISION[reason] and near_rate <= MAX_NEAR_MISS:
            best = (
                float(threshold),
                {
                    "precision": round(precision, 4),
                    "recall": round(tp / max(1, int(truth.sum())), 4),
                    "near_miss_rate": round(near_rate, 4),
                },
            )
    return best


def fit(cases: Sequence[TriggerCase], vectors: np.ndarray, model_id: str, *,
        multilingual: bool = False, only: Sequence[str] = REASONS) -> dict[str, object]:
    """The fitted file's content; a reason not in ``only`` gets no classifier (its rules alone decide)."""
    reasons: dict[str, object] = {}
    for reason in (r for r in REASONS if r in only):
        y = np.array([reason in c.labels for c in cases], dtype=int)
        threshold, at = choose_threshold(reason, cases, out_of_fold(vectors, y), per_language=multilingual)
        model = LogisticRegression(C=C, max_iter=2000).fit(vectors, y)
        reasons[reason] = {
            "weights": [round(float(w), 6) for w in model.coef_[0]],
            "bias": round(float(model.intercept_[0]), 6),
            "threshold": threshold,
            "fit_out_of_fold": at,
            "positives": int(y.sum()),
        }
    return {
        "model": model_id,
        "languages": None if multilingual else ["en"],
        "dataset": "handoff-triggers-v1 (split fit)",
        "cases": len(cases),
        "c": C,
        "target_precision": TARGET_PRECISION,
        "max_near_miss": MAX_NEAR_MISS,
        "reasons": reasons,
    }


def main(argv: Sequence[str] | None = None) -> int:
    import argparse
    import tempfile

    from core.settings import EmbeddingSettings
    from retrieval.e5 import is_e5
    from retrieval.embedders import build_embedder
    from retrieval.embedding import DEFAULT_MODEL_ID

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=DEFAULT_MODEL_ID,
                        help="the embedding model whose vectors the classifiers read (default: %(default)s)")
    parser.add_argument("--reasons", default=",".join(REASONS),
                        help="the reasons that get a classifier (the others keep their rules alone)")
    args = parser.parse_args(argv)
    only = [r.strip() for r in args.reasons.split(",") if r.strip()]
    unknown = sorted(set(only) - set(REASONS))
    if unknown or not only:
        parser.error(f"--reasons takes some of {', '.join(REASONS)}; got {args.reasons!r}")
    cases = [c for c in load_cases() if c.split == "fit"]
    with tempfile.TemporaryDirectory() as home:  # an int8 encoder would be built here, never kept
        embedder = build_embedder(args.model, settings=EmbeddingSettings(), home=Path(home))
        vectors = np.asarray(embedder.embed_queries([c.text for c in cases]), dtype=np.float64)
    model_id = str(getattr(embedder, "model_id", args.model))
    fitted = fit(cases, vectors, model_id, multilingual=is_e5(args.model), only=only)
    out = fitted_path(model_id)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(fitted, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {out}")
    for reason, entry in fitted["reasons"].items():  # type: ignore[attr-defined]
        print(reason, "threshold", entry["threshold"], entry["fit_out_of_fold"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
