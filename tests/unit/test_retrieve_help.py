"""`knowdesk retrieve --help` names every filter the search accepts (the help is written out, so the
light CLI import stays free of the index code; this keeps the two in step)."""

from __future__ import annotations

import re

from typer.testing import CliRunner

from retrieval.search import FILTER_KEYS
from service.cli import app


def test_the_filter_help_names_every_filter_key() -> None:
    result = CliRunner().invoke(app, ["retrieve", "--help"], env={"COLUMNS": "200", "NO_COLOR": "1"})
    assert result.exit_code == 0, result.output
    text = re.sub(r"[\s│]+", " ", result.output)
    listed = text.split("key=value", 1)[1].split("--batch", 1)[0]
    assert [key for key in FILTER_KEYS if key not in listed] == []
