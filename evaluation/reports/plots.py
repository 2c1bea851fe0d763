"""The report's plots as base64 PNG (matplotlib, Agg backend: no display needed)."""

from __future__ import annotations

import base64
import io
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.figure import Figure

ACCENT, MUTED, BAD = "#2f6f4f", "#b9c9bf", "#b5483b"


def _png(fig: Figure) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def reliability_diagram(calibration: dict[str, Any]) -> str | None:
    """Accuracy per confidence bin against the diagonal, with the bin sizes as a second panel."""
    bins = calibration.get("bins") or []
    if not bins:
        return None
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(5.2, 5.2), height_ratios=[3, 1], sharex=True)
    centers = [(b["lower"] + b["upper"]) / 2 for b in bins]
    accuracy = [b["accuracy"] if b["accuracy"] is not None else 0.0 for b in bins]
    top.bar(centers, accuracy, width=0.095, color=ACCENT, label="accuracy")
    gaps = [(c, b["confidence"]) for c, b in zip(centers, bins, strict=True) if b["confidence"] is not None]
    top.scatter([g[0] for g in gaps], [g[1] for g in gaps], color=BAD, zorder=3, s=18, label="mean confidence")
    top.plot([0, 1], [0, 1], linestyle="--", color="#555555", linewidth=1, label="perfect calibration")
    top.set_ylim(0, 1)
    top.set_ylabel("accuracy")
    ece = calibration.get("ece")
    top.set_title(f"Reliability diagram (ECE {ece:.3f})" if ece is not None else "Reliability diagram")
    top.legend(loc="upper left", fontsize=8)
    bottom.bar(centers, [b["count"] for b in bins], width=0.095, color=MUTED)
    bottom.set_xlim(0, 1)
    bottom.set_xlabel("confidence")
    bottom.set_ylabel("decisions")
    return _png(fig)


def tag_bars(per_tag: dict[str, dict[str, Any]]) -> str | None:
    """Pass rate per tag (horizontal bars, case counts in the labels)."""
    rows = [(tag, row["pass_rate"], row["scored"]) for tag, row in per_tag.items() if row["pass_rate"] is not None]
    if not rows:
        return None
    rows.sort(key=lambda r: r[0], reverse=True)
    fig, ax = plt.subplots(figsize=(6.4, 0.28 * len(rows) + 1.0))
    ax.barh([f"{t} ({n})" for t, _, n in rows], [r for _, r, _ in rows],
            color=[ACCENT if r >= 0.8 else BAD if r < 0.5 else "#c9a227" for _, r, _ in rows])
    ax.set_xlim(0, 1)
    ax.set_xlabel("pass rate")
    ax.set_title("Pass rate per tag (cases)")
    ax.tick_params(axis="y", labelsize=8)
    return _png(fig)


def latency_histogram(latencies_ms: list[float], p50: float | None, p95: float | None) -> str | None:
    """Distribution of per-turn latency with the p50 and p95 marked."""
    if not latencies_ms:
        return None
    fig, ax = plt.subplots(figsize=(6.4, 3.2))
    ax.hist(latencies_ms, bins=min(30, max(5, len(latencies_ms) // 4)), color=ACCENT)
    for value, label in ((p50, "p50"), (p95, "p95")):
        if value is not None:
            ax.axvline(value, color=BAD, linestyle="--", linewidth=1)
            ax.text(value, ax.get_ylim()[1] * 0.92, f" {label} {value:.0f} ms", color=BAD, fontsize=8)
    ax.set_xlabel("milliseconds per agent turn")
    ax.set_ylabel("turns")
    ax.set_title("Latency")
    return _png(fig)
