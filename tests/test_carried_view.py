"""v1 of the levels where the agent carries an object across steps shows it in the view (MiniGrid's way); v0 did
not, so a policy without memory could not tell a loaded agent from an empty-handed one."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import fusiongym  # noqa: F401  (registers the ids)
from fusiongym.envs.simulation import tile_atlas

CARRYING_LEVELS = ("Defeat", "Unlock", "Bring")


def agent_cell(image: np.ndarray, tile_size: int = 8, view_size: int = 7) -> np.ndarray:
    y, x = (view_size - 1) * tile_size, (view_size // 2) * tile_size
    return image[y:y + tile_size, x:x + tile_size]


def play_until_carrying(env: gym.Env, seed: int) -> dict:
    observation, _ = env.reset(seed=seed)
    world = env.unwrapped
    for _ in range(world.episode.layout.max_steps):
        if world._sim.batch.carrying[0] >= 0:
            return observation
        observation, _, terminated, truncated, _ = env.step(world.oracle_action())
        assert not (terminated or truncated), "the oracle ended the episode before picking anything up"
    raise AssertionError("the oracle never picked anything up")


@pytest.mark.parametrize("level", CARRYING_LEVELS)
def test_v1_shows_the_carried_object_and_v0_does_not(level: str) -> None:
    new, old = gym.make(f"fusiongym/{level}-v1"), gym.make(f"fusiongym/{level}-v0")
    atlas = tile_atlas(8)
    world = new.unwrapped
    batch = world._sim.batch
    carried_seen = play_until_carrying(new, seed=3)
    sprite = atlas.pixels[int(batch.obj_tile[0, batch.carrying[0]])]
    assert np.array_equal(agent_cell(carried_seen["image"]), sprite)
    hidden = play_until_carrying(old, seed=3)
    assert np.array_equal(agent_cell(hidden["image"]), atlas.pixels[batch.tiles.agent(3)])
    assert np.array_equal(agent_cell(new.reset(seed=3)[0]["image"]), atlas.pixels[batch.tiles.agent(3)])


@pytest.mark.parametrize("level", CARRYING_LEVELS)
def test_the_deprecated_v0_is_v1_without_the_carried_view(level: str) -> None:
    for suffix in ("", "-Large"):
        new = gym.spec(f"fusiongym/{level}{suffix}-v1").kwargs
        old = gym.spec(f"fusiongym/{level}{suffix}-v0").kwargs
        assert new == {**old, "show_carried": True}
