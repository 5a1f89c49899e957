"""The leaderboard: an SQLite database of submissions, rendered as text, Markdown, CSV and a static HTML page.

The default database is ``$FUSIONGYM_HOME/leaderboard.sqlite`` (``FUSIONGYM_HOME`` defaults to ``~/.fusiongym``).
Every submission is validated before it is written and is written in one transaction (WAL journal, busy timeout),
so concurrent submitters never lose each other's rows, and a malformed or duplicate submission leaves the database
as it was. A submission is unique per (agent, env id, split, suite version).
"""

from __future__ import annotations

import csv
import html
import io
import json
import math
import os
import random
import re
import sqlite3
import time
from collections.abc import Iterable
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from fusiongym.training.evaluation import Estimate, iqm_across_levels

SCHEMA_VERSION = 1
BUSY_TIMEOUT_S = 60.0
_ENV_VERSION = re.compile(r"^fusiongym/[\w.-]+-v(\d+)$")


class SubmissionError(ValueError):
    """A submission that cannot be stored; the message names the field and the fix."""


class DuplicateSubmissionError(SubmissionError):
    """The same agent name already has a result on this env, split and suite version."""


def default_db_path() -> Path:
    """``$FUSIONGYM_HOME/leaderboard.sqlite`` (``FUSIONGYM_HOME`` defaults to ``~/.fusiongym``)."""
    home = Path(os.environ.get("FUSIONGYM_HOME", Path.home() / ".fusiongym")).expanduser()
    return home / "leaderboard.sqlite"


@dataclass
class Submission:
    """One agent's evaluation on one level and split, with what produced it."""

    agent: str
    algo: str
    policy: str
    env_id: str
    split: str
    seeds: list[int]
    episodes: int
    success_rate: float
    success_low: float
    success_high: float
    mean_return: float
    return_low: float
    return_high: float
    mean_length: float
    length_low: float
    length_high: float
    suite_version: str
    seeds_version: int = 1
    env_version: int = 0
    policy_config: dict[str, Any] = field(default_factory=dict)
    backbone: str = "none"
    parameters: int = 0
    training_steps: int = 0
    wall_time_s: float = 0.0
    date: str = ""
    run: str = ""
    notes: str = ""
    episode_success: list[float] = field(default_factory=list)
    episode_return: list[float] = field(default_factory=list)

    @classmethod
    def from_dict(cls, data: Any, where: str = "submission") -> Submission:
        """Build and validate a submission from plain data; unknown or missing keys are named."""
        if not isinstance(data, dict):
            raise SubmissionError(f"{where} must be a JSON object of submission fields, got {type(data).__name__}")
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - names - {"id"})
        if unknown:
            raise SubmissionError(f"{where} has unknown fields {unknown}: valid fields are {sorted(names)}")
        missing = sorted(f.name for f in fields(cls) if f.name not in data and f.default is MISSING
                         and f.default_factory is MISSING)
        if missing:
            raise SubmissionError(f"{where} lacks required fields {missing}")
        submission = cls(**{k: v for k, v in data.items() if k != "id"})
        submission.validate(where)
        return submission

    def validate(self, where: str = "submission") -> None:
        """Raise :class:`SubmissionError` naming the field and the fix."""
        for name in ("agent", "algo", "policy", "env_id", "split", "suite_version"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value.strip():
                raise SubmissionError(f"{where}: {name} must be a non-empty string, got {value!r}")
        match = _ENV_VERSION.match(self.env_id)
        if not match:
            raise SubmissionError(f"{where}: env_id {self.env_id!r} is not a fusiongym id (fusiongym/Name-vN)")
        self.env_version = int(match.group(1))
        if self.split not in ("train", "test"):
            raise SubmissionError(f"{where}: split must be 'train' or 'test', got {self.split!r}")
        if not isinstance(self.episodes, int) or isinstance(self.episodes, bool) or self.episodes < 1:
            raise SubmissionError(f"{where}: episodes must be a positive int, got {self.episodes!r}")
        if not isinstance(self.seeds, list) or len(self.seeds) != self.episodes or not all(
                isinstance(s, int) for s in self.seeds):
            raise SubmissionError(f"{where}: seeds must list one int per episode ({self.episodes}), got "
                                  f"{len(self.seeds) if isinstance(self.seeds, list) else self.seeds!r}")
        for stem, low, high in (("success_rate", "success_low", "success_high"),
                                ("mean_return", "return_low", "return_high"),
                                ("mean_length", "length_low", "length_high")):
            values = [getattr(self, n) for n in (low, stem, high)]
            if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in values):
                raise SubmissionError(f"{where}: {stem} and its interval must be finite numbers, got {values}")
            if not values[0] <= values[1] <= values[2]:
                raise SubmissionError(f"{where}: {stem} {values[1]} lies outside its interval [{values[0]}, "
                                      f"{values[2]}]: submit the interval the evaluation computed")
        if not 0.0 <= self.success_low <= self.success_high <= 1.0:
            raise SubmissionError(f"{where}: success_rate and its interval must lie in [0, 1]")
        for series in ("episode_success", "episode_return"):
            values = getattr(self, series)
            if values and len(values) != self.episodes:
                raise SubmissionError(f"{where}: {series} must hold one value per episode ({self.episodes}), got "
                                      f"{len(values)}")
        if not self.date:
            self.date = time.strftime("%Y-%m-%d %H:%M:%S")

    def to_row(self) -> dict[str, Any]:
        row = asdict(self)
        for name in ("seeds", "policy_config", "episode_success", "episode_return"):
            row[name] = json.dumps(row[name])
        return row


