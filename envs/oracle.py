"""The oracle bot: a planner over the privileged state of one world of a batch.

The level says what to do next (:meth:`~fusiongym.envs.levels.Level.oracle_subgoal`): face one of some
object slots, then pick up, toggle or just stand there. This module finds the way — a breadth-first search
over cells, opening closed doors on the way and locked ones when it carries their key — and returns the next
MiniGrid action.
"""

from __future__ import annotations

from collections import deque

import numpy as np

from fusiongym.envs.levels import Level, Subgoal
from fusiongym.envs.world import (
    DIR_YX,
    DONE,
    DOOR_CLOSED,
    DOOR_LOCKED,
    DOOR_OPEN,
    DROP,
    FLOOR,
    FORWARD,
    LEFT,
    PICKUP,
    RIGHT,
    TOGGLE,
    WorldBatch,
)

_FINAL_ACTION = {"face": DONE, "pickup": PICKUP, "toggle": TOGGLE}


def oracle_action(batch: WorldBatch, b: int, level: Level, episode, use_facts: bool = True) -> int:
    """The oracle's next action in world ``b``."""
    carrying = int(batch.carrying[b])
    subgoal: Subgoal = level.oracle_subgoal(episode, carrying, use_facts)
    y, x, d = int(batch.agent_y[b]), int(batch.agent_x[b]), int(batch.agent_dir[b])
    if subgoal.action == "drop":
        return _drop_somewhere(batch, b, y, x, d)
    targets = set()
    obj_at = batch.obj_at[b]
    for slot in subgoal.targets:
        found = np.argwhere(obj_at == slot)
        if found.size:
            targets.add((int(found[0, 0]), int(found[0, 1])))
    if not targets:
        return DONE
    front = (y + int(DIR_YX[d][0]), x + int(DIR_YX[d][1]))
    if front in targets:
        return _FINAL_ACTION[subgoal.action]
    path = _shortest_path(batch, b, (y, x), targets, carrying)
    if path is None:
        return DONE
    if not path:  # standing next to a target: turn towards it
        want = next(_direction((y, x), t) for t in targets if _direction((y, x), t) is not None)
        return _turn_towards(d, want)
    step = path[0]
    want = _direction((y, x), step)
    if want != d:
        return _turn_towards(d, want)
    cell = batch.cell[b, step[0], step[1]]
    return TOGGLE if cell in (DOOR_CLOSED, DOOR_LOCKED) else FORWARD


def _direction(src: tuple[int, int], dst: tuple[int, int]) -> int | None:
    for d, (dy, dx) in enumerate(DIR_YX):
        if (src[0] + dy, src[1] + dx) == dst:
            return d
    return None


def _turn_towards(d: int, want: int) -> int:
    return RIGHT if (want - d) % 4 in (1, 2) else LEFT


def _passable(batch: WorldBatch, b: int, y: int, x: int, carrying: int) -> bool:
    if batch.obj_at[b, y, x] >= 0:
        return False
    cell = batch.cell[b, y, x]
    if cell in (FLOOR, DOOR_OPEN, DOOR_CLOSED):
        return True
    return cell == DOOR_LOCKED and carrying >= 0 and batch.door_key[b, y, x] == carrying


def _shortest_path(
    batch: WorldBatch, b: int, start: tuple[int, int], targets: set[tuple[int, int]], carrying: int
) -> list[tuple[int, int]] | None:
    """Cells from ``start`` (exclusive) to the nearest cell beside a target; ``[]`` if already beside one."""
    goals = {(ty + int(dy), tx + int(dx)) for ty, tx in targets for dy, dx in DIR_YX}
    parent: dict[tuple[int, int], tuple[int, int] | None] = {start: None}
    queue = deque([start])
    while queue:
        cur = queue.popleft()
        if cur in goals:
            path = []
            while parent[cur] is not None:
                path.append(cur)
                cur = parent[cur]
            return path[::-1]
        for dy, dx in DIR_YX:
            nxt = (cur[0] + int(dy), cur[1] + int(dx))
            if nxt not in parent and _passable(batch, b, nxt[0], nxt[1], carrying):
                parent[nxt] = cur
                queue.append(nxt)
    return None


def _drop_somewhere(batch: WorldBatch, b: int, y: int, x: int, d: int) -> int:
    fy, fx = y + int(DIR_YX[d][0]), x + int(DIR_YX[d][1])
    if batch.cell[b, fy, fx] == FLOOR and batch.obj_at[b, fy, fx] < 0:
        return DROP
    return LEFT if batch.cell[b, fy, fx] != FLOOR else FORWARD
