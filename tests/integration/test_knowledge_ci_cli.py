"""The CLI's older publish, import and sync commands when knowledge CI holds their change (real SQLite,
embedded index, real model, the bundled dataset over ``gated_quickstart``'s knowledge).

Held, ``help-center import|unpublish`` and ``training publish|import`` exit with code 3 and
print the change's report (the broken case) and the commands that accept or reject it; with
``--json`` they print the change with the command's own answer as ``result``. Nothing held is live.
Once nothing is held they exit 0 as before; an unknown article or scenario is an error (1)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import Result

from app.knowledge_ci.models import ChangeKind, ChangeStatus, KnowledgeChange
from app.runtime import Runtime
from bench.knowledge_ci import PLANTED
from helpcenter.markdown_io import write_folder
from service.commands.knowledge_ci import HELD_EXIT
from tests.integration.test_knowledge_ci import TRAINING_PLANTED, gated_quickstart
from tests.integration.test_knowledge_ci_topics import cli

pytestmark = pytest.mark.slow
WS = "default"
#: An article an answer of the bundled dataset relies on, and that case.
RELIED_ON = ("login-problems", "locked-account")


@pytest.fixture(scope="module")
def rt(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runtime]:
    with gated_quickstart(tmp_path_factory.mktemp("kcicli")) as runtime:
        yield runtime


def _held(rt: Runtime, result: Result, case: str) -> KnowledgeChange:
    """The change a command's text output says is held, checked against what it printed."""
    assert result.exit_code == HELD_EXIT, result.output
    change = rt.knowledge_ci.list(WS, status=ChangeStatus.PENDING)[0]
    assert f"{change.id} pending: " in result.output and f"broke {case}" in result.output, result.output
    assert f"HELD by knowledge CI as {change.id}" in result.output
    assert f"knowdesk knowledge-ci accept {change.id}" in result.output
    assert f"knowdesk knowledge-ci reject {change.id}" in result.output
    return change


def _held_json(result: Result, case: str) -> str:
    assert result.exit_code == HELD_EXIT, result.output
    body = json.loads(result.stdout)
    assert body["held"] is True and body["change"]["status"] == "pending"
    assert case in {c["case_id"] for c in body["change"]["report"]["regressions"]}
    return str(body["pending_change"])


def _reject(change_id: str) -> None:
    rejected = cli("knowledge-ci", "reject", change_id)
    assert rejected.exit_code == 0, rejected.output


def test_help_center_import_and_unpublish_held_exit_3_and_live_ones_exit_0(rt: Runtime, tmp_path: Path) -> None:
    store = rt.helpcenter.store
    slug, old, new, case = PLANTED[0]
    before = store.get(WS, slug)
    folder = tmp_path / "help"
    write_folder(folder, store.topics(WS), store.articles(WS), rt.settings.helpcenter.default_locale)
    page = folder / "articles" / f"{slug}.en.md"
    text = page.read_text(encoding="utf-8")
    assert old in text
    page.write_text(text.replace(old, new), encoding="utf-8")

    held = cli("help-center", "import", str(folder))
    assert "imported " in held.output
    change = _held(rt, held, case)
    assert change.kind is ChangeKind.HELPCENTER and store.get(WS, slug) == before
    _reject(change.id)
    as_json = cli("help-center", "import", str(folder), "--json")
    change_id = _held_json(as_json, case)
    assert json.loads(as_json.stdout)["result"]["index"]["pending_change"] == change_id
    _reject(change_id)
    assert store.get(WS, slug) == before

    page.write_text(text, encoding="utf-8")  # the folder as it is published: nothing to hold
    live = cli("help-center", "import", str(folder))
    assert live.exit_code == 0 and "HELD" not in live.output, live.output

    relied, relied_case = RELIED_ON
    was = store.get(WS, relied)
    held = cli("help-center", "unpublish", relied)
    _reject(_held(rt, held, relied_case).id)
    assert store.get(WS, relied) == was and "unpublished" not in held.output
    published = cli("help-center", "publish", relied)  # already published as it is: nothing to review
    assert published.exit_code == 0 and f"published {relied}" in published.output, published.output
    missing = cli("help-center", "publish", "no-such-article")
    assert missing.exit_code == 1 and "no-such-article" in missing.output


def test_training_publish_and_import_held_exit_3_and_a_rollback_goes_live(rt: Runtime, tmp_path: Path) -> None:
    from training.yaml_io import export_yaml

    sid, old, new, case = TRAINING_PLANTED
    live = rt.training.scenario(WS, sid)
    assert live is not None
    exported = export_yaml(rt.training, WS)
    draft = rt.training.store.get(WS, sid).draft
    rt.training.update(WS, sid, draft.model_copy(update={"answer": draft.answer.replace(old, new)}))

    held = cli("training", "publish", sid)
    change = _held(rt, held, case)
    assert change.kind is ChangeKind.TRAINING and "is live" not in held.output
    assert rt.training.scenario(WS, sid) == live
    _reject(change.id)
    back = cli("training", "rollback", sid, str(live.version))  # the live content again: breaks nothing
    assert back.exit_code == 0 and f"{sid} is live as version" in back.output, back.output

    planted = tmp_path / "training.yaml"
    assert old in exported
    planted.write_text(exported.replace(old, new), encoding="utf-8")
    as_json = cli("training", "import", str(planted), "--json")
    change_id = _held_json(as_json, case)
    assert json.loads(as_json.stdout)["result"]["pending_change"] == change_id
    _reject(change_id)
    now = rt.training.scenario(WS, sid)
    assert now is not None and old in now.answer and new not in now.answer
    text = cli("training", "import", str(planted))
    assert "profile " in text.output
    _reject(_held(rt, text, case).id)
    missing = cli("training", "publish", "no-such-scenario")
    assert missing.exit_code == 1 and "no-such-scenario" in missing.output
