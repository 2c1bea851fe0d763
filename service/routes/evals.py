"""POST /v1/evals: evaluate the agent on the caller's workspace with an inline or the bundled dataset."""

from __future__ import annotations

import json
from contextlib import nullcontext
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field, model_validator

from core.errors import InvalidInput
from evaluation.datasets import bundled_dataset_path, load_dataset, parse_dataset
from service.deps import RuntimeDep, Writer
from service.routing import KeyedRoute
from service.schemas.insights import EvalReportPublic

router = APIRouter(prefix="/v1", tags=["evaluation"], route_class=KeyedRoute)
MAX_CASES = 500


class EvalRequest(BaseModel):
    """One of: ``dataset: "bundled"``, ``jsonl`` (the dataset file's text) or ``cases`` (+ ``header``)."""

    #: Exactly one of the three (the route checks it too, with its message).
    model_config = ConfigDict(extra="forbid", json_schema_extra={"oneOf": [
        {"required": ["dataset"], "properties": {"dataset": {"const": "bundled"}}},
        {"required": ["jsonl"], "properties": {"jsonl": {"type": "string"}}},
        {"required": ["cases"], "properties": {"cases": {"type": "array"}}}]})

    dataset: str | None = Field(default=None, description='"bundled": the Brewly sample dataset')
    jsonl: str | None = Field(default=None, max_length=5_000_000)
    cases: list[dict[str, Any]] | None = Field(default=None, max_length=MAX_CASES)
    header: dict[str, Any] | None = None
    include_cases: bool = False
    workers: int | None = Field(default=None, ge=1, le=64)

    @model_validator(mode="after")
    def _one_source(self) -> EvalRequest:
        given = [x is not None for x in (self.dataset, self.jsonl, self.cases)]
        if sum(given) != 1:
            raise ValueError("give exactly one of dataset, jsonl or cases")
        if self.dataset is not None and self.dataset != "bundled":
            raise ValueError('dataset must be "bundled"; send other datasets inline as jsonl or cases')
        return self


@router.post("/evals", response_model=EvalReportPublic)
def run_eval(body: EvalRequest, caller: Writer, rt: RuntimeDep) -> dict[str, Any]:
    """Play the dataset through the agent (fresh sessions) and return the report: metrics with their
    definitions, per-tag pass rates, calibration and the failing cases. Runs to completion."""
    from app.evaluation import run_evaluation
    from service.quickstart import sample_actions_for_eval

    if body.dataset == "bundled":
        dataset = load_dataset(bundled_dataset_path())
    else:
        text = body.jsonl
        if body.cases is not None:
            header = [{"kind": "knowdesk.eval.dataset", "version": 1, **(body.header or {})}]
            text = "\n".join(json.dumps(x) for x in header + body.cases)
        dataset = parse_dataset(text or "", path="the request")
    if len(dataset.cases) > MAX_CASES:
        raise InvalidInput(f"{len(dataset.cases)} cases; the API evaluates at most {MAX_CASES} (use the CLI)")
    notes: list[str] = []
    # the bundled dataset's action cases call the Brewly sample API: served for the run (quickstart workspace)
    actions = (sample_actions_for_eval(rt, caller.workspace, warn=notes.append) if body.dataset == "bundled"
               else nullcontext())
    with actions:
        report = run_evaluation(rt, dataset, workspace=caller.workspace, fresh=True, workers=body.workers)
    if notes:
        report["notes"] = [*report.get("notes", []), *notes]
    if not body.include_cases:
        report.pop("cases", None)
    report.pop("latencies_ms", None)
    return report
