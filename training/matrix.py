"""The baseline matrix: the leaderboard's jobs, run in this process or as Ray tasks, each row submitted once.

A :class:`Job` is one row: a reference agent evaluated, a learned agent trained (or resumed) and evaluated, or the
best learned agent of a level evaluated with one observation key zeroed. :func:`run_job` does one job and returns
its :class:`~fusiongym.training.leaderboard.Submission`; it never touches the database, and it is idempotent: a run
folder it finds is resumed from its last checkpoint (a finished one only evaluated), so a job whose worker died is
simply run again. :class:`MatrixBuild` is the driver: it skips rows already in the database, hands the rest to an
executor (:class:`InProcess`, or :class:`RayTasks` on a local Ray or a cluster), submits each result exactly once,
starts a fine-tuning job only once the run it starts from is there, and a level's ablation rows once all its
learned jobs are done (they are of its best learned agent).
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fusiongym.training.config import BUILTIN_AGENTS, RunConfig, build_run_config
from fusiongym.training.leaderboard import Leaderboard, Submission

REFERENCES = BUILTIN_AGENTS
#: learned agent -> (algorithm, policy)
LEARNED = {
    "qlearning": ("qlearning", "tabular"),
    "ppo-cnn": ("ppo", "cnn"),
    "ppo-fusion": ("ppo", "fusion"),
    "dagger-fusion": ("dagger", "fusion"),
    "dagger-ppo-fusion": ("ppo", "fusion"),
}
ABLATIONS = ("facts", "mission", "image")
#: PPO fine-tuning of an imitation policy: a smaller step and no entropy bonus, so that the reading it was taught
#: is not washed out while the value head (which imitation does not train) catches up; 600k steps, since the reward
#: keeps teaching past ppo.yml's 200k (Avoid-v0: 0.64 from DAgger, 0.75 at 200k, 0.84 at 450k; docs/results.md).
FINETUNE_HP = ("learning_rate=0.0001", "ent_coef=0.0", "n_timesteps=600000")


@dataclass(frozen=True)
class Job:
    """One row of the matrix: ``agent`` on ``env_id`` (learned agents with a training ``seed``); an ablation job
    evaluates the run folder ``run`` (the level's best learned agent, named ``agent``) with ``ablate`` zeroed."""

    env_id: str
    agent: str
    seed: int | None = None
    ablate: str = ""
    run: str = ""

    @property
    def name(self) -> str:
        """The row's agent name: ``ppo-cnn-s1``, ``oracle``, or the ablated agent's own."""
        return self.agent if self.seed is None else f"{self.agent}-s{self.seed}"

    def describe(self) -> str:
        return f"{self.env_id} {self.name}" + (f" (no {self.ablate})" if self.ablate else "")


@dataclass(frozen=True)
class MatrixSettings:
    """What every job of one build shares: where run folders go, the protocol's episodes, budget overrides
    (agent -> steps), the fine-tuning overrides and torch threads per job."""

    runs: Path
    episodes: int = 100
    budgets: dict[str, int] = field(default_factory=dict)
    finetune_hp: tuple[str, ...] = FINETUNE_HP
    threads: int = 1


def run_folder(env_id: str, name: str, runs: Path) -> Path:
    """Where the job of a learned agent ``name`` (``<agent>-s<seed>``) keeps its run: ``<runs>/<Level>-<name>``."""
    return Path(runs) / f"{env_id.split('/')[-1]}-{name}"


def job_config(agent: str, env_id: str, seed: int, settings: MatrixSettings) -> RunConfig | None:
    """The run config a learned agent's job trains with (``None``: a fine-tuning job whose DAgger run is not there)."""
    algo, policy = LEARNED[agent]
    overrides: list[str] = []
    init_from = None
    if agent == "dagger-ppo-fusion":
        init_from = run_folder(env_id, f"dagger-fusion-s{seed}", settings.runs)
        if not (init_from / "agent").is_dir():
            return None
        overrides = list(settings.finetune_hp)
    return build_run_config(env_id, algo, policy, seed=seed, timesteps=settings.budgets.get(agent),
                            overrides=overrides, init_from=init_from)


@dataclass
class JobResult:
    """What a job sends back: its row (``None`` if skipped, with ``log`` saying why) and the line for jobs.jsonl."""

    job: Job
    submission: Submission | None
    log: dict[str, Any]


def run_job(job: Job, settings: MatrixSettings) -> JobResult:
    """Do one job where it runs (this process or a Ray worker): train or resume, evaluate, build the row."""
    import fusiongym  # noqa: F401  (a Ray worker registers the ids itself)
    from fusiongym.training.evaluation import evaluate
    from fusiongym.training.run_folder import read_state
    from fusiongym.training.runs import builtin_policy, evaluate_run, submission_from_eval, submission_from_run
    from fusiongym.training.train import train

    log: dict[str, Any] = {"env": job.env_id, "agent": job.name}
    if job.ablate:
        run_dir = Path(job.run)
        result = evaluate_run(run_dir, split="test", episodes=settings.episodes, progress=False, ablate=[job.ablate])
        row = submission_from_run(run_dir, split="test", name=job.agent, ablate=[job.ablate],
                                  episodes=settings.episodes)
        return JobResult(job, row, {**log, "ablated": job.ablate, "success": result.success_rate.value})
    if job.seed is None:
        result = evaluate(builtin_policy(job.agent, 0), job.env_id, split="test", episodes=settings.episodes,
                          progress=False)
        row = submission_from_eval(result.to_dict(with_episodes=True), agent=job.agent, algo=job.agent,
                                   policy=job.agent)
        return JobResult(job, row, {**log, "success": result.success_rate.value})
    run_dir = run_folder(job.env_id, job.name, settings.runs)
    started = time.time()
    if (run_dir / "config.yaml").is_file() and not (run_dir / "state.json").is_file():
        # a worker died between writing the config and the state: nothing was trained there; start again
        os.replace(run_dir, run_dir.with_name(f"{run_dir.name}.unstarted-{time.strftime('%Y%m%d-%H%M%S')}"))
    if (run_dir / "state.json").is_file():
        if read_state(run_dir).get("status") != "finished":
            train(None, run_dir, resume=True, progress=False, threads=settings.threads)
    else:
        config = job_config(job.agent, job.env_id, job.seed, settings)
        if config is None:
            return JobResult(job, None, {**log, "skipped": "no finished dagger-fusion run to start from"})
        train(config, run_dir, progress=False, threads=settings.threads)
    result = evaluate_run(run_dir, split="test", episodes=settings.episodes, progress=False)
    row = submission_from_run(run_dir, split="test", name=job.name, episodes=settings.episodes)
    state = read_state(run_dir)
    return JobResult(job, row, {**log, "success": result.success_rate.value, "steps": state["num_timesteps"],
                                "train_minutes": round(state.get("wall_time_s", 0.0) / 60, 1),
                                "job_minutes": round((time.time() - started) / 60, 1)})


class InProcess:
    """Runs the jobs one after another in this process, in the order they were given."""

    def __init__(self, settings: MatrixSettings) -> None:
        self.settings, self.queue = settings, list[Job]()

    def submit(self, job: Job) -> None:
        self.queue.append(job)

    def __len__(self) -> int:
        return len(self.queue)

    def next_result(self) -> JobResult:
        return _run_job_or_report(self.queue.pop(0), self.settings)  # a broken job is logged; the build goes on

    def close(self) -> None:
        pass


class RayTasks:
    """Runs the jobs as Ray tasks, one CPU each, on a local Ray (``address=None``: ``workers`` CPUs) or an existing
    cluster (``"auto"`` or ``host:port``). A task whose worker process dies is retried (``max_retries``) and resumes
    its run folder; the run folders must be on storage every node sees (one machine, or a shared file system).
    ``job_function``: what a task runs (default :func:`run_job`, its exceptions sent back as failed results)."""

    def __init__(self, settings: MatrixSettings, address: str | None = None, workers: int | None = None,
                 max_retries: int = 3, job_function: Callable[[Job, MatrixSettings], JobResult] | None = None) -> None:
        try:
            import ray
        except ImportError as err:
            raise RuntimeError('--ray needs Ray: pip install "fusiongym[ray]"') from err
        self.ray = ray
        if address is None:  # a local Ray sends no usage statistics unless the user's environment asks for them
            os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
            ray.init(address="local", num_cpus=workers or os.cpu_count(), include_dashboard=False, log_to_driver=False)
        else:
            ray.init(address=address, log_to_driver=False)
        settings = dataclasses.replace(settings, runs=Path(settings.runs).resolve())  # workers start elsewhere
        self.settings = ray.put(settings)
        self.task = ray.remote(num_cpus=1, max_retries=max_retries)(job_function or _run_job_or_report)
        self.pending: dict[Any, Job] = {}

    def submit(self, job: Job) -> None:
        self.pending[self.task.remote(job, self.settings)] = job

    def __len__(self) -> int:
        return len(self.pending)

    def next_result(self) -> JobResult:
        done, _ = self.ray.wait(list(self.pending), num_returns=1)
        job = self.pending.pop(done[0])
        try:
            return self.ray.get(done[0])
        except Exception as err:  # retries spent (the worker kept dying), or the task itself failed
            return _failed(job, err)

    def close(self) -> None:
        self.ray.shutdown()


def _run_job_or_report(job: Job, settings: MatrixSettings) -> JobResult:
    """:func:`run_job`, an exception in the job coming back as a failed result (Ray retries only dead workers)."""
    try:
        return run_job(job, settings)
    except Exception as err:
        return _failed(job, err)


def _failed(job: Job, err: BaseException) -> JobResult:
    return JobResult(job, None, {"env": job.env_id, "agent": job.name, "failed": f"{type(err).__name__}: {err}"})


def best_learned(board: Leaderboard, env_id: str, episodes: int) -> dict[str, Any] | None:
    """The level's learned row with the highest test success (mean return breaks ties), among unablated rows."""
    rows = [r for r in board.submissions(env_id=env_id, split="test")
            if r["algo"] not in REFERENCES and not r.get("ablated") and r["episodes"] == episodes and r.get("run")]
    return max(rows, key=lambda r: (r["success_rate"], r["mean_return"]), default=None)


class MatrixBuild:
    """The driver: which jobs are missing from ``board``, in what order they may start, and each result submitted
    once. ``record`` gets every jobs.jsonl line (results, skips, failures)."""

    def __init__(self, board: Leaderboard, settings: MatrixSettings, record: Callable[[dict[str, Any]], None]) -> None:
        self.board, self.settings, self.record = board, settings, record
        self.failed = 0

    def have(self, env_id: str, agent: str, ablated: str = "") -> bool:
        """Whether the database holds ``agent``'s protocol row on ``env_id`` (with ``ablated`` zeroed)."""
        return any(r["agent"] == agent and (r.get("ablated") or "") == ablated
                   and r["episodes"] == self.settings.episodes
                   for r in self.board.submissions(env_id=env_id, split="test"))

    def plan(self, levels: Iterable[str], agents: Iterable[str], seeds: Iterable[int]) -> list[Job]:
        """The rows not in the database yet: references first (cheap, and what every learned row is read against),
        then the learned agents seed by seed, level by level (each pass over the levels a complete comparison)."""
        levels, agents, seeds = list(levels), list(agents), list(seeds)
        jobs = [Job(env_id, name) for env_id in levels for name in agents if name in REFERENCES]
        jobs += [Job(env_id, agent, seed) for seed in seeds for env_id in levels for agent in agents
                 if agent in LEARNED]
        return [job for job in jobs if not self.have(job.env_id, job.name)]

    def run(self, jobs: list[Job], executor: InProcess | RayTasks, levels: Iterable[str],
            ablations: Iterable[str] = ABLATIONS) -> int:
        """Run ``jobs`` and, for each of ``levels``, the ``ablations`` rows of its best learned agent once its
        learned jobs are done, on ``executor``; the number of jobs that failed."""
        ablations, levels = list(ablations), list(levels)
        waiting, running = list(jobs), list[Job]()
        ablated_levels: set[str] = set()

        def blocked(job: Job) -> bool:  # a fine-tuning job starts from its level's DAgger run of the same seed
            return job.agent == "dagger-ppo-fusion" and any(
                other.agent == "dagger-fusion" and other.env_id == job.env_id and other.seed == job.seed
                for other in waiting + running)

        def start_ready() -> None:
            for job in [job for job in waiting if not blocked(job)]:
                waiting.remove(job)
                running.append(job)
                executor.submit(job)
            for env_id in levels:  # a level whose learned jobs are all done gets its ablation rows
                learning = any(j.env_id == env_id and j.seed is not None for j in waiting + running)
                if env_id in ablated_levels or learning:
                    continue
                ablated_levels.add(env_id)
                for job in self.ablation_jobs(env_id, ablations):
                    running.append(job)
                    executor.submit(job)

        start_ready()
        while running:
            result = executor.next_result()
            running.remove(result.job)
            self.submit(result)
            start_ready()
        return self.failed

    def ablation_jobs(self, env_id: str, ablations: Iterable[str]) -> list[Job]:
        """The missing ablation rows of ``env_id``'s best learned agent (none if it has no learned row)."""
        best = best_learned(self.board, env_id, self.settings.episodes)
        if best is None:
            return []
        run = str(Path(best["run"]).resolve())  # a worker may start in another folder than this process
        return [Job(env_id, best["agent"], ablate=key, run=run) for key in ablations
                if not self.have(env_id, best["agent"], key)]

    def submit(self, result: JobResult) -> None:
        """Put a job's row in the database unless it is there already, and log the job."""
        job = result.job
        if result.submission is not None and not self.have(job.env_id, job.name, job.ablate):
            self.board.submit(result.submission)
        if "failed" in result.log:
            self.failed += 1
        self.record(result.log)
