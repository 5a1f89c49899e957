"""Rollouts of a policy written as GIFs: the top-down frame with the instruction and the facts beside it.

Episodes are played by the same :class:`~fusiongym.agents.policies.BatchPolicy` objects that evaluation uses
(oracle, random, a trained run's agent), in a native vector env of one world.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

import fusiongym  # noqa: F401  (registers the ids)
from fusiongym.agents.policies import BatchPolicy


def record_episodes(env_id: str, policy: BatchPolicy, out: str | Path, episodes: int = 3, seed: int = 0,
                    fps: int = 6, progress: bool = True, **env_kwargs: Any) -> dict[str, float]:
    """Play ``episodes`` episodes (seeds ``seed``, ``seed + 1``, …) and write them to ``out`` as a GIF.

    Returns the success rate, mean length and frame count. The GIF is written to a temp file and renamed, so a
    half-written file never sits under the user's name.
    """
    import imageio.v3 as iio
    from tqdm import tqdm

    vector_env = gym.make_vec(env_id, num_envs=1, vectorization_mode="vector_entry_point", render_mode="rgb_array",
                              **env_kwargs)
    frames, wins, lengths = [], 0, []
    for episode in tqdm(range(episodes), desc=f"recording {env_id}", unit="episode", disable=not progress):
        # one seed per world: fusiongym's vector env takes a list, as Gymnasium's own do (its base class says int)
        observations, _ = vector_env.reset(seed=[seed + episode])  # type: ignore[arg-type]
        policy.reset(1)
        frames.append(_first_frame(vector_env))
        episode_start = np.ones(1, dtype=bool)
        steps = 0
        while True:
            actions = policy.act(observations, vector_env, episode_start)
            observations, _, terminated, truncated, infos = vector_env.step(actions)
            episode_start[:] = False
            steps += 1
            frames.append(_first_frame(vector_env))  # the world keeps its final state until the next step
            if terminated[0] or truncated[0]:
                wins += bool(infos["success"][0])
                lengths.append(steps)
                frames += [frames[-1]] * fps  # hold the last frame for a second
                break
    vector_env.close()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.stem + ".tmp" + out.suffix)
    iio.imwrite(tmp, np.stack(frames), extension=".gif", duration=1000 / fps, loop=0)
    tmp.replace(out)
    return {"success_rate": wins / episodes, "mean_length": float(np.mean(lengths)), "frames": len(frames)}


def _first_frame(vector_env: gym.vector.VectorEnv) -> np.ndarray:
    """World 0's frame (the vector env renders ``rgb_array`` frames)."""
    frames: Sequence[np.ndarray] | None = vector_env.render()
    assert frames is not None
    return np.asarray(frames[0])
