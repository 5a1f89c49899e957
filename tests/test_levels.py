"""Level generation: room grids, placement, solvability."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import fusiongym  # noqa: F401
from fusiongym.envs.levels import GenerationError, RoomGrid


@pytest.mark.parametrize("rows, cols, room_size", [(1, 1, 5), (1, 1, 8), (2, 2, 6), (3, 3, 5)])
def test_reachability_shortcut_agrees_with_search(rows: int, cols: int, room_size: int) -> None:
    """When no two objects touch (even diagonally) the search is skipped: it must then find everything reachable."""
    rng = np.random.default_rng(0)
    checked = 0
    for _ in range(400):
        grid = RoomGrid(room_size, rows, cols)
        grid.connect(rng, 6)
        positions = grid.place(rng, int(rng.integers(2, 8)))
        (agent,) = grid.place(rng, 1)
        placed = set(positions)
        touching = any((y + dy, x + dx) in placed for y, x in positions for dy in (-1, 0, 1) for dx in (-1, 0, 1)
                       if (dy, dx) != (0, 0))
        stand = grid.reachable_from(agent)
        exhaustive = all(any((y + dy, x + dx) in stand for dy, dx in ((0, 1), (1, 0), (0, -1), (-1, 0)))
                         for y, x in positions)
        assert grid.all_reachable(agent, positions) == exhaustive
        if not touching:
            assert exhaustive
            checked += 1
    assert checked > 20


def test_rooms_are_all_connected() -> None:
    rng = np.random.default_rng(1)
    for _ in range(50):
        grid = RoomGrid(6, 3, 3)
        grid.connect(rng, 6)
        assert len(grid.doors) == 8  # a spanning tree of 9 rooms
        start = grid.room_interior(0, 0)[0]
        reach = grid.reachable_from(start)
        assert all(cell in reach for r in range(3) for c in range(3) for cell in grid.room_interior(r, c))


def test_too_many_objects_is_a_clear_error() -> None:
    with pytest.raises(GenerationError, match="use fewer"):
        gym.make("fusiongym/GoTo-v0", room_size=5, num_distractors=12).reset(seed=0)
    with pytest.raises(GenerationError, match="categories"):
        gym.make("fusiongym/Fetch-v0", num_distractors=12).reset(seed=0)


def test_kwargs_reach_the_level() -> None:
    env = gym.make("fusiongym/GoTo-v0", room_size=6, num_rows=2, num_cols=2, num_distractors=5, max_steps=33)
    obs, _ = env.reset(seed=0)
    level = env.unwrapped.level
    assert level.grid_shape == (11, 11) and level.episode_steps == 33
    assert len(env.unwrapped.episode.layout.objects) <= 6
    env = gym.make("fusiongym/GoTo-v0", tile_size=4, view_size=5, max_facts=8, max_mission_len=12)
    obs, _ = env.reset(seed=0)
    assert obs["image"].shape == (20, 20, 3) and obs["facts"].shape == (8, 3) and obs["mission"].shape == (12,)


@pytest.mark.parametrize("env_id", ["fusiongym/Fetch-v0", "fusiongym/Defeat-v1", "fusiongym/Bring-v1"])
def test_the_oracle_reaches_its_target_in_the_fewest_actions_turns_counted(env_id: str) -> None:
    """The oracle plans over (cell, heading), so it never takes a path that is short in cells but long in turns (and
    breaks ties in the agent's own frame, not by compass direction, which the view does not show)."""
    from collections import deque

    from fusiongym.envs.world import DIR_YX, FLOOR, PICKUP, SUCCESS

    env = gym.make(env_id)
    for seed in range(25):
        env.reset(seed=seed)
        batch, episode = env.unwrapped._sim.batch, env.unwrapped.episode
        tables = episode.layout.tables
        goal_slots = np.flatnonzero(tables.pickup == SUCCESS)
        if not len(goal_slots):  # Defeat, Bring: the object to carry
            goal_slots = np.flatnonzero((tables.use[:-1] == SUCCESS).any(axis=1))
        free = (batch.cell[0] == FLOOR) & (batch.obj_at[0] < 0)
        targets = {tuple(int(v) for v in yx) for yx in np.argwhere(np.isin(batch.obj_at[0], goal_slots))}
        start = (int(batch.agent_y[0]), int(batch.agent_x[0]), int(batch.agent_dir[0]))
        fewest, seen, queue = None, {start}, deque([(start, 0)])
        while queue:  # breadth-first over (y, x, heading): left, right, forward each cost one action
            (y, x, d), steps = queue.popleft()
            if (y + int(DIR_YX[d][0]), x + int(DIR_YX[d][1])) in targets:
                fewest = steps
                break
            ahead = (y + int(DIR_YX[d][0]), x + int(DIR_YX[d][1]))
            for state in ((y, x, (d - 1) % 4), (y, x, (d + 1) % 4), (*ahead, d)):
                if state not in seen and free[state[0], state[1]]:
                    seen.add(state)
                    queue.append((state, steps + 1))
        assert fewest is not None
        taken = 0
        while (action := env.unwrapped.oracle_action()) != PICKUP:
            env.step(action)
            taken += 1
        assert taken == fewest, (seed, taken, fewest)


def test_the_single_env_says_what_the_oracle_is_after() -> None:
    """Bring: pick up the cure, then use it on the container; carrying anything else, drop it."""
    env = gym.make("fusiongym/Bring-v1")
    env.reset(seed=3)
    assert env.unwrapped.oracle_subgoal().targets  # the object slots it is after
    seen = [env.unwrapped.oracle_subgoal().action]
    for _ in range(200):
        _, _, terminated, truncated, _ = env.step(env.unwrapped.oracle_action())
        if terminated or truncated:
            break
        seen.append(env.unwrapped.oracle_subgoal().action)
    assert seen[0] == "pickup" and seen[-1] == "toggle" and set(seen) == {"pickup", "toggle"}
