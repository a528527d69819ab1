"""The report's charts, drawn with matplotlib (Agg) and handed back as PNG bytes."""
from __future__ import annotations

import io
import math
from typing import Sequence

import matplotlib

matplotlib.use("Agg")  # no display: the report is written by scripts and servers
import matplotlib.pyplot as plt  # noqa: E402

STATUS_COLORS = {"completed": "tab:green", "pruned": "tab:orange", "diverged": "tab:red", "failed": "tab:gray",
                 "running": "tab:blue"}


def png(fig) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    return buffer.getvalue()


def learning_curves(curves: list[dict], metric: str, champion: str | None) -> bytes:
    """``metric`` against epoch for every trial; a pruned or failed trial's line ends with an x where it stopped."""
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for c in curves:
        if not c["points"]:
            continue
        x, y = zip(*c["points"])
        best = c["run_id"] == champion
        ax.plot(x, y, color="black" if best else STATUS_COLORS.get(c["status"], "tab:blue"),
                lw=2.5 if best else 1, alpha=1 if best else 0.7, zorder=3 if best else 2,
                label=f"champion ({c['label']})" if best else None)
        if c["status"] != "completed":
            ax.plot(x[-1], y[-1], "x", color=STATUS_COLORS.get(c["status"], "tab:gray"), ms=8)
    for status, color in STATUS_COLORS.items():
        if any(c["status"] == status for c in curves):
            ax.plot([], [], color=color, label=status + (" (x: stopped)" if status != "completed" else ""))
    ax.set_xlabel("epoch")
    ax.set_ylabel(metric)
    ax.set_title(f"{metric} of every trial (lower is better)")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return png(fig)


def pareto_front(points: Sequence[tuple[float, float]], minimize_x: bool, minimize_y: bool) -> list[int]:
    """Indices of the points no other point beats on both axes."""
    def beats(a, b):
        ax_, ay = (a[0] if minimize_x else -a[0]), (a[1] if minimize_y else -a[1])
        bx, by = (b[0] if minimize_x else -b[0]), (b[1] if minimize_y else -b[1])
        return ax_ <= bx and ay <= by and (ax_ < bx or ay < by)
    return [i for i, p in enumerate(points) if not any(beats(q, p) for j, q in enumerate(points) if j != i)]


def pareto(points: list[dict], x: str, y: str, minimize_x: bool, minimize_y: bool, title: str,
           champion: str | None) -> bytes:
    """A scatter of trials on two axes, its Pareto front joined by a line, the champion circled."""
    fig, ax = plt.subplots(figsize=(6, 4.5))
    usable = [p for p in points if math.isfinite(p.get(x, math.nan)) and math.isfinite(p.get(y, math.nan))]
    for p in usable:
        ax.scatter(p[x], p[y], color=STATUS_COLORS.get(p["status"], "tab:blue"), s=30, zorder=2)
        ax.annotate(p["label"], (p[x], p[y]), fontsize=7, xytext=(3, 3), textcoords="offset points")
        if p["run_id"] == champion:
            ax.scatter(p[x], p[y], s=160, facecolors="none", edgecolors="black", lw=2, zorder=3, label="champion")
    front = sorted((usable[i] for i in pareto_front([(p[x], p[y]) for p in usable], minimize_x, minimize_y)),
                   key=lambda p: p[x])
    if front:
        ax.plot([p[x] for p in front], [p[y] for p in front], "--", color="black", lw=1, label="Pareto front")
    ax.set_xlabel(x + (" (lower is better)" if minimize_x else " (higher is better)"))
    ax.set_ylabel(y + (" (lower is better)" if minimize_y else " (higher is better)"))
    ax.set_title(title)
    ax.grid(alpha=0.3)
    if usable:
        ax.legend(fontsize=8)
    else:
        ax.text(0.5, 0.5, "no trial has both numbers", ha="center", va="center", transform=ax.transAxes)
    return png(fig)
