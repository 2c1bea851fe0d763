"""The bundled evaluation's wall time (issue 10: under 5 minutes on the reference machine).

Ingests the sample knowledge into a fresh home (as ``knowdesk quickstart``; the sample actions are
imported and their sample API served as ``knowdesk eval bundled`` does), then times the whole
bundled evaluation (every case through the real agent, retrieval alone, metrics and the three
reports) with as many threads as cores. Baseline in the same run: retrieval alone for every case's
last message, one query after the other; the ratio says how much the agent and metrics add.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from bench.common import save, timer

BUDGET_SECONDS = 300.0


def main() -> None:
    from app.evaluation import run_evaluation
    from app.runtime import Runtime
    from core.errors import NotFound
    from core.settings import Settings
    from evaluation.datasets import bundled_dataset_path, load_dataset
    from evaluation.runner import CONTENT
    from service.quickstart import import_samples, install_sample_actions, running_sample_api, sample_sources

    with tempfile.TemporaryDirectory(prefix="knowdesk-bench-eval-") as tmp:
        rt = Runtime(Settings(home=Path(tmp) / "home"))
        with timer() as setup:
            import_samples(rt, "default")
            for source in sample_sources("default"):
                try:
                    source = rt.sources.get("default", source.name)
                except NotFound:
                    source = rt.sources.add(source)
                rt.sync(source)
            install_sample_actions(rt, "default")  # embedded here, so the timed run's re-import is a no-op
        dataset = load_dataset(bundled_dataset_path())
        rt.retrieve("warm up the model", workspace="default")
        with timer() as baseline:
            for case in dataset.cases:
                rt.retrieve(case.last, workspace="default", filters=CONTENT, top_k=10, per_document=1)
        with running_sample_api(rt, "default"), timer() as full:  # as `knowdesk eval bundled`: the action cases
            report = run_evaluation(rt, dataset, report_dir=Path(tmp) / "report")
        result = {
            "cases": len(dataset.cases),
            "workers": os.cpu_count(),
            "setup_seconds": round(setup(), 1),
            "retrieval_only_seconds": round(baseline(), 2),
            "evaluation_seconds": round(full(), 1),
            "seconds_per_case": round(full() / len(dataset.cases), 3),
            "ratio_to_retrieval_only": round(full() / baseline(), 1),
            "budget_seconds": BUDGET_SECONDS,
            "within_budget": full() < BUDGET_SECONDS,
            "latency_p50_ms": report["metrics"]["latency.p50_ms"],
            "latency_p95_ms": report["metrics"]["latency.p95_ms"],
        }
    print(result)
    print(f"results: {save('evaluation', result)}")


if __name__ == "__main__":
    main()
