"""Decision latency of the answering agent with no LLM, over the sample knowledge.

Ingests the sample help center and files into a scratch home, then sends a few hundred messages
(questions built from every article title, the demo questions, paraphrases of human requests,
frustrated and out-of-scope messages), each in a new session, through ``Agent.handle`` with the
model loaded once. Reports p50/p95 per pass (the first pass fills the sentence-vector cache, the
second is warm), the mean of each step from the decisions' trace timings (what dominates), and
the ratio to a bare hybrid retrieval of the same messages measured in the same run.

Run: ``python -m bench.run agent`` (results in bench/results/agent.json).
"""

from __future__ import annotations

import json
import statistics
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from bench.common import SAMPLES, percentiles, save

FIXED = [
    "I want to talk to a person",
    "Can I speak with someone from your team?",
    "No need for a human, just tell me how to skip a delivery",
    "This is RIDICULOUS!!! I asked THREE TIMES and your service is USELESS.",
    "What is the capital of France?",
    "How do I bake a chocolate cake?",
    "Who won the football world cup in 2014?",
    "My email is jane.doe@example.com and my card 4111 1111 1111 1111 was charged twice",
    "Wie kann ich eine Lieferung überspringen?",
    "help",
]
TEMPLATES = [
    "How do I {t}?",
    "{t}",
    "Can you help me with this: {t}",
    "I have a question about {t}.",
    "Where can I read about {t}?",
    "Quick question - {t}",
]


def messages() -> list[str]:
    articles = json.loads((SAMPLES / "helpcenter.json").read_text(encoding="utf-8"))["articles"]
    titles = [a["title"].lower() for a in articles if a.get("status", "published") == "published"]
    demo = [q["q"] for q in json.loads((SAMPLES / "questions.json").read_text(encoding="utf-8"))["questions"]]
    out = [template.format(t=t) for template in TEMPLATES for t in titles]
    return out + demo * 5 + FIXED * 5


def main() -> None:
    from agent.build import build_agent
    from app.runtime import Runtime
    from core.models import Source, SourceKind
    from core.settings import Settings
    from retrieval.search import SearchFilters

    with tempfile.TemporaryDirectory() as home:
        rt = Runtime(Settings(home=Path(home)))
        for source in (
            Source(
                workspace="default",
                name="help-center",
                kind=SourceKind.HELPCENTER_EXPORT,
                options={"path": str(SAMPLES / "helpcenter.json"), "base_url": "https://help.brewly.example"},
            ),
            Source(workspace="default", name="files", kind=SourceKind.FOLDER, options={"path": str(SAMPLES / "files")}),
        ):
            rt.sync(rt.sources.add(source))
        agent = build_agent(db=rt.db, retriever=rt.searcher, embedder=rt.embedder, settings=rt.settings.agent)
        batch = messages()
        content = SearchFilters(kind=["article", "page", "file"])
        rt.retrieve("warm up", workspace="default", top_k=6, filters=content)
        agent.handle("default", agent.store.create("default", channel="web").id, "warm up the model")

        baseline = []
        for m in batch:
            start = time.perf_counter()
            rt.retrieve(m, workspace="default", top_k=6, filters=content)
            baseline.append((time.perf_counter() - start) * 1000)

        passes: dict[str, Any] = {}
        for name in ("cold", "warm"):
            latencies: list[float] = []
            steps: dict[str, list[float]] = defaultdict(list)
            actions: Counter[str] = Counter()
            for m in batch:
                session = agent.store.create("default", channel="web")
                start = time.perf_counter()
                decision = agent.handle("default", session.id, m)
                latencies.append((time.perf_counter() - start) * 1000)
                actions[decision.action.value] += 1
                for step, ms in decision.trace.timings.items():
                    steps[step].append(ms)
                steps["store_and_other_ms"].append(latencies[-1] - sum(decision.trace.timings.values()))
            total = sum(latencies)
            passes[name] = {
                "latency_ms": {k: round(v, 1) for k, v in percentiles(latencies).items()},
                "steps_mean_ms": {k: round(statistics.fmean(v) * len(v) / len(batch), 2) for k, v in steps.items()},
                "steps_share": {k: round(sum(v) / total, 3) for k, v in steps.items()},
                "actions": dict(actions),
            }
        base = percentiles(baseline)
        result = {
            "messages": len(batch),
            "retrieval_baseline_ms": {k: round(v, 1) for k, v in base.items()},
            "passes": passes,
            # New messages (cold) against a bare hybrid retrieval of the same messages, measured in this run.
            "cold_over_retrieval": {
                k: round(passes["cold"]["latency_ms"][k] / base[k], 2) for k in ("p50", "p95", "mean")
            },
        }
        print(json.dumps(result, indent=2))
        print(f"saved {save('agent', result)}")


if __name__ == "__main__":
    main()
