"""Learning from human resolutions, measured (issue 20, item 2; rubric in README "Drafts from resolutions").

On a fresh home with the quickstart's knowledge (sample help center, training and files), each scripted
case of ``bench/data/resolutions.json`` is a customer question the agent hands off (a question it only
clarifies or answers is followed by "I'd like to talk to a person please") and a person's reply through
``Resolutions.reply``. Measured: the share of resolutions that yield a draft; the share of drafts a
reviewer would accept by the rubric (redacted, keeps every fact of the reply, not a duplicate, a question
as title), scored mechanically; then, with every draft approved, the share of the same questions and of a
reworded version of each answered without handoff (and citing the approved article), against the same
questions asked before approval; and the share of drafts in the conversation's locale (cases r35-r40 are
German, Spanish, French and Portuguese; reported apart as ``other_languages``). Cases whose number is
divisible by 3 are the fit part (used to choose ``DUPLICATE``); the rest is the test part, reported apart.

    .venv/bin/python -m bench.resolutions [--home DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from app.resolutions.models import Draft, DraftKind
from app.runtime import Runtime
from bench.common import save
from core.settings import Settings

WORKSPACE = "default"
CASES = Path(__file__).with_name("data") / "resolutions.json"
FOLLOW_UP = "I'd like to talk to a person please"
PLACEHOLDERS = ("[EMAIL]", "[PHONE]", "[CARD]", "[IBAN]", "[ADDRESS]")


def is_fit(case: dict[str, Any]) -> bool:
    return int(case["id"][1:]) % 3 == 0


def ask(rt: Runtime, text: str) -> dict[str, Any]:
    """One question in a new session: the agent's action and the documents it cited."""
    session = rt.agent.store.create(WORKSPACE, channel="web")
    d = rt.agent.handle(WORKSPACE, session.id, text)
    return {"session": session.id, "action": d.action.value, "confidence": d.confidence,
            "cited": [c.document_id for c in d.citations]}


def handed_off(rt: Runtime, question: str) -> tuple[str, str]:
    """The handoff a question ends in, and what the agent first did with it."""
    first = ask(rt, question)
    if first["action"] != "handoff":
        assert rt.agent.handle(WORKSPACE, first["session"], FOLLOW_UP).action.value == "handoff"
    return rt.agent.store.handoffs(WORKSPACE, session_id=first["session"], limit=1)[0].id, first["action"]


def rubric(case: dict[str, Any], draft: Draft) -> dict[str, bool]:
    """The reviewer's rubric, scored mechanically (README): each check True when it holds."""
    shown = f"{draft.title}\n{draft.answer}\n{draft.question}"
    covered = case.get("covered_by")
    return {
        "redacted": not any(p.lower() in shown.lower() for p in case["private"])
        and not any(p in draft.answer for p in PLACEHOLDERS),
        "facts": all(f in draft.answer for f in case["facts"]),
        "not_duplicate": (draft.kind is DraftKind.EDIT and draft.slug == covered) if covered else True,
        "question_title": draft.title.endswith("?") and len(draft.title.split()) >= 3,
    }


def share(rows: list[dict[str, Any]], key: str) -> float | None:
    return round(sum(bool(r[key]) for r in rows) / len(rows), 3) if rows else None


def summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    drafted = [r for r in rows if r["drafted"]]
    return {
        "cases": len(rows),
        "handed_off_at_once": share(rows, "handed_off_at_once"),
        "drafted": share(rows, "drafted"),
        "accepted_of_drafts": share(drafted, "accepted"),
        "accepted_of_cases": share(rows, "accepted"),
        "checks_of_drafts": {k: share([{"v": r["checks"][k]} for r in drafted], "v")
                             for k in ("redacted", "facts", "not_duplicate", "question_title")},
        "edits": sum(r["kind"] == "edit" for r in drafted),
        "in_the_conversation_locale": share(drafted, "locale_ok"),
        "answered_before": {"same": share(rows, "answered_before"), "reworded": share(rows, "reworded_before")},
        "answered_after": {"same": share(rows, "answered_after"), "reworded": share(rows, "reworded_after")},
        "answered_after_citing_article": {"same": share(rows, "cited_after"),
                                          "reworded": share(rows, "reworded_cited_after")},
    }


