"""Run benchmarks: `python -m bench.run` (all) or `python -m bench.run ingest agent`."""

from __future__ import annotations

import importlib
import sys

ALL = ["ingest", "agent", "website", "actions", "evaluation", "insights", "retrieval", "encoder", "load"]


def main(names: list[str]) -> None:
    for name in names or ALL:
        try:
            module = importlib.import_module(f"bench.{name}")
        except ModuleNotFoundError as exc:
            print(f"skip {name}: {exc}")
            continue
        print(f"== {name}")
        module.main()


if __name__ == "__main__":
    main(sys.argv[1:])
