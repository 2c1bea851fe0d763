"""Import speed of a large generated OpenAPI spec: parse + validate, as a ratio to parsing the YAML/JSON
alone (measured in the same run)."""

from __future__ import annotations

import json
import time

from actions.openapi import load_document, parse_spec
from tests.fixtures.actions.generate_large_spec import build


def main() -> None:
    for resources in (30, 60, 120):
        text = json.dumps(build(resources))
        start = time.perf_counter()
        load_document(text)
        baseline = time.perf_counter() - start
        start = time.perf_counter()
        parsed = parse_spec(text, workspace="bench", name="big")
        seconds = time.perf_counter() - start
        ops = len(parsed.actions) + len(parsed.skipped)
        print(f"actions import: {ops} operations in {seconds:.2f}s ({seconds / max(baseline, 1e-9):.0f}x json load), "
              f"{len(parsed.skipped)} skipped with reasons")
