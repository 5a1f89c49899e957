"""Recovery of a damaged leaderboard database: what can still be read, copied into a new one; the damaged file is
only ever read (``fusiongym leaderboard recover``)."""

from __future__ import annotations

import json
import shutil
import sqlite3
import struct
import tempfile
from dataclasses import dataclass
from pathlib import Path

from fusiongym.training.leaderboard import (
    JSON_COLUMNS,
    SQLITE_HEADER,
    DamagedLeaderboardError,
    Leaderboard,
    LeaderboardFileError,
    Submission,
    SubmissionError,
)


@dataclass
class RecoveryReport:
    """What :func:`recover` saved into the new database and what it could not read."""

    source: Path
    out: Path
    saved: int
    lost: int


def recover(source: str | Path, out: str | Path) -> RecoveryReport:
    """Copy every submission that can still be read from a damaged leaderboard ``source`` into a new database ``out``.

    ``source`` is never modified: it is read from copies in a temporary folder, as it is (with its WAL) and with
    its header's page count cut to the pages the file still holds (what lets SQLite read a truncated file). Each
    row is looked up by id and validated; ``lost`` counts the rows the database held (its own count, where it can
    still give it) that could not be read or were invalid.
    """
    source, out = Path(source), Path(out)
    if not source.is_file():
        raise LeaderboardFileError(f"{source} does not exist: pass the damaged database as --db")
    if out.exists():
        raise LeaderboardFileError(f"{out} exists: recover into a new file (--out NEW.sqlite); nothing was written")
    with tempfile.TemporaryDirectory(prefix="fusiongym-recover-") as folder:
        connections = [sqlite3.connect(path) for path in _readable_copies(source, Path(folder))]
        try:
            rows, held = _salvage(connections)
        finally:
            for connection in connections:
                connection.close()
    if held == 0 and not rows:
        raise DamagedLeaderboardError(f"no leaderboard row can be read from {source}: nothing to recover (the file "
                                      "was left as it was)")
    Leaderboard(out).insert_rows(rows)
    return RecoveryReport(source, out, saved=len(rows), lost=max(held - len(rows), 0))


def _readable_copies(source: Path, folder: Path) -> list[Path]:
    """Copies of ``source`` to read from: as it is (with its ``-wal``), and with its header's page count set to the
    whole pages the file holds, in rollback-journal mode (a truncated file then reads up to where it ends)."""
    plain = folder / "as-is.sqlite"
    shutil.copyfile(source, plain)
    if Path(f"{source}-wal").is_file():
        shutil.copyfile(f"{source}-wal", f"{plain}-wal")
    data = bytearray(source.read_bytes())
    if not data.startswith(SQLITE_HEADER) or len(data) < 100:
        return [plain]
    page_size = struct.unpack(">H", data[16:18])[0]
    page_size = 65536 if page_size == 1 else page_size
    if page_size < 512 or page_size & (page_size - 1):
        return [plain]
    pages = len(data) // page_size
    resized = folder / "resized.sqlite"
    data = data[:pages * page_size]
    data[28:32] = struct.pack(">I", pages)
    data[18:20] = b"\x01\x01"
    resized.write_bytes(bytes(data))
    return [plain, resized]


def _salvage(connections: list[sqlite3.Connection]) -> tuple[list[tuple[int, Submission]], int]:
    """The valid rows the copies still give, by id, and how many rows the database held (its count, else the ids
    that gave a row or an error)."""
    def first(query: str) -> int:
        values = []
        for connection in connections:
            try:
                values.append(int(connection.execute(query).fetchone()[0] or 0))
            except (sqlite3.DatabaseError, TypeError, ValueError):
                pass
        return max(values, default=0)

    last_id = max(first("SELECT seq FROM sqlite_sequence WHERE name = 'submissions'"),
                  first("SELECT max(id) FROM submissions"))
    count = first("SELECT count(*) FROM submissions")
    for connection in connections:
        connection.row_factory = sqlite3.Row
    rows: list[tuple[int, Submission]] = []
    present = 0
    for number in range(1, last_id + 1):
        found = False
        for connection in connections:
            try:
                row = connection.execute("SELECT * FROM submissions WHERE id = ?", (number,)).fetchone()
            except sqlite3.DatabaseError:
                found = True  # held, unreadable here
                continue
            if row is None:
                continue
            found = True
            try:
                data = dict(row)
                for name in JSON_COLUMNS:
                    data[name] = json.loads(data[name]) if data[name] else []
                rows.append((number, Submission.from_dict(data, where=f"row {number}")))
                break
            except (SubmissionError, ValueError, TypeError):
                continue
        present += found
    return rows, max(count, present)
