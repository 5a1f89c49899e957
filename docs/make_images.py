"""Render the pictures of docs/levels.md (two are in README.md): a top-down frame and an egocentric view per env.

    python docs/make_images.py
"""

from __future__ import annotations

from pathlib import Path

import gymnasium as gym
import numpy as np
from PIL import Image

import fusiongym  # noqa: F401
from fusiongym.envs import env_ids

OUT = Path(__file__).parent / "images"


def main() -> None:
    """Write a top-down frame and an egocentric view of every registered env to ``docs/images/``."""
    OUT.mkdir(exist_ok=True)
    for env_id in env_ids():
        env = gym.make(env_id, render_mode="rgb_array")
        obs, _ = env.reset(seed=1)
        name = env_id.split("/")[1]
        Image.fromarray(env.render()).save(OUT / f"{name}.png", optimize=True)
        ego = np.kron(obs["image"], np.ones((3, 3, 1), np.uint8))  # 56 px is small on a page
        Image.fromarray(ego).save(OUT / f"{name}-view.png", optimize=True)
        print("wrote", OUT / f"{name}.png")


if __name__ == "__main__":
    main()
