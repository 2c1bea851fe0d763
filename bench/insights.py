"""Insights benchmark: 10,000 customer messages (the sample themes plus noise, each message made
unique) over two weeks, through ``InsightsService.refresh`` with the real model on SQLite.

Reported as ratios measured in the same run:
- cold refresh (every message embedded) total seconds vs its embedding seconds: the refresh
  should be embedding-bound (target: total < 60 s on an idle machine);
- warm refresh (vectors cached: what the scheduled flow pays when little is new) vs embedding.

Run: ``python -m bench.insights [MESSAGES]``. Not part of ``make test``.
"""

from __future__ import annotations

import random
import sys
import tempfile
from datetime import timedelta
from pathlib import Path
from typing import Any

from agent.tables import ContactRow, HandoffRow, MessageRow, SessionRow
from bench.common import machine, save, timer
from core.db import open_database
from core.tables import WorkspaceRow, utcnow
from insights import samples
from insights.service import InsightsService
from retrieval.embedding import SentenceTransformerEmbedder

_DETAILS = ["I ordered in {m}.", "Order {n}.", "This is my {k} order.", "I have been a customer since {y}.",
            "My plan is the {p} one.", "It happened on {d}.", "", "", ""]
_FILL = {"m": ["March", "April", "May", "June", "July"], "k": ["first", "second", "third", "fifth"],
         "y": ["2021", "2022", "2023", "2024"], "p": ["Solo", "Duo", "Office", "Family"],
         "d": ["Monday", "Tuesday", "Friday", "the weekend"]}


def _unique(rng: random.Random, text: str, n: int) -> str:
    detail = rng.choice(_DETAILS).format(n=f"#{100000 + n}", **{k: rng.choice(v) for k, v in _FILL.items()})
    return f"{text} {detail}".strip()


def seed(db_url: str, messages: int) -> None:
    db = open_database(db_url)
    rng = random.Random(5)
    planted = samples.generate(sessions=messages, seed=5)
    with db.session() as s:
        s.add(WorkspaceRow(id="bench", name="bench"))
    with db.session() as s:
        for i, sample in enumerate(planted):
            sid = f"s{i:06d}"
            s.add(ContactRow(id=f"c{i:06d}", workspace="bench", email=sample.email, segments=[]))
            s.add(SessionRow(id=sid, workspace="bench", ticket=1001 + i, channel=sample.channel.value,
                             contact_id=f"c{i:06d}", status="resolved", created_at=sample.created_at))
            s.add(MessageRow(workspace="bench", session_id=sid, role="customer",
                             text=_unique(rng, sample.customer[0], i), created_at=sample.created_at))
            if sample.handoff:
                s.add(HandoffRow(id=f"h{i:06d}", workspace="bench", session_id=sid, ticket=1001 + i,
                                 reason=sample.handoff.reason, created_at=sample.created_at))


def main(messages: int = 10_000) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        seed(url, messages)
        embedder = SentenceTransformerEmbedder(model="all-MiniLM-L6-v2", batch_size=64)
        embedder.embed_documents(["warm up the model"])
        service = InsightsService(db=open_database(url), embedder=embedder)
        now = utcnow() + timedelta(seconds=1)
        with timer() as cold_total:
            cold = service.refresh("bench", since="7d", now=now)
        with timer() as warm_total:
            warm = service.refresh("bench", since="7d", now=now)
        embedded = cold.messages + sum(i.previous_size for i in cold.insights)
        result = {
            "machine": machine(), "messages": messages, "in_window": cold.messages,
            "insights": len(cold.insights), "kinds": sorted({i.kind.value for i in cold.insights}),
            "top": [f"{i.kind.value}: {i.label} ({i.size})" for i in cold.insights[:5]],
            "embedding_seconds": round(cold.embed_seconds, 2),
            "cold_total_seconds": round(cold_total(), 2),
            "cold_ratio_total_to_embedding": round(cold_total() / cold.embed_seconds, 3),
            "cold_without_embedding_seconds": round(cold_total() - cold.embed_seconds, 2),
            "warm_total_seconds": round(warm_total(), 2),
            "warm_ratio_to_cold_embedding": round(warm_total() / cold.embed_seconds, 3),
            "messages_per_second_embedding": round(messages / cold.embed_seconds, 1),
            "clustered_in_themes": embedded, "same_result_warm": [i.label for i in warm.insights] == [
                i.label for i in cold.insights],
        }
    for k, v in result.items():
        print(f"{k}: {v}")
    save("insights", result)
    return result


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10_000)
