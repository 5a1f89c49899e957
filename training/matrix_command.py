"""``fusiongym leaderboard build`` (and ``scripts/make_leaderboard.py``, which calls it): the baseline matrix.

The command's help (its epilog) is the user's guide; :mod:`fusiongym.training.matrix` runs the jobs."""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import sys
import time
from pathlib import Path
from typing import Any

import fusiongym
from fusiongym.envs import env_ids
from fusiongym.fusion.config import FusionConfig
from fusiongym.training.config import RunConfig
from fusiongym.training.leaderboard import Leaderboard
from fusiongym.training.leaderboard_render import export
from fusiongym.training.matrix import (
    ABLATIONS,
    FINETUNE_HP,
    LEARNED,
    REFERENCES,
    InProcess,
    MatrixBuild,
    MatrixSettings,
    RayTasks,
    job_config,
    run_folder,
)
from fusiongym.training.run_folder import read_run_config, read_state

GUIDE = r"""Build ``leaderboard/``: every agent on the test split of every registered level, resumably.

For every current env id in the registry (a new level is included the moment it is registered; an id superseded
by a newer version is left out unless ``--levels`` names it), on the test split's first
``--episodes`` fixed seeds:

    random           uniformly random actions                                          no training
    oracle           the env's oracle bot reading the facts (the upper bound)           no training
    blind-oracle     the same bot planning without the facts (what ignoring them wins)  no training
    explorer         the reading bot knowing only what its agent has seen (BabyAI's)     no training
    qlearning        tabular Q-learning (training/configs/qlearning.yml)
    ppo-cnn          PPO, vision-only policy (training/configs/ppo.yml)
    ppo-fusion       PPO, the fusion policy (training/configs/ppo.yml)
    dagger-fusion    DAgger of the reading oracle into the fusion policy (training/configs/dagger.yml)
    dagger-ppo-fusion  PPO fine-tuning of dagger-fusion (--init-from; training/configs/ppo.yml + --finetune-hp)

learned agents once per training seed (``--seeds``, named ``<agent>-s<seed>``); then, for the best learned agent of
each level, the same agent with its facts, its instruction and its image zeroed (``fusiongym eval --ablate``),
submitted as rows of their own (the ``ablated`` column). Everything goes to ``leaderboard/leaderboard.sqlite``, and
``leaderboard.md``, ``.csv`` and ``.html`` are exported from it.

The build is resumable and can be run in parts: a job whose row is already in the database is skipped, a run
folder that was interrupted is resumed (``fusiongym train --resume``), so ``--levels``, ``--agents`` and ``--seeds``
select parts of the matrix and a later call adds the rest::

    fusiongym leaderboard build --agents random oracle blind-oracle dagger-fusion --seeds 0
    fusiongym leaderboard build --levels fusiongym/Defeat-v1 --seeds 1 2
    fusiongym leaderboard build --ablations-only          # ablation rows of each level's best agent
    fusiongym leaderboard build --out /tmp/lb --runs /tmp/lb-runs --agents dagger-fusion \
        --levels fusiongym/GoTo-v1 --timesteps dagger-fusion=20000        # a quick look

When a recipe or the oracle changes, ``--rebuild AGENT ...`` first withdraws those agents' rows on the selected
levels and seeds (archived, with their ablation rows, in ``withdrawn.jsonl``) and moves their run folders aside
(``RUN.withdrawn-<time>``), so the same call trains and submits them again::

    fusiongym leaderboard build --levels fusiongym/Bring-v1 --agents oracle dagger-fusion --seeds 0 \
        --rebuild oracle dagger-fusion

A run trained by hand (``fusiongym train``, e.g. with ``--eval-every`` for its curve, or extended with ``--resume
--timesteps``) is taken as a job's run folder with ``--adopt RUN`` (one level, one learned agent, one seed): it is
moved into place only if its config is the one the job would build (evaluation and checkpoint intervals aside)::

    fusiongym leaderboard build --levels fusiongym/Defeat-v1 --agents dagger-fusion --seeds 0 \
        --rebuild dagger-fusion --adopt runs/exp10/Defeat-v1-decay-s0

On Ray (``pip install "fusiongym[ray]"``) the jobs run as tasks, one CPU each: ``--ray`` starts a local Ray with
``--workers`` CPUs, ``--ray auto`` joins the cluster ``ray start`` made on this machine, ``--ray HOST:PORT`` a
cluster's head. Run folders must be on storage every node sees. A task whose worker dies is run again (up to
``--max-retries`` times) and resumes its run folder from the last checkpoint; every result comes back to this
process, which alone writes the database, so each row is submitted once::

    ray start --head --num-cpus 2            # on the head machine; on each other machine:
    ray start --address HEAD_IP:6379 --num-cpus 2
    fusiongym leaderboard build --ray auto --levels fusiongym/GoTo-v1 fusiongym/Fetch-v0 --seeds 0 1

Budgets default to each algorithm's YAML ``n_timesteps``; ``--timesteps AGENT=N`` overrides one.
``leaderboard/README.md`` is rewritten with the budgets, the seeds, the machine and the wall time of every job
(kept in ``leaderboard/jobs.jsonl``).
"""


