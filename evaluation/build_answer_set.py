"""Builds ``evaluation/datasets/debian-answers.jsonl``: "is this answer correct and grounded" cases on
real material, from the Debian dev sets in ``bench/retrieval/sets``.

The knowledge is the Debian FAQ (package ``debian-faq``, its ``*.en.html`` pages indexed as a folder
source). Every question of the ``debian-faq`` set is answerable, and answering it is right when the
agent cites (or, not answering, ranks first) its gold page; every question of the ``postgresql`` set
is about documentation the workspace does not hold, so answering it is never right. Each case keeps
its dev set's split (``split:fit`` / ``split:test``, assigned when the sets were written, before any
fitting): ``evaluation/fit_confidence.py`` fits on the fit part, the report's ``calibration.test.*``
measures the test part.

    python -m evaluation.build_answer_set          # rewrites the dataset from the dev sets
    KNOWDESK_HOME=... knowdesk sources add faq --kind folder -o path=DIR_WITH_THE_EN_HTML_PAGES
    KNOWDESK_HOME=... knowdesk sync faq && knowdesk eval evaluation/datasets/debian-answers.jsonl --report DIR
"""

from __future__ import annotations

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SETS = ROOT / "bench" / "retrieval" / "sets"
OUT = Path(__file__).resolve().parent / "datasets" / "debian-answers.jsonl"
ANSWERABLE = "debian-faq"
UNANSWERABLE = "postgresql"
HEADER = {
    "kind": "knowdesk.eval.dataset", "version": 1, "name": "debian-answers-v1",
    "description": "Answer correctness on the Debian FAQ (folder source over /usr/share/doc/debian/FAQ/*.en.html, "
                   "source name faq): the debian-faq dev set's questions must be answered citing their gold page; "
                   "the postgresql dev set's questions are not in this knowledge and must not be answered. "
                   "Splits are the dev sets' own. Built by evaluation/build_answer_set.py.",
}


def _questions(name: str) -> list[dict[str, object]]:
    path = SETS / name / "questions.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def build() -> list[dict[str, object]]:
    cases: list[dict[str, object]] = []
    for q in _questions(ANSWERABLE):
        pages = sorted({str(g["page"]) for g in q["gold"]})  # type: ignore[attr-defined]
        cases.append({"id": str(q["id"]), "messages": [q["question"]],
                      "expect": {"outcome": "answer", "relevant": pages}, "language": "en",
                      "tags": ["answerable", str(q["type"]), f"split:{q['split']}"]})
    for q in _questions(UNANSWERABLE):
        cases.append({"id": f"unanswerable-{q['id']}", "messages": [q["question"]],
                      "expect": {"outcome": "no_answer"}, "language": "en",
                      "tags": ["unanswerable", str(q["type"]), f"split:{q['split']}"]})
    return cases


def main() -> int:
    cases = build()
    lines = [json.dumps(HEADER, ensure_ascii=False)] + [json.dumps(c, ensure_ascii=False) for c in cases]
    OUT.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"{OUT}: {len(cases)} cases")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
