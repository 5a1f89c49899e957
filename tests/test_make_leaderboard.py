"""``scripts/make_leaderboard.py`` end to end on a tiny matrix: references, a learned agent, its ablation rows, the
exports; run again, it skips every row already in the database; with ``--rebuild`` it archives an agent's rows and
builds them again."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "make_leaderboard.py"


def test_a_tiny_matrix_builds_and_a_second_run_adds_nothing(tmp_path: Path) -> None:
    env = {**os.environ, "FUSIONGYM_HOME": str(tmp_path / "home")}
    args = [sys.executable, str(SCRIPT), "--out", str(tmp_path / "lb"), "--runs", str(tmp_path / "runs"), "--levels",
            "fusiongym/GoTo-v1", "--agents", "random", "oracle", "blind-oracle", "dagger-fusion", "--seeds", "0",
            "--episodes", "4", "--timesteps", "dagger-fusion=256"]
    first = subprocess.run(args, capture_output=True, text=True, timeout=600, env=env)
    assert first.returncode == 0, first.stderr[-3000:]
    jobs = [json.loads(line) for line in (tmp_path / "lb" / "jobs.jsonl").read_text().splitlines()]
    agents = {(j["agent"], j.get("ablated", "")) for j in jobs}
    assert {("random", ""), ("oracle", ""), ("blind-oracle", ""), ("dagger-fusion-s0", "")} <= agents
    assert {("dagger-fusion-s0", key) for key in ("facts", "mission", "image")} <= agents
    for name in ("leaderboard.md", "leaderboard.csv", "leaderboard.html", "README.md"):
        assert (tmp_path / "lb" / name).is_file(), name
    assert "ablated" in (tmp_path / "lb" / "leaderboard.csv").read_text().splitlines()[0]
    second = subprocess.run(args, capture_output=True, text=True, timeout=600, env=env)
    assert second.returncode == 0, second.stderr[-3000:]
    again = (tmp_path / "lb" / "jobs.jsonl").read_text().splitlines()
    assert len(again) == len(jobs)  # every row was already there: nothing trained or evaluated twice
    rebuilt = subprocess.run([*args, "--rebuild", "dagger-fusion", "oracle"], capture_output=True, text=True,
                             timeout=600, env=env)
    assert rebuilt.returncode == 0, rebuilt.stderr[-3000:]
    withdrawn = [json.loads(line) for line in (tmp_path / "lb" / "withdrawn.jsonl").read_text().splitlines()]
    assert sorted((w["agent"], w["ablated"]) for w in withdrawn) == [
        ("dagger-fusion-s0", ""), ("dagger-fusion-s0", "facts"), ("dagger-fusion-s0", "image"),
        ("dagger-fusion-s0", "mission"), ("oracle", "")]  # archived, not lost
    assert len(list((tmp_path / "runs").glob("GoTo-v1-dagger-fusion-s0.withdrawn-*"))) == 1
    jobs = [json.loads(line) for line in (tmp_path / "lb" / "jobs.jsonl").read_text().splitlines()]
    agents = {(j["agent"], j.get("ablated", "")) for j in jobs[len(again):] if "success" in j}
    assert agents == {("oracle", ""), ("dagger-fusion-s0", ""), ("dagger-fusion-s0", "facts"),
                      ("dagger-fusion-s0", "mission"), ("dagger-fusion-s0", "image")}  # built again


def test_a_run_trained_by_hand_is_adopted_only_with_the_jobs_config(tmp_path: Path) -> None:
    configs = tmp_path / "configs"  # a small DAgger recipe, so the runs take seconds
    configs.mkdir()
    (configs / "dagger.yml").write_text("default:\n  n_envs: 16\n  n_timesteps: 64\n  rollout: 2\n")
    env = {**os.environ, "FUSIONGYM_HOME": str(tmp_path / "home"), "FUSIONGYM_CONFIGS": str(configs)}

    def hand_run(name: str, *extra: str) -> Path:
        run = tmp_path / "exp" / name
        done = subprocess.run([sys.executable, "-m", "fusiongym.training.cli", "train", "--env", "fusiongym/GoTo-v1",
                               "--algo", "dagger", "--seed", "0", "--run-dir", str(run), "--no-progress",
                               "--eval-every", "32", "--hp", "eval_episodes=2", *extra],
                              capture_output=True, text=True, timeout=600, env=env)
        assert done.returncode == 0, done.stderr[-3000:]
        return run

    def make_leaderboard(run: Path) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, str(SCRIPT), "--out", str(tmp_path / "lb"), "--runs",
                               str(tmp_path / "runs"), "--levels", "fusiongym/GoTo-v1", "--agents", "dagger-fusion",
                               "--seeds", "0", "--episodes", "4", "--adopt", str(run)],
                              capture_output=True, text=True, timeout=600, env=env)

    other = hand_run("other-rate", "--hp", "learning_rate=0.001")
    refused = make_leaderboard(other)
    assert refused.returncode != 0 and "not trained with this job's config" in refused.stderr
    assert "learning_rate" in refused.stderr and other.is_dir()  # says what differs; the run stays where it was
    assert not (tmp_path / "runs" / "GoTo-v1-dagger-fusion-s0").exists()

    same = hand_run("same-recipe")  # evaluated on the way (--eval-every): not part of the recipe
    adopted = make_leaderboard(same)
    assert adopted.returncode == 0, adopted.stderr[-3000:]
    assert not same.exists() and (tmp_path / "runs" / "GoTo-v1-dagger-fusion-s0" / "agent").is_dir()
    jobs = [json.loads(line) for line in (tmp_path / "lb" / "jobs.jsonl").read_text().splitlines()]
    assert jobs[0] == {"env": "fusiongym/GoTo-v1", "agent": "dagger-fusion-s0", "adopted": str(same)}
    assert [j["success"] for j in jobs if j.get("agent") == "dagger-fusion-s0" and "success" in j]  # evaluated
    assert "train_minutes" in jobs[1] and jobs[1]["steps"] == 64  # submitted as trained, not trained again
    again = make_leaderboard(other)  # the job's folder is taken: withdraw first
    assert again.returncode != 0 and "--rebuild dagger-fusion" in again.stderr
