r"""Build ``leaderboard/``: every agent on the test split of every registered level, resumably.

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

The script is resumable and can be run in parts: a job whose row is already in the database is skipped, a run
folder that was interrupted is resumed (``fusiongym train --resume``), so ``--levels``, ``--agents`` and ``--seeds``
select parts of the matrix and a later call adds the rest::

    python scripts/make_leaderboard.py --agents random oracle blind-oracle dagger-fusion --seeds 0
    python scripts/make_leaderboard.py --levels fusiongym/Defeat-v1 --seeds 1 2
    python scripts/make_leaderboard.py --ablations-only          # ablation rows of each level's best agent
    python scripts/make_leaderboard.py --out /tmp/lb --runs /tmp/lb-runs --agents dagger-fusion \
        --levels fusiongym/GoTo-v1 --timesteps dagger-fusion=20000        # a quick look

When a recipe or the oracle changes, ``--rebuild AGENT ...`` first withdraws those agents' rows on the selected
levels and seeds (archived, with their ablation rows, in ``withdrawn.jsonl``) and moves their run folders aside
(``RUN.withdrawn-<time>``), so the same call trains and submits them again::

    python scripts/make_leaderboard.py --levels fusiongym/Bring-v1 --agents oracle dagger-fusion --seeds 0 \
        --rebuild oracle dagger-fusion

A run trained by hand (``fusiongym train``, e.g. with ``--eval-every`` for its curve, or extended with ``--resume
--timesteps``) is taken as a job's run folder with ``--adopt RUN`` (one level, one learned agent, one seed): it is
moved into place only if its config is the one the job would build (evaluation and checkpoint intervals aside)::

    python scripts/make_leaderboard.py --levels fusiongym/Defeat-v1 --agents dagger-fusion --seeds 0 \
        --rebuild dagger-fusion --adopt runs/exp10/Defeat-v1-decay-s0

Budgets default to each algorithm's YAML ``n_timesteps``; ``--timesteps AGENT=N`` overrides one.
``leaderboard/README.md`` is rewritten with the budgets, the seeds, the machine and the wall time of every job
(kept in ``leaderboard/jobs.jsonl``).
"""

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
from fusiongym.training.config import BUILTIN_AGENTS, RunConfig, build_run_config
from fusiongym.training.evaluation import evaluate
from fusiongym.training.leaderboard import Leaderboard
from fusiongym.training.leaderboard_render import export
from fusiongym.training.run_folder import read_run_config, read_state
from fusiongym.training.runs import builtin_policy, evaluate_run, submission_from_eval, submission_from_run
from fusiongym.training.train import train

REPO = Path(__file__).resolve().parent.parent
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
FINETUNE_HP = ["learning_rate=0.0001", "ent_coef=0.0", "n_timesteps=600000"]


