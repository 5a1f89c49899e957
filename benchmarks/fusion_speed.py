"""PPO training throughput of fusion policies relative to the vision-only CNN policy.

Runs, in one process and on the same env, PPO ``learn`` with
  (a) the vision-only CNN policy (``policy="cnn"``),
  (b) the default fusion policy (``FusionConfig()``: frozen packaged MiniLM-L6 with the text cache, TransE
      knowledge, FiLM fusion),
  (c) the same without the text cache (``text_cache=False``: the backbone re-encodes every batch),
  (d) the default with concatenation instead of FiLM (no extra conv layers: the backbone and knowledge cost alone),
  (e) the default with the knowledge encoder that reads Fetch's held-out kinds (``fact_grouping="records"``,
      ``entity_embeddings="text"``, ``text_retrieval=True``),
and prints env steps per second (median of interleaved rounds) and the ratios to (a). Target: (b)/(a) >= 0.7.

PPO runs with the hyperparameters ``fusiongym train`` uses for the env (``training/configs/ppo.yml``; change them
with ``--hp``), on the suite's native vector env; one round is ``--rollouts`` rollouts and their updates.

    python benchmarks/fusion_speed.py --env fusiongym/Fetch-v0 --rounds 3 --threads 1
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("WANDB_MODE", "disabled")

import gymnasium as gym  # noqa: E402
import torch  # noqa: E402

import fusiongym  # noqa: E402,F401  (registers the env ids)
from fusiongym.fusion.config import BlockConfig, FusionConfig, LanguageConfig  # noqa: E402
from fusiongym.training.build import build_env_and_model  # noqa: E402
from fusiongym.training.config import build_run_config  # noqa: E402


def build(env_id: str, policy: str, fusion: FusionConfig | None, overrides: list[str], seed: int) -> Any:
    """A PPO model with the hyperparameters ``fusiongym train`` resolves for ``env_id`` (``training/configs/
    ppo.yml``, then ``overrides``) on the suite's native batch, warmed up by one rollout + update (the cache
    fills)."""
    _, model = build_env_and_model(build_run_config(env_id, "ppo", policy, seed=seed, overrides=overrides),
                                   fusion=fusion)
    model.learn(rollout_steps(model))
    return model


def rollout_steps(model: Any) -> int:
    """Env steps of one PPO rollout (``n_steps × n_envs``): the unit of one learn() round."""
    return int(model.n_steps * model.n_envs)


def steps_per_second(model: Any, timesteps: int) -> tuple[float, float]:
    """Env steps per wall-clock second and per CPU second (this process, all threads) of one
    ``PPO.learn(timesteps)`` call; the CPU-time rate is the one to trust on a machine shared with other jobs."""
    wall, cpu = time.perf_counter(), time.process_time()
    model.learn(timesteps, reset_num_timesteps=False)
    return timesteps / (time.perf_counter() - wall), timesteps / (time.process_time() - cpu)


def cache_stats(model: Any) -> dict[str, int]:
    """The text cache's counters of a fusion policy (empty for a policy without a language backbone)."""
    language = getattr(model.policy.features_extractor, "language", None)
    if language is None:
        return {}
    return {"backbone_calls": language.backbone_calls, "cache_hits": language.cache.hits,
            "cache_misses": language.cache.misses}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Build the five PPO models, time them in interleaved rounds and print the table; return it (``timesteps`` per
    round; per policy its ``rounds`` (wall, CPU) rates, medians and cache counters; ``ratios`` to (a), wall and CPU)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", default="fusiongym/Fetch-v0")
    parser.add_argument("--rollouts", type=int, default=1, help="PPO rollouts (+ updates) per timed round")
    parser.add_argument("--hp", action="extend", nargs="+", default=[],
                        help="hyperparameter overrides, as `fusiongym train --hp` (e.g. n_envs=8 batch_size=64)")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads (1: steadiest numbers on a shared machine; 0: torch's default)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rounds", type=int, default=3, help="timed learn() calls per policy (median reported)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    gym.make(args.env)  # fail early on an unknown id
    runs = {
        "(a) cnn": ("cnn", None),
        "(b) fusion, frozen MiniLM + cache": ("fusion", FusionConfig()),
        "(c) fusion, frozen MiniLM, no cache": ("fusion", FusionConfig(language=LanguageConfig(text_cache=False))),
        # the default minus FiLM's conv layers: what the language backbone and knowledge encoder cost on their own
        "(d) concat fusion, frozen MiniLM + cache": ("fusion", FusionConfig(block=BlockConfig(kind="concat"))),
        "(e) fusion, records + text entities + retrieval": ("fusion", FusionConfig.preset("reading")),
    }
    print(f"env={args.env} rounds={args.rounds} torch_threads={torch.get_num_threads()} device=cpu")
    models = {name: build(args.env, policy, fusion, args.hp, args.seed) for name, (policy, fusion) in runs.items()}
    first = next(iter(models.values()))
    timesteps = args.rollouts * rollout_steps(first)
    print(f"PPO n_envs={first.n_envs} n_steps={first.n_steps} batch_size={first.batch_size} "
          f"n_epochs={first.n_epochs}: {timesteps} env steps per round")
    samples: dict[str, list[tuple[float, float]]] = {name: [] for name in runs}
    for _ in range(args.rounds):  # round-robin, so a burst of load on a shared machine hits every run alike
        for name, model in models.items():
            samples[name].append(steps_per_second(model, timesteps))
    wall = {name: statistics.median(v[0] for v in values) for name, values in samples.items()}
    cpu = {name: statistics.median(v[1] for v in values) for name, values in samples.items()}
    for name in runs:
        spread = ", ".join(f"{v[0]:.0f}" for v in samples[name])
        print(f"{name:48s} {wall[name]:7.1f} steps/s wall (rounds: {spread}), {cpu[name]:7.1f} steps/CPU-s  "
              f"{cache_stats(models[name])}")
    report: dict[str, Any] = {
        "timesteps": timesteps,
        "policies": {name: {"rounds": samples[name], "wall": wall[name], "cpu": cpu[name],
                            "cache": cache_stats(models[name])} for name in runs},
        "ratios": {},
    }
    for label, results in (("wall", wall), ("CPU", cpu)):
        base = results["(a) cnn"]
        b = results["(b) fusion, frozen MiniLM + cache"] / base
        c = results["(c) fusion, frozen MiniLM, no cache"] / base
        d = results["(d) concat fusion, frozen MiniLM + cache"] / base
        e = results["(e) fusion, records + text entities + retrieval"] / base
        print(f"{label:4s}: (b)/(a) = {b:.2f} (target >= 0.7: {'met' if b >= 0.7 else 'NOT met'}),  "
              f"(c)/(a) = {c:.2f},  (d)/(a) = {d:.2f},  (e)/(a) = {e:.2f}")
        report["ratios"][label] = {"(b)/(a)": b, "(c)/(a)": c, "(d)/(a)": d, "(e)/(a)": e}
    return report


if __name__ == "__main__":
    main()
