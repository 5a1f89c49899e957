"""Learning check: PPO with a fusion policy on a level's training split, evaluated on its held-out test split.

Trains ``--policy`` (default: the default fusion policy — tile CNN, frozen packaged MiniLM with its cache, TransE
facts, FiLM) with PPO on ``--env`` (training split) with the hyperparameters ``fusiongym train`` uses
(``training/configs/ppo.yml``, overridable with ``--hp key=value``). Every ``--eval-every`` steps it plays the
evaluation protocol's fixed test-split seeds (``--episodes``, sampled actions as ``fusiongym eval`` does) and prints
one JSON line: a learning curve on held-out worlds. At the end it evaluates the same policy with its instruction
zeroed (``--ablate mission``) and, on levels that need knowledge, with every fact zeroed (``--ablate facts``): the
gaps are the evidence that the agent reads. The trained agent is saved (safetensors) to ``--out``.

    python benchmarks/learn_fusion.py --env fusiongym/GoTo-v0 --timesteps 400000 --seed 0
    python benchmarks/learn_fusion.py --env fusiongym/Fetch-v0 --timesteps 400000 --seed 0
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

import gymnasium as gym  # noqa: E402
import torch  # noqa: E402

import fusiongym  # noqa: E402,F401
from fusiongym.agents.checkpoint import save_agent  # noqa: E402
from fusiongym.agents.policies import SB3Policy  # noqa: E402
from fusiongym.fusion.config import FusionConfig  # noqa: E402
from fusiongym.training.build import build_env_and_model  # noqa: E402
from fusiongym.training.config import build_run_config  # noqa: E402
from fusiongym.training.evaluation import evaluate  # noqa: E402


def test_success(model, env_id: str, episodes: int, ablate: tuple[str, ...] = (),
                 env_kwargs: dict | None = None) -> dict[str, float]:
    """Success rate (with its 95% bootstrap interval) on the protocol's first ``episodes`` test seeds."""
    result = evaluate(SB3Policy(model), env_id, split="test", episodes=episodes, progress=False, ablate=ablate,
                      env_kwargs=env_kwargs)
    rate = result.success_rate
    return {"success": round(rate.value, 3), "ci95": [round(rate.low, 3), round(rate.high, 3)]}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Train with PPO, printing the test-split evaluations as JSON lines; return them (``run``: the first line,
    ``evaluations``: one per ``--eval-every`` steps, ``ablations``: the last lines, ``out``: where the agent went)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", default="fusiongym/GoTo-v0")
    parser.add_argument("--policy", default="fusion", choices=["fusion", "cnn", "sb3_default"])
    parser.add_argument("--timesteps", type=int, default=400_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--hp", action="extend", nargs="+", default=[],
                        help="hyperparameter overrides, as `fusiongym train --hp`")
    parser.add_argument("--eval-every", type=int, default=100_000, help="steps between test-split evaluations")
    parser.add_argument("--episodes", type=int, default=200, help="test-split episodes per evaluation")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--out", type=Path, default=None, help="folder for the trained agent (default: none)")
    parser.add_argument("--init-extractor", type=Path, default=None,
                        help="start from these features-extractor weights (safetensors, e.g. from "
                             "reading_probe.py --save-extractor) instead of a fresh extractor")
    parser.add_argument("--init-agent", type=Path, default=None,
                        help="start from this saved agent's policy weights (a save_agent folder with the same "
                             "policy, e.g. from imitate_fusion.py --out): PPO fine-tuning of an imitation policy")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    config = build_run_config(args.env, "ppo", args.policy, seed=args.seed, timesteps=args.timesteps,
                              overrides=args.hp)
    venv, model = build_env_and_model(config)
    if args.init_extractor is not None:
        from safetensors.torch import load_file

        model.policy.features_extractor.load_state_dict(load_file(str(args.init_extractor)))
    if args.init_agent is not None:
        from safetensors.torch import load_model

        load_model(model.policy, str(args.init_agent / "policy.safetensors"), strict=True)
    run = {"env": args.env, "policy": args.policy, "seed": args.seed, "timesteps": args.timesteps,
           "init_extractor": str(args.init_extractor) if args.init_extractor else None,
           "init_agent": str(args.init_agent) if args.init_agent else None,
           "n_envs": config.n_envs, "hyperparams": config.hyperparams,
           "fusion": FusionConfig.from_dict(config.fusion).to_dict() if args.policy == "fusion" else None}
    print(json.dumps(run), flush=True)
    report: dict[str, Any] = {"run": run, "evaluations": [], "ablations": {}, "out": None}
    train_seconds = 0.0
    while model.num_timesteps < args.timesteps:
        chunk = min(args.eval_every, args.timesteps - model.num_timesteps)
        start = time.perf_counter()
        model.learn(chunk, reset_num_timesteps=False)
        train_seconds += time.perf_counter() - start
        evaluation = {"steps": model.num_timesteps, "train_minutes": round(train_seconds / 60, 1),
                      "test": test_success(model, args.env, args.episodes, env_kwargs=config.env_kwargs)}
        print(json.dumps(evaluation), flush=True)
        report["evaluations"].append(evaluation)
    ablations = [("mission", "test_instruction_zeroed")]
    if gym.make(args.env).unwrapped.needs_knowledge:
        ablations.append(("facts", "test_facts_zeroed"))
    for key, label in ablations:
        report["ablations"][label] = test_success(model, args.env, args.episodes, (key,), config.env_kwargs)
        print(json.dumps({"steps": model.num_timesteps, label: report["ablations"][label]}), flush=True)
    if args.out is not None:
        save_agent(model, args.out)
        print(f"agent saved to {args.out}")
        report["out"] = str(args.out)
    return report


if __name__ == "__main__":
    main()
