"""Imitation check: a fusion policy trained by behaviour cloning of the level's reading oracle, on the training split,
evaluated on the held-out test split beside the same policy with its facts (and its instruction) zeroed.

The oracle reads the facts (``oracle_actions(use_facts=True)``), so a policy can imitate it on worlds it has never
seen only by reading them too. Training is DAgger-style, as BabyAI's imitation baselines: ``--envs`` training worlds
are stepped with the oracle's action or, with probability ``--mix``, the policy's own sampled action (so it also
learns to recover from its mistakes); every ``--rollout`` steps the policy takes one Adam step on the negative
log-likelihood of the oracle's actions at every visited state. The loop is ``fusiongym.agents.imitation.Imitation``,
the one ``fusiongym train --algo dagger`` runs (this script adds the test-split evaluations with facts zeroed along
the way). The policy is the SB3 PPO ``MultiInputPolicy`` with
the ``FusionExtractor`` that ``fusiongym train --algo ppo --policy fusion`` builds (``training/configs/ppo.yml``'s
``fusion`` and ``train_env_kwargs``, overridable with ``--hp``), so the saved agent (``--out``, safetensors) loads
with ``load_agent`` and evaluates like any other. Every ``--eval-every`` updates it prints one JSON line with
test-split success (the protocol's seeds, sampled actions) and the same with every fact zeroed.

    python benchmarks/imitate_fusion.py --env fusiongym/Fetch-v0 --updates 2000 --seed 0 \
        --hp train_env_kwargs.shuffle_appearance=true fusion.preset=reading
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("WANDB_MODE", "disabled")

import torch  # noqa: E402

import fusiongym  # noqa: E402,F401
from fusiongym.agents.checkpoint import save_agent  # noqa: E402
from fusiongym.agents.imitation import Imitation  # noqa: E402
from fusiongym.fusion.config import FusionConfig  # noqa: E402
from fusiongym.training.build import build_env_and_model  # noqa: E402
from fusiongym.training.config import build_run_config  # noqa: E402
from learn_fusion import test_success  # noqa: E402  (this folder is on sys.path when a script here runs)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Imitate the oracle, printing the test-split evaluations as JSON lines; return them (``run``: the first line,
    ``evaluations``: one per ``--eval-every`` updates, ``test_instruction_zeroed``: the last line's, ``out``)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", default="fusiongym/Fetch-v0")
    parser.add_argument("--updates", type=int, default=2000, help="Adam steps")
    parser.add_argument("--envs", type=int, default=64, help="training worlds stepped together")
    parser.add_argument("--rollout", type=int, default=8, help="steps of every world per update")
    parser.add_argument("--mix", type=float, default=0.5, help="probability of stepping with the policy's action")
    parser.add_argument("--lr", type=float, default=5e-4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--hp", action="extend", nargs="+", default=[], help="overrides, as `fusiongym train --hp`")
    parser.add_argument("--eval-every", type=int, default=500, help="updates between test-split evaluations")
    parser.add_argument("--episodes", type=int, default=100, help="test-split episodes per evaluation")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--out", type=Path, default=None, help="folder for the trained agent (default: none)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)

    config = build_run_config(args.env, "ppo", "fusion", seed=args.seed, overrides=args.hp)
    venv, model = build_env_and_model(config, n_envs=args.envs)
    fusion = FusionConfig.from_dict(config.fusion)
    learner = Imitation(model, venv, expert=lambda: venv.native.oracle_actions(True), mix=args.mix,
                        rollout=args.rollout, learning_rate=args.lr, seed=args.seed)
    run = {"env": args.env, "seed": args.seed, "updates": args.updates, "envs": args.envs, "rollout": args.rollout,
           "mix": args.mix, "lr": args.lr, "fusion": fusion.to_dict(), "train_env_kwargs": config.training_env_kwargs}
    print(json.dumps(run), flush=True)
    report: dict[str, Any] = {"run": run, "evaluations": [], "out": None}
    start = time.perf_counter()
    per_update = args.envs * args.rollout
    for update in range(args.eval_every, args.updates + args.eval_every, args.eval_every):
        update = min(update, args.updates)
        learner.learn(update * per_update)
        evaluation = {
            "update": update, "states": update * per_update,
            "minutes": round((time.perf_counter() - start) / 60, 1),
            "test": test_success(model, args.env, args.episodes, env_kwargs=config.env_kwargs),
            "test_facts_zeroed": test_success(model, args.env, args.episodes, ("facts",), config.env_kwargs),
        }
        print(json.dumps(evaluation), flush=True)
        report["evaluations"].append(evaluation)
    report["test_instruction_zeroed"] = test_success(model, args.env, args.episodes, ("mission",), config.env_kwargs)
    print(json.dumps({"update": args.updates, "test_instruction_zeroed": report["test_instruction_zeroed"]}),
          flush=True)
    if args.out is not None:
        save_agent(model, args.out)
        print(f"agent saved to {args.out}")
        report["out"] = str(args.out)
    return report


if __name__ == "__main__":
    main()
