"""The evaluation on the bundled Brewly sample with the real agent, model and Qdrant storage.

The issue's done-when: ``knowdesk eval`` on the bundled dataset writes all three reports and the
committed thresholds hold; the HTML report renders in headless Chromium with its plots; ``eval
compare`` fails on a deliberately worse run. Reports and the screenshot go to ``test-artifacts/``.
"""

from __future__ import annotations

import io
import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from rich.console import Console
from typer.testing import CliRunner

import app.runtime as runtime_module
from agent.decision import Action, HandoffReason
from agent.sessions import ContactRef
from app.evaluation import run_evaluation
from app.runtime import Runtime
from core.errors import NotFound
from core.models import Channel
from core.settings import Settings
from evaluation.build import build_evaluation, scratch_sessions
from evaluation.compare import check_thresholds, load_thresholds
from evaluation.datasets import bundled_dataset_path, load_dataset
from evaluation.evaluate import evaluate
from flows.evaluation import evaluation_deployment
from service.api import create_app
from service.cli import app
from service.keys import KeyStore
from service.quickstart import action_demo, import_samples, running_sample_api, sample_sources
from service.samples.brewly_api import DEFAULT_BASE_URL, SPEC_NAME

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "eval"
THRESHOLDS = ROOT / "evaluation" / "thresholds.json"
WS = "default"


@pytest.fixture(scope="module")
def rt(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runtime]:
    """The quickstart's knowledge: the authored sample help center, training and the sample files."""
    runtime = Runtime(Settings(home=tmp_path_factory.mktemp("eval-home")))
    import_samples(runtime, WS)
    for source in sample_sources(WS):
        try:
            source = runtime.sources.get(WS, source.name)
        except NotFound:
            source = runtime.sources.add(source)
        assert runtime.sync(source).status == "succeeded"
    yield runtime
    runtime.actions.caller.close()  # its keep-alive connections to the sample API the eval served


@pytest.fixture(scope="module")
def bundled(rt: Runtime) -> Path:
    """``knowdesk eval bundled --report DIR --thresholds evaluation/thresholds.json`` (the CI gate)."""
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    previous = runtime_module._runtime
    runtime_module._runtime = rt  # the CLI's get_runtime(): the embedded Qdrant allows one client
    try:
        result = CliRunner().invoke(app, ["eval", "bundled", "--report", str(ARTIFACTS), "--thresholds",
                                          str(THRESHOLDS), "--json"])
    finally:
        runtime_module._runtime = previous
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    print(json.dumps(summary["metrics"], indent=1))  # the measured numbers, in the test log
    assert summary["violations"] == [], summary["violations"]
    assert result.exit_code == 0, result.output
    return ARTIFACTS


def test_bundled_evaluation_writes_three_reports_and_holds_the_thresholds(bundled: Path) -> None:
    report = json.loads((bundled / "report.json").read_text())
    assert report["totals"]["cases"] == len(load_dataset(bundled_dataset_path()).cases) >= 100
    assert report["totals"]["errors"] == 0
    assert check_thresholds(report, load_thresholds(THRESHOLDS)) == []
    assert set(report["definitions"]) >= {"retrieval.ndcg@10", "answer.groundedness", "calibration.ece"}
    assert "## Metrics" in (bundled / "report.md").read_text()
    lines = (bundled / "results.jsonl").read_text().splitlines()
    assert len(lines) == report["totals"]["cases"]



def test_the_action_cases_run_against_the_sample_api(bundled: Path, rt: Runtime) -> None:
    report = json.loads((bundled / "report.json").read_text())
    action_cases = [c for c in load_dataset(bundled_dataset_path()).cases if "actions" in c.requires]
    assert len(action_cases) >= 10 and report["actions"]["scored"] == len(action_cases)
    assert report["actions"]["not_supported_yet"] == [] and report["totals"]["unsupported"] == 0
    cases = {c["id"]: c for c in report["cases"]}
    declined = cases["action-skip-declined"]["action_calls"]
    assert [c["outcome"] for c in declined] == ["declined"]  # "no": nothing was called
    [missing] = cases["action-track-404"]["action_calls"]
    assert missing["status"] == 404 and "404" in cases["action-track-404"]["turns"][-1]["reply"]
    # the sample API stopped with the run; the actions point at `knowdesk samples api`'s fixed port again
    assert rt.actions.store.spec(WS, SPEC_NAME).base_url == DEFAULT_BASE_URL


def test_the_quickstart_conversation_calls_a_sample_action(rt: Runtime) -> None:
    with running_sample_api(rt, WS) as api:
        result = action_demo(rt, Console(file=io.StringIO()))
    [turn] = result["turns"]
    assert turn["decision"]["action"] == "action_call" and "shipped" in turn["decision"]["reply"]
    assert api.requests == [("GET", "/v1/orders/BR-104233/tracking")]
    # afterwards the port is closed: the same question fails honestly and is handed off
    session = rt.agent.store.create(WS, channel=Channel.WEB, contact=ContactRef(email="dana@example.com"))
    decision = rt.agent.handle(WS, session.id, "Where is my order BR-104233?")
    assert decision.action == Action.HANDOFF and decision.handoff is not None
    assert decision.handoff.reason == HandoffReason.ACTION_FAILED and "not reachable" in decision.reply


