"""``fusiongym leaderboard build --ray``: the matrix as Ray tasks on a local Ray (2 CPUs), each row submitted once,
a job whose worker dies run again, and the same rows as the in-process build."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from fusiongym.training.cli import main
from fusiongym.training.leaderboard import Leaderboard
from fusiongym.training.matrix import InProcess, Job, JobResult, MatrixBuild, MatrixSettings, RayTasks, run_job

ray = pytest.importorskip("ray")

TINY = ["--levels", "fusiongym/GoTo-v1", "fusiongym/Fetch-v0", "--agents", "random", "blind-oracle", "qlearning",
        "--seeds", "0", "1", "--episodes", "4", "--timesteps", "qlearning=300", "--no-ablations"]


def _rows(db: Path) -> list[tuple[str, str, str]]:
    return sorted((r["env_id"], r["agent"], r.get("ablated") or "") for r in Leaderboard(db).submissions())


def test_a_matrix_on_ray_submits_every_row_once_and_a_second_build_adds_nothing(tmp_path: Path) -> None:
    out = tmp_path / "lb"
    argv = ["leaderboard", "build", "--out", str(out), "--runs", str(tmp_path / "runs"), *TINY]
    assert main([*argv, "--ray", "local", "--workers", "2"]) == 0
    assert not ray.is_initialized()  # the build shuts its Ray down
    rows = _rows(out / "leaderboard.sqlite")
    expected = sorted((env, agent, "") for env in ("fusiongym/Fetch-v0", "fusiongym/GoTo-v1")
                      for agent in ("random", "blind-oracle", "qlearning-s0", "qlearning-s1"))
    assert rows == expected  # every row, each exactly once
    logged = (out / "jobs.jsonl").read_text().splitlines()
    assert len(logged) == len(expected)
    assert main([*argv, "--ray", "local", "--workers", "2"]) == 0
    assert _rows(out / "leaderboard.sqlite") == expected
    assert (out / "jobs.jsonl").read_text().splitlines() == logged  # nothing ran again
    inline = tmp_path / "inline"  # the same matrix in this process gives the same rows and the same scores
    assert main(["leaderboard", "build", "--out", str(inline), "--runs", str(tmp_path / "runs-inline"), *TINY]) == 0
    def scores(db: Path) -> dict[tuple[str, str], float]:
        return {(r["env_id"], r["agent"]): r["success_rate"] for r in Leaderboard(db).submissions()}

    assert scores(out / "leaderboard.sqlite") == scores(inline / "leaderboard.sqlite")


def _dies_on_its_first_try(job: Job, settings: MatrixSettings) -> JobResult:
    """A task whose worker process dies the first time it runs a learned job (as if killed), once per job."""
    marker = Path(settings.runs) / f"tried-{job.env_id.split('/')[-1]}-{job.name}"
    if job.seed is not None and not marker.exists():
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.touch()
        os._exit(1)
    return run_job(job, settings)


def test_a_job_whose_worker_dies_is_run_again_and_submitted_once(tmp_path: Path) -> None:
    board = Leaderboard(tmp_path / "lb.sqlite")
    settings = MatrixSettings(tmp_path / "runs", episodes=4, budgets={"qlearning": 300})
    logged: list[dict] = []
    build = MatrixBuild(board, settings, logged.append)
    jobs = build.plan(["fusiongym/GoTo-v1"], ["random", "qlearning"], [0, 1])
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # workers cannot import a test module
    executor = RayTasks(settings, workers=2, max_retries=2, job_function=_dies_on_its_first_try)
    try:
        assert build.run(jobs, executor, ["fusiongym/GoTo-v1"], ablations=()) == 0, logged
    finally:
        executor.close()
        ray.cloudpickle.unregister_pickle_by_value(sys.modules[__name__])
    assert sorted(r["agent"] for r in board.submissions()) == ["qlearning-s0", "qlearning-s1", "random"]
    assert sorted(job["agent"] for job in logged) == ["qlearning-s0", "qlearning-s1", "random"]
    assert {p.name for p in (tmp_path / "runs").glob("tried-*")} == {"tried-GoTo-v1-qlearning-s0",
                                                                     "tried-GoTo-v1-qlearning-s1"}


def test_a_failing_job_is_logged_and_the_rest_of_the_matrix_still_runs(tmp_path: Path) -> None:
    board = Leaderboard(tmp_path / "lb.sqlite")
    settings = MatrixSettings(tmp_path / "runs", episodes=4, budgets={"qlearning": 300})
    logged: list[dict] = []
    build = MatrixBuild(board, settings, logged.append)
    jobs = [Job("fusiongym/GoTo-v1", "no-such-agent"), *build.plan(["fusiongym/GoTo-v1"], ["random"], [0])]
    assert build.run(jobs, InProcess(settings), ["fusiongym/GoTo-v1"], ablations=()) == 1
    assert [r["agent"] for r in board.submissions()] == ["random"]
    assert "unknown agent 'no-such-agent'" in logged[0]["failed"]


def test_a_fine_tuning_job_starts_only_after_the_run_it_starts_from(tmp_path: Path) -> None:
    order: list[str] = []

    class Recording(InProcess):
        def next_result(self) -> JobResult:
            job = self.queue.pop(0)
            order.append(job.name)
            return JobResult(job, None, {"agent": job.name, "skipped": "recorded"})

        def submit(self, job: Job) -> None:
            order.append(f"queued {job.name}")
            super().submit(job)

    settings = MatrixSettings(tmp_path / "runs")
    build = MatrixBuild(Leaderboard(tmp_path / "lb.sqlite"), settings, lambda line: None)
    jobs = build.plan(["fusiongym/GoTo-v1"], ["dagger-ppo-fusion", "dagger-fusion"], [0])
    assert [job.name for job in jobs] == ["dagger-ppo-fusion-s0", "dagger-fusion-s0"]
    build.run(jobs, Recording(settings), ["fusiongym/GoTo-v1"], ablations=())
    assert order == ["queued dagger-fusion-s0", "dagger-fusion-s0", "queued dagger-ppo-fusion-s0",
                     "dagger-ppo-fusion-s0"]
