"""Reports: JSON for machines, Markdown for pull requests, a self-contained HTML page with plots."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .html import render_html
from .markdown import render_markdown

__all__ = ["render_html", "render_markdown", "write_reports"]


def write_reports(report: dict[str, Any], directory: str | Path) -> dict[str, Path]:
    """Write ``report.json``, ``report.md`` and ``report.html`` into ``directory``; return their paths."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"json": out / "report.json", "markdown": out / "report.md", "html": out / "report.html"}
    paths["json"].write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    paths["markdown"].write_text(render_markdown(report), encoding="utf-8")
    paths["html"].write_text(render_html(report), encoding="utf-8")
    return paths