def run(rt: Runtime, cases: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for case in cases:
        handoff, first = handed_off(rt, case["question"])
        got = rt.resolutions.reply(WORKSPACE, handoff, case["reply"], by="bench")
        row: dict[str, Any] = {"id": case["id"], "fit": is_fit(case), "language": case.get("locale", "en"),
                               "handed_off_at_once": first == "handoff",
                               "answered_before": first == "answer", "drafted": got.draft is not None,
                               "skipped": got.skipped, "draft": got.draft}
        if got.draft is not None:
            checks = rubric(case, got.draft)
            row |= {"checks": checks, "accepted": all(checks.values()), "kind": got.draft.kind.value,
                    "slug": got.draft.slug, "title": got.draft.title, "answer": got.draft.answer,
                    "locale": got.draft.locale, "locale_ok": got.draft.locale == case.get("locale", "en"),
                    "similar": [s.model_dump() for s in got.draft.similar]}
        else:
            row |= {"accepted": False}
        rows.append(row)
    for case, row in zip(cases, rows, strict=True):  # the reworded questions, before anything is approved
        row["reworded_before"] = ask(rt, case["reworded"])["action"] == "answer"
    for row in rows:
        draft = row.pop("draft")
        if draft is not None:
            row["published"] = rt.resolutions.approve(WORKSPACE, draft.id, by="bench").published
    for case, row in zip(cases, rows, strict=True):
        slug = (row.get("published") or {}).get("slug")
        for answered_key, cited_key, text in (("answered_after", "cited_after", case["question"]),
                                              ("reworded_after", "reworded_cited_after", case["reworded"])):
            after = ask(rt, text)
            row[answered_key] = after["action"] == "answer"
            row[answered_key.replace("after", "action")] = f'{after["action"]} {after["confidence"]:.2f}'
            row[cited_key] = row[answered_key] and slug is not None and any(
                d.split(":", 1)[-1].startswith(f"{slug}/") for d in after["cited"])
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--home", type=Path, help="a KNOWDESK_HOME to use (else a fresh temporary one)")
    args = parser.parse_args()
    cases = json.loads(CASES.read_text(encoding="utf-8"))["cases"]
    with tempfile.TemporaryDirectory() as tmp:
        rt = Runtime(Settings(home=args.home or Path(tmp) / "home"))
        from bench.conflicts import quickstart_knowledge

        quickstart_knowledge(rt, WORKSPACE)
        load_before = os.getloadavg()
        started = time.perf_counter()
        rows = run(rt, cases)
        seconds = time.perf_counter() - started
        rt.qdrant.close()
    result: dict[str, Any] = {"all": summary(rows), "fit": summary([r for r in rows if r["fit"]]),
              "test": summary([r for r in rows if not r["fit"]]),
              "english": summary([r for r in rows if r["language"] == "en"]),
              "other_languages": summary([r for r in rows if r["language"] != "en"]), "seconds": round(seconds, 1),
              "loadavg_before": load_before, "loadavg_after": os.getloadavg(), "cases": rows}
    path = save("resolutions", result)
    t, a = result["test"], result["all"]
    print(f"test ({t['cases']} cases): drafted {t['drafted']}, accepted {t['accepted_of_drafts']} of drafts; "
          f"answered without handoff after approval {t['answered_after']} (before {t['answered_before']}); "
          f"all {a['cases']}: drafted {a['drafted']}, accepted {a['accepted_of_drafts']}, after {a['answered_after']}"
          f"; other languages: {result['other_languages']['accepted_of_drafts']} accepted, in their locale "
          f"{result['other_languages']['in_the_conversation_locale']}"
          f"; {seconds:.0f} s, load {load_before} -> {result['loadavg_after']}; {path}", file=sys.stderr)


if __name__ == "__main__":
    main()
