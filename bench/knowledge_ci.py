"""Knowledge CI benchmark (issue 20, item 3): how long until the diff of a help-center edit is ready,
for a 200-case dataset, against a full replay of the same dataset measured in the same run.

World: the quickstart's knowledge (sample help center, training and files) indexed with the real
model. Dataset: the bundled ``brewly-v1`` (140 cases) and the first 61 cases of ``answerability-v1``
(questions on the same knowledge), 200 cases. Steps:

1. ``full``: every case played on an unchanged copy of the live index (a review without a kept baseline;
   what replaying the whole dataset for every change would cost);
2. ``review``: a planted edit (``PLANTED``) and a harmless one published through the gate with a
   warm baseline: stage, find the reachable cases, replay them, diff;
3. ``review_all``: the same edits reviewed with ``replay="all"``; the held decision and the
   changed answers must be the same as with ``affected`` (the reach shortcut loses nothing);
4. ``training``: a planted edit of a scenario's answer (``TRAINING``) published through the
   training gate, with each replay mode.

Held edits are rejected, so every step starts from the same published content. Prints the ratio
``review / full`` and the machine's load. Run: ``python -m bench.knowledge_ci [--home DIR]``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from app.knowledge_ci.hooks import wire_helpcenter, wire_training
from app.knowledge_ci.replay import live_stamp
from app.knowledge_ci.service import KnowledgeCI
from app.runtime import Runtime
from bench.common import save
from core.settings import KnowledgeCISettings, Settings
from evaluation.datasets import Dataset, bundled_dataset_path, load_dataset
from evaluation.results import CaseResult
from helpcenter.models import Status, TranslationInput

WORKSPACE = "default"
DATASETS = Path(__file__).resolve().parent.parent / "evaluation" / "datasets"
#: (article, text in its English body, the planted replacement, the dataset case it breaks)
PLANTED = [
    ("skip-a-delivery", "Skip this box", "Hide this box", "skip-next-box"),
    ("pause-subscription", "Resume now", "Restart plan", "pause-resume-early"),
    ("cancel-subscription", "no cancellation fee", "a cancellation fee of €10", "cancel-fee"),
    # (choose-a-plan, "€27.80" -> "€31.50", plans-daily-price) left the set: at the calibrated answer threshold
    # (0.60) that question is asked about, not answered, so no edit can break its answer
    ("login-problems", "15 minutes", "2 hours", "locked-account"),
    ("reset-password", "60 minutes", "24 hours", "reset-link-valid"),
    ("track-your-order", "Track parcel", "Follow shipment", "track-order"),
    ("refund-processing-times", "1 to 2", "10 to 12", "refund-time-paypal"),
    ("mill-overview-and-specs", "189", "249", "mill-price"),
    ("connect-mill-to-wifi", "Link button", "Power button", "mill-wifi-reset"),
    ("mill-cleaning-and-maintenance", "4 weeks", "6 months", "mill-cleaning-pellets"),
]
HARMLESS = ("how-brewly-works", "Everything is managed on", "Everything (orders, plans, gift cards) is managed on")
#: (training scenario, text in its answer, the planted replacement): breaks ``scenario-discount``
TRAINING = ("discount-request", "Students get 20% off", "Students get 10% off")


def dataset_200(folder: Path) -> Path:
    """brewly-v1 (139 cases) and the first 61 cases of answerability-v1 as one 200-case dataset file."""
    brewly = bundled_dataset_path().read_text(encoding="utf-8").splitlines()
    extra = (DATASETS / "answerability.jsonl").read_text(encoding="utf-8").splitlines()[1:62]
    header = json.loads(brewly[0]) | {"name": "kci-bench-200"}
    path = folder / "kci-200.jsonl"
    path.write_text("\n".join([json.dumps(header), *brewly[1:], *extra]) + "\n", encoding="utf-8")
    return path


def edit(rt: Runtime, slug: str, old: str, new: str) -> str | None:
    """Publish ``old`` -> ``new`` in the English body of ``slug``; the held change's id or None."""
    t = rt.helpcenter.store.get(WORKSPACE, slug).translation("en")
    assert t is not None and old in t.body, (slug, old)
    _, report = rt.helpcenter.put_translation(WORKSPACE, slug, TranslationInput(
        locale="en", title=t.title, body=t.body.replace(old, new), status=Status.PUBLISHED))
    return report.pending_change


