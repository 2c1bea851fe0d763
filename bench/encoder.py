"""fp32 against int8 on the dev sets' chunks: ``python -m bench.encoder [--sets a,b] [--chunks N]``.

For each dev set already ingested by ``python -m bench.retrieval`` (its cached index), reads the
indexed chunks back (the text knowdesk embeds: title, heading path, body), and embeds up to
``--chunks`` of them with the fp32 encoder, the int8 one and the int8 one built without the fusion
step, batch by batch in turn (so all see the same machine load), reporting the cosine of each int8
vector to its fp32 vector and the throughput ratios. Saved to ``bench/results/encoder.json`` with the load average.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import RESULTS, machine
from bench.retrieval import knowdesk
from bench.retrieval.__main__ import CACHE
from bench.retrieval.configs import Config
from bench.retrieval.sets import discover

FP32, INT8 = "all-MiniLM-L6-v2", "all-MiniLM-L6-v2-int8"
ENCODERS = Path.home() / ".cache" / "knowdesk" / "encoders"


def chunk_texts(name: str, cache: Path) -> list[str] | None:
    """The embedded texts of a set's cached fp32 index, or None when it was not ingested yet."""
    dev = next(d for d in discover([name]))
    home = cache / f"{dev.name}-{knowdesk.cache_key(dev, Config(name='knowdesk', ingest_env={}))}"
    if not (home / "bench-sync.json").is_file():
        return None
    with knowdesk.working_copy(home) as copy:
        rt = knowdesk.open_runtime(copy, {})
        try:
            return [u.embed_text for u in knowdesk.indexed_units(rt)]
        finally:
            knowdesk.close(rt)


def compare(texts: list[str], batch: int) -> dict[str, Any]:
    from core.settings import EmbeddingSettings
    from retrieval.embedders import build_embedder
    from retrieval.embedding import resolve_model
    from retrieval.quantized import OnnxEmbedder

    home = Path("unused")
    settings = EmbeddingSettings(encoders_dir=ENCODERS, batch_size=batch)
    fp32 = build_embedder(FP32, settings=settings, home=home)
    int8 = build_embedder(INT8, settings=settings, home=home)
    source, _ = resolve_model(FP32)
    unfused = OnnxEmbedder(source=source, model_id=INT8, cache_root=ENCODERS, batch_size=batch, fuse=False)
    encoders = {"fp32": fp32, "int8": int8, "int8_unfused": unfused}
    out: dict[str, list[np.ndarray]] = {name: [] for name in encoders}
    spent = dict.fromkeys(encoders, 0.0)
    for encoder in encoders.values():
        encoder.embed_documents(texts[:2])
    for start in range(0, len(texts), batch):
        part = texts[start:start + batch]
        for name, encoder in encoders.items():
            began = time.perf_counter()
            out[name].append(encoder.embed_documents(part))
            spent[name] += time.perf_counter() - began
    a, b = np.vstack(out["fp32"]), np.vstack(out["int8"])
    cos = (a * b).sum(axis=1)
    cos_unfused = (a * np.vstack(out["int8_unfused"])).sum(axis=1)
    return {"chunks": len(texts), "cosine_min": round(float(cos.min()), 4),
            "cosine_p1": round(float(np.percentile(cos, 1)), 4), "cosine_mean": round(float(cos.mean()), 4),
            "share_below_0.98": round(float((cos < 0.98).mean()), 4),
            "fp32_chunks_per_s": round(len(texts) / spent["fp32"], 1),
            "int8_chunks_per_s": round(len(texts) / spent["int8"], 1),
            "int8_over_fp32": round(spent["fp32"] / spent["int8"], 2),
            "int8_unfused_chunks_per_s": round(len(texts) / spent["int8_unfused"], 1),
            "int8_unfused_over_fp32": round(spent["fp32"] / spent["int8_unfused"], 2),
            "int8_unfused_cosine_min": round(float(cos_unfused.min()), 4), "loadavg": os.getloadavg()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.encoder", description=__doc__.split("\n\n")[0])
    parser.add_argument("--sets", help="comma-separated set names (default: every set with a cached index)")
    parser.add_argument("--chunks", type=int, default=512, help="the most chunks per set (a fixed sample)")
    parser.add_argument("--batch", type=int, default=32, help="texts per encoder call")
    parser.add_argument("--cache", type=Path, default=CACHE)
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    names = args.sets.split(",") if args.sets else [d.name for d in discover()]
    results: dict[str, Any] = {}
    for name in names:
        texts = chunk_texts(name.strip(), args.cache)
        if texts is None:
            print(f"{name}: no cached index; run `python -m bench.retrieval --sets {name} --check` first")
            continue
        sample = random.Random(0).sample(texts, min(args.chunks, len(texts)))
        results[name] = compare(sample, args.batch)
        print(f"{name}: {results[name]}", flush=True)
    if not results:
        return 1
    path = RESULTS / "encoder.json"
    previous = json.loads(path.read_text(encoding="utf-8")).get("sets", {}) if path.is_file() else {}
    RESULTS.mkdir(exist_ok=True)
    path.write_text(json.dumps({"fp32": FP32, "int8": INT8, "batch": args.batch, "sets": previous | results,
                                "machine": machine()}, indent=2) + "\n", encoding="utf-8")
    print(f"saved {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