def add_build_arguments(parser: argparse.ArgumentParser, out: Path = Path("leaderboard"),
                        runs: Path = Path("runs") / "leaderboard") -> None:
    """The build's options (``out`` and ``runs``: the default output and run folders)."""
    parser.add_argument("--out", type=Path, default=out, help=f"output folder (default {out})")
    parser.add_argument("--runs", type=Path, default=runs, help=f"where the learned agents' run folders go "
                                                                 f"(default {runs})")
    parser.add_argument("--levels", nargs="+", default=None,
                        help="env ids (default: every registered one not deprecated)")
    parser.add_argument("--agents", nargs="+", default=[*REFERENCES, *LEARNED],
                        choices=[*REFERENCES, *LEARNED], help="agents (default: all)")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2], help="training seeds (default 0 1 2)")
    parser.add_argument("--episodes", type=int, default=100, help="test episodes per row (default 100)")
    parser.add_argument("--timesteps", nargs="*", default=[], metavar="AGENT=N", help="budget overrides")
    parser.add_argument("--finetune-hp", nargs="*", default=list(FINETUNE_HP),
                        help="PPO overrides of dagger-ppo-fusion")
    parser.add_argument("--no-ablations", action="store_true", help="skip the ablation rows")
    parser.add_argument("--ablations-only", action="store_true", help="only the ablation rows")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per job (default 1)")
    parser.add_argument("--rebuild", nargs="+", default=[], choices=[*REFERENCES, *LEARNED], metavar="AGENT",
                        help="withdraw these agents' rows on the selected levels and seeds (archived in "
                             "withdrawn.jsonl) and move their run folders aside, then build them again")
    parser.add_argument("--adopt", type=Path, metavar="RUN",
                        help="a finished run folder trained with the config this script builds for the one "
                             "--levels/--agents/--seeds job: moved into place instead of training it again")
    parser.add_argument("--ray", metavar="ADDRESS", nargs="?", const="local", default=None,
                        help="run the jobs as Ray tasks: 'local' (the default with a bare --ray: a Ray started "
                             "here with --workers CPUs), 'auto' (the cluster `ray start` made on this machine) or "
                             "host:port of a cluster's head; without --ray, one job after another in this process")
    parser.add_argument("--workers", type=int, default=None,
                        help="with --ray local: jobs at once (default: the CPU count)")
    parser.add_argument("--max-retries", type=int, default=3,
                        help="with --ray: times a job whose worker died is run again (default 3)")