_COLUMNS = [f.name for f in fields(Submission)]
_JSON_COLUMNS = ("seeds", "policy_config", "episode_success", "episode_return")


class Leaderboard:
    """The submissions database (SQLite; safe for concurrent writers)."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path else default_db_path()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._setup()

    def _connect(self) -> sqlite3.Connection:
        connection = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
        connection.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
        return connection

    def _setup(self) -> None:
        # Switching to WAL and creating the tables take write locks. When several processes open a new database at
        # once, SQLite answers one of them "database is locked" at once instead of waiting (a lock upgrade it
        # cannot queue), whatever the busy timeout; such a clash passes, so it is retried until the timeout.
        deadline = time.monotonic() + BUSY_TIMEOUT_S
        attempt = 0
        while True:
            try:
                self._create_schema()
                return
            except sqlite3.DatabaseError as err:
                if not (_is_lock_clash(err) and time.monotonic() <= deadline):
                    raise SubmissionError(f"{self.path} is not a usable leaderboard database ({err}): pass another "
                                          "--db or move the file away") from None
            attempt += 1
            time.sleep(min(0.01 * 2 ** attempt, 0.5) * (0.5 + random.random()))

    def _create_schema(self) -> None:
        connection = self._connect()
        try:
            if connection.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                connection.execute("PRAGMA journal_mode = WAL")
            columns = ", ".join(f"{name} {_sql_type(name)}" for name in _COLUMNS)
            connection.execute("BEGIN IMMEDIATE")
            try:
                connection.execute(f"CREATE TABLE IF NOT EXISTS submissions (id INTEGER PRIMARY KEY AUTOINCREMENT, "
                                   f"{columns}, UNIQUE (agent, env_id, split, suite_version))")
                connection.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)")
                connection.execute("INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)",
                                   (str(SCHEMA_VERSION),))
                connection.execute("COMMIT")
            except BaseException:
                if connection.in_transaction:
                    connection.execute("ROLLBACK")
                raise
        finally:
            connection.close()

    def submit(self, submission: Submission) -> int:
        """Validate and insert one submission in a transaction; returns its id."""
        submission.validate()
        row = submission.to_row()
        connection = self._connect()
        try:
            connection.execute("BEGIN IMMEDIATE")
            cursor = connection.execute(
                f"INSERT INTO submissions ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' for _ in _COLUMNS)})",
                [row[c] for c in _COLUMNS])
            connection.execute("COMMIT")
            return int(cursor.lastrowid)
        except sqlite3.IntegrityError:
            connection.execute("ROLLBACK")
            raise DuplicateSubmissionError(
                f"{submission.agent!r} already has a {submission.split}-split result on {submission.env_id} for "
                f"fusiongym {submission.suite_version}: submit under another name (--name)") from None
        finally:
            connection.close()

    def submissions(self, env_id: str | None = None, split: str | None = None) -> list[dict[str, Any]]:
        """Stored submissions (optionally of one env / split), best success rate first."""
        query, params = "SELECT * FROM submissions", []
        clauses = []
        if env_id:
            clauses.append("env_id = ?")
            params.append(env_id)
        if split:
            clauses.append("split = ?")
            params.append(split)
        if clauses:
            query += " WHERE " + " AND ".join(clauses)
        query += " ORDER BY env_id, success_rate DESC, mean_return DESC, id"
        connection = self._connect()
        connection.row_factory = sqlite3.Row
        try:
            rows = [dict(r) for r in connection.execute(query, params)]
        finally:
            connection.close()
        for row in rows:
            for name in _JSON_COLUMNS:
                row[name] = json.loads(row[name]) if row[name] else []
        return rows


def _is_lock_clash(err: sqlite3.DatabaseError) -> bool:
    return isinstance(err, sqlite3.OperationalError) and ("locked" in str(err) or "busy" in str(err))


def _sql_type(name: str) -> str:
    kind = {f.name: f.type for f in fields(Submission)}[name]
    return {"int": "INTEGER", "float": "REAL"}.get(str(kind), "TEXT") + (
        " NOT NULL" if name in ("agent", "env_id", "split", "suite_version") else "")


# ----------------------------------------------------------------------------------------------------------------
# Rendering
# ----------------------------------------------------------------------------------------------------------------


def _ci(value: float, low: float, high: float, digits: int = 2) -> str:
    return f"{value:.{digits}f} [{low:.{digits}f}, {high:.{digits}f}]"


def agent_iqm(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per agent: IQM of success rate across the levels it was evaluated on, with a stratified bootstrap CI."""
    by_agent: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
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


