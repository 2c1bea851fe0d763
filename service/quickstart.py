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
from retrieval.search import SearchFilters
from service import output
from service.commands.agent import agent_demo

SAMPLES = Path(__file__).with_name("samples")
#: The sample questions cite knowledge (articles, pages, files), not training scenarios.
KNOWLEDGE = SearchFilters(kind=["article", "page", "file"])


def sample_sources(workspace: str) -> list[Source]:
    """The sample folder source (the sample help center is authored content, see ``import_samples``)."""
    return [
        Source(workspace=workspace, name="files", kind=SourceKind.FOLDER, options={"path": str(SAMPLES / "files")}),
    ]


def import_samples(rt: Runtime, workspace: str) -> dict[str, Any]:
    """Import and publish the sample help center and training; re-runs re-embed nothing unchanged."""
    from agent.training.yaml_io import import_yaml
    from ingest.authored.markdown_io import from_export

    try:  # earlier quickstarts synced the sample as a help-center export source under the same id
        legacy = rt.sources.get(workspace, "help-center")
        if legacy.kind is SourceKind.HELPCENTER_EXPORT:
            rt.remove_source(workspace, "help-center")
    except NotFound:
        pass
    bundle = from_export(json.loads((SAMPLES / "helpcenter.json").read_text(encoding="utf-8")))
    imported = rt.helpcenter.import_bundle(workspace, bundle)
    training = import_yaml(rt.training, workspace, (SAMPLES / "training.yaml").read_text(encoding="utf-8"))
    return {"helpcenter": imported.model_dump(mode="json", exclude={"index": {"documents"}}),
            "training": training.model_dump(mode="json")}


def run_quickstart(
    rt: Runtime, *, out: Console, err: Console, as_json: bool, sync: Callable[..., RunReport]
) -> dict[str, Any]:
    ws = rt.settings.default_workspace
    authored = import_samples(rt, ws)
    if not as_json:
        index = authored["helpcenter"]["index"]
        err.print(f"help center: {authored['helpcenter']['articles']} articles imported, {index['written']} "
                  f"documents indexed, {index['unchanged']} unchanged; training: "
                  f"{len(authored['training']['published'])} scenarios published")
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
        hits = rt.retrieve(q["q"], workspace=ws, top_k=3, filters=KNOWLEDGE)
        answers.append({"query": q["q"], "hits": output.hits_json(hits)})
        if not as_json:
            output.print_hits(out, q["q"], hits)
            out.print()
    result = {"syncs": [r.summary() for r in reports], **authored, "questions": answers}
    result["conversation"] = agent_demo(rt, out, quiet=as_json)
    if as_json:
        print(json.dumps(result))
    else:
        out.print('Next: `knowdesk retrieve "your question"`, `knowdesk sources add`, `knowdesk serve`.')
    return result