def test_html_report_renders_in_headless_chromium(bundled: Path, tmp_path: Path) -> None:
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.fail("the report test needs Debian's chromium: `apt-get install -y chromium` (as root)")
    shot = ROOT / "test-artifacts" / "eval-report.png"
    shot.unlink(missing_ok=True)
    subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         f"--user-data-dir={tmp_path / 'profile'}", "--hide-scrollbars", "--window-size=1200,2200",
         f"--screenshot={shot}", (bundled / "report.html").as_uri()],
        check=True, capture_output=True, timeout=180,
    )
    with Image.open(shot) as image:
        assert image.size == (1200, 2200)
        # the plots are drawn: many distinct colours, not a blank page or broken-image icons
        assert len(image.convert("RGB").getcolors(maxcolors=1 << 20) or []) > 500


def test_compare_fails_on_a_deliberately_worse_run(rt: Runtime, tmp_path: Path) -> None:
    dataset = load_dataset(bundled_dataset_path())
    subset = dataset.model_copy(update={"cases": tuple(c for c in dataset.cases if "answerable" in c.tags)[:16]})
    base_dir, worse_dir = tmp_path / "base", tmp_path / "worse"
    played: list[str] = []
    run_evaluation(rt, subset, report_dir=base_dir, progress=lambda r, _d, _n: played.append(r.id))
    assert len(played) == 16
    run_evaluation(rt, subset, report_dir=base_dir, progress=lambda r, _d, _n: played.append(r.id))
    assert len(played) == 16  # resumed: every case was already finished
    # worse: the agent needs near-certainty to answer, so it hands most answerable questions off
    with scratch_sessions() as sessions:
        worse = build_evaluation(db=rt.db, sessions=sessions, retriever=rt.searcher, embedder=rt.embedder,
                                 workspace=WS, settings=rt.settings.agent.model_copy(update={"answer_threshold": 0.97}),
                                 training=rt.training)
        evaluate(worse, subset, report_dir=worse_dir)
    cli = CliRunner()
    failed = cli.invoke(app, ["eval", "compare", str(base_dir), str(worse_dir), "--json"])
    assert failed.exit_code == 1, failed.output
    comparison = json.loads(failed.stdout)
    assert "outcome.accuracy" in comparison["regressions"] and comparison["ok"] is False
    same = cli.invoke(app, ["eval", "compare", str(base_dir), str(base_dir)])
    assert same.exit_code == 0, same.output


def test_post_evals_scores_an_inline_dataset(rt: Runtime) -> None:
    _, key = KeyStore(db=rt.db).create(WS, scopes=["write"])
    client = TestClient(create_app(rt))
    cases = [
        {"id": "skip", "messages": ["How do I skip next month's delivery?"],
         "expect": {"outcome": "answer", "relevant": ["skip-a-delivery"], "must_include": ["25th"]}},
        {"id": "human", "messages": ["I want to talk to a real person"],
         "expect": {"outcome": "handoff", "handoff_reason": "human_requested"}},
    ]
    response = client.post("/v1/evals", json={"cases": cases, "header": {"name": "api"}},
                           headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["dataset"]["name"] == "api" and body["totals"]["scored"] == 2
    assert body["metrics"]["retrieval.mrr"] == 1.0 and "cases" not in body
    bad = client.post("/v1/evals", json={"dataset": "/etc/passwd"}, headers={"Authorization": f"Bearer {key}"})
    assert bad.status_code == 422 and bad.json()["error"] == "invalid_input"
    _, reader = KeyStore(db=rt.db).create(WS, scopes=["read"])
    assert client.post("/v1/evals", json={"dataset": "bundled"},
                       headers={"Authorization": f"Bearer {reader}"}).status_code == 403


def test_the_flow_is_schedulable() -> None:
    deployment = evaluation_deployment(cron="0 4 * * *", dataset=str(bundled_dataset_path()), report_dir="/tmp/e")
    assert deployment.name == "evaluation"
    assert deployment.parameters["dataset"].endswith("brewly-v1.jsonl")
    assert [s.schedule.cron for s in deployment.schedules] == ["0 4 * * *"]


def test_the_bundled_eval_installs_the_sample_actions_only_in_a_quickstart_workspace(rt: Runtime) -> None:
    from service.quickstart import sample_actions_for_eval

    notes: list[str] = []
    with sample_actions_for_eval(rt, "production", warn=notes.append):
        assert rt.actions.store.actions("production") == []
    assert len(notes) == 1 and "does not hold the quickstart's sample knowledge" in notes[0]
    with sample_actions_for_eval(rt, WS, warn=notes.append) as api:
        assert rt.actions.store.spec(WS, "brewly").base_url == api.base_url
    assert len(notes) == 1
