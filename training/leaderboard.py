"""The leaderboard: an SQLite database of submissions (rendered by :mod:`fusiongym.training.leaderboard_render`).

The default database is ``$FUSIONGYM_HOME/leaderboard.sqlite`` (``FUSIONGYM_HOME`` defaults to ``~/.fusiongym``).
Every submission is validated before it is written and is written in one transaction (WAL journal, busy timeout),
so concurrent submitters never lose each other's rows, and a malformed or duplicate submission leaves the database
as it was. A submission is unique per (agent, env id, split, suite version, ablated keys, episodes).

Only rows of the protocol's evaluation (``DEFAULT_EPISODES`` episodes, no observation key zeroed) are ranked and
count in an agent's IQM; ablations (``reader (no facts)``) and evaluations of other sizes are shown, marked.
A file that is not a fusiongym leaderboard is never written to, and a damaged one is only read, by
:func:`~fusiongym.training.leaderboard_recovery.recover`, which copies what it can still read into a new database.
"""

from __future__ import annotations

import json
import math
import os
import random
import re
import sqlite3
import time
from collections.abc import Sequence
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from fusiongym.training.evaluation import DEFAULT_EPISODES

SCHEMA_VERSION = 2  # 2: the ablated column, and ablated and episodes in the unique key
BUSY_TIMEOUT_S = 60.0
_ENV_VERSION = re.compile(r"^fusiongym/[\w.-]+-v(\d+)$")
SQLITE_HEADER = b"SQLite format 3\x00"
#: What makes two submissions the same one.
_UNIQUE_KEY = ("agent", "env_id", "split", "suite_version", "ablated", "episodes")


class SubmissionError(ValueError):
    """A submission that cannot be stored; the message names the field and the fix."""


class DuplicateSubmissionError(SubmissionError):
    """The same agent name already has a result on this env, split and suite version (same ablation and size)."""


class LeaderboardFileError(SubmissionError):
    """The database file cannot be used as it is; it was left untouched and the message says what to do."""


class NotALeaderboardError(LeaderboardFileError):
    """The file exists but is not a fusiongym leaderboard (another program's database, a text file, ...)."""


class DamagedLeaderboardError(LeaderboardFileError):
    """The leaderboard database is corrupt; :func:`recover` copies what it can still read into a new one."""


def fusiongym_home() -> Path:
    """The user's data folder: ``$FUSIONGYM_HOME``, defaulting to ``~/.fusiongym``."""
    return Path(os.environ.get("FUSIONGYM_HOME", Path.home() / ".fusiongym")).expanduser()


def default_db_path() -> Path:
    """``$FUSIONGYM_HOME/leaderboard.sqlite`` (``FUSIONGYM_HOME`` defaults to ``~/.fusiongym``)."""
    return fusiongym_home() / "leaderboard.sqlite"


def default_export_dir() -> Path:
    """``$FUSIONGYM_HOME/export``: where ``fusiongym leaderboard export`` writes without ``--out`` (never the
    current folder, which may be a checkout holding the committed ``leaderboard/``)."""
    return fusiongym_home() / "export"


def is_ranked(row: dict[str, Any]) -> bool:
    """Whether a stored row counts in rankings and IQM: the protocol's episodes with no observation key zeroed."""
    return not row.get("ablated") and row["episodes"] == DEFAULT_EPISODES


def display_name(row: dict[str, Any]) -> str:
    """The agent's name and what its evaluation zeroed, e.g. ``reader (no facts)``."""
    keys = [key for key in (row.get("ablated") or "").split(",") if key]
    return row["agent"] + (f" (no {', no '.join(keys)})" if keys else "")


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
    ablated: str = ""  # observation keys zeroed in the evaluation, comma-joined and sorted ("" for none)
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
        keys = self.ablated.split(",") if isinstance(self.ablated, str) else self.ablated
        if not isinstance(keys, (list, tuple)) or not all(isinstance(k, str) for k in keys):
            raise SubmissionError(f"{where}: ablated must name the zeroed observation keys (e.g. 'facts' or "
                                  f"['facts', 'mission']), got {self.ablated!r}")
        keys = sorted({k.strip() for k in keys if k.strip()})
        if not all(re.fullmatch(r"[a-z_]+", k) for k in keys):
            raise SubmissionError(f"{where}: ablated must name observation keys such as 'facts', got {self.ablated!r}")
        self.ablated = ",".join(keys)
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


