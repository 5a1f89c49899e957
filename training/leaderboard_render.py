"""The leaderboard rendered: a text table for the terminal, Markdown, CSV (spreadsheet-safe) and a static HTML page
with a sortable table and a bar chart; :func:`export` writes the three files. Ranked rows and the IQM follow
:func:`fusiongym.training.leaderboard.is_ranked`.
"""

from __future__ import annotations

import csv
import html
import io
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from fusiongym.training.evaluation import DEFAULT_EPISODES, Estimate, iqm_across_levels
from fusiongym.training.leaderboard import COLUMNS, display_name, is_ranked


def _ci(value: float, low: float, high: float, digits: int = 2) -> str:
    return f"{value:.{digits}f} [{low:.{digits}f}, {high:.{digits}f}]"


def agent_iqm(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per agent: IQM of success rate across the levels it was evaluated on, with a stratified bootstrap CI.

    Only ranked rows count (:func:`is_ranked`): an ablation or an evaluation of another size is not the agent's score.
    """
    by_agent: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        if is_ranked(row):
            by_agent.setdefault(row["agent"], []).append(row)
    summary = []
    for agent, items in by_agent.items():
        samples = [r["episode_success"] or [r["success_rate"]] * r["episodes"] for r in items]
        estimate: Estimate = iqm_across_levels(samples)
        summary.append({"agent": agent, "levels": len(items), "iqm_success": estimate.value,
                        "iqm_low": estimate.low, "iqm_high": estimate.high})
    return sorted(summary, key=lambda s: (-s["levels"], -s["iqm_success"]))


TABLE_COLUMNS = ("agent", "algo", "policy", "success rate [95% CI]", "return [95% CI]", "length", "episodes",
                 "train steps", "params", "date")


UNRANKED_NOTE = ("Not ranked, and left out of the IQM: rows marked '(no <key>)', evaluated with that observation "
                 f"key zeroed, and rows marked '(unranked)', of other than the protocol's {DEFAULT_EPISODES} "
                 "episodes.")


def _table_cells(row: dict[str, Any]) -> list[str]:
    episodes = str(row["episodes"]) + ("" if row["episodes"] == DEFAULT_EPISODES else " (unranked)")
    return [display_name(row), row["algo"], row["policy"],
            _ci(row["success_rate"], row["success_low"], row["success_high"]),
            _ci(row["mean_return"], row["return_low"], row["return_high"]), f"{row['mean_length']:.1f}",
            episodes, f"{row['training_steps']:,}", f"{row['parameters']:,}", row["date"][:10]]


def _one_line(text: str) -> str:
    return " ".join(str(text).splitlines())


def render_text(rows: list[dict[str, Any]], highlight: str | None = None) -> str:
    """Aligned plain-text tables, one per env id and split, then the IQM across levels."""
    out: list[str] = []
    for (env_id, split), items in _group(rows).items():
        out.append(f"{env_id} ({split} split)")
        table = [list(TABLE_COLUMNS)] + [[_one_line(c) for c in _table_cells(r)] for r in items]
        widths = [max(len(line[i]) for line in table) for i in range(len(TABLE_COLUMNS))]
        for n, line in enumerate(table):
            mark = "→ " if n and highlight and items[n - 1]["agent"] == highlight else "  "
            out.append(mark + "  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip())
        out.append("")
    if rows:
        if not all(is_ranked(r) for r in rows):
            out += [UNRANKED_NOTE, ""]
        out.append("IQM of success rate across levels (test split; stratified bootstrap 95% CI)")
        summary = agent_iqm([r for r in rows if r["split"] == "test"])
        width = max((len(_one_line(s["agent"])) for s in summary), default=0)
        for s in summary:
            out.append(f"  {_one_line(s['agent']):<{width}}  {_ci(s['iqm_success'], s['iqm_low'], s['iqm_high'])}  "
                       f"({s['levels']} level{'s' if s['levels'] != 1 else ''})")
        if not summary:
            out.append(f"  (no ranked row yet: ranking needs the protocol's {DEFAULT_EPISODES} episodes, nothing "
                       "zeroed)")
    return "\n".join(out) if out else "(the leaderboard is empty)"


def _group(rows: list[dict[str, Any]]) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """Rows by (env id, split), ranked rows first, each part in the order given."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault((row["env_id"], row["split"]), []).append(row)
    return {key: sorted(items, key=lambda r: not is_ranked(r)) for key, items in groups.items()}


def _markdown_cell(text: Any) -> str:
    """A Markdown table cell that cannot end the row or the cell, nor carry HTML: one line, HTML-escaped, with
    backslashes and pipes escaped."""
    return html.escape(_one_line(text)).replace("\\", "\\\\").replace("|", "\\|")


def render_markdown(rows: list[dict[str, Any]], title: str = "fusiongym leaderboard") -> str:
    """Markdown: one table per env id and split, then the IQM across levels."""
    out = [f"# {title}", ""]
    for (env_id, split), items in _group(rows).items():
        out += [f"## {env_id} ({split} split)", "", "| " + " | ".join(TABLE_COLUMNS) + " |",
                "|" + "---|" * len(TABLE_COLUMNS)]
        out += ["| " + " | ".join(_markdown_cell(c) for c in _table_cells(r)) + " |" for r in items]
        out.append("")
    if not all(is_ranked(r) for r in rows):
        out += [UNRANKED_NOTE, ""]
    test_rows = [r for r in rows if r["split"] == "test"]
    if test_rows:
        out += ["## IQM of success rate across levels (test split)", "",
                "| agent | levels | IQM success [95% CI] |", "|---|---|---|"]
        out += [f"| {_markdown_cell(s['agent'])} | {s['levels']} | "
                f"{_ci(s['iqm_success'], s['iqm_low'], s['iqm_high'])} |" for s in agent_iqm(test_rows)]
        out.append("")
    return "\n".join(out)


CSV_COLUMNS = ["id", *[c for c in COLUMNS if c not in ("episode_success", "episode_return")]]


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _csv_cell(value: Any) -> Any:
    """A text that a spreadsheet would run as a formula (``=``, ``+``, ``-``, ``@``, tab, CR first), prefixed with
    ``'`` so that it is shown as text (OWASP's CSV-injection advice); numbers are left as they are."""
    return "'" + value if isinstance(value, str) and value.startswith(_FORMULA_START) else value


def render_csv(rows: list[dict[str, Any]]) -> str:
    """Every stored field (per-episode series left out) as CSV, one submission a line; texts that a spreadsheet
    would take for a formula are neutralised (see :func:`_csv_cell`)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        data = {**row, "seeds": json.dumps(row["seeds"]), "policy_config": json.dumps(row["policy_config"])}
        writer.writerow({key: _csv_cell(value) for key, value in data.items()})
    return buffer.getvalue()


def success_chart_svg(rows: list[dict[str, Any]]) -> str:
    """A grouped bar chart (success rate per level, one bar per agent, 95% CI whiskers) as inline SVG; ranked
    rows only."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    rows = [r for r in rows if is_ranked(r)]
    levels = sorted({r["env_id"] for r in rows})
    agents = sorted({r["agent"] for r in rows})
    figure, axis = plt.subplots(figsize=(max(6.0, 1.6 * len(levels) + 2), 3.8))
    width = 0.8 / max(len(agents), 1)
    for k, agent in enumerate(agents):
        found = {r["env_id"]: r for r in rows if r["agent"] == agent}
        xs = [i + k * width for i, level in enumerate(levels) if level in found]
        values = [found[level]["success_rate"] for level in levels if level in found]
        errors = np.array([[found[lv]["success_rate"] - found[lv]["success_low"],
                            found[lv]["success_high"] - found[lv]["success_rate"]] for lv in levels if lv in found])
        axis.bar(xs, values, width, label=agent, yerr=errors.T if len(errors) else None, capsize=2)
    axis.set_xticks([i + 0.4 - width / 2 for i in range(len(levels))], [lv.split("/")[-1] for lv in levels],
                    fontsize=8)
    axis.set_ylabel("success rate (test)")
    axis.set_ylim(0, 1.05)
    axis.legend(fontsize=7, ncol=2, loc="upper right")
    figure.tight_layout()
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg")
    plt.close(figure)
    svg = buffer.getvalue()
    return svg[svg.index("<svg"):]


_SORT_SCRIPT = """
document.querySelectorAll('table.sortable th').forEach((th, column) => th.addEventListener('click', () => {
  const body = th.closest('table').tBodies[0];
  const ascending = th.dataset.order !== 'asc';
  th.dataset.order = ascending ? 'asc' : 'desc';
  const key = cell => { const v = parseFloat(cell.textContent.replace(/,/g, '')); return isNaN(v) ? cell.textContent : v; };
  [...body.rows].sort((a, b) => { const x = key(a.cells[column]), y = key(b.cells[column]);
    return (x > y ? 1 : x < y ? -1 : 0) * (ascending ? 1 : -1); }).forEach(r => body.appendChild(r));
}));
"""  # noqa: E501  (the page's script, written out as it is)


def render_html(rows: list[dict[str, Any]], title: str = "fusiongym leaderboard") -> str:
    """A static page: a sortable table of every submission (click a header) and the success-rate bar chart."""
    header = ["env", "split", *TABLE_COLUMNS]
    ordered = [r for items in _group(rows).values() for r in items]
    body = "\n".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in
                                      [r["env_id"], r["split"], *_table_cells(r)]) + "</tr>" for r in ordered)
    note = f"<p>{html.escape(UNRANKED_NOTE)}</p>" if not all(is_ranked(r) for r in rows) else ""
    iqm_rows = "\n".join(f"<tr><td>{html.escape(s['agent'])}</td><td>{s['levels']}</td><td>"
                         f"{_ci(s['iqm_success'], s['iqm_low'], s['iqm_high'])}</td></tr>"
                         for s in agent_iqm([r for r in rows if r["split"] == "test"]))
    ranked_test = [r for r in rows if r["split"] == "test" and is_ranked(r)]
    chart = success_chart_svg(ranked_test) if ranked_test else ""
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:sans-serif;margin:2em}} table{{border-collapse:collapse;font-size:13px}}
th,td{{border:1px solid #ccc;padding:3px 6px}} th{{cursor:pointer;background:#eee}}</style></head>
<body><h1>{html.escape(title)}</h1>
<p>Success rate, mean return and episode length on fixed evaluation seeds, with 95% bootstrap intervals.
Click a column header to sort.</p>
<table class="sortable"><thead><tr>{''.join(f'<th>{html.escape(h)}</th>' for h in header)}</tr></thead>
<tbody>
{body}
</tbody></table>
{note}
<h2>IQM of success rate across levels (test split)</h2>
<table class="sortable"><thead><tr><th>agent</th><th>levels</th><th>IQM success [95% CI]</th></tr></thead>
<tbody>{iqm_rows}</tbody></table>
<h2>Success rate per level (test split)</h2>
{chart}
<script>{_SORT_SCRIPT}</script>
</body></html>
"""


def export(rows: list[dict[str, Any]], folder: Path, title: str = "fusiongym leaderboard") -> list[Path]:
    """Write ``leaderboard.md``, ``leaderboard.csv`` and ``leaderboard.html`` into ``folder``."""
    from fusiongym.training.evaluation import atomic_write_text

    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in (("leaderboard.md", render_markdown(rows, title)), ("leaderboard.csv", render_csv(rows)),
                       ("leaderboard.html", render_html(rows, title))):
        atomic_write_text(folder / name, text)
        written.append(folder / name)
    return written
