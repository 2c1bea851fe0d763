"""Insights benchmark: generated customer messages (``bench.support_messages``, 10,000 by default, over
two weeks, one session each) through ``InsightsService.refresh`` on SQLite with the configured encoder.

Measured in one run, in this order, with the load average and this process's CPU seconds per step:

1. ``encode``: the encoder alone over the distinct texts a refresh embeds (the baseline);
2. ``cold``: a refresh with nothing stored (every message embedded and stored);
3. ``warm``: 1% more messages arrive, then a refresh (only those are embedded);
4. ``scratch`` (unless ``--no-scratch``): the stored vectors deleted, a refresh over the same
   messages as ``warm``; its insights must equal ``warm``'s (incremental = from scratch, real model);
5. ``encode`` again, so the baseline brackets the refreshes.

Goal (issue 22): cold <= 2x the encode baseline. Also reported: how well the themes found match
the planted ones (each insight's share of messages from its main planted theme).

Run: ``python -m bench.insights [--messages N] [--new-share 0.01] [--model NAME] [--no-scratch]``; saved
to ``bench/results/insights.json`` (``insights-N.json`` for another N). Not part of ``make test``.
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import sqlalchemy as sa

from agent.tables import ContactRow, HandoffRow, MessageRow, SessionRow
from bench.common import machine, save
from bench.support_messages import GeneratedMessage, generate
from core.db import Database, open_database
from core.settings import EmbeddingSettings, Settings
from core.tables import WorkspaceRow, utcnow
from insights.clustering import informative
from insights.models import InsightRun
from insights.service import InsightsService
from insights.tables import InsightVectorRow
from retrieval.embedders import build_embedder
from retrieval.query_embedding import DelegatingEncoder

T = TypeVar("T")
WS = "bench"


class CountingEmbedder(DelegatingEncoder):
    """The encoder, counting the texts each refresh hands it."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.texts = inner, 0

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        self.texts += len(texts)
        return super().embed_documents(texts)

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        vectors: np.ndarray = self.inner.embed_queries(texts)
        return vectors


def seed(db: Database, messages: Sequence[GeneratedMessage], first: int) -> None:
    """One contact and one resolved session per message (ids ``s{n}``), its handoff when it has one."""
    with db.session() as s:
        if first == 0:
            s.add(WorkspaceRow(id=WS, name=WS))
            s.flush()
        for n, m in enumerate(messages, start=first):
            sid, cid = f"s{n:06d}", f"c{n:06d}"
            s.add(ContactRow(id=cid, workspace=WS, email=f"rider{n}@example.com", segments=[]))
            s.add(SessionRow(id=sid, workspace=WS, ticket=1001 + n, channel="web", contact_id=cid, status="resolved",
                             created_at=m.created_at))
            s.add(MessageRow(workspace=WS, session_id=sid, role="customer", text=m.text, created_at=m.created_at))
            if m.handoff:
                s.add(HandoffRow(id=f"h{n:06d}", workspace=WS, session_id=sid, ticket=1001 + n, reason=m.handoff,
                                 created_at=m.created_at))


def step(name: str, log: dict[str, Any], fn: Callable[[], T]) -> T:
    """Run ``fn``, recording wall and CPU seconds and the 1-minute load average after it."""
    cpu0, wall0 = _cpu(), time.perf_counter()
    out = fn()
    log[name] = {"seconds": round(time.perf_counter() - wall0, 2), "cpu_seconds": round(_cpu() - cpu0, 2),
                 "load_1m_after": os.getloadavg()[0]}
    print(name, log[name], flush=True)
    return out


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def purity(run: InsightRun, themes: dict[str, str | None]) -> dict[str, Any]:
    """Per insight, the share of its sessions from its main planted theme; which themes were found."""
    found: dict[str, float] = {}
    shares = []
    for insight in run.insights:
        counts = Counter(themes[sid] for sid in insight.session_ids)
        main, n = counts.most_common(1)[0]
        shares.append(n / len(insight.session_ids))
        if main is not None:
            found[main] = max(found.get(main, 0.0), n / len(insight.session_ids))
    return {"insights": len(run.insights), "planted_themes_found": len(found),
            "mean_purity": round(float(np.mean(shares)), 3) if shares else None,
            "kinds": dict(Counter(i.kind.value for i in run.insights))}