def build_command(args: argparse.Namespace) -> int:
    """Run the selected jobs of the matrix, export the leaderboard and rewrite its README; the exit status."""
    started = time.time()
    levels = args.levels or sorted(env_ids(include_deprecated=False), key=lambda i: "Large" in i)
    try:
        budgets = {name: int(n) for name, _, n in (item.partition("=") for item in args.timesteps)}
    except ValueError:
        raise SystemExit(f"--timesteps takes AGENT=N pairs (e.g. dagger-fusion=20000), not {args.timesteps}") from None
    settings = MatrixSettings(args.runs, args.episodes, budgets, tuple(args.finetune_hp), args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    board = Leaderboard(args.out / "leaderboard.sqlite")
    log = args.out / "jobs.jsonl"

    def record(job: dict[str, Any]) -> None:
        with open(log, "a") as handle:
            handle.write(json.dumps(job) + "\n")
        print(json.dumps(job), flush=True)

    for env_id in levels:
        for agent in args.rebuild:
            withdraw(board, agent, env_id, args, record)
    if args.adopt:
        learned = [a for a in args.agents if a in LEARNED]
        if len(levels) != 1 or len(learned) != 1 or len(args.seeds) != 1:
            raise SystemExit("--adopt RUN takes one job: name one level (--levels), one learned agent (--agents) "
                             "and one seed (--seeds)")
        try:
            adopt(args.adopt, learned[0], levels[0], args.seeds[0], settings, record)
        except AdoptError as err:
            raise SystemExit(str(err)) from None

    build = MatrixBuild(board, settings, record)
    jobs = [] if args.ablations_only else build.plan(levels, args.agents, args.seeds)
    executor = InProcess(settings) if args.ray is None else RayTasks(
        settings, address=None if args.ray == "local" else args.ray, workers=args.workers,
        max_retries=args.max_retries)
    try:
        failed = build.run(jobs, executor, levels, ablations=() if args.no_ablations else ABLATIONS)
    finally:
        executor.close()

    export(board.submissions(split="test"), args.out, title=f"fusiongym {fusiongym.__version__} baselines (test split)")
    write_readme(args, budgets)
    print(f"wrote {args.out} in {(time.time() - started) / 60:.1f} min" + (f"; {failed} jobs failed (jobs.jsonl says "
                                                                           "why)" if failed else ""))
    return 1 if failed else 0


class AdoptError(Exception):
    """A run that ``--adopt`` cannot take as the job's run folder (the message says why and what to do)."""


#: settings that do not change what a run trains: how often (on how many episodes, of which split) it was
#: evaluated and checkpointed on the way
_NOT_THE_RECIPE = ("eval_every", "eval_episodes", "eval_split", "checkpoint_every")


def adopt(run: Path, agent: str, env_id: str, seed: int, settings: MatrixSettings, record: Any) -> None:
    """Move the finished ``run`` into the job's run folder if it was trained with the config the job builds."""
    target = run_folder(env_id, f"{agent}-s{seed}", settings.runs)
    if target.exists():
        raise AdoptError(f"--adopt: {target} is there already: withdraw it first with --rebuild {agent}")
    if read_state(run).get("status") != "finished":
        raise AdoptError(f"--adopt: {run} has not finished: fusiongym train --resume {run}")
    wanted, have = job_config(agent, env_id, seed, settings), read_run_config(run)
    if wanted is None:
        source = run_folder(env_id, f"dagger-fusion-s{seed}", settings.runs)
        raise AdoptError(f"--adopt: the job starts from {source}, which is not there: build dagger-fusion first")

    def recipe(config: RunConfig) -> dict[str, Any]:
        fields = dataclasses.asdict(config)
        fields["init_from"] = str(Path(fields["init_from"]).resolve()) if fields["init_from"] else ""
        if config.policy == "fusion":  # the settings as built (a preset or the 0.1.0 flat keys say the same)
            fields["fusion"] = FusionConfig.from_dict(fields["fusion"]).to_dict()
        return {k: v for k, v in fields.items() if k not in _NOT_THE_RECIPE}

    there, here = recipe(have), recipe(wanted)
    differ = {k: (v, here[k]) for k, v in there.items() if v != here[k]}
    if differ:
        shown = "; ".join(f"{k}: {v!r} there, {w!r} here" for k, (v, w) in differ.items())
        raise AdoptError(f"--adopt: {run} was not trained with this job's config ({shown}): train it with the "
                         "job's recipe, or change the recipe's YAML first")
    target.parent.mkdir(parents=True, exist_ok=True)
    run.rename(target)
    record({"env": env_id, "agent": f"{agent}-s{seed}", "adopted": str(run)})


def withdraw(board: Leaderboard, agent: str, env_id: str, args: argparse.Namespace, record: Any) -> None:
    """Take ``agent``'s rows on ``env_id`` (every seed of ``--seeds`` for a learned agent) out of the database into
    ``withdrawn.jsonl``, and move its run folders aside, so that they are built again."""
    names = [agent] if agent in REFERENCES else [f"{agent}-s{seed}" for seed in args.seeds]
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for name in names:
        rows = board.withdraw(name, env_id)
        if rows:
            with open(args.out / "withdrawn.jsonl", "a") as handle:
                for row in rows:
                    handle.write(json.dumps({**row, "withdrawn": stamp}) + "\n")
        run_dir = run_folder(env_id, name, args.runs)
        moved = run_dir.with_name(f"{run_dir.name}.withdrawn-{stamp}") if run_dir.exists() else None
        if moved is not None:
            run_dir.rename(moved)
        if rows or moved:
            record({"env": env_id, "agent": name, "withdrawn_rows": len(rows), "run_moved_to": str(moved or "")})


def write_readme(args: argparse.Namespace, budgets: dict[str, int]) -> None:
    """Rewrite ``README.md`` in the output folder: budgets, seeds, machine and wall times from ``jobs.jsonl``."""
    jobs = [json.loads(line) for line in (args.out / "jobs.jsonl").read_text().splitlines() if line.strip()]
    trained = [j for j in jobs if "train_minutes" in j]
    lines = [
        "# The baselines", "",
        "Built by `fusiongym leaderboard build` (or `python scripts/make_leaderboard.py`; resumable: it skips rows "
        "already in `leaderboard.sqlite` and resumes interrupted runs, so it can be run in parts; see its help). "
        "Every row is the test split, the "
        f"first {args.episodes} fixed test seeds of `training/seeds.py`, with 95% percentile-bootstrap intervals over "
        "episodes; learned agents sample their actions (seeded), Q-learning acts greedily; the IQM across levels "
        "uses a stratified bootstrap and only unablated protocol rows.", "",
        "- agents: random, oracle, blind-oracle (the oracle planning without the facts), explorer (the oracle "
        "knowing only what its agent has seen), qlearning, ppo-cnn, "
        "ppo-fusion, dagger-fusion (DAgger of the reading oracle, `training/configs/dagger.yml`), dagger-ppo-fusion "
        f"(PPO from dagger-fusion's weights with `{' '.join(args.finetune_hp)}`); `-sN` is the training seed.",
        "- budgets: each algorithm's `n_timesteps` in `training/configs/<algo>.yml`"
        + (f", overridden: {budgets}" if budgets else "") + "; the steps each run took are in `jobs.jsonl`.",
        "- ablation rows (`ablated` column): the best learned agent of each level evaluated with its facts, its "
        "instruction (mission) or its image zeroed.",
        f"- machine: {platform.processor() or platform.machine()}, torch threads {args.threads}; "
        f"fusiongym {fusiongym.__version__}, Python {sys.version.split()[0]}.",
        f"- wall time: {sum(j.get('train_minutes', 0) for j in trained):.0f} min of training in {len(trained)} learned "
        "runs so far, each on one core of a 2-core machine that was running other jobs too (per run in `jobs.jsonl`: "
        "`train_minutes` over all of a run's segments, `job_minutes` for the build's last call).", "",
        "Files: `leaderboard.md` (tables), `leaderboard.csv` (every field), `leaderboard.html` (sortable table, bar "
        "chart), `leaderboard.sqlite` (the database: "
        "`fusiongym leaderboard show --db leaderboard/leaderboard.sqlite`), "
        "`jobs.jsonl` (one line per job: success, steps, minutes).", "",
    ]
    missing = []
    board = Leaderboard(args.out / "leaderboard.sqlite")
    for env_id in env_ids(include_deprecated=False):  # the whole matrix, whatever part this call built
        names = {r["agent"] for r in board.submissions(env_id=env_id, split="test") if not r.get("ablated")}
        absent = [f"{a}-s{s}" for a in LEARNED for s in (0, 1, 2) if f"{a}-s{s}" not in names]
        absent += [a for a in REFERENCES if a not in names]
        if absent:
            missing.append(f"- {env_id}: {', '.join(absent)}")
    if missing:
        lines += ["## Not built yet", "", "These rows of the full matrix are not in the database yet (run the build "
                  "again to add them):", "", *missing, ""]
    (args.out / "README.md").write_text("\n".join(lines))
