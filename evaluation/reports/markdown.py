"""The Markdown report: headline metrics with definitions, tables, and the failing cases (for PRs)."""

from __future__ import annotations

from typing import Any

MAX_FAILURES = 40


def fmt(value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.1f}" if abs(value) >= 10 else f"{value:.3f}"
    return str(value)


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def render_markdown(report: dict[str, Any]) -> str:
    totals, metrics, counts = report["totals"], report["metrics"], report["counts"]
    dataset = report["dataset"]
    lines = [
        f"# Evaluation: {dataset['name']}",
        "",
        f"{totals['cases']} cases: {totals['scored']} scored, {totals['passed']} passed, "
        f"{totals['unsupported']} not supported yet, {totals['errors']} errors. "
        f"Workspace `{report.get('workspace', '?')}`, {fmt(report.get('seconds'))} s.",
        "",
        "## Metrics",
        "",
        "| metric | value | n | definition |",
        "|---|---|---|---|",
    ]
    for name, value in metrics.items():
        lines.append(f"| `{name}` | {fmt(value)} | {counts.get(name, '')} | "
                     f"{_cell(report['definitions'].get(name, ''))} |")
    lines += ["", "## Handoffs by reason", "", "| reason | precision | recall | F1 | expected | predicted |",
              "|---|---|---|---|---|---|"]
    for reason, row in report["handoff_by_reason"].items():
        if row["support"] or row["predicted"]:
            lines.append(f"| {reason} | {fmt(row['precision'])} | {fmt(row['recall'])} | {fmt(row['f1'])} | "
                         f"{row['support']} | {row['predicted']} |")
    cal = report["calibration"]
    suggestion = cal.get("suggestion") or {}
    lines += ["", "## Confidence", "",
              f"{cal['n']} decisions on the confidence path, {cal['positives']} correct. ECE {fmt(cal['ece'])}, "
              f"AUROC {fmt(cal['auroc'])}."]
    if suggestion.get("threshold") is not None:
        lines.append(
            f"Suggested answer threshold for precision >= {suggestion['target_precision']}: "
            f"**{suggestion['threshold']}** (precision {fmt(suggestion['precision'])}, answers "
            f"{fmt(suggestion['coverage'])} of these questions); the agent uses "
            f"{fmt(report.get('agent', {}).get('answer_threshold'))}.")
    elif suggestion:
        lines.append(f"No threshold reaches precision {suggestion['target_precision']}.")
    splits = report.get("calibration_by_split", {}).items()
    for name, table in [("all cases", cal), *((f"split {k}", v) for k, v in splits)]:
        lines += ["", f"Reliability, {name} (n {table['n']}, ECE {fmt(table['ece'])}, "
                      f"AUROC {fmt(table['auroc'])}):", "",
                  "| confidence bin | decisions | mean confidence | share correct | gap |", "|---|---|---|---|---|"]
        lines += [f"| {b['lower']:.1f}-{b['upper']:.1f} | {b['count']} | {fmt(b['confidence'])} | "
                  f"{fmt(b['accuracy'])} | {fmt(b['accuracy'] - b['confidence'])} |"
                  for b in table["bins"] if b["count"]]
    lines += ["", "## Per language", "", "| language | scored | pass rate | outcome accuracy | handoff precision | "
              "handoff recall | calibrated | ECE | AUROC |", "|---|---|---|---|---|---|---|---|---|"]
    for lang, row in report.get("per_language", {}).items():
        lines.append(f"| {lang} | {row['scored']} | {fmt(row['pass_rate'])} | {fmt(row['outcome_accuracy'])} | "
                     f"{fmt(row['handoff_precision'])} | {fmt(row['handoff_recall'])} | {row['calibrated']} | "
                     f"{fmt(row['ece'])} | {fmt(row['auroc'])} |")
    lines += ["", "## Pass rate per tag", "", "| tag | cases | scored | passed | pass rate |", "|---|---|---|---|---|"]
    for tag, row in report["per_tag"].items():
        lines.append(f"| {tag} | {row['cases']} | {row['scored']} | {row['passed']} | {fmt(row['pass_rate'])} |")
    if report["unsupported"]:
        lines += ["", "## Not supported yet", ""]
        lines += [f"- `{u['id']}`: {u['reason']}" for u in report["unsupported"]]
    lines += ["", "## LLM judge", "", report["llm_judge"]["why"]]
    failures = report["failures"]
    lines += ["", f"## Failing cases ({len(failures)})", ""]
    for f in failures[:MAX_FAILURES]:
        lines.append(f"### `{f['id']}` ({', '.join(f['tags'])})")
        if f["reason"]:
            lines.append(f"- error: {f['reason']}")
        for check in f["failed"]:
            lines.append(f"- **{check['name']}** (turn {check['turn'] + 1}): {_cell(check['detail'])}")
        for i, t in enumerate(f["turns"], start=1):
            reason = f", {t['handoff_reason']}" if t["handoff_reason"] else ""
            lines.append(f"- turn {i}: _{_cell(t['message'])}_ -> {t['action']}{reason} "
                         f"(confidence {t['confidence']:.2f}): {_cell(t['reply'][:240])}")
        lines.append("")
    if len(failures) > MAX_FAILURES:
        lines.append(f"... and {len(failures) - MAX_FAILURES} more in report.json / report.html.")
    return "\n".join(lines) + "\n"
