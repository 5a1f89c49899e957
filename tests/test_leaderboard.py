"""The leaderboard database: concurrent submitters lose nothing; malformed / duplicate submissions are refused and
leave the stored rows intact; exports hold every entry."""

from __future__ import annotations

import csv
import multiprocessing
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest
from fusiongym.training.evaluation import RandomPolicy, evaluate
from fusiongym.training.leaderboard import (
    DuplicateSubmissionError,
    Leaderboard,
    Submission,
    SubmissionError,
    export,
    render_text,
)
from fusiongym.training.runs import submission_from_eval

PROCESSES, PER_PROCESS, OPEN_ROUNDS = 8, 5, 10


def make_submission(agent: str, env_id: str = "fusiongym/GoTo-v0", success: float = 0.5, **changes: Any) -> dict:
    data = {
        "agent": agent, "algo": "ppo", "policy": "fusion", "env_id": env_id, "split": "test",
        "seeds": list(range(4)), "episodes": 4, "success_rate": success, "success_low": max(success - 0.25, 0.0),
        "success_high": min(success + 0.25, 1.0), "mean_return": 0.4, "return_low": 0.2, "return_high": 0.6,
        "mean_length": 20.0, "length_low": 10.0, "length_high": 30.0, "suite_version": "0.1.0",
        "episode_success": [1.0, 0.0, 1.0, 0.0],
    }
    data.update(changes)
    return data


def submit_many(directory: str, worker: int, barrier: Any) -> None:
    # Opening a new database takes write locks (WAL switch, tables); SQLite may refuse the clash at once whatever
    # the busy timeout, so every round all workers open a fresh database together.
    for round_ in range(OPEN_ROUNDS):
        barrier.wait(timeout=120)
        try:
            board = Leaderboard(Path(directory) / f"board-{round_}.sqlite")
        except BaseException:
            barrier.abort()  # the others stop at once instead of waiting for a worker that died
            raise
    for k in range(PER_PROCESS):
        board.submit(Submission.from_dict(make_submission(f"agent-{worker}-{k}")))


def test_eight_processes_opening_and_submitting_at_once_lose_nothing(tmp_path: Path) -> None:
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(PROCESSES)
    workers = [context.Process(target=submit_many, args=(str(tmp_path), w, barrier), daemon=True)
               for w in range(PROCESSES)]
    for worker in workers:
        worker.start()
    deadline = time.monotonic() + 240
    try:
        for worker in workers:
            worker.join(timeout=max(deadline - time.monotonic(), 0.0))
    finally:
        for worker in workers:  # never leave a live child behind: pytest would wait on it at exit
            if worker.is_alive():
                worker.kill()
                worker.join()
    assert [w.exitcode for w in workers] == [0] * PROCESSES
    db = str(tmp_path / f"board-{OPEN_ROUNDS - 1}.sqlite")
    rows = Leaderboard(db).submissions()
    assert sorted(r["agent"] for r in rows) == sorted(f"agent-{w}-{k}" for w in range(PROCESSES)
                                                      for k in range(PER_PROCESS))
    assert sqlite3.connect(db).execute("PRAGMA journal_mode").fetchone()[0] == "wal"


@pytest.mark.parametrize("changes, message", [
    ({"success_rate": 1.5, "success_high": 1.6}, "must lie in [0, 1]"),
    ({"success_low": 0.9}, "lies outside its interval"),
    ({"seeds": [1, 2]}, "one int per episode"),
    ({"split": "validation"}, "split must be 'train' or 'test'"),
    ({"env_id": "CartPole-v1"}, "is not a fusiongym id"),
    ({"agent": ""}, "agent must be a non-empty string"),
    ({"episodes": 0}, "episodes must be a positive int"),
    ({"mean_return": float("nan")}, "must be finite numbers"),
    ({"colour": "red"}, "unknown fields ['colour']"),
])
def test_malformed_submissions_are_refused_and_nothing_stored_is_lost(tmp_path: Path, changes: dict,
                                                                       message: str) -> None:
    board = Leaderboard(tmp_path / "board.sqlite")
    board.submit(Submission.from_dict(make_submission("kept")))
    with pytest.raises(SubmissionError) as err:
        board.submit(Submission.from_dict({**make_submission("bad"), **changes}))
    assert message in str(err.value)
    assert [r["agent"] for r in board.submissions()] == ["kept"]


def test_missing_fields_and_duplicates_are_refused(tmp_path: Path) -> None:
    board = Leaderboard(tmp_path / "board.sqlite")
    with pytest.raises(SubmissionError, match=r"lacks required fields \['episodes'"):
        Submission.from_dict({k: v for k, v in make_submission("x").items() if k != "episodes"})
    board.submit(Submission.from_dict(make_submission("same")))
    with pytest.raises(DuplicateSubmissionError, match="submit under another name"):
        board.submit(Submission.from_dict(make_submission("same", success=0.75)))
    board.submit(Submission.from_dict(make_submission("same", env_id="fusiongym/Fetch-v0")))  # another level
    rows = board.submissions()
    assert len(rows) == 2 and {r["success_rate"] for r in rows} == {0.5}


def test_a_file_that_is_not_a_database_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "board.sqlite"
    path.write_bytes(b"this is not sqlite " * 100)
    with pytest.raises(SubmissionError, match="not a usable leaderboard database"):
        Leaderboard(path)
    assert path.read_bytes().startswith(b"this is not sqlite")  # left as it was


def test_export_holds_every_entry_with_intervals_and_iqm(tmp_path: Path) -> None:
    board = Leaderboard(tmp_path / "board.sqlite")
    for env_id in ("fusiongym/GoTo-v0", "fusiongym/Fetch-v0"):
        result = evaluate(RandomPolicy(0), env_id, split="test", episodes=10, progress=False)
        board.submit(submission_from_eval(result.to_dict(with_episodes=True), agent="random", algo="random",
                                          policy="random"))
    board.submit(Submission.from_dict(make_submission("strong", success=1.0, episode_success=[1.0] * 4)))
    rows = board.submissions()
    written = export(rows, tmp_path / "out")
    markdown, table, page = (p.read_text() for p in written)
    assert markdown.count("| random | random | random |") == 2 and "| strong | ppo |" in markdown and "IQM" in markdown
    assert "1.00 [0.75, 1.00]" in markdown
    assert len(list(csv.DictReader(table.splitlines()))) == 3
    assert "<svg" in page and "sortable" in page and page.count("<tr><td>fusiongym/") == 3
    text = render_text(rows, highlight="strong")
    assert "→ strong" in text and "(2 levels)" in text
