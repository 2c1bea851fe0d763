"""Helpers shared by the benchmarks: timing, percentiles, results on disk, a sample corpus."""

from __future__ import annotations

import json
import os
import platform
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).with_name("results")
SAMPLES = Path(__file__).resolve().parent.parent / "service" / "samples"

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("DO_NOT_TRACK", "true")
os.environ.setdefault("UNSTRUCTURED_DISABLE_NOTICE", "1")


def machine() -> dict[str, Any]:
    mem = 0
    try:
        with open("/proc/meminfo") as f:
            mem = int(f.readline().split()[1]) // 1024
    except OSError:
        pass
    return {"cpus": os.cpu_count(), "memory_mib": mem, "python": platform.python_version(),
            "processor": platform.processor() or platform.machine()}


@contextmanager
def timer() -> Iterator[Callable[[], float]]:
    start = time.perf_counter()
    end: list[float] = []
    yield lambda: (end[0] if end else time.perf_counter()) - start
    end.append(time.perf_counter())


def percentiles(samples: list[float]) -> dict[str, float]:
    s = sorted(samples)

    def q(p: float) -> float:
        return s[min(len(s) - 1, round(p * (len(s) - 1)))]

    return {"p50": q(0.5), "p95": q(0.95), "mean": statistics.fmean(s), "n": len(s)}


def save(name: str, result: dict[str, Any]) -> Path:
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(result | {"machine": machine()}, indent=2), encoding="utf-8")
    return path


def write_corpus(root: Path, copies: int) -> int:
    """The sample help center's articles (every language), ``copies`` times, as Markdown files."""
    articles = json.loads((SAMPLES / "helpcenter.json").read_text(encoding="utf-8"))["articles"]
    root.mkdir(parents=True, exist_ok=True)
    n = 0
    for c in range(copies):
        for a in articles:
            for v in (a, *a.get("translations", [])):
                lang = v.get("locale", "en")
                path = root / f"copy{c:03}" / f"{a['id']}.{lang}.md"
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(f"# {v['title']} ({c})\n\n{v['body']}\n", encoding="utf-8")
                n += 1
    return n