def _table_cells(row: dict[str, Any]) -> list[str]:
    return [row["agent"], row["algo"], row["policy"],
            _ci(row["success_rate"], row["success_low"], row["success_high"]),
            _ci(row["mean_return"], row["return_low"], row["return_high"]), f"{row['mean_length']:.1f}",
            str(row["episodes"]), f"{row['training_steps']:,}", f"{row['parameters']:,}", row["date"][:10]]


def render_text(rows: list[dict[str, Any]], highlight: str | None = None) -> str:
    """Aligned plain-text tables, one per env id and split, then the IQM across levels."""
    out: list[str] = []
    for (env_id, split), items in _group(rows).items():
        out.append(f"{env_id} ({split} split)")
        table = [list(TABLE_COLUMNS)] + [_table_cells(r) for r in items]
        widths = [max(len(line[i]) for line in table) for i in range(len(TABLE_COLUMNS))]
        for n, line in enumerate(table):
            mark = "→ " if n and highlight and items[n - 1]["agent"] == highlight else "  "
            out.append(mark + "  ".join(cell.ljust(w) for cell, w in zip(line, widths)).rstrip())
        out.append("")
    if rows:
        out.append("IQM of success rate across levels (test split; stratified bootstrap 95% CI)")
        summary = agent_iqm([r for r in rows if r["split"] == "test"])
        width = max((len(s["agent"]) for s in summary), default=0)
        for s in summary:
            out.append(f"  {s['agent']:<{width}}  {_ci(s['iqm_success'], s['iqm_low'], s['iqm_high'])}  "
                       f"({s['levels']} level{'s' if s['levels'] != 1 else ''})")
    return "\n".join(out) if out else "(the leaderboard is empty)"


def _group(rows: list[dict[str, Any]]) -> dict[tuple[str, str], list[dict[str, Any]]]:
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault((row["env_id"], row["split"]), []).append(row)
    return groups


def render_markdown(rows: list[dict[str, Any]], title: str = "fusiongym leaderboard") -> str:
    """Markdown: one table per env id and split, then the IQM across levels."""
    out = [f"# {title}", ""]
    for (env_id, split), items in _group(rows).items():
        out += [f"## {env_id} ({split} split)", "", "| " + " | ".join(TABLE_COLUMNS) + " |",
                "|" + "---|" * len(TABLE_COLUMNS)]
        out += ["| " + " | ".join(c.replace("|", "\\|") for c in _table_cells(r)) + " |" for r in items]
        out.append("")
    test_rows = [r for r in rows if r["split"] == "test"]
    if test_rows:
        out += ["## IQM of success rate across levels (test split)", "",
                "| agent | levels | IQM success [95% CI] |", "|---|---|---|"]
        out += [f"| {s['agent']} | {s['levels']} | {_ci(s['iqm_success'], s['iqm_low'], s['iqm_high'])} |"
                for s in agent_iqm(test_rows)]
        out.append("")
    return "\n".join(out)


CSV_COLUMNS = ["id", *[c for c in _COLUMNS if c not in ("episode_success", "episode_return")]]


def render_csv(rows: list[dict[str, Any]]) -> str:
    """Every stored field (per-episode series left out) as CSV, one submission a line."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow({**row, "seeds": json.dumps(row["seeds"]), "policy_config": json.dumps(row["policy_config"])})
    return buffer.getvalue()


def success_chart_svg(rows: list[dict[str, Any]]) -> str:
    """A grouped bar chart (success rate per level, one bar per agent, 95% CI whiskers) as inline SVG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

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
"""


def render_html(rows: list[dict[str, Any]], title: str = "fusiongym leaderboard") -> str:
    """A static page: a sortable table of every submission (click a header) and the success-rate bar chart."""
    header = ["env", "split", *TABLE_COLUMNS]
    body = "\n".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in
                                      [r["env_id"], r["split"], *_table_cells(r)]) + "</tr>" for r in rows)
    iqm_rows = "\n".join(f"<tr><td>{html.escape(s['agent'])}</td><td>{s['levels']}</td><td>"
                         f"{_ci(s['iqm_success'], s['iqm_low'], s['iqm_high'])}</td></tr>"
                         for s in agent_iqm([r for r in rows if r["split"] == "test"]))
    chart = success_chart_svg([r for r in rows if r["split"] == "test"]) if rows else ""
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