def main(messages: int = 10_000, new_share: float = 0.01, model: str | None = None, *,
         from_scratch: bool = True) -> dict[str, Any]:
    load_start = os.getloadavg()
    end = utcnow() - timedelta(minutes=1)
    extra = max(1, round(messages * new_share))
    generated = generate(messages + extra, end=end)
    # the new messages arrive in the last hour
    later = [replace(m, created_at=end - timedelta(seconds=3600 * i / extra))
             for i, m in enumerate(generated[messages:])]
    themes = {f"s{n:06d}": m.theme for n, m in enumerate(generated)}
    steps: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        db = open_database(f"sqlite:///{Path(tmp) / 'bench.db'}")
        seed(db, generated[:messages], 0)
        settings = EmbeddingSettings(model=model) if model else Settings().embedding
        encoder = build_embedder(settings.model, settings=settings, home=Path(tmp))
        embedder = CountingEmbedder(encoder)
        service = InsightsService(db=db, embedder=embedder)
        texts = list(dict.fromkeys(service.embedded_text(m.text) for m in generated[:messages]
                                   if informative(m.text)))
        encoder.embed_documents(texts[:16])  # load the model outside the timings
        now = end + timedelta(seconds=30)
        step("encode_before", steps, lambda: encoder.embed_documents(texts))
        cold = step("cold", steps, lambda: service.refresh(WS, since="7d", now=now))
        steps["cold"]["texts_embedded"] = embedder.texts
        seed(db, later, messages)
        before = embedder.texts
        warm = step("warm", steps, lambda: service.refresh(WS, since="7d", now=now))
        steps["warm"]["texts_embedded"] = embedder.texts - before
        scratch = None
        if from_scratch:
            with db.session() as s:
                s.execute(sa.delete(InsightVectorRow))
            before = embedder.texts
            scratch = step("scratch", steps, lambda: service.refresh(WS, since="7d", now=now))
            steps["scratch"]["texts_embedded"] = embedder.texts - before
        step("encode_after", steps, lambda: encoder.embed_documents(texts))
    encode = (steps["encode_before"]["seconds"] + steps["encode_after"]["seconds"]) / 2
    result = {
        "messages": messages, "new_messages": extra, "distinct_texts": len(texts), "model": encoder.model_id,
        "load_at_start": load_start, "steps": steps,
        "cold_to_encode": round(steps["cold"]["seconds"] / encode, 3),
        "cold_to_encode_cpu": round(steps["cold"]["cpu_seconds"] / (
            (steps["encode_before"]["cpu_seconds"] + steps["encode_after"]["cpu_seconds"]) / 2), 3),
        "warm_to_cold": round(steps["warm"]["seconds"] / steps["cold"]["seconds"], 3),
        "warm_to_encode": round(steps["warm"]["seconds"] / encode, 3),
        "cold_outside_embedding_seconds": round(steps["cold"]["seconds"] - cold.embed_seconds, 2),
        "warm_equals_scratch": None if scratch is None else (
            [i.model_dump() for i in warm.insights] == [i.model_dump() for i in scratch.insights]),
        "themes": purity(warm, themes),
        "top": [f"{i.kind.value}: {i.label} ({i.size}, {i.trend.value})" for i in cold.insights[:8]],
        "machine": machine(),
    }
    for k, v in result.items():
        print(f"{k}: {v}")
    save("insights" if messages == 10_000 else f"insights-{messages}", result)
    return result


def _args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--messages", type=int, default=10_000)
    p.add_argument("--new-share", type=float, default=0.01)
    p.add_argument("--model", default=None, help="an encoder name (default: the configured one)")
    p.add_argument("--no-scratch", action="store_true", help="skip step 4 (one encode fewer on a busy machine)")
    return p.parse_args()


if __name__ == "__main__":
    a = _args()
    main(a.messages, a.new_share, a.model, from_scratch=not a.no_scratch)