COLUMNS = [f.name for f in fields(Submission)]
JSON_COLUMNS = ("seeds", "policy_config", "episode_success", "episode_return")


def _table_sql(name: str) -> str:
    columns = ", ".join(f"{column} {_sql_type(column)}" for column in COLUMNS)
    return (f"CREATE TABLE IF NOT EXISTS {name} (id INTEGER PRIMARY KEY AUTOINCREMENT, {columns}, "
            f"UNIQUE ({', '.join(_UNIQUE_KEY)}))")


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
                self._check_file()  # read-only: nothing is written to a file that is not ours or is damaged
                self._create_schema()
                return
            except sqlite3.DatabaseError as err:
                if not (_is_lock_clash(err) and time.monotonic() <= deadline):
                    raise self._error(err) from None
            attempt += 1
            time.sleep(min(0.01 * 2 ** attempt, 0.5) * (0.5 + random.random()))

    def _check_file(self) -> None:
        """Refuse, before anything is written, a file that is not a fusiongym leaderboard or is damaged."""
        try:
            if self.path.stat().st_size == 0:
                return  # a new (or empty) file: ours to set up
            with open(self.path, "rb") as handle:
                header = handle.read(len(SQLITE_HEADER))
        except FileNotFoundError:
            return
        except OSError as err:
            raise LeaderboardFileError(f"cannot read {self.path} ({err}): pass --db another path") from None
        if header != SQLITE_HEADER:
            raise NotALeaderboardError(
                f"{self.path} is not a usable leaderboard database: it is not an SQLite file, so not a fusiongym "
                "leaderboard; it was left as it was: pass --db another path (a new file is created there)")
        connection = sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=ro", uri=True, timeout=BUSY_TIMEOUT_S)
        try:
            tables = {name for (name,) in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            if not tables:
                return  # an empty SQLite database
            columns = {row[1] for row in connection.execute("PRAGMA table_info(submissions)")}
            if not {"meta", "submissions"} <= tables or not set(COLUMNS) - {"ablated"} <= columns:
                raise NotALeaderboardError(
                    f"{self.path} is an SQLite database but not a fusiongym leaderboard (its tables: "
                    f"{', '.join(sorted(tables))}); it was left as it was: pass --db another path")
            version = _schema_version(connection)
            if version > SCHEMA_VERSION:
                raise LeaderboardFileError(
                    f"{self.path} was written by a newer fusiongym (leaderboard schema {version}; this one reads up "
                    f"to {SCHEMA_VERSION}): upgrade fusiongym (pip install -U fusiongym)")
            problems = [row[0] for row in connection.execute("PRAGMA quick_check")]
            if problems != ["ok"]:
                raise sqlite3.DatabaseError("; ".join(" ".join(p.split()) for p in problems[:3]))
        finally:
            connection.close()

    def _create_schema(self) -> None:
        connection = self._connect()
        try:
            if connection.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                connection.execute("PRAGMA journal_mode = WAL")
            connection.execute("BEGIN IMMEDIATE")
            try:
                tables = {name for (name,) in connection.execute("SELECT name FROM sqlite_master WHERE type='table'")}
                if "submissions" not in tables:
                    connection.execute(_table_sql("submissions"))
                    connection.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)")
                    connection.execute("INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)",
                                       (str(SCHEMA_VERSION),))
                elif _schema_version(connection) < 2:
                    _migrate_to_v2(connection)
                connection.execute("COMMIT")
            except BaseException:
                if connection.in_transaction:
                    connection.execute("ROLLBACK")
                raise
        finally:
            connection.close()

    def _error(self, err: sqlite3.DatabaseError) -> SubmissionError:
        """The error to show for an SQLite error: the database is busy, or damaged (and how to recover)."""
        if _is_lock_clash(err):
            return SubmissionError(f"{self.path} stayed locked by another process for {BUSY_TIMEOUT_S:.0f} s ({err}): "
                                   "try again when it is done")
        return DamagedLeaderboardError(
            f"{self.path} is damaged ({err}); it was left as it was. Copy every row that can still be read into a "
            f"new database with `fusiongym leaderboard recover --db {self.path} --out NEW.sqlite`, then use "
            "--db NEW.sqlite")

    def submit(self, submission: Submission) -> int:
        """Validate and insert one submission in a transaction; returns its id."""
        submission.validate()
        try:
            return self.insert_rows([(None, submission)])[0]
        except sqlite3.IntegrityError:
            what = f" with {submission.ablated} zeroed" if submission.ablated else ""
            if submission.episodes != DEFAULT_EPISODES:
                what += f" over {submission.episodes} episodes"
            raise DuplicateSubmissionError(
                f"{submission.agent!r} already has a {submission.split}-split result{what} on {submission.env_id} "
                f"for fusiongym {submission.suite_version}: submit under another name (--name)") from None
        except sqlite3.DatabaseError as err:
            raise self._error(err) from None

    def insert_rows(self, items: Sequence[tuple[int | None, Submission]]) -> list[int]:
        """Insert submissions (each with its id, or None for the next one) in one transaction; their ids (what
        :func:`~fusiongym.training.leaderboard_recovery.recover` keeps)."""
        names = ["id", *COLUMNS]
        connection = self._connect()
        try:
            connection.execute("BEGIN IMMEDIATE")
            try:
                ids = []
                for number, submission in items:
                    row = {**submission.to_row(), "id": number}
                    cursor = connection.execute(
                        f"INSERT INTO submissions ({', '.join(names)}) VALUES ({', '.join('?' for _ in names)})",
                        [row[c] for c in names])
                    assert cursor.lastrowid is not None  # set by the INSERT
                    ids.append(int(cursor.lastrowid))
                connection.execute("COMMIT")
                return ids
            except BaseException:
                if connection.in_transaction:
                    connection.execute("ROLLBACK")
                raise
        finally:
            connection.close()

    def withdraw(self, agent: str, env_id: str) -> list[dict[str, Any]]:
        """Remove every row of ``agent`` on ``env_id`` (its ablation rows too) in one transaction, and return them
        as :meth:`submissions` would have: the caller keeps them (``make_leaderboard.py --rebuild`` archives them in
        ``withdrawn.jsonl``) before a retrained agent takes their place."""
        rows = [r for r in self.submissions(env_id=env_id) if r["agent"] == agent]
        connection = self._connect()
        try:
            connection.execute("BEGIN IMMEDIATE")
            try:
                connection.execute("DELETE FROM submissions WHERE agent = ? AND env_id = ?", (agent, env_id))
                connection.execute("COMMIT")
            except BaseException:
                if connection.in_transaction:
                    connection.execute("ROLLBACK")
                raise
        except sqlite3.DatabaseError as err:
            raise self._error(err) from None
        finally:
            connection.close()
        return rows

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
        except sqlite3.DatabaseError as err:
            raise self._error(err) from None
        finally:
            connection.close()
        for row in rows:
            for name in JSON_COLUMNS:
                row[name] = json.loads(row[name]) if row[name] else []
        return rows


