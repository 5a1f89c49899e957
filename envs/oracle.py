"""The oracle bot: a planner over the privileged state of one world of a batch.

The level says what to do next (:meth:`~fusiongym.envs.levels.Level.oracle_subgoal`): face one of some
object slots, then pick up, toggle or just stand there. This module finds the way — a search over (cell, heading)
states that counts turns as actions and breaks ties in the agent's own frame (:class:`HeadingPlan`), opening
closed doors on the way and locked ones when it carries their key — and returns the next MiniGrid action.
"""

from __future__ import annotations

import numpy as np

from fusiongym.envs.levels import Level, Subgoal
from fusiongym.envs.planning import HeadingPlan
from fusiongym.envs.world import (
    DIR_YX,
    DONE,
    DOOR_CLOSED,
    DOOR_LOCKED,
    DOOR_OPEN,
    DROP,
    FAILURE,
    FLOOR,
    FORWARD,
    LEFT,
    PICKUP,
    RIGHT,
    TOGGLE,
    WALL,
    WorldBatch,
)

_FINAL_ACTION = {"face": DONE, "pickup": PICKUP, "toggle": TOGGLE}


def oracle_subgoal(batch: WorldBatch, b: int, level: Level, episode, use_facts: bool = True) -> Subgoal:
    """What the oracle is after in world ``b`` now (the level's :meth:`~fusiongym.envs.levels.Level.oracle_subgoal`)."""
    p = batch.pad
    cells = batch.cell[b, p : p + batch.height, p : p + batch.width]
    return level.oracle_subgoal(episode, int(batch.carrying[b]), use_facts, cells)


def oracle_target_cells(batch: WorldBatch, b: int, subgoal: Subgoal) -> set[tuple[int, int]]:
    """The cells ``(y, x)`` of world ``b``'s padded grid that hold ``subgoal``'s targets: its objects and the door
    cells it faces."""
    p = batch.pad
    found = [np.argwhere(batch.obj_at[b] == slot) for slot in subgoal.targets]
    return {(int(f[0, 0]), int(f[0, 1])) for f in found if f.size} | {(y + p, x + p) for y, x in subgoal.cells}


def oracle_action(batch: WorldBatch, b: int, level: Level, episode, use_facts: bool = True) -> int:
    """The oracle's next action in world ``b``."""
    carrying = int(batch.carrying[b])
    p = batch.pad
    cells = batch.cell[b, p : p + batch.height, p : p + batch.width]
    subgoal: Subgoal = oracle_subgoal(batch, b, level, episode, use_facts)
    y, x, d = int(batch.agent_y[b]), int(batch.agent_x[b]), int(batch.agent_dir[b])
    if subgoal.action == "drop":
        return _drop_somewhere(batch, b, y, x, d)
    targets = oracle_target_cells(batch, b, subgoal)
    obj_at = batch.obj_at[b]
    if not targets:
        return DONE
    front = (y + int(DIR_YX[d][0]), x + int(DIR_YX[d][1]))
    if front in targets:
        return _FINAL_ACTION[subgoal.action]
    forbidden = {(int(cy), int(cx)) for cy, cx in np.argwhere((obj_at >= 0) & (batch.face[b].take(obj_at) == FAILURE))}
    # step down the world's (cell, heading) distance field: the fewest left / right / forward actions, turns
    # counted, ties broken in the agent's own frame (left, right, forward), never facing a cell where facing fails
    # (GoTo-v1). A shortest path over cells alone would break ties by compass direction, which an egocentric view
    # does not show: the same view would be labelled with different turns, and imitation could not fit them. The
    # plan is kept in the episode's memo until the grid, the goals or what the agent carries change.
    inner = (slice(p, p + batch.height), slice(p, p + batch.width))
    objects, keys = batch.obj_at[b][inner], batch.door_key[b][inner]
    passable = ((cells == FLOOR) | (cells == DOOR_OPEN) | (cells == DOOR_CLOSED)) & (objects < 0)
    if carrying >= 0:
        passable |= (cells == DOOR_LOCKED) & (keys == carrying) & (objects < 0)
    for slot in subgoal.walk_over:
        passable |= (objects == slot) & (cells != WALL)
    walled = not (passable[0].any() or passable[-1].any() or passable[:, 0].any() or passable[:, -1].any())
    if walled:  # the plan's flat offsets need a closed border, which every level's outer wall gives
        goals = {(ty - p, tx - p) for ty, tx in targets}
        shifted = {(fy - p, fx - p) for fy, fx in forbidden}
        key = (tuple(sorted(goals)), tuple(sorted(shifted)), passable.tobytes())
        plan = episode.oracle_memo.get("heading_plan")
        if plan is None or plan[0] != key:
            plan = (key, HeadingPlan(passable, goals, shifted))
            episode.oracle_memo["heading_plan"] = plan
        action = plan[1].first_action(y - p, x - p, d)
        if action == FORWARD and batch.cell[b][front] in (DOOR_CLOSED, DOOR_LOCKED):
            return TOGGLE
        if action is not None or forbidden:
            return DONE if action is None else action
    # no plan from here (standing where the plan does not stand, or an open border): the shortest path over cells
    path = _shortest_path(batch, b, (y, x), targets, carrying, set(subgoal.walk_over))
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


def _shortest_path(
    batch: WorldBatch,
    b: int,
    start: tuple[int, int],
    targets: set[tuple[int, int]],
    carrying: int,
    walk_over: set[int],
) -> list[tuple[int, int]] | None:
    """Cells from ``start`` (exclusive) to the nearest cell beside a target; ``[]`` if already beside one.

    Passable: floor and open or closed doors without an object (or with one of ``walk_over``), and locked doors
    whose key is carried.
    """
    cells, objects = batch.cell[b], batch.obj_at[b]
    width = cells.shape[1]
    passable = ((cells == FLOOR) | (cells == DOOR_OPEN) | (cells == DOOR_CLOSED)) & (objects < 0)
    if carrying >= 0:
        passable |= (cells == DOOR_LOCKED) & (batch.door_key[b] == carrying) & (objects < 0)
    for slot in walk_over:
        passable |= (objects == slot) & (cells != WALL)
    free = bytearray(passable.tobytes())  # flat, row-major; the padding walls keep neighbours in range
    goals = {(ty + dy) * width + tx + dx for ty, tx in targets for dy, dx in ((0, 1), (1, 0), (0, -1), (-1, 0))}
    first = start[0] * width + start[1]
    parent = {first: -1}
    frontier = [first]
    while frontier:
        nxt = []
        for cur in frontier:
            if cur in goals:
                path = []
                while parent[cur] != -1:
                    path.append(divmod(cur, width))
                    cur = parent[cur]
                return path[::-1]
            for step in (1, -1, width, -width):
                n = cur + step
                if free[n] and n not in parent:
                    parent[n] = cur
                    nxt.append(n)
        frontier = nxt
    return None


def _drop_somewhere(batch: WorldBatch, b: int, y: int, x: int, d: int) -> int:
    fy, fx = y + int(DIR_YX[d][0]), x + int(DIR_YX[d][1])
    if batch.cell[b, fy, fx] == FLOOR and batch.obj_at[b, fy, fx] < 0:
        return DROP
    return LEFT if batch.cell[b, fy, fx] != FLOOR else FORWARD
