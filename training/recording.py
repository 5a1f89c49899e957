"""Rollouts of a policy written as GIFs: the top-down frame with the instruction and the facts beside it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import gymnasium as gym
import numpy as np

import fusiongym  # noqa: F401  (registers the ids)

Policy = Callable[[gym.Env, dict], int]


def oracle_policy(env: gym.Env, obs: dict) -> int:
    return env.unwrapped.oracle_action(use_facts=True)


def blind_oracle_policy(env: gym.Env, obs: dict) -> int:
    return env.unwrapped.oracle_action(use_facts=False)


def random_policy_factory(seed: int) -> Policy:
    rng = np.random.default_rng(seed)
    return lambda env, obs: int(rng.integers(env.action_space.n))


def record_episodes(
    env_id: str, policy: Policy, out: str | Path, episodes: int = 3, seed: int = 0, fps: int = 6, **env_kwargs
) -> dict[str, float]:
    """Play ``episodes`` episodes with ``policy`` and write them to ``out`` (a GIF); returns success and length."""
    import imageio.v3 as iio
    from tqdm import tqdm

    env = gym.make(env_id, render_mode="rgb_array", **env_kwargs)
    frames, wins, lengths = [], 0, []
    for episode in tqdm(range(episodes), desc=f"recording {env_id}", unit="episode"):
        obs, _ = env.reset(seed=seed + episode)
        frames.append(env.render())
        steps = 0
        while True:
            obs, _, terminated, truncated, info = env.step(policy(env, obs))
            steps += 1
            frames.append(env.render())
            if terminated or truncated:
                wins += bool(info["success"])
                lengths.append(steps)
                frames += [frames[-1]] * fps  # hold the last frame for a second
                break
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(out.suffix + ".tmp")
    iio.imwrite(tmp, np.stack(frames), extension=".gif", duration=1000 / fps, loop=0)
    tmp.replace(out)  # never leave a half-written file under the user's name
    return {"success_rate": wins / episodes, "mean_length": float(np.mean(lengths)), "frames": len(frames)}