def main() -> int:
    """Run the selected jobs of the matrix, export the leaderboard and rewrite its README; the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("--out", type=Path, default=REPO / "leaderboard", help="output folder (default leaderboard/)")
    parser.add_argument("--runs", type=Path, default=REPO / "runs" / "leaderboard",
                        help="where the learned agents' run folders go")
    parser.add_argument("--levels", nargs="+", default=None,
                        help="env ids (default: every registered one not deprecated)")
    parser.add_argument("--agents", nargs="+", default=[*REFERENCES, *LEARNED],
                        choices=[*REFERENCES, *LEARNED], help="agents (default: all)")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2], help="training seeds (default 0 1 2)")
    parser.add_argument("--episodes", type=int, default=100, help="test episodes per row (default 100)")
    parser.add_argument("--timesteps", nargs="*", default=[], metavar="AGENT=N", help="budget overrides")
    parser.add_argument("--finetune-hp", nargs="*", default=FINETUNE_HP, help="PPO overrides of dagger-ppo-fusion")
    parser.add_argument("--no-ablations", action="store_true", help="skip the ablation rows")
    parser.add_argument("--ablations-only", action="store_true", help="only the ablation rows")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rebuild", nargs="+", default=[], choices=[*REFERENCES, *LEARNED], metavar="AGENT",
                        help="withdraw these agents' rows on the selected levels and seeds (archived in "
                             "withdrawn.jsonl) and move their run folders aside, then build them again")
    parser.add_argument("--adopt", type=Path, metavar="RUN",
                        help="a finished run folder trained with the config this script builds for the one "
                             "--levels/--agents/--seeds job: moved into place instead of training it again")
    args = parser.parse_args()

    started = time.time()
    levels = args.levels or sorted(env_ids(include_deprecated=False), key=lambda i: "Large" in i)
    budgets = {name: int(n) for name, _, n in (item.partition("=") for item in args.timesteps)}
    args.out.mkdir(parents=True, exist_ok=True)
    board = Leaderboard(args.out / "leaderboard.sqlite")
    log = args.out / "jobs.jsonl"

    def have(env_id: str, agent: str, ablated: str = "") -> bool:
        return any(r["agent"] == agent and (r.get("ablated") or "") == ablated and r["episodes"] == args.episodes
                   for r in board.submissions(env_id=env_id, split="test"))

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
            parser.error("--adopt RUN takes one job: name one level (--levels), one learned agent (--agents) and "
                         "one seed (--seeds)")
        try:
            adopt(args.adopt, learned[0], levels[0], args.seeds[0], args, budgets, record)
        except AdoptError as err:
            parser.error(str(err))

    if not args.ablations_only:
        for env_id in levels:  # the references first: cheap, and what every learned row is read against
            for name in (a for a in args.agents if a in REFERENCES):
                if have(env_id, name):
                    continue
                result = evaluate(builtin_policy(name, 0), env_id, split="test", episodes=args.episodes,
                                  progress=False)
                board.submit(submission_from_eval(result.to_dict(with_episodes=True), agent=name, algo=name,
                                                  policy=name))
                record({"env": env_id, "agent": name, "success": result.success_rate.value})
        # learned agents, seed by seed, level by level: each pass over the levels is a complete comparison
        for seed in args.seeds:
            for env_id in levels:
                for agent in (a for a in args.agents if a in LEARNED):
                    train_and_submit(board, agent, env_id, seed, args, budgets, have, record)

    if not args.no_ablations:
        for env_id in levels:
            best = best_learned(board, env_id, args.episodes)
            if best is None:
                continue
            for key in ABLATIONS:
                if have(env_id, best["agent"], key):
                    continue
                run_dir = Path(best["run"])
                result = evaluate_run(run_dir, split="test", episodes=args.episodes, progress=False, ablate=[key])
                board.submit(submission_from_run(run_dir, split="test", name=best["agent"], ablate=[key],
                                                 episodes=args.episodes))
                record({"env": env_id, "agent": best["agent"], "ablated": key, "success": result.success_rate.value})

    rows = board.submissions(split="test")
    export(rows, args.out, title=f"fusiongym {fusiongym.__version__} baselines (test split)")
    write_readme(args, budgets)
    print(f"wrote {args.out} in {(time.time() - started) / 60:.1f} min")
    return 0


def train_and_submit(board: Leaderboard, agent: str, env_id: str, seed: int, args: argparse.Namespace,
                     budgets: dict[str, int], have: Any, record: Any) -> None:
    """Train (or resume) one learned agent, evaluate it with the protocol and submit it, unless it is there."""
    name = f"{agent}-s{seed}"
    if have(env_id, name):
        return
    run_dir = run_folder(env_id, name, args)
    job_start = time.time()
    if (run_dir / "state.json").is_file():
        if read_state(run_dir).get("status") != "finished":
            train(None, run_dir, resume=True, progress=False, threads=args.threads)
    else:
        config = job_config(agent, env_id, seed, args, budgets)
        if config is None:
            record({"env": env_id, "agent": name, "skipped": "no finished dagger-fusion run to start from"})
            return
        train(config, run_dir, progress=False, threads=args.threads)
    result = evaluate_run(run_dir, split="test", episodes=args.episodes, progress=False)
    board.submit(submission_from_run(run_dir, split="test", name=name, episodes=args.episodes))
    state = read_state(run_dir)
    record({"env": env_id, "agent": name, "success": result.success_rate.value, "steps": state["num_timesteps"],
            "train_minutes": round(state.get("wall_time_s", 0.0) / 60, 1),
            "job_minutes": round((time.time() - job_start) / 60, 1)})


def run_folder(env_id: str, name: str, args: argparse.Namespace) -> Path:
    """Where the job of a learned agent ``name`` (``<agent>-s<seed>``) keeps its run: ``<runs>/<Level>-<name>``."""
    return args.runs / f"{env_id.split('/')[-1]}-{name}"


def job_config(agent: str, env_id: str, seed: int, args: argparse.Namespace,
               budgets: dict[str, int]) -> RunConfig | None:
    """The run config a learned agent's job trains with (``None``: a fine-tuning job whose DAgger run is not there)."""
    algo, policy = LEARNED[agent]
    overrides, init_from = [], None
    if agent == "dagger-ppo-fusion":
        init_from = run_folder(env_id, f"dagger-fusion-s{seed}", args)
        if not (init_from / "agent").is_dir():
            return None
        overrides = list(args.finetune_hp)
    return build_run_config(env_id, algo, policy, seed=seed, timesteps=budgets.get(agent), overrides=overrides,
                            init_from=init_from)


