"""Rebuild ``leaderboard/``: the baselines on the test split of every registered level.

For every env id in the registry (a new level is included the moment it is registered), in this order:

    random          uniformly random actions (seed 0)                               no training
    oracle          the env's oracle bot reading the facts (the upper bound)        no training
    qlearning       tabular Q-learning (training/configs/qlearning.yml), --q-timesteps steps
    ppo-cnn         PPO, vision-only CNN policy (training/configs/ppo.yml), --ppo-timesteps steps
    ppo-fusion      PPO, the default fusion policy (training/configs/ppo.yml), --ppo-timesteps steps

each evaluated with the protocol (fixed test seeds, --episodes episodes, 95% bootstrap intervals) and submitted to
``leaderboard/leaderboard.sqlite``; then ``leaderboard.md``, ``.csv`` and ``.html`` are exported. Training seeds are
``--seed``. A learned baseline whose training would overrun ``--budget-minutes`` is not trained, and
``leaderboard/README.md`` lists it as "not trained within budget" — no number is ever made up.

    python scripts/make_leaderboard.py                       # the committed table (about 30 min on 2 cores)
    python scripts/make_leaderboard.py --ppo-timesteps 2000 --q-timesteps 2000 --out /tmp/lb   # a quick look
"""

from __future__ import annotations

import argparse
import platform
import shutil
import sys
import time
from pathlib import Path

from fusiongym.envs import env_ids
from fusiongym.training.config import build_run_config
from fusiongym.training.evaluation import evaluate
from fusiongym.training.leaderboard import Leaderboard, export
from fusiongym.training.runs import builtin_policy, evaluate_run, submission_from_eval, submission_from_run
from fusiongym.training.train import train

import fusiongym

REPO = Path(__file__).resolve().parent.parent
LEARNED = (("qlearning", "qlearning", "tabular"), ("ppo-cnn", "ppo", "cnn"), ("ppo-fusion", "ppo", "fusion"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=REPO / "leaderboard", help="output folder (default leaderboard/)")
    parser.add_argument("--runs", type=Path, default=REPO / "runs" / "leaderboard-baselines",
                        help="where the baselines' run folders go")
    parser.add_argument("--episodes", type=int, default=100, help="test episodes per level (default 100)")
    parser.add_argument("--q-timesteps", type=int, default=10_000)
    parser.add_argument("--ppo-timesteps", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=0, help="training seed of the learned baselines")
    parser.add_argument("--budget-minutes", type=float, default=30.0, help="skip learned baselines past this")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()

    started = time.time()
    for stale in ("leaderboard.sqlite", "leaderboard.sqlite-wal", "leaderboard.sqlite-shm"):
        (args.out / stale).unlink(missing_ok=True)
    shutil.rmtree(args.runs, ignore_errors=True)
    board = Leaderboard(args.out / "leaderboard.sqlite")
    skipped: list[str] = []
    steps_per_second: dict[str, float] = {}

    levels = env_ids()
    for env_id in levels:  # the references first: they are cheap and always complete
        for name in ("random", "oracle"):
            result = evaluate(builtin_policy(name, args.seed), env_id, split="test", episodes=args.episodes)
            board.submit(submission_from_eval(result.to_dict(with_episodes=True), agent=name, algo=name,
                                              policy=name))
            print(f"{name:>10} {env_id}: success {result.success_rate}", flush=True)

    # Learned baselines: Q-learning everywhere (cheap), then PPO level by level, one-room levels first, so that
    # whatever the budget allows is a complete comparison on the levels it covers.
    plan = [(agent, algo, policy, env_id) for env_id in levels for agent, algo, policy in LEARNED[:1]]
    plan += [(agent, algo, policy, env_id) for env_id in sorted(levels, key=lambda i: "Large" in i)
             for agent, algo, policy in LEARNED[1:]]
    for agent, algo, policy, env_id in plan:
        budget = args.q_timesteps if algo == "qlearning" else args.ppo_timesteps
        elapsed = time.time() - started
        rate = steps_per_second.get(agent)
        estimate = budget / rate if rate else 0.0
        if elapsed + estimate > args.budget_minutes * 60:
            skipped.append(f"{agent} on {env_id}: not trained within budget (~{estimate / 60:.0f} min needed at "
                           f"{rate or 0:.0f} steps/s; {elapsed / 60:.0f} of {args.budget_minutes:.0f} min used)")
            print(skipped[-1], flush=True)
            continue
        config = build_run_config(env_id, algo, policy, seed=args.seed, timesteps=budget, checkpoint_every=budget)
        run_dir = args.runs / f"{env_id.split('/')[-1]}-{agent}"
        result = train(config, run_dir, threads=args.threads)
        steps_per_second[agent] = result.num_timesteps / max(result.wall_time_s, 1e-9)
        evaluation = evaluate_run(run_dir, split="test", episodes=args.episodes)
        board.submit(submission_from_run(run_dir, split="test", name=agent))
        print(f"{agent:>10} {env_id}: success {evaluation.success_rate} "
              f"({result.num_timesteps} steps, {result.wall_time_s:.0f} s)", flush=True)

    rows = board.submissions(split="test")
    export(rows, args.out, title=f"fusiongym {fusiongym.__version__} baselines (test split)")
    minutes = (time.time() - started) / 60
    notes = [
        "# The baselines", "",
        "Produced by `python scripts/make_leaderboard.py` (rerun it to rebuild every file here):", "",
        f"- levels: every registered id ({', '.join(levels)}), test split, the first {args.episodes} fixed test "
        "seeds of `training/seeds.py`; 95% percentile-bootstrap intervals over episodes; IQM across levels with a "
        "stratified bootstrap.",
        f"- budgets: tabular Q-learning {args.q_timesteps:,} steps, PPO-CNN and PPO-fusion {args.ppo_timesteps:,} "
        f"steps per level (hyperparameters: `training/configs/qlearning.yml`, `training/configs/ppo.yml`), training seed {args.seed}; "
        "PPO agents sample their actions at evaluation (seeded), Q-learning acts greedily.",
        f"- machine: {platform.processor() or platform.machine()}, torch threads {args.threads}; total "
        f"{minutes:.0f} min; fusiongym {fusiongym.__version__}, Python {sys.version.split()[0]}.",
        "- tabular Q-learning keys its table by a digest of the whole observation, so on the test split it meets "
        "only states it never saw and breaks every tie at random with a generator seeded like the random agent's: "
        "its test numbers equal the random agent's. That is the result, not a copy.",
        "", "Files: `leaderboard.md` (tables), `leaderboard.csv` (every field), `leaderboard.html` (sortable table, "
        "bar chart), `leaderboard.sqlite` (the database: `fusiongym leaderboard show --db leaderboard/leaderboard.sqlite`).",
        "",
    ]
    if skipped:
        notes += ["## Not trained within budget", "", *[f"- {line}" for line in skipped], ""]
    (args.out / "README.md").write_text("\n".join(notes))
    print(f"wrote {args.out} in {minutes:.1f} min" + (f"; {len(skipped)} learned baselines skipped" if skipped else ""))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