def _schema_version(connection: sqlite3.Connection) -> int:
    row = connection.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    try:
        return int(row[0])
    except (TypeError, ValueError):
        raise sqlite3.DatabaseError(f"meta.schema_version is {row and row[0]!r}, not a number") from None


def _migrate_to_v2(connection: sqlite3.Connection) -> None:
    """Schema 1 → 2, inside the caller's transaction: add ``ablated`` ('' for every stored row) and widen the
    unique key to (..., ablated, episodes). SQLite cannot alter a table's UNIQUE constraint, so the table is
    rebuilt (create, copy every row with its id, drop, ALTER TABLE ... RENAME), SQLite's documented procedure."""
    old = [column for column in COLUMNS if column != "ablated"]
    connection.execute(_table_sql("submissions_v2"))
    names = ", ".join(old)
    connection.execute(f"INSERT INTO submissions_v2 (id, {names}) SELECT id, {names} FROM submissions")
    connection.execute("DROP TABLE submissions")
    connection.execute("ALTER TABLE submissions_v2 RENAME TO submissions")
    connection.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION),))


def _is_lock_clash(err: sqlite3.DatabaseError) -> bool:
    return isinstance(err, sqlite3.OperationalError) and ("locked" in str(err) or "busy" in str(err))


def _sql_type(name: str) -> str:
    kind = {f.name: f.type for f in fields(Submission)}[name]
    if name == "ablated":  # in the unique key, where NULLs would never clash: '' for none
        return "TEXT NOT NULL DEFAULT ''"
    return {"int": "INTEGER", "float": "REAL"}.get(str(kind), "TEXT") + (
        " NOT NULL" if name in ("agent", "env_id", "split", "suite_version") else "")
