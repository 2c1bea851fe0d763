"""Named knowdesk configurations the benchmark runs (the ablation rows).

Each row of ``configs.json`` (or of a file given with ``--configs``) is::

    {"name": "hybrid + rerank", "env": {"KNOWDESK_SEARCH__RERANK": "late"},
     "ingest_env": {}, "lists": "both", "retrieve": {"per_document": 2}}

- ``env``: KNOWDESK_* variables set while the query-side settings are built (search stages).
- ``ingest_env``: variables that change what is indexed (chunking, embedded text); they are part
  of the cache key, so a row with its own ``ingest_env`` gets its own ingested index.
- ``lists``: "both" (today's hybrid), "dense" or "sparse" (one candidate list only).
- ``retrieve``: extra keyword arguments of ``retrieve`` (``per_document``).
The first row is "knowdesk" itself in the tables; every row is reported beside the peers.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

DEFAULT = Path(__file__).with_name("configs.json")


class Config(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1)
    env: dict[str, str] = {}
    ingest_env: dict[str, str] = {}
    lists: str = Field(default="both", pattern="^(both|dense|sparse)$")
    retrieve: dict[str, Any] = {}

    @property
    def all_env(self) -> dict[str, str]:
        return self.ingest_env | self.env


def load_configs(path: Path = DEFAULT) -> list[Config]:
    try:
        rows = json.loads(path.read_text(encoding="utf-8"))
        configs = [Config(**row) for row in rows]
    except (OSError, json.JSONDecodeError, TypeError, ValidationError) as exc:
        raise SystemExit(f"{path}: not a list of configurations ({exc})") from exc
    names = [c.name for c in configs]
    if not configs or len(set(names)) != len(names):
        raise SystemExit(f"{path}: give at least one configuration, each with a unique name")
    return configs