class AdoptError(Exception):
    """A run that ``--adopt`` cannot take as the job's run folder (the message says why and what to do)."""


#: settings that do not change what a run trains: how often (and on how many episodes) it was evaluated and
#: checkpointed on the way
_NOT_THE_RECIPE = ("eval_every", "eval_episodes", "checkpoint_every")


def adopt(run: Path, agent: str, env_id: str, seed: int, args: argparse.Namespace, budgets: dict[str, int],
          record: Any) -> None:
    """Move the finished ``run`` into the job's run folder if it was trained with the config the job builds."""
    target = run_folder(env_id, f"{agent}-s{seed}", args)
    if target.exists():
        raise AdoptError(f"--adopt: {target} is there already: withdraw it first with --rebuild {agent}")
    if read_state(run).get("status") != "finished":
        raise AdoptError(f"--adopt: {run} has not finished: fusiongym train --resume {run}")
    wanted, have = job_config(agent, env_id, seed, args, budgets), read_run_config(run)
    if wanted is None:
        raise AdoptError(f"--adopt: the job starts from {run_folder(env_id, f'dagger-fusion-s{seed}', args)}, which "
                         "is not there: build dagger-fusion first")

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
        run_dir = run_folder(env_id, name, args)
        moved = run_dir.with_name(f"{run_dir.name}.withdrawn-{stamp}") if run_dir.exists() else None
        if moved is not None:
            run_dir.rename(moved)
        if rows or moved:
            record({"env": env_id, "agent": name, "withdrawn_rows": len(rows), "run_moved_to": str(moved or "")})


def best_learned(board: Leaderboard, env_id: str, episodes: int) -> dict[str, Any] | None:
    """The level's learned row with the highest test success (mean return breaks ties), among unablated rows."""
    rows = [r for r in board.submissions(env_id=env_id, split="test")
            if r["algo"] not in REFERENCES and not r.get("ablated") and r["episodes"] == episodes and r.get("run")]
    return max(rows, key=lambda r: (r["success_rate"], r["mean_return"]), default=None)


def write_readme(args: argparse.Namespace, budgets: dict[str, int]) -> None:
    """Rewrite ``README.md`` in the output folder: budgets, seeds, machine and wall times from ``jobs.jsonl``."""
    jobs = [json.loads(line) for line in (args.out / "jobs.jsonl").read_text().splitlines() if line.strip()]
    trained = [j for j in jobs if "train_minutes" in j]
    lines = [
        "# The baselines", "",
        "Built by `python scripts/make_leaderboard.py` (resumable: it skips rows already in `leaderboard.sqlite` and "
        "resumes interrupted runs, so it can be run in parts; see its docstring). Every row is the test split, the "
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
        "`train_minutes` over all of a run's segments, `job_minutes` for this script's last call).", "",
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
        lines += ["## Not built yet", "", "These rows of the full matrix are not in the database yet (run the script "
                  "again to add them):", "", *missing, ""]
    (args.out / "README.md").write_text("\n".join(lines))


if __name__ == "__main__":
    raise SystemExit(main())
