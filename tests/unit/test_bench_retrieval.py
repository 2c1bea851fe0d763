"""The retrieval benchmark's own rules: split, heading normalization, gold matching, metrics,
and the committed dev sets' format (every set: ids unique, splits as the hash says, gold counts)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.retrieval.configs import load_configs
from bench.retrieval.metrics import score
from bench.retrieval.sets import SETS, Gold, Question, Unit, discover, normalize, split_of


def _unit(uri: str, section: tuple[str, ...], text: str = "body", title: str = "Page") -> Unit:
    return Unit(chunk_id=uri + "/".join(section), uri=uri, title=title, section=section, text=text, embed_text=text)


def test_split_is_a_stable_40_60_hash_of_the_id() -> None:
    splits = [split_of(f"q-{i}") for i in range(2000)]
    assert split_of("debian-faq-o-001") == split_of("debian-faq-o-001")
    assert 0.35 < splits.count("fit") / len(splits) < 0.45


@pytest.mark.parametrize(("raw", "expected"), [
    ("3.1.10. I have a working Desktop/cluster?", "i have a working desktop cluster"),
    ("Chapter 7. Basics of the Debian package", "basics of the debian package"),
    ("  What is  \"sid\"?  ", "what is sid"),
    ("8.1.1. dpkg", "dpkg"),
])
def test_normalize_strips_numbers_punctuation_and_case(raw: str, expected: str) -> None:
    assert normalize(raw) == expected


def test_a_unit_matches_by_page_suffix_and_section_path_title_or_inline_heading() -> None:
    merged = _unit("http://127.0.0.1:8000/kernel.en.html", ("Chapter 10. Debian and the kernel",),
                   text="10.2. What tools does Debian provide?\nmake-kpkg builds kernels.")
    assert merged.matches(Gold("kernel.en.html", "10.2. What tools does Debian provide?"))
    assert merged.matches(Gold("kernel.en.html", "Debian and the kernel"))
    assert merged.matches(Gold("kernel.en.html", None))
    assert not merged.matches(Gold("other.en.html", None))
    assert not merged.matches(Gold("kernel.en.html", "10.4. Can I safely de-install an old kernel?"))
    assert not _unit("file:///x/akernel.en.html", ()).matches(Gold("kernel.en.html", None))


def test_scores_count_the_first_hit_rank_and_distinct_gold_sections() -> None:
    gold = (Gold("a.html", "One"), Gold("b.html", "Two"))
    q = Question(id="q", type="multi", question="?", gold=gold, split="test")
    miss, one, two = _unit("/c.html", ("x",)), _unit("/a.html", ("One",)), _unit("/b.html", ("Two",))
    assert score(q, [miss, one, one, two]) == {"hit@1": 0.0, "hit@5": 1.0, "mrr@10": 0.5, "recall@10": 1.0}
    assert score(q, [miss] * 10 + [one]) == {"hit@1": 0.0, "hit@5": 0.0, "mrr@10": 0.0, "recall@10": 0.0}
    assert score(q, [two])["recall@10"] == 0.5


def test_every_committed_set_follows_the_format() -> None:
    for dev in discover():
        ids = [q.id for q in dev.questions]
        assert len(ids) == len(set(ids)), dev.name
        assert all(q.split == split_of(q.id) for q in dev.questions), dev.name
        counts = {t: sum(q.type == t for q in dev.questions) for t in dev.types}
        assert counts.get("paraphrase", 0) >= 40, (dev.name, counts)
        assert counts.get("multi", 30) >= 30, (dev.name, counts)  # a language set declares no multi type
        assert all(counts.values()), (dev.name, "a declared type without questions", counts)
        assert all(2 <= len(q.gold) <= 10 for q in dev.questions if q.type == "multi"), dev.name
        spec = json.loads((dev.folder / "set.json").read_text(encoding="utf-8"))
        assert spec["source"]["kind"] in ("website", "folder") and spec["notes"], dev.name


def test_the_default_configurations_load_and_a_bad_file_is_refused(tmp_path: Path) -> None:
    assert load_configs()[0].name == "knowdesk"
    bad = tmp_path / "c.json"
    bad.write_text('[{"name": "x", "lists": "both"}, {"name": "x"}]', encoding="utf-8")
    with pytest.raises(SystemExit, match="unique name"):
        load_configs(bad)
    assert SETS.is_dir()


def test_a_set_declares_its_question_types_and_a_question_of_another_type_is_refused(tmp_path: Path) -> None:
    from bench.retrieval.sets import load

    spec = {"name": "x", "root": str(tmp_path), "types": ["original", "paraphrase"], "notes": "n",
            "source": {"kind": "folder", "options": {}}}
    (tmp_path / "set.json").write_text(json.dumps(spec), encoding="utf-8")
    line = {"id": "x-m-1", "type": "multi", "question": "q", "gold": [{"page": "a"}, {"page": "b"}], "split": "fit"}
    (tmp_path / "questions.jsonl").write_text(json.dumps(line) + "\n", encoding="utf-8")
    with pytest.raises(SystemExit, match="types of this set: original, paraphrase"):
        load(tmp_path)
    (tmp_path / "set.json").write_text(json.dumps(spec | {"types": ["faq"]}), encoding="utf-8")
    with pytest.raises(SystemExit, match="'types' lists question types"):
        load(tmp_path)
    every = {"types": ["original", "paraphrase", "multi"]}
    (tmp_path / "set.json").write_text(json.dumps(spec | every), encoding="utf-8")
    assert load(tmp_path).types == ("original", "paraphrase", "multi")
