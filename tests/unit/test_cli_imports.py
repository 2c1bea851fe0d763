"""Light CLI commands import no model, index or orchestration code (a behaviour, not a timing)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

HEAVY = ("prefect", "torch", "sentence_transformers", "qdrant_client", "qdrant_edge", "transformers", "sklearn")

PROBE = """
import json, sys
from typer.testing import CliRunner
from service.cli import app
result = CliRunner().invoke(app, sys.argv[1:])
assert result.exit_code == 0, result.output
print(json.dumps(sorted({m.split(".")[0] for m in sys.modules})))
"""


@pytest.mark.parametrize("args", [
    ["--help"],
    ["sources", "--help"],
    ["keys", "create", "--scope", "write", "--json"],
    ["keys", "list", "--json"],
    ["sources", "list", "--json"],
    ["sources", "add", "docs", "--kind", "folder", "--option", "path=.", "--json"],
], ids=" ".join)
def test_a_light_command_imports_no_model_index_or_prefect(args: list[str], tmp_path: Path) -> None:
    env = os.environ | {"KNOWDESK_HOME": str(tmp_path / "home"), "PYTHONPATH": str(Path(__file__).parents[2])}
    proc = subprocess.run([sys.executable, "-c", PROBE, *args], env=env, capture_output=True, text=True,
                          timeout=300, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    imported = set(json.loads(proc.stdout.splitlines()[-1]))
    assert "typer" in imported  # the probe saw the command's imports
    assert imported.isdisjoint(HEAVY), sorted(imported & set(HEAVY))