def review(rt: Runtime, ci: KnowledgeCI, change: tuple[str, str, str], dataset: Dataset,
           baseline: list[CaseResult]) -> dict[str, Any]:
    wire_helpcenter(ci, rt.helpcenter)
    started = time.perf_counter()
    held = edit(rt, *change)
    seconds = time.perf_counter() - started
    latest = ci.list(WORKSPACE, limit=1)[0]
    if held is not None:
        ci.reject(WORKSPACE, held, by="bench")
    else:  # put the harmless edit back (ungated) so the next step starts from the same content
        rt.helpcenter.gate = None
        edit(rt, change[0], change[2], change[1])
        # the same text as before the edit (only its timestamps moved): the baseline answers hold
        ci.baselines.save(WORKSPACE, dataset, live_stamp(rt, WORKSPACE, dataset), baseline)
    return {"article": change[0], "held": held is not None, "seconds": round(seconds, 2),
            "changed": sorted(c.case_id for c in latest.report.changed),
            "broke": sorted(c.case_id for c in latest.report.changed if c.broke),
            "timings": latest.report.timings}


def review_training(rt: Runtime, ci: KnowledgeCI, change: tuple[str, str, str], dataset: Dataset,
                    baseline: list[CaseResult]) -> dict[str, Any]:
    """A planted edit of a scenario's answer published through the gate, then put back."""
    wire_training(ci, rt.training)
    sid, old, new = change
    draft = rt.training.store.get(WORKSPACE, sid).draft
    rt.training.update(WORKSPACE, sid, draft.model_copy(update={"answer": draft.answer.replace(old, new)}))
    started = time.perf_counter()
    done = rt.training.publish(WORKSPACE, sid)
    seconds = time.perf_counter() - started
    latest = ci.list(WORKSPACE, limit=1)[0]
    rt.training.gate = None
    if done.pending_change is not None:
        ci.reject(WORKSPACE, done.pending_change, by="bench")
        rt.training.update(WORKSPACE, sid, draft)
    else:
        rt.training.update(WORKSPACE, sid, draft, publish=True)
        ci.baselines.save(WORKSPACE, dataset, live_stamp(rt, WORKSPACE, dataset), baseline)
    return {"scenario": sid, "held": done.pending_change is not None, "seconds": round(seconds, 2),
            "changed": sorted(c.case_id for c in latest.report.changed),
            "broke": sorted(c.case_id for c in latest.report.changed if c.broke),
            "timings": latest.report.timings}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--home", type=Path, help="a KNOWDESK_HOME holding the quickstart knowledge (else a fresh "
                        "temporary one)")
    parser.add_argument("--planted", type=int, default=2, help="planted edits to review")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        home = args.home or Path(tmp) / "home"
        data_path = dataset_200(Path(tmp))
        rt = Runtime(Settings(home=home))
        if not rt.helpcenter.store.articles(WORKSPACE):
            from bench.conflicts import quickstart_knowledge

            quickstart_knowledge(rt, WORKSPACE)
        dataset: Dataset = load_dataset(data_path)
        settings = KnowledgeCISettings(dataset=str(data_path))
        affected, every = KnowledgeCI(rt, settings=settings), KnowledgeCI(rt, settings=settings, replay="all")
        load_before = os.getloadavg()
        started = time.perf_counter()
        results = affected.baseline(WORKSPACE, dataset)  # cold: every case on a copy of the live index
        full = time.perf_counter() - started  # both reviewers share the baseline folder
        changes = [p[:3] for p in PLANTED[:args.planted]] + [HARMLESS]
        fast = [review(rt, affected, c, dataset, results) for c in changes]
        slow = [review(rt, every, c, dataset, results) for c in changes]
        training = [review_training(rt, ci, TRAINING, dataset, results) for ci in (affected, every)]
        same = all((a["held"], a["changed"], a["broke"]) == (b["held"], b["changed"], b["broke"])
                   for a, b in zip(fast, slow, strict=True))
        result = {
            "cases": len(dataset.cases), "full_replay_seconds": round(full, 2),
            "reviews": fast, "reviews_replay_all": slow, "same_decisions_and_diffs": same,
            "review_over_full": [round(r["seconds"] / full, 3) for r in fast],
            "training_reviews": training, "training_over_full": [round(r["seconds"] / full, 3) for r in training],
            "loadavg_before": load_before, "loadavg_after": os.getloadavg(),
        }
    path = save("knowledge_ci", result)
    print(f"{result['cases']} cases: full replay {full:.1f} s; reviews "
          + ", ".join(f"{r['article']} {r['seconds']} s ({'held' if r['held'] else 'passed'})" for r in fast)
          + "; with replay=all " + ", ".join(f"{r['seconds']} s" for r in slow)
          + f"; training edit {training[0]['seconds']} s ({'held' if training[0]['held'] else 'passed'}), "
          + f"replay=all {training[1]['seconds']} s"
          + f"; same decisions and diffs: {same}; load {load_before} -> {result['loadavg_after']}; {path}",
          file=sys.stderr)


if __name__ == "__main__":
    main()
