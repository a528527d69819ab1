"""The report as one self-contained HTML page: figures are embedded PNGs (data: URIs), no script, no server."""
from __future__ import annotations

import base64
import html
from typing import Any

from .leaderboard import COST, Leaderboard, fmt

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1200px; color: #222; }
table { border-collapse: collapse; font-size: 13px; margin: 0.5em 0 1.5em; }
th, td { border: 1px solid #ccc; padding: 3px 6px; text-align: right; }
th { background: #f3f3f3; } td.text { text-align: left; max-width: 28em; }
tr.champion td { background: #e8f5e9; font-weight: 600; }
figure { display: inline-block; margin: 0 1em 1em 0; } figcaption { font-size: 13px; color: #555; }
.wide { overflow-x: auto; }
.summary { background: #f7f7f7; border-left: 4px solid #2e7d32; padding: 0.6em 1em; }
"""


def image(data: bytes | None, alt: str, caption: str = "") -> str:
    if not data:
        return f"<p><em>{html.escape(alt)}: not available.</em></p>"
    src = "data:image/png;base64," + base64.b64encode(data).decode()
    cap = f"<figcaption>{html.escape(caption)}</figcaption>" if caption else ""
    return f'<figure><img src="{src}" alt="{html.escape(alt)}">{cap}</figure>'


def table(header: list[str], rows: list[list[Any]], classes: list[str] | None = None,
          text_cols: frozenset[int] | set[int] = frozenset()) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header) if any(header) else ""
    body = []
    for i, row in enumerate(rows):
        cls = f' class="{classes[i]}"' if classes and classes[i] else ""
        cells = "".join(f'<td{" class=text" if j in text_cols else ""}>{html.escape(fmt(v))}</td>'
                        for j, v in enumerate(row))
        body.append(f"<tr{cls}>{cells}</tr>")
    return f"<table>{f'<tr>{head}</tr>' if head else ''}{''.join(body)}</table>"


def leaderboard_table(board: Leaderboard) -> str:
    numbers = [k for k in ("fid", "fid_mnist", "precision", "recall", "precision_mnist", "recall_mnist", "density",
                           "coverage", "inception_samples", "eval_samples", "epoch", *COST)
               if any(k in r for r in board.rows)]
    header = ["rank", "trial", "status", "stop reason", *board.swept, *numbers]
    rows = [[r["rank"] or "", r["trial"], r["status"], r["reason"], *(r["params"].get(k, "") for k in board.swept),
             *(r.get(k, "") for k in numbers)] for r in board.rows]
    classes = ["champion" if r["run_id"] == board.champion else "" for r in board.rows]
    return f"<div class='wide'>{table(header, rows, classes, text_cols={1, 2, 3})}</div>"


def render(*, title: str, facts: list[tuple[str, str]], summary: str, board: Leaderboard,
           cost_rows: list[tuple[str, str]], figures: list[tuple[str, bytes | None, str]],
           champion_grid: bytes | None, samplers: list[list[Any]], importance: bytes | None,
           lineage: list[list[Any]] = ()) -> str:
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
             f"<style>{STYLE}</style></head><body>",
             f"<h1>{html.escape(title)}</h1>",
             table(["", ""], [[k, v] for k, v in facts], text_cols={0, 1}),
             f"<p class='summary'>{html.escape(summary)}</p>",
             "<h2>Leaderboard</h2>",
             f"<p>Ranked by the champion rule ({html.escape(board.basis or 'no completed trial')}): the same metric, "
             "sample count and metrics version; Inception fid where the finalists have it, else fid_mnist. Trials "
             "that are not ranked follow, by status and the sweep's metric.</p>",
             leaderboard_table(board),
             "<h2>What the study cost</h2>", table(["", ""], [list(r) for r in cost_rows], text_cols={0}),
             "<h2>Learning curves and trade-offs</h2>"]
    parts += [image(data, alt, caption) for alt, data, caption in figures]
    if lineage:  # a PBT study: which member took whose state, when
        parts += ["<h2>PBT lineage</h2>", "<p>Each exploit: the member that took a better member's weights, "
                  "optimizer state and average, at that step, and went on with explored hyperparameters.</p>",
                  table(["trial", "step", "took the state of"], lineage, text_cols={0, 2})]
    parts += ["<h2>The champion's samples</h2>", image(champion_grid, "champion sample grid",
                                                        "the last sample grid its run logged")]
    parts += ["<h2>Samplers on the champion</h2>",
              table(["job", "trial", "status", "sampler", "fid", "fid_mnist", "acceptance_rate", "samples"],
                    samplers, text_cols={0, 1, 2, 3}) if samplers
              else "<p><em>No sampler sweep was run on the champion.</em></p>"]
    parts += ["<h2>Which hyperparameters mattered</h2>",
              image(importance, "Optuna hyperparameter importance", "optuna.importance (fANOVA) over the trials")]
    parts.append("</body></html>")
    return "\n".join(parts)
