"""Knowledge CI end to end on the quickstart's knowledge (real SQLite, embedded index, real model).

Ten planted edits on ten articles of the quickstart help center each change a fact an answer of
the bundled dataset relies on: every one is held (pending, not live: the store and the index keep
the old text) with the broken answer in its report; a harmless edit goes live. Accept and reject
over the CLI and HTTP, with their scopes; bad input changes nothing. A training edit that breaks an
answer is held the same way (the live agent keeps answering from the published scenario until the
change is accepted), and an ungated setup publishes at once."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from app.knowledge_ci.hooks import wire_helpcenter, wire_training
from app.knowledge_ci.models import ChangeKind, ChangeStatus
from app.knowledge_ci.service import KnowledgeCI
from app.runtime import Runtime, get_runtime, reset_runtime
from bench.conflicts import quickstart_knowledge
from bench.knowledge_ci import PLANTED
from core.errors import Conflict, InvalidInput, NotFound
from core.settings import KnowledgeCISettings
from helpcenter.models import Status, TranslationInput
from helpcenter.publisher import PublishReport
from service.api import create_app
from service.cli import app as cli
from service.keys import KeyStore
from training.drafts import ScenarioStatus
from training.gate import Published

pytestmark = pytest.mark.slow
WS = "default"


@contextmanager
def gated_quickstart(root: Path) -> Iterator[Runtime]:
    """The process runtime over the quickstart knowledge in ``root/home``, seeded ungated, then with
    knowledge CI replaying the bundled dataset on every help-center and training change."""
    patch = pytest.MonkeyPatch()
    patch.setenv("KNOWDESK_HOME", str(root / "home"))
    patch.delenv("KNOWDESK_KNOWLEDGE_CI__DATASET", raising=False)
    reset_runtime()
    runtime = get_runtime()
    try:
        quickstart_knowledge(runtime, WS)  # seeded ungated, as before knowledge CI was configured
        ci = KnowledgeCI(runtime, settings=KnowledgeCISettings(dataset="bundled"))
        runtime.__dict__["knowledge_ci"] = ci
        wire_helpcenter(ci, runtime.helpcenter)
        wire_training(ci, runtime.training)
        yield runtime
    finally:
        reset_runtime()
        patch.undo()


@pytest.fixture(scope="module")
def rt(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runtime]:
    with gated_quickstart(tmp_path_factory.mktemp("kci")) as runtime:
        yield runtime


def _edit(rt: Runtime, slug: str, old: str, new: str) -> tuple[str, PublishReport]:
    t = rt.helpcenter.store.get(WS, slug).translation("en")
    assert t is not None and old in t.body
    body = t.body.replace(old, new)
    _, report = rt.helpcenter.put_translation(WS, slug, TranslationInput(locale="en", title=t.title, body=body,
                                                                         status=Status.PUBLISHED))
    return body, report


def _indexed_text(rt: Runtime, slug: str) -> str:
    hits = rt.components.retrieve.search(slug.replace("-", " "), workspace=WS, top_k=50, per_document=50)
    return "\n".join(h.text for h in hits if h.document_id == f"help-center:{slug}/en")


def test_every_planted_edit_is_held_and_a_harmless_edit_goes_live(rt: Runtime) -> None:
    ci: KnowledgeCI = rt.knowledge_ci
    caught = []
    for slug, old, new, case in PLANTED:
        before = rt.helpcenter.store.get(WS, slug)
        _, report = _edit(rt, slug, old, new)
        if report.pending_change is None:
            continue
        change = ci.get(WS, report.pending_change)
        broke = [c for c in change.report.changed if c.broke]
        assert change.status is ChangeStatus.PENDING and "pass_rate" in change.report.held_by
        assert case in [c.case_id for c in broke], (slug, [c.case_id for c in change.report.changed])
        row = next(c for c in broke if c.case_id == case)
        assert row.old.passed and not row.new.passed and row.score_delta is not None and row.score_delta < 0
        assert row.old.sources and row.question
        # held: not served from the store (portal) nor from the index (agent)
        assert rt.helpcenter.store.get(WS, slug) == before
        assert old in _indexed_text(rt, slug) and new not in _indexed_text(rt, slug)
        ci.reject(WS, change.id, by="test")
        assert rt.helpcenter.store.get(WS, slug) == before
        caught.append(slug)
    assert len(caught) == len(PLANTED), f"caught {len(caught)} of {len(PLANTED)}: missed " \
        f"{sorted({p[0] for p in PLANTED} - set(caught))}"

    body, report = _edit(rt, "how-brewly-works", "Everything is managed on",
                         "Everything (orders, plans, gift cards) is managed on")
    assert report.pending_change is None and report.written == 1
    assert rt.helpcenter.store.get(WS, "how-brewly-works").translation("en").body == body  # type: ignore[union-attr]
    assert "orders, plans, gift cards" in _indexed_text(rt, "how-brewly-works")
    passed = ci.list(WS, status=ChangeStatus.PASSED)
    assert passed and passed[0].subject.endswith("how-brewly-works")


def test_accept_and_reject_over_http_and_cli_with_their_scopes(rt: Runtime) -> None:
    slug, old, new, case = PLANTED[0]
    body, report = _edit(rt, slug, old, new)
    change_id = report.pending_change
    assert change_id is not None
    keys = KeyStore(db=rt.db)
    reader, writer, admin = (keys.create(WS, scopes=[s])[1] for s in ("read", "write", "admin"))
    with TestClient(create_app(rt)) as client:
        def call(method: str, path: str, key: str) -> tuple[int, dict[str, Any]]:
            r = client.request(method, f"/v1/knowledge-ci{path}", headers={"Authorization": f"Bearer {key}"})
            return r.status_code, r.json()

        code, listed = call("GET", "/changes?status=pending", reader)
        assert code == 200 and [c["id"] for c in listed["changes"]] == [change_id]
        code, shown = call("GET", f"/changes/{change_id}", reader)
        assert code == 200 and "pass_rate" in shown["report"]["held_by"] and shown["status"] == "pending"
        assert any(c["case_id"] == case and c["broke"] for c in shown["report"]["changed"])
        assert call("POST", f"/changes/{change_id}/accept", reader)[0] == 403
        assert call("POST", f"/changes/{change_id}/accept", writer)[0] == 403
        assert call("GET", "/changes/kc-nope", reader)[0] == 404
        assert call("GET", "/changes/bad%20id!", reader)[0] == 422
        code, accepted = call("POST", f"/changes/{change_id}/accept", admin)
        assert code == 200 and accepted["status"] == "accepted" and accepted["decided_by"].startswith("key:")
        assert rt.helpcenter.store.get(WS, slug).translation("en").body == body  # type: ignore[union-attr]
        assert new in _indexed_text(rt, slug)
        code, again = call("POST", f"/changes/{change_id}/accept", admin)
        assert code == 409 and "accepted" in again["message"]
        assert call("POST", f"/changes/{change_id}/reject", writer)[0] == 409

    # the CLI: a held edit, shown, then rejected; a decided change cannot be decided again
    _, report = _edit(rt, PLANTED[3][0], PLANTED[3][1], PLANTED[3][2])
    held = report.pending_change
    assert held is not None
    runner = CliRunner()
    shown = runner.invoke(cli, ["knowledge-ci", "show", held])
    assert shown.exit_code == 0 and "HELD" in shown.output and f"knowledge-ci accept {held}" in shown.output
    listed = runner.invoke(cli, ["knowledge-ci", "list", "--status", "pending"])
    assert listed.exit_code == 0 and held in listed.output
    rejected = runner.invoke(cli, ["knowledge-ci", "reject", held, "--note", "wrong price"])
    assert rejected.exit_code == 0 and "rejected" in rejected.output
    twice = runner.invoke(cli, ["knowledge-ci", "accept", held])
    assert twice.exit_code != 0 and "rejected" in twice.output and "not pending" in twice.output
    unknown = runner.invoke(cli, ["knowledge-ci", "reject", "kcdoesnotexist"])
    assert unknown.exit_code != 0 and "no knowledge change 'kcdoesnotexist'" in unknown.output


def test_a_change_edited_since_it_was_held_is_not_accepted(rt: Runtime) -> None:
    ci: KnowledgeCI = rt.knowledge_ci
    slug, old, new, _ = PLANTED[4]
    _, report = _edit(rt, slug, old, new)
    assert report.pending_change is not None
    t = rt.helpcenter.store.get(WS, slug).translation("en")
    assert t is not None
    rt.helpcenter.store.put_translation(WS, slug, TranslationInput(locale="en", title=t.title + " (edited)",
                                                                   body=t.body, status=Status.DRAFT))
    edited = rt.helpcenter.store.get(WS, slug)
    with pytest.raises(Conflict, match="was changed since this change was held"):
        ci.accept(WS, report.pending_change)
    assert ci.get(WS, report.pending_change).status is ChangeStatus.PENDING
    assert rt.helpcenter.store.get(WS, slug) == edited
    ci.reject(WS, report.pending_change)


def test_bad_gate_settings_change_nothing(rt: Runtime) -> None:
    slug, old, new, _ = PLANTED[5]
    before = rt.helpcenter.store.get(WS, slug)
    changes = len(rt.knowledge_ci.list(WS, limit=1000))
    for settings, message in ((KnowledgeCISettings(dataset="no/such/dataset.jsonl"), "knowledge CI dataset"),
                              (KnowledgeCISettings(dataset="bundled", thresholds={"recall": 0.1}), "unknown metric")):
        gated = KnowledgeCI(rt, settings=settings)
        wire_helpcenter(gated, rt.helpcenter)
        try:
            with pytest.raises(InvalidInput, match=message):
                _edit(rt, slug, old, new)
        finally:
            wire_helpcenter(rt.knowledge_ci, rt.helpcenter)
        assert rt.helpcenter.store.get(WS, slug) == before
        assert old in _indexed_text(rt, slug) and new not in _indexed_text(rt, slug)
    assert len(rt.knowledge_ci.list(WS, limit=1000)) == changes
    with pytest.raises(NotFound):
        rt.knowledge_ci.accept(WS, "kc0000")


# -- training ----------------------------------------------------------------------------------------
#: (scenario, text in its answer, the planted replacement, the dataset case it breaks)
TRAINING_PLANTED = ("discount-request", "Students get 20% off", "Students get 10% off", "scenario-discount")
PROMO = "Do you have any promo codes?"


def _ask(rt: Runtime, text: str) -> str:
    agent = rt.agent
    return agent.handle(WS, agent.store.create(WS, channel="web").id, text).reply


def _edit_scenario(rt: Runtime, sid: str, old: str, new: str) -> Published:
    draft = rt.training.store.get(WS, sid).draft
    assert old in draft.answer
    rt.training.update(WS, sid, draft.model_copy(update={"answer": draft.answer.replace(old, new)}))
    return rt.training.publish(WS, sid, note="planted")


def test_a_training_edit_that_breaks_an_answer_is_held_until_accepted(rt: Runtime) -> None:
    ci: KnowledgeCI = rt.knowledge_ci
    sid, old, new, case = TRAINING_PLANTED
    live_before = rt.training.scenario(WS, sid)
    assert live_before is not None and "20%" in _ask(rt, PROMO)
    keys = KeyStore(db=rt.db)
    writer, admin = (keys.create(WS, scopes=[s])[1] for s in ("write", "admin"))
    draft = rt.training.store.get(WS, sid).draft
    rt.training.update(WS, sid, draft.model_copy(update={"answer": draft.answer.replace(old, new)}))
    with TestClient(create_app(rt)) as client:
        r = client.post(f"/v1/training/scenarios/{sid}/publish", headers={"Authorization": f"Bearer {writer}"})
        assert r.status_code == 200, r.text
        held = r.json()
        change_id = held["pending_change"]
        assert change_id and new in held["answer"] and held["version"] == live_before.version + 1
        change = ci.get(WS, change_id)
        assert change.kind is ChangeKind.TRAINING and change.status is ChangeStatus.PENDING
        assert "pass_rate" in change.report.held_by and change.subject == f"training: publish {sid}"
        broke = {c.case_id: c for c in change.report.changed if c.broke}
        assert case in broke and "20%" in broke[case].old.text and "10%" in broke[case].new.text
        # held: the published version, the index and the live agent are as before; the draft keeps the edit
        assert rt.training.scenario(WS, sid) == live_before
        assert rt.training.store.get(WS, sid).status is ScenarioStatus.CHANGED
        reply = _ask(rt, PROMO)
        assert "20%" in reply and "10%" not in reply
        accepted = client.post(f"/v1/knowledge-ci/changes/{change_id}/accept",
                               headers={"Authorization": f"Bearer {admin}"})
        assert accepted.status_code == 200 and accepted.json()["status"] == "accepted"
    live = rt.training.scenario(WS, sid)
    assert live is not None and live.version == live_before.version + 1 and new in live.answer
    assert "10%" in _ask(rt, PROMO)
    # a rollback that mends the answer goes through the gate and live at once (recorded as passed)
    done = rt.training.rollback(WS, sid, live_before.version)
    assert done.pending_change is None and done.scenario is not None and old in done.scenario.answer
    assert ci.list(WS, limit=1)[0].status is ChangeStatus.PASSED
    assert "20%" in _ask(rt, PROMO)


def test_a_rejected_training_edit_never_goes_live(rt: Runtime) -> None:
    ci: KnowledgeCI = rt.knowledge_ci
    sid, old, new, _ = TRAINING_PLANTED
    live_before = rt.training.scenario(WS, sid)
    done = _edit_scenario(rt, sid, old, new)
    assert done.pending_change is not None
    runner = CliRunner()
    shown = runner.invoke(cli, ["knowledge-ci", "show", done.pending_change])
    assert shown.exit_code == 0 and "HELD" in shown.output and "training: publish" in shown.output
    rejected = runner.invoke(cli, ["knowledge-ci", "reject", done.pending_change, "--note", "wrong discount"])
    assert rejected.exit_code == 0 and "rejected" in rejected.output
    assert rt.training.scenario(WS, sid) == live_before and "10%" not in _ask(rt, PROMO)
    assert ci.get(WS, done.pending_change).status is ChangeStatus.REJECTED
    # held again, then the scenario is published by another way: accepting is refused, nothing changes
    again = rt.training.publish(WS, sid)
    assert again.pending_change is not None
    gate, rt.training.gate = rt.training.gate, None
    try:
        rt.training.update(WS, sid, rt.training.store.get(WS, sid).draft.model_copy(
            update={"answer": live_before.answer + " Ask about the Office plan."}))  # type: ignore[union-attr]
        moved = rt.training.publish(WS, sid).scenario
    finally:
        rt.training.gate = gate
    with pytest.raises(Conflict, match="since this change was held"):
        ci.accept(WS, again.pending_change)
    assert ci.get(WS, again.pending_change).status is ChangeStatus.PENDING
    assert rt.training.scenario(WS, sid) == moved
    ci.reject(WS, again.pending_change)


def test_an_ungated_training_publish_goes_live_at_once(rt: Runtime) -> None:
    sid, old, new, _ = TRAINING_PLANTED
    changes = len(rt.knowledge_ci.list(WS, limit=1000))
    wire_training(KnowledgeCI(rt, settings=KnowledgeCISettings()), rt.training)
    try:
        assert rt.training.gate is None
        done = _edit_scenario(rt, sid, old, new)
        assert done.pending_change is None and done.scenario is not None and new in done.scenario.answer
        assert "10%" in _ask(rt, PROMO)
        draft = rt.training.store.get(WS, sid).draft
        restored = rt.training.update(WS, sid, draft.model_copy(update={"answer": draft.answer.replace(new, old)}),
                                      publish=True)
        assert restored.pending_change is None and restored.status is ScenarioStatus.PUBLISHED
    finally:
        wire_training(rt.knowledge_ci, rt.training)
    assert len(rt.knowledge_ci.list(WS, limit=1000)) == changes


# -- syncs -------------------------------------------------------------------------------------------
#: (file of the sample folder, text in it, the planted replacement, the dataset case it breaks)
SYNC_PLANTED = ("release-notes.txt", "Version 4.5.0 - 17 March 2026", "Version 5.0.0 - 17 March 2026",
                "release-wallet-app")


def _staged_exists(rt: Runtime, change_id: str) -> bool:
    return rt.engine.collection_exists(str(rt.knowledge_ci.get(WS, change_id).change["staged"]))


def _file_text(rt: Runtime, name: str) -> str:
    hits = rt.components.retrieve.search("Brewly Wallet app version", workspace=WS, top_k=50, per_document=50)
    return "\n".join(h.text for h in hits if h.document_id.endswith(name))


def test_a_sync_that_breaks_an_answer_is_held_and_an_unchanged_sync_costs_nothing(
        rt: Runtime, tmp_path_factory: pytest.TempPathFactory) -> None:
    import shutil

    from service.quickstart import SAMPLES

    ci: KnowledgeCI = rt.knowledge_ci
    name, old, new, case = SYNC_PLANTED
    folder = tmp_path_factory.mktemp("files") / "files"
    shutil.copytree(SAMPLES / "files", folder)
    rt.sources.update(WS, "files", options={"path": str(folder)})
    settings = ci.settings
    ci.settings = settings.model_copy(update={"syncs": ["files"]})
    try:
        changes = len(ci.list(WS, limit=1000))
        unchanged = rt.sync(rt.sources.get(WS, "files"))
        assert unchanged.written == 0 and unchanged.status == "succeeded"
        assert len(ci.list(WS, limit=1000)) == changes

        notes = folder / name
        notes.write_text(notes.read_text(encoding="utf-8").replace(old, new), encoding="utf-8")
        (folder / "broken.pdf").write_bytes(b"%PDF-1.4 this is not a pdf")  # one bad file never sinks a run
        held = rt.sync(rt.sources.get(WS, "files"))
        assert held.written == 1 and held.failed == 1, held
        change = ci.list(WS, limit=1)[0]
        assert change.kind is ChangeKind.SYNC and change.status is ChangeStatus.PENDING
        assert any(change.id in n and "HELD" in n for n in held.notes)
        assert case in [c.case_id for c in change.report.changed if c.broke]
        assert old in _file_text(rt, name) and new not in _file_text(rt, name)  # the live index is as before
        assert _staged_exists(rt, change.id)
        with pytest.raises(Conflict, match="held by knowledge CI"):
            rt.sync(rt.sources.get(WS, "files"))
        ci.reject(WS, change.id, by="test")
        assert not _staged_exists(rt, change.id) and old in _file_text(rt, name)
        again = rt.sync(rt.sources.get(WS, "files"))  # the rejected file is skipped until it changes again
        assert again.written == 0 and len(ci.list(WS, status=ChangeStatus.PENDING)) == 0

        notes.write_text(notes.read_text(encoding="utf-8").replace(new, new + " "), encoding="utf-8")
        held = rt.sync(rt.sources.get(WS, "files"))
        change = ci.list(WS, limit=1)[0]
        assert held.written == 1 and change.status is ChangeStatus.PENDING
        ci.accept(WS, change.id, by="test")
        assert new in _file_text(rt, name) and not _staged_exists(rt, change.id)

        notes.write_text((SAMPLES / "files" / name).read_text(encoding="utf-8"), encoding="utf-8")
        (folder / "broken.pdf").unlink()
        mended = rt.sync(rt.sources.get(WS, "files"))
        assert mended.written == 1 and ci.list(WS, limit=1)[0].status is ChangeStatus.PASSED
        assert old in _file_text(rt, name)
    finally:
        ci.settings = settings
        rt.sources.update(WS, "files", options={"path": str(SAMPLES / "files")})
