"""Serving under concurrent load: ``python -m bench.load [--model M] [--seconds S] [--requests N]
[--levels 1,8,32] [--home DIR]``.

Sets up the quickstart data (``knowdesk quickstart``) in a scratch KNOWDESK_HOME, measures the raw
encoder (one query at a time, and batches the size of each concurrency level) in this process,
then starts the real server (``knowdesk serve --port 0``: uvicorn on 127.0.0.1, an ephemeral
port) and drives ``POST /v1/retrieve`` and a conversation message (``POST
/v1/sessions/{id}/messages`` in a new session each, the session's creation included) with 1, 8
and 32 concurrent clients, each level bounded by time
and by a request count. Questions are the dev sets' short questions, each asked once per
endpoint while they last (so the query cache does not flatter the figures). Reports throughput,
p50/p95/p99 and errors per level, the ratios the issue asks for, and the load average at each
step; saved to ``bench/results/load.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench.common import RESULTS, machine

SETS = Path(__file__).with_name("retrieval") / "sets"
WORKSPACE = "default"
ENCODERS = Path.home() / ".cache" / "knowdesk" / "encoders"


def questions() -> list[str]:
    """Every dev-set question (short, real customers' phrasings of Debian/PostgreSQL/Git docs)."""
    found: list[str] = []
    for path in sorted(SETS.glob("*/questions.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                found.append(json.loads(line)["question"])
    return list(dict.fromkeys(found))


def _env(home: Path, model: str) -> dict[str, str]:
    env = dict(os.environ, KNOWDESK_HOME=str(home), KNOWDESK_EMBEDDING__MODEL=model, HF_HUB_OFFLINE="1",
               TRANSFORMERS_OFFLINE="1", DO_NOT_TRACK="true")
    env.setdefault("KNOWDESK_EMBEDDING__ENCODERS_DIR", str(ENCODERS))  # an int8 encoder is built once
    return env


def knowdesk(*args: str) -> list[str]:
    return [sys.executable, "-c", "from service.cli import main; main()", *args]


def setup(home: Path, model: str) -> str:
    """Quickstart data in ``home``; returns an API key with read and write scopes."""
    run = subprocess.run(knowdesk("quickstart", "--json"), env=_env(home, model), capture_output=True, text=True,
                         timeout=1800)
    if run.returncode != 0:
        raise SystemExit(f"quickstart failed ({run.returncode}): {run.stderr[-2000:]}")
    from core.db import open_database
    from core.settings import Settings
    from service.keys import KeyStore

    db = open_database(Settings(home=home).resolved_database_url)
    try:
        _, key = KeyStore(db=db).create(WORKSPACE, scopes=["read", "write"], name="bench-load")
    finally:
        db.engine.dispose()
    return key


def raw_encoder(model: str, home: Path, texts: list[str], sizes: list[int], seconds: float) -> dict[str, Any]:
    """Queries per second of the bare encoder: one at a time, and in batches of each size."""
    from core.settings import EmbeddingSettings
    from retrieval.embedders import build_embedder

    embedder = build_embedder(model, settings=EmbeddingSettings(model=model, encoders_dir=ENCODERS), home=home)
    embedder.embed_queries(texts[:8])  # load and warm up
    out: dict[str, Any] = {"model": embedder.model_id}
    for size in [1, *sizes]:
        done, started, at = 0, time.perf_counter(), 0
        while time.perf_counter() - started < seconds and done < 2000:
            batch = [texts[(at + i) % len(texts)] for i in range(size)]
            at += size
            embedder.embed_queries(batch)
            done += size
        out[f"batch_{size}_qps"] = round(done / (time.perf_counter() - started), 1)
    return out


@contextmanager
def server(home: Path, model: str) -> Iterator[str]:
    """``knowdesk serve --port 0`` on 127.0.0.1; yields its url once it announced itself."""
    from service.running import find

    log = tempfile.NamedTemporaryFile(prefix="knowdesk-load-", suffix=".log", delete=False)  # noqa: SIM115
    proc = subprocess.Popen(knowdesk("serve", "--host", "127.0.0.1", "--port", "0"), env=_env(home, model),
                            stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 300
        while (found := find(home)) is None or found.pid != proc.pid:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the server did not start: {Path(log.name).read_text(errors='replace')[-2000:]}")
            time.sleep(0.2)
        yield found.url
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
        os.unlink(log.name)


def drive(call: Callable[[Any, int], None], clients: list[Any], *, seconds: float,
          requests: int) -> dict[str, Any]:
    """``call(client, n)`` from one thread per client until ``seconds`` or ``requests`` are spent."""
    lock = threading.Lock()
    latencies: list[float] = []
    errors: list[str] = []
    issued = [0]
    stop_at = time.perf_counter() + seconds

    def worker(client: Any) -> None:
        while time.perf_counter() < stop_at:
            with lock:
                if issued[0] >= requests:
                    return
                n = issued[0]
                issued[0] += 1
            started = time.perf_counter()
            try:
                call(client, n)
            except Exception as exc:  # counted and reported, the run goes on
                with lock:
                    errors.append(f"{type(exc).__name__}: {exc}"[:200])
                continue
            with lock:
                latencies.append((time.perf_counter() - started) * 1000)

    threads = [threading.Thread(target=worker, args=(c,)) for c in clients]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    ordered = sorted(latencies)

    def q(p: float) -> float:
        return round(ordered[min(len(ordered) - 1, round(p * (len(ordered) - 1)))], 1) if ordered else 0.0

    return {"clients": len(clients), "ok": len(latencies), "errors": len(errors), "error_samples": errors[:3],
            "seconds": round(elapsed, 2), "rps": round(len(latencies) / elapsed, 1) if elapsed else 0.0,
            "p50_ms": q(0.5), "p95_ms": q(0.95), "p99_ms": q(0.99), "loadavg": os.getloadavg()}


def load(url: str, key: str, texts: list[str], levels: list[int], seconds: float, requests: int) -> dict[str, Any]:
    import httpx

    headers = {"Authorization": f"Bearer {key}"}
    out: dict[str, Any] = {"retrieve": {}, "message": {}}
    offset = [0]

    def next_text(n: int) -> str:
        return texts[(offset[0] + n) % len(texts)]

    def retrieve(client: httpx.Client, n: int) -> None:
        answer = client.post("/v1/retrieve", json={"query": next_text(n), "top_k": 5})
        answer.raise_for_status()

    for endpoint, call in (("retrieve", retrieve), ("message", None)):
        for level in levels:
            clients = [httpx.Client(base_url=url, headers=headers, timeout=120) for _ in range(level)]
            try:
                if endpoint == "message":
                    # A new session for every message: a session that was handed off answers later
                    # messages without any work, which would flatter the figures.
                    def message(client: httpx.Client, n: int) -> None:
                        session = client.post("/v1/sessions", json={"channel": "api"}).raise_for_status().json()
                        answer = client.post(f"/v1/sessions/{session['id']}/messages", json={"text": next_text(n)})
                        answer.raise_for_status()

                    call = message
                assert call is not None
                call(clients[0], 0)  # warm-up outside the timings
                result = drive(call, clients, seconds=seconds, requests=requests)
                offset[0] += result["ok"] + result["errors"] + 1
            finally:
                for c in clients:
                    c.close()
            out[endpoint][str(level)] = result
            print(f"{endpoint} x{level}: {result['rps']} req/s, p50 {result['p50_ms']} ms, p95 {result['p95_ms']} "
                  f"ms, p99 {result['p99_ms']} ms, errors {result['errors']}, load {result['loadavg'][0]:.1f}",
                  flush=True)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.load", description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="all-MiniLM-L6-v2", help="KNOWDESK_EMBEDDING__MODEL of the server")
    parser.add_argument("--seconds", type=float, default=8.0, help="the longest each level runs")
    parser.add_argument("--requests", type=int, default=400, help="the most requests of each level")
    parser.add_argument("--levels", default="1,8,32", help="concurrency levels")
    parser.add_argument("--out", default="load", help="results file name under bench/results (no .json)")
    parser.add_argument("--home", type=Path, help="keep the scratch KNOWDESK_HOME here (default: a temp dir)")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    levels = [int(x) for x in args.levels.split(",") if x.strip()]
    if not levels or min(levels) < 1 or max(levels) > 64 or args.seconds <= 0 or args.requests < 1:
        print("levels are 1..64, --seconds > 0, --requests >= 1", file=sys.stderr)
        return 2
    home = args.home or Path(tempfile.mkdtemp(prefix="knowdesk-load-"))
    texts = questions()
    result: dict[str, Any] = {"model": args.model, "levels": levels, "seconds": args.seconds,
                              "requests": args.requests, "questions": len(texts), "loadavg_start": os.getloadavg()}
    try:
        key = setup(home, args.model)
        result["raw_encoder"] = raw_encoder(args.model, home, texts, levels[1:], min(args.seconds, 5.0))
        result["raw_encoder"]["loadavg"] = os.getloadavg()
        print(f"raw encoder: {result['raw_encoder']}", flush=True)
        with server(home, args.model) as url:
            result |= load(url, key, texts, levels, args.seconds, args.requests)
    finally:
        if args.home is None:
            shutil.rmtree(home, ignore_errors=True)
    result["loadavg_end"] = os.getloadavg()
    result["ratios"] = ratios(result, levels)
    print(json.dumps(result["ratios"], indent=2))
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{args.out}.json"
    path.write_text(json.dumps(result | {"machine": machine()}, indent=2) + "\n", encoding="utf-8")
    print(f"saved {path}")
    return 0


def ratios(result: dict[str, Any], levels: list[int]) -> dict[str, Any]:
    """The issue's goals, as measured: retrieve rps at 8 / raw batched rate, p95 / p50, errors at the top level."""
    out: dict[str, Any] = {}
    raw = result["raw_encoder"]
    for level in levels[1:]:
        r = result["retrieve"][str(level)]
        out[f"retrieve_x{level}_over_raw_batch_{level}"] = round(r["rps"] / raw[f"batch_{level}_qps"], 2)
        out[f"retrieve_x{level}_p95_over_p50"] = round(r["p95_ms"] / r["p50_ms"], 2) if r["p50_ms"] else None
    out["retrieve_x1_over_raw_single"] = round(result["retrieve"]["1"]["rps"] / raw["batch_1_qps"], 2)
    top = str(max(levels))
    out[f"errors_at_{top}"] = result["retrieve"][top]["errors"] + result["message"][top]["errors"]
    return out


if __name__ == "__main__":
    raise SystemExit(main())
