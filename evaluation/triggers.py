"""The handoff-trigger dev set (``datasets/handoff_triggers.jsonl``): loading, detection, scoring.

Each message is scored the way the agent scores a first message in a session: its clauses and
vectors, the human-request and frustration triggers, the pleasantry check; the reason recorded is
the highest-priority one that fires (explicit request > frustration). Scores are reported per
reason and per language on one split, with the near-miss false-handoff rate (a near miss handed
off for either reason) and the pleasantries that would become a ticket.

    python -m evaluation.triggers --split test          # the table (markdown) on the test part
    python -m evaluation.triggers --model multilingual-e5-small    # as the agent runs on that model
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterable, Sequence
from pathlib import Path

from pydantic import Field

from agent.courtesy import pleasantry
from agent.meaning import VectorCache, clauses
from agent.policy import Triggers
from core.errors import InvalidInput
from core.models import Frozen
from core.settings import AgentSettings

DATASET = Path(__file__).parent / "datasets" / "handoff_triggers.jsonl"
REASONS = ("human_requested", "frustration")
LANGUAGES = ("en", "de", "es", "fr", "pt")


class TriggerCase(Frozen):
    """One labelled message."""

    text: str
    language: str
    labels: list[str] = Field(min_length=1)
    split: str


class Detected(Frozen):
    """What the triggers made of one message."""

    human_requested: bool
    frustration: bool
    pleasantry: bool
    reason: str | None


class Score(Frozen):
    precision: float | None
    recall: float | None
    tp: int
    fp: int
    fn: int


def load_cases(path: Path = DATASET) -> list[TriggerCase]:
    """The dataset's cases (the header line is skipped)."""
    cases = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        data = json.loads(line)
        if "kind" in data:
            continue
        try:
            cases.append(TriggerCase.model_validate(data))
        except ValueError as exc:
            raise InvalidInput(f"{path}:{n}: not a trigger case ({exc})") from exc
    return cases


def detect(triggers: Triggers, cache: VectorCache, texts: Sequence[str]) -> list[Detected]:
    """Each message through the triggers, as the first message of a session."""
    out = []
    vectors = cache.vectors(list(texts))
    for text, vector in zip(texts, vectors, strict=True):
        parts = clauses(text) or [text]
        human = triggers.human_request(text, parts, vector, True)
        frustration, _ = triggers.frustration(text, vector, None, True)
        reason = "human_requested" if human.fired else "frustration" if frustration.fired else None
        out.append(
            Detected(
                human_requested=human.fired,
                frustration=frustration.fired,
                pleasantry=pleasantry(text) is not None,
                reason=reason,
            )
        )
    return out


def _score(pairs: Iterable[tuple[bool, bool]]) -> Score:
    tp = fp = fn = 0
    for truth, predicted in pairs:
        tp += truth and predicted
        fp += predicted and not truth
        fn += truth and not predicted
    return Score(
        precision=round(tp / (tp + fp), 4) if tp + fp else None,
        recall=round(tp / (tp + fn), 4) if tp + fn else None,
        tp=tp,
        fp=fp,
        fn=fn,
    )


def report(cases: Sequence[TriggerCase], detected: Sequence[Detected]) -> dict[str, object]:
    """Per reason and language: precision/recall of each trigger; near misses and pleasantries."""
    out: dict[str, object] = {"n": len(cases)}
    for reason in REASONS:
        per: dict[str, Score] = {}
        for language in (*LANGUAGES, "all"):
            pairs = [
                (reason in c.labels, bool(getattr(d, reason)))
                for c, d in zip(cases, detected, strict=True)
                if language in ("all", c.language)
            ]
            per[language] = _score(pairs)
        out[reason] = {k: v.model_dump() for k, v in per.items()}
    near = [d for c, d in zip(cases, detected, strict=True) if c.labels == ["near_miss"]]
    polite = [d for c, d in zip(cases, detected, strict=True) if c.labels == ["pleasantry"]]
    others = [d for c, d in zip(cases, detected, strict=True) if "pleasantry" not in c.labels]
    out["near_miss"] = {"n": len(near), "false_handoff_rate": _rate(sum(d.reason is not None for d in near), len(near))}
    out["pleasantry"] = {
        "n": len(polite),
        "recognized": _rate(sum(d.pleasantry and d.reason is None for d in polite), len(polite)),
        "handed_off": _rate(sum(d.reason is not None for d in polite), len(polite)),
        "false_pleasantry": _rate(sum(d.pleasantry for d in others), len(others)),
    }
    return out


def _rate(k: int, n: int) -> float | None:
    return round(k / n, 4) if n else None


def markdown(result: dict[str, object]) -> str:
    """The per-reason, per-language table."""
    lines = ["| reason | " + " | ".join(LANGUAGES) + " | all |", "|---" * (len(LANGUAGES) + 2) + "|"]
    for reason in REASONS:
        per = result[reason]
        assert isinstance(per, dict)
        cells = []
        for language in (*LANGUAGES, "all"):
            s = per[language]
            cells.append(f"{_fmt(s['precision'])}/{_fmt(s['recall'])}")
        lines.append(f"| {reason} P/R | " + " | ".join(cells) + " |")
    lines.append("")
    lines.append(f"near misses handed off: {result['near_miss']}")
    lines.append(f"pleasantries: {result['pleasantry']}")
    return "\n".join(lines)


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", choices=("fit", "test", "all"), default="test")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--model", default=None, help="the embedding model (default: all-MiniLM-L6-v2); its "
                        "fitted classifiers and similarity scale are used as the agent would use them")
    args = parser.parse_args(argv)
    import tempfile

    from core.settings import EmbeddingSettings
    from retrieval.embedders import build_embedder
    from retrieval.embedding import DEFAULT_MODEL_ID

    with tempfile.TemporaryDirectory() as home:
        embedder = build_embedder(args.model or DEFAULT_MODEL_ID, settings=EmbeddingSettings(), home=Path(home))
    cache = VectorCache(embedder=embedder)
    triggers = Triggers(cache=cache, settings=AgentSettings())
    cases = [c for c in load_cases() if args.split in ("all", c.split)]
    result = report(cases, detect(triggers, cache, [c.text for c in cases]))
    print(json.dumps(result, indent=2) if args.json else markdown(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
