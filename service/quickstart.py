"""`knowdesk quickstart`: ingest the bundled sample knowledge, then show cited passages."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console

from core.errors import NotFound
from core.models import RunReport, Source, SourceKind
from flows.runtime import Runtime
from service import output

SAMPLES = Path(__file__).with_name("samples")


def sample_sources(workspace: str) -> list[Source]:
    return [
        Source(
            workspace=workspace,
            name="help-center",
            kind=SourceKind.HELPCENTER_EXPORT,
            options={"path": str(SAMPLES / "helpcenter.json"), "base_url": "https://help.brewly.example"},
        ),
        Source(workspace=workspace, name="files", kind=SourceKind.FOLDER, options={"path": str(SAMPLES / "files")}),
    ]


def run_quickstart(
    rt: Runtime, *, out: Console, err: Console, as_json: bool, sync: Callable[..., RunReport]
) -> dict[str, Any]:
    ws = rt.settings.default_workspace
    reports = []
    for source in sample_sources(ws):
        try:
            existing = rt.sources.get(ws, source.name)
            if existing.options != source.options:
                existing = rt.sources.update(ws, source.name, options=source.options)
        except NotFound:
            existing = rt.sources.add(source)
        report = sync(rt, existing, quiet=as_json)
        reports.append(report)
        if not as_json:
            output.print_report(err, report)
    questions = json.loads((SAMPLES / "questions.json").read_text(encoding="utf-8"))["questions"]
    answers = []
    for q in questions:
        hits = rt.retrieve(q["q"], workspace=ws, top_k=3)
        answers.append({"query": q["q"], "hits": output.hits_json(hits)})
        if not as_json:
            output.print_hits(out, q["q"], hits)
            out.print()
    result = {"syncs": [r.summary() for r in reports], "questions": answers}
    if as_json:
        print(json.dumps(result))
    else:
        out.print('Next: `knowdesk retrieve "your question"`, `knowdesk sources add`, `knowdesk serve`.')
    return result
