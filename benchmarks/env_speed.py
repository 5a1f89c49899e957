"""Environment speed, side by side with MiniGrid in the same run, printed as ratios.

Measures steps per second under a uniformly random policy (resets included) of:
  - MiniGrid's ``BabyAI-GoToLocal-v0`` under ``RGBImgPartialObsWrapper`` (56x56x3 RGB observations, tile 8),
  - one fusiongym env (``gym.make``, the same 56x56x3 egocentric RGB view) per level,
  - the native fusiongym vector env of ``--num-envs`` worlds (``gym.make_vec``).
Each figure is the best of ``--repeats`` runs, so a busy moment on a shared machine does not decide it.

Targets (issue 2): one env >= 5x MiniGrid; the vector env of 256 >= 100x MiniGrid's single env.

    python benchmarks/env_speed.py [--steps 4000] [--num-envs 256] [--repeats 3]
"""

from __future__ import annotations

import argparse
import logging
import time
import warnings
from functools import partial
from typing import Any

import gymnasium as gym
import numpy as np

import fusiongym  # noqa: F401


def single_env_speed(env: gym.Env, steps: int, seed: int = 0) -> float:
    """Steps per second of ``env`` under uniformly random actions, resets included."""
    actions = np.random.default_rng(seed).integers(0, env.action_space.n, steps)
    env.reset(seed=seed)
    start = time.perf_counter()
    for a in actions:
        _, _, terminated, truncated, _ = env.step(int(a))
        if terminated or truncated:
            env.reset()
    return steps / (time.perf_counter() - start)


def vector_env_speed(env: gym.vector.VectorEnv, steps: int, seed: int = 0) -> float:
    """Steps per second (all worlds together) of a vector env under uniformly random actions."""
    actions = np.random.default_rng(seed).integers(0, env.single_action_space.n, (steps, env.num_envs))
    env.reset(seed=seed)
    start = time.perf_counter()
    for a in actions:
        env.step(a)  # autoreset happens inside
    return steps * env.num_envs / (time.perf_counter() - start)


def best_of(repeats: int, measure) -> float:
    """The best of ``repeats`` calls of ``measure``."""
    return max(measure() for _ in range(repeats))


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Measure and print the speed table; return its rows (``env``, ``mode``, ``steps_per_second``, ``ratio`` to
    MiniGrid) and whether each target is met."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=4000, help="steps per single-env measurement")
    parser.add_argument("--num-envs", type=int, default=256, help="worlds in the native vector env")
    parser.add_argument("--repeats", type=int, default=3, help="runs per figure; the best counts")
    parser.add_argument("--levels", nargs="+", default=["fusiongym/GoTo-v0", "fusiongym/Fetch-v0"])
    args = parser.parse_args(argv)

    import minigrid  # noqa: F401  (registers BabyAI ids)
    from minigrid.wrappers import RGBImgPartialObsWrapper

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        minigrid_env = RGBImgPartialObsWrapper(gym.make("BabyAI-GoToLocal-v0"), tile_size=8)
        assert minigrid_env.observation_space["image"].shape == (56, 56, 3)
        logging.disable(logging.WARNING)  # MiniGrid logs every rejected sample
        try:
            reference = best_of(args.repeats, lambda: single_env_speed(minigrid_env, args.steps))
        finally:
            logging.disable(logging.NOTSET)  # a caller's logging as it was

    rows = [("MiniGrid BabyAI-GoToLocal-v0 (RGB 56x56)", "1 env", reference, 1.0)]
    for env_id in args.levels:
        env = gym.make(env_id)
        assert env.observation_space["image"].shape == (56, 56, 3)
        single = best_of(args.repeats, partial(single_env_speed, env, args.steps))
        rows.append((env_id, "1 env", single, single / reference))
        vec = gym.make_vec(env_id, num_envs=args.num_envs, vectorization_mode="vector_entry_point")
        vec_steps = max(20, args.steps * 10 // args.num_envs)
        batched = best_of(args.repeats, partial(vector_env_speed, vec, vec_steps))
        rows.append((env_id, f"native vector x{args.num_envs}", batched, batched / reference))

    print(f"{'env':44} {'mode':22} {'steps/s':>12} {'x MiniGrid':>11}")
    for name, mode, speed, ratio in rows:
        print(f"{name:44} {mode:22} {speed:12,.0f} {ratio:10.1f}x")
    single_ok = all(r[3] >= 5 for r in rows[1:] if r[1] == "1 env")
    vector_ok = all(r[3] >= 100 for r in rows[1:] if r[1] != "1 env")
    print(f"targets: one env >= 5x MiniGrid: {'met' if single_ok else 'NOT met'}; "
          f"vector of {args.num_envs} >= 100x MiniGrid: {'met' if vector_ok else 'NOT met'}")
    return {"rows": [{"env": name, "mode": mode, "steps_per_second": speed, "ratio": ratio}
                     for name, mode, speed, ratio in rows],
            "single_target_met": single_ok, "vector_target_met": vector_ok}


if __name__ == "__main__":
    main()
