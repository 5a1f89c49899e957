"""The leaderboard database: concurrent submitters lose nothing; malformed / duplicate submissions are refused and
leave the stored rows intact; exports hold every entry."""

from __future__ import annotations

import csv
import io
import json
import multiprocessing
import re
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest

from fusiongym.agents.policies import RandomPolicy
from fusiongym.training.evaluation import evaluate
from fusiongym.training.leaderboard import (
    DuplicateSubmissionError,
    Leaderboard,
    Submission,
    SubmissionError,
)
from fusiongym.training.leaderboard_render import export, render_text
from fusiongym.training.runs import submission_from_eval

PROCESSES, PER_PROCESS, OPEN_ROUNDS = 8, 5, 10


def make_submission(agent: str, env_id: str = "fusiongym/GoTo-v0", success: float = 0.5, **changes: Any) -> dict:
    data = {
        "agent": agent, "algo": "ppo", "policy": "fusion", "env_id": env_id, "split": "test",
        "seeds": list(range(100)), "episodes": 100, "success_rate": success,
        "success_low": max(success - 0.25, 0.0), "success_high": min(success + 0.25, 1.0), "mean_return": 0.4,
        "return_low": 0.2, "return_high": 0.6, "mean_length": 20.0, "length_low": 10.0, "length_high": 30.0,
        "suite_version": "0.1.0", "episode_success": [1.0, 0.0] * 50,
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
        result = evaluate(RandomPolicy(0), env_id, split="test", episodes=100, progress=False)
        board.submit(submission_from_eval(result.to_dict(with_episodes=True), agent="random", algo="random",
                                          policy="random"))
    board.submit(Submission.from_dict(make_submission("strong", success=1.0, episode_success=[1.0] * 100)))
    rows = board.submissions()
    written = export(rows, tmp_path / "out")
    markdown, table, page = (p.read_text() for p in written)
    assert markdown.count("| random | random | random |") == 2 and "| strong | ppo |" in markdown and "IQM" in markdown
    assert "1.00 [0.75, 1.00]" in markdown
    assert len(list(csv.DictReader(table.splitlines()))) == 3
    assert "<svg" in page and "sortable" in page and page.count("<tr><td>fusiongym/") == 3
    text = render_text(rows, highlight="strong")
    assert "→ strong" in text and "(2 levels)" in text


# ------------------------------------------------------------------------------------------------------------------
# Files that are not ours, damaged databases, escaping, ablations, evaluation sizes (issue 13)
# ------------------------------------------------------------------------------------------------------------------


def cli(capsys: pytest.CaptureFixture, *args: str) -> tuple[int, str, str]:
    from fusiongym.training.cli import main

    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def file_state(path: Path) -> tuple[bytes, list[str]]:
    """The file's bytes and every file beside it (a journal-mode switch or a WAL would show)."""
    return path.read_bytes(), sorted(p.name for p in path.parent.iterdir())


def test_a_foreign_sqlite_database_is_never_modified(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    path = tmp_path / "app.sqlite"
    connection = sqlite3.connect(path)
    connection.execute("CREATE TABLE users (name TEXT)")
    connection.execute("INSERT INTO users VALUES ('ada')")
    connection.commit()
    connection.close()
    (tmp_path / "entry.json").write_text(json.dumps(make_submission("x")))
    before = file_state(path)
    with pytest.raises(SubmissionError, match=r"not a fusiongym leaderboard.*users.*--db"):
        Leaderboard(path)
    for args in (["show"], ["export", "--out", str(tmp_path / "out")],
                 ["submit", "--json", str(tmp_path / "entry.json")]):
        code, _, err = cli(capsys, "leaderboard", *args, "--db", str(path))
        assert code == 2 and "not a fusiongym leaderboard" in err and "--db" in err, err
    assert file_state(path) == before  # same bytes, no journal or WAL beside it
    assert sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    text = tmp_path / "notes.txt"
    text.write_text("not a database\n" * 300)
    with pytest.raises(SubmissionError, match="--db"):
        Leaderboard(text)
    assert text.read_text() == "not a database\n" * 300


def many_submissions(path: Path, count: int = 60) -> None:
    board = Leaderboard(path)
    for k in range(count):
        board.submit(Submission.from_dict(make_submission(f"agent-{k}", notes="x" * 500)))


@pytest.mark.parametrize("damage", ["truncated", "garbage"])
def test_a_damaged_database_is_a_clear_error_and_recover_saves_what_it_can(
        tmp_path: Path, capsys: pytest.CaptureFixture, damage: str) -> None:
    path = tmp_path / "board.sqlite"
    many_submissions(path)
    data = bytearray(path.read_bytes())
    if damage == "truncated":
        data = data[:len(data) // 2]
    else:
        data[len(data) // 3:len(data) // 2] = b"\xab" * (len(data) // 2 - len(data) // 3)
    path.write_bytes(bytes(data))
    before = file_state(path)
    (tmp_path / "entry.json").write_text(json.dumps(make_submission("new")))
    for args in (["show"], ["export", "--out", str(tmp_path / "out")],
                 ["submit", "--json", str(tmp_path / "entry.json")]):
        code, _, err = cli(capsys, "leaderboard", *args, "--db", str(path))
        assert code == 2 and "damaged" in err and "fusiongym leaderboard recover" in err, (args, err)
        assert "Traceback" not in err
    assert path.read_bytes() == before[0]

    saved_path = tmp_path / "saved.sqlite"
    code, out, err = cli(capsys, "leaderboard", "recover", "--db", str(path), "--out", str(saved_path))
    assert code == 0, err
    assert path.read_bytes() == before[0]  # the damaged file is never modified
    rows = Leaderboard(saved_path).submissions()
    assert 0 < len(rows) < 60
    assert f"saved {len(rows)} " in out and f"lost {60 - len(rows)} " in out
    assert {r["notes"] for r in rows} == {"x" * 500}
    code, _, err = cli(capsys, "leaderboard", "recover", "--db", str(path), "--out", str(saved_path))
    assert code == 2 and "exists" in err  # never over an existing file


def test_exports_escape_names(tmp_path: Path) -> None:
    from fusiongym.training.leaderboard_render import render_csv, render_html, render_markdown

    names = ["pipe|name", "<script>alert(1)</script>", '=HYPERLINK("http://x")', "+1", "-2", "@SUM(A1)",
             "back\\", "two\nlines"]
    board = Leaderboard(tmp_path / "board.sqlite")
    for name in names:
        board.submit(Submission.from_dict(make_submission(name)))
    rows = board.submissions()
    markdown = render_markdown(rows)
    unescaped = re.compile(r"(?<!\\)\|")
    for block in re.split(r"\n(?!\|)", markdown):  # each table: its rows have as many cells as its header
        counts = {len(unescaped.findall(line)) for line in block.splitlines() if line.startswith("|")}
        assert len(counts) <= 1, block
    assert "<script>" not in markdown and "&lt;script&gt;" in markdown
    page = render_html(rows)
    assert "<script>alert" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    agents = [r["agent"] for r in csv.DictReader(io.StringIO(render_csv(rows)))]
    assert sorted(agents) == sorted(["pipe|name", "<script>alert(1)</script>", "'=HYPERLINK(\"http://x\")", "'+1",
                                     "'-2", "'@SUM(A1)", "back\\", "two\nlines"])


def test_ablated_submissions_are_separate_rows_kept_out_of_the_agent_s_iqm(tmp_path: Path) -> None:
    from fusiongym.training.leaderboard_render import agent_iqm, render_csv, render_html, render_markdown

    board = Leaderboard(tmp_path / "board.sqlite")
    for env_id in ("fusiongym/GoTo-v0", "fusiongym/Fetch-v0"):
        board.submit(Submission.from_dict(make_submission("reader", env_id, success=1.0, episode_success=[1.0] * 100)))
        board.submit(Submission.from_dict(make_submission("reader", env_id, success=0.0, episode_success=[0.0] * 100,
                                                          ablated=["facts"])))
    with pytest.raises(DuplicateSubmissionError, match="facts"):
        board.submit(Submission.from_dict(make_submission("reader", ablated="facts")))
    assert Submission.from_dict(make_submission("x", ablated=["mission", "facts"])).ablated == "facts,mission"
    rows = board.submissions()
    assert sorted(r["ablated"] for r in rows) == ["", "", "facts", "facts"]
    summary = agent_iqm(rows)
    assert [(s["agent"], s["levels"], s["iqm_success"]) for s in summary] == [("reader", 2, 1.0)]
    for text in (render_text(rows), render_markdown(rows), render_html(rows)):
        assert "reader (no facts)" in text
    assert "reader (no facts)  " not in render_text(rows).split("IQM")[-1]
    assert [r["ablated"] for r in csv.DictReader(io.StringIO(render_csv(rows)))].count("facts") == 2


def test_other_than_the_protocol_s_episodes_are_marked_and_not_ranked(tmp_path: Path) -> None:
    from fusiongym.training.leaderboard_render import agent_iqm, render_markdown

    board = Leaderboard(tmp_path / "board.sqlite")
    board.submit(Submission.from_dict(make_submission("full", success=0.5)))
    short = make_submission("quick", success=1.0, seeds=list(range(20)), episodes=20, episode_success=[1.0] * 20)
    board.submit(Submission.from_dict(short))
    board.submit(Submission.from_dict({**short, "agent": "full"}))  # a quick look does not block the real one
    rows = board.submissions()
    assert [s["agent"] for s in agent_iqm(rows)] == ["full"]
    text = render_text(rows)
    table = text.split("IQM")[0]
    assert table.index("full ") < table.index("quick")  # ranked rows first, whatever their success
    assert "20 (unranked)" in text and "20 (unranked)" in render_markdown(rows)
    assert "quick" not in text.split("IQM")[-1]


def write_schema_1_database(path: Path, submissions: list[dict]) -> None:
    """A leaderboard as fusiongym wrote it before schema 2: no ``ablated`` column, unique per (agent, env id,
    split, suite version)."""
    columns = [name for name in Submission.__dataclass_fields__ if name != "ablated"]
    connection = sqlite3.connect(path)
    with connection:
        connection.execute(f"CREATE TABLE submissions (id INTEGER PRIMARY KEY AUTOINCREMENT, {', '.join(columns)}, "
                           "UNIQUE (agent, env_id, split, suite_version))")
        connection.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT)")
        connection.execute("INSERT INTO meta VALUES ('schema_version', '1')")
        for data in submissions:
            values = [json.dumps(data[c]) if isinstance(data.get(c), (list, dict)) else data.get(c) for c in columns]
            connection.execute(f"INSERT INTO submissions ({', '.join(columns)}) VALUES "
                               f"({', '.join('?' * len(columns))})", values)
    connection.close()


def test_a_database_of_the_previous_schema_is_migrated(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    old_rows = [Submission.from_dict(make_submission(f"agent-{k}", env_id=env_id)).__dict__
                for k in range(3) for env_id in ("fusiongym/GoTo-v0", "fusiongym/Fetch-v0")]
    write_schema_1_database(path, old_rows)
    count = len(old_rows)
    board = Leaderboard(path)
    rows = board.submissions()
    assert len(rows) == count and {r["ablated"] for r in rows} == {""}
    first = rows[0]
    again = {k: v for k, v in first.items() if k not in ("id", "env_version")}
    board.submit(Submission.from_dict({**again, "ablated": "facts"}))  # the same agent without facts: a new row
    with pytest.raises(DuplicateSubmissionError):
        board.submit(Submission.from_dict(again))
    assert len(Leaderboard(path).submissions()) == count + 1


def test_export_without_out_writes_to_the_user_data_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                            capsys: pytest.CaptureFixture) -> None:
    checkout = tmp_path / "checkout"
    (checkout / "leaderboard").mkdir(parents=True)
    for name in ("leaderboard.md", "leaderboard.csv", "leaderboard.html"):
        (checkout / "leaderboard" / name).write_text("committed")
    home = tmp_path / "home"
    monkeypatch.setenv("FUSIONGYM_HOME", str(home))
    monkeypatch.chdir(checkout)
    Leaderboard().submit(Submission.from_dict(make_submission("mine")))
    code, out, err = cli(capsys, "leaderboard", "export")
    assert code == 0, err
    assert all((checkout / "leaderboard" / n).read_text() == "committed" for n in
               ("leaderboard.md", "leaderboard.csv", "leaderboard.html"))
    assert "mine" in (home / "export" / "leaderboard.md").read_text() and str(home / "export") in out


def test_withdrawing_an_agent_returns_its_rows_and_leaves_the_others(tmp_path: Path) -> None:
    board = Leaderboard(tmp_path / "board.sqlite")
    for env_id in ("fusiongym/GoTo-v0", "fusiongym/Fetch-v0"):
        board.submit(Submission.from_dict(make_submission("old-recipe", env_id)))
        board.submit(Submission.from_dict(make_submission("old-recipe", env_id, ablated=["facts"])))
        board.submit(Submission.from_dict(make_submission("other", env_id)))
    removed = board.withdraw("old-recipe", "fusiongym/Fetch-v0")
    assert sorted((r["env_id"], r["ablated"]) for r in removed) == [("fusiongym/Fetch-v0", ""),
                                                                     ("fusiongym/Fetch-v0", "facts")]
    left = {(r["agent"], r["env_id"], r["ablated"]) for r in board.submissions()}
    assert left == {("old-recipe", "fusiongym/GoTo-v0", ""), ("old-recipe", "fusiongym/GoTo-v0", "facts"),
                    ("other", "fusiongym/GoTo-v0", ""), ("other", "fusiongym/Fetch-v0", "")}
    board.submit(Submission.from_dict(make_submission("old-recipe", "fusiongym/Fetch-v0")))  # its place is free
    assert Submission.from_dict({k: v for k, v in removed[0].items() if k != "id"}).agent == "old-recipe"
