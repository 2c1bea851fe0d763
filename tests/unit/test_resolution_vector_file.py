"""Unit vectors kept on disk (``app.resolutions.vector_file``): a second ``UnitVectors`` (another process
too) reads the stored vectors without calling its encoder; a model change misses and drops the old
model's rows; the file is bounded; concurrent writers lose nothing; an unusable file only costs
embedding. The counting fake encoder of ``test_resolution_unit_vectors`` (plumbing only)."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from app.resolutions.duplicates import coverage
from app.resolutions.vector_file import VectorFile
from app.resolutions.vectors import UnitVectors
from core.errors import InvalidInput
from tests.unit.test_resolution_unit_vectors import ANSWER, CountingEncoder, _found

ROOT = Path(__file__).resolve().parents[2]
TEXTS = ["alpha unit", "beta unit", "gamma unit"]


def test_a_second_instance_reads_the_stored_vectors_without_embedding(tmp_path: Path) -> None:
    path = tmp_path / "cache" / "unit-vectors.sqlite3"
    first_encoder = CountingEncoder()
    first = UnitVectors(encoder=lambda: first_encoder, kept=VectorFile(path))
    expected = coverage(ANSWER, _found(), first)
    stored = first(TEXTS)
    assert first_encoder.calls and path.exists()

    encoder = CountingEncoder()  # the same model in a fresh instance: nothing in its memory
    second = UnitVectors(encoder=lambda: encoder, kept=VectorFile(path))
    assert coverage(ANSWER, _found(), second) == expected
    assert np.array_equal(second(TEXTS), stored)
    assert encoder.calls == [] and second.misses == 0 and second.file_hits > len(TEXTS)
    again = second.file_hits
    second(TEXTS)  # now from its memory
    assert second.file_hits == again and encoder.calls == []


def test_another_process_reads_them_too(tmp_path: Path) -> None:
    path = tmp_path / "unit-vectors.sqlite3"
    stored = UnitVectors(encoder=CountingEncoder, kept=VectorFile(path))(TEXTS)
    script = (
        "import json, sys\n"
        "from pathlib import Path\n"
        "from app.resolutions.vector_file import VectorFile\n"
        "from app.resolutions.vectors import UnitVectors\n"
        "from tests.unit.test_resolution_unit_vectors import CountingEncoder\n"
        "encoder = CountingEncoder()\n"
        "vectors = UnitVectors(encoder=lambda: encoder, kept=VectorFile(Path(sys.argv[1])))(json.loads(sys.argv[2]))\n"
        "print(json.dumps({'calls': len(encoder.calls), 'vectors': vectors.tolist()}))\n"
    )
    done = subprocess.run([sys.executable, "-c", script, str(path), json.dumps(TEXTS)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert answer["calls"] == 0 and np.array_equal(np.asarray(answer["vectors"], dtype=np.float32), stored)


def test_a_model_change_misses_and_drops_the_old_models_vectors(tmp_path: Path) -> None:
    kept = VectorFile(tmp_path / "v.sqlite3")
    old = UnitVectors(encoder=lambda: CountingEncoder("fake-a"), kept=kept)(TEXTS)
    assert len(kept) == len(TEXTS)
    encoder = CountingEncoder("fake-b")
    new = UnitVectors(encoder=lambda: encoder, kept=VectorFile(tmp_path / "v.sqlite3"))(TEXTS)
    assert encoder.calls == [TEXTS] and not np.array_equal(old, new)
    assert len(kept) == len(TEXTS)  # fake-a's rows are gone
    back = CountingEncoder("fake-a")
    UnitVectors(encoder=lambda: back, kept=kept)(TEXTS)
    assert back.calls == [TEXTS]  # so the old model embeds again


def test_the_file_is_bounded_least_recently_used_first_out(tmp_path: Path) -> None:
    kept = VectorFile(tmp_path / "v.sqlite3", capacity=2)
    UnitVectors(encoder=CountingEncoder, kept=kept)(["one", "two"])
    UnitVectors(encoder=CountingEncoder, kept=kept)(["one"])  # read from the file: "two" is now the oldest
    UnitVectors(encoder=CountingEncoder, kept=kept)(["three"])
    assert len(kept) == 2
    encoder = CountingEncoder()
    UnitVectors(encoder=lambda: encoder, kept=kept)(["one", "three", "two"])
    assert encoder.calls == [["two"]]
    with pytest.raises(InvalidInput, match="capacity of at least 1"):
        VectorFile(tmp_path / "v.sqlite3", capacity=0)


def test_concurrent_writers_lose_nothing(tmp_path: Path) -> None:
    path = tmp_path / "v.sqlite3"
    files = [VectorFile(path) for _ in range(4)]
    errors: list[BaseException] = []

    def write(n: int) -> None:
        try:
            for batch in range(10):
                UnitVectors(encoder=CountingEncoder, kept=files[n])([f"w{n} b{batch} t{i}" for i in range(20)])
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(VectorFile(path)) == 4 * 10 * 20
    assert all(f._broken is None for f in files)


def test_an_unusable_file_only_costs_embedding(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "v.sqlite3"
    path.write_bytes(b"this is not a SQLite database, " * 100)
    encoder = CountingEncoder()
    cached = UnitVectors(encoder=lambda: encoder, kept=VectorFile(path))
    with caplog.at_level(logging.WARNING, logger="app.resolutions.vector_file"):
        first = cached(TEXTS)
        cached(["delta unit"])
    assert np.array_equal(first, CountingEncoder().embed_documents(TEXTS))
    assert encoder.calls == [TEXTS, ["delta unit"]]
    warned = [r.getMessage() for r in caplog.records]
    assert len(warned) == 1 and "are not kept in" in warned[0] and "DatabaseError" in warned[0]
