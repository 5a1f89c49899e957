"""WorldBatch.copy_world: a world copied into another batch's row plays on exactly as the original does."""

from __future__ import annotations

import gymnasium as gym
import numpy as np

import fusiongym  # noqa: F401  (registers the ids)
from fusiongym.envs.world import WorldBatch


def _scratch(batch: WorldBatch, size: int) -> WorldBatch:
    return WorldBatch(
        size, batch.height, batch.width, batch.max_objects, batch.mission.shape[1], batch.facts.shape[1],
        batch.tiles, batch.view_size, batch.see_through_walls, batch.show_carried,
    )


def test_copied_world_steps_as_the_original() -> None:
    vec = gym.make_vec("fusiongym/Unlock-v1", num_envs=3)
    vec.reset(seed=3)
    batch = vec.unwrapped._sim.batch
    rng = np.random.default_rng(0)
    for _ in range(5):  # move the worlds on, so that the copy is not of a fresh reset
        vec.step(np.where(rng.random(3) < 0.5, vec.unwrapped.oracle_actions(), rng.integers(7, size=3)))
    dst = _scratch(batch, 2)
    for b in range(3):
        batch.copy_world(b, dst, row=1)
        assert dst.agent_y[1] == batch.agent_y[b] and dst.agent_x[1] == batch.agent_x[b]
        np.testing.assert_array_equal(dst.ego_tiles()[1], batch.ego_tiles()[b])
        for name in batch.world_arrays():
            if name != "agent_at":
                np.testing.assert_array_equal(getattr(dst, name)[1], getattr(batch, name)[b], err_msg=name)
    original = _scratch(batch, 1)
    batch.copy_world(2, original)
    for action in rng.integers(7, size=40):  # both copies of world 2 step alike (the flat views stayed valid)
        out_dst = dst.step(np.array([0, action]))
        out_orig = original.step(np.array([action]))
        for a, b in zip(out_dst, out_orig, strict=True):
            assert a[1] == b[0]
        np.testing.assert_array_equal(dst.ego_tiles()[1], original.ego_tiles()[0])


def test_world_arrays_are_the_public_arrays_with_a_batch_axis() -> None:
    vec = gym.make_vec("fusiongym/Fetch-v0", num_envs=4)
    batch = vec.unwrapped._sim.batch
    names = batch.world_arrays()
    assert {"cell", "tile", "obj_at", "agent_at", "agent_dir", "carrying", "steps", "mission", "facts"} <= set(names)
    assert all(getattr(batch, name).shape[0] == 4 for name in names)
