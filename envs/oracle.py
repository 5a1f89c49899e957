"""The oracle bot: a planner over the privileged state of one world of a batch.

The level says what to do next (:meth:`~fusiongym.envs.levels.Level.oracle_subgoal`): face one of some
object slots, then pick up, toggle or just stand there. This module finds the way — a search over (cell, heading)
states that counts turns as actions and breaks ties in the agent's own frame (:class:`HeadingPlan`), opening
closed doors on the way and locked ones when it carries their key — and returns the next MiniGrid action.

With ``seen`` (the cells its agent has seen this episode), the oracle knows only what it has seen, as BabyAI's bot
does: targets it has not seen are not yet targets, and with none left it explores, facing the nearest cell not yet
seen. Its plan is then one a policy that sees only its view could follow (the privileged oracle walks straight to
a target three rooms away).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Protocol

import numpy as np

from fusiongym.envs.levels import Episode, Subgoal
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


#: The subgoal of an oracle that knows only what it has seen and has seen none of its targets yet.
EXPLORE = "explore"


class SubgoalSource(Protocol):
    """What the oracle plans for: a :class:`~fusiongym.envs.levels.Level`, or a stand-in that names a subgoal."""

    def oracle_subgoal(self, episode: Episode, carrying: int, use_facts: bool, cells: np.ndarray) -> Subgoal: ...


def oracle_subgoal(
    batch: WorldBatch, b: int, level: SubgoalSource, episode, use_facts: bool = True, seen: np.ndarray | None = None
) -> Subgoal:
    """What the oracle is after in world ``b`` now (the level's :meth:`~fusiongym.envs.levels.Level.oracle_subgoal`).

    ``seen``: world ``b``'s flat padded grid (``y * (width + 2 * pad) + x``) of cells its agent has seen this episode;
    then the targets not seen are dropped, and with none left the subgoal's action is :data:`EXPLORE`.
    """
    p = batch.pad
    cells = batch.cell[b, p : p + batch.height, p : p + batch.width]
    subgoal = level.oracle_subgoal(episode, int(batch.carrying[b]), use_facts, cells)
    return subgoal if seen is None else _known(batch, b, subgoal, seen)


def _known(batch: WorldBatch, b: int, subgoal: Subgoal, seen: np.ndarray) -> Subgoal:
    """``subgoal`` without the targets not in ``seen``; :data:`EXPLORE` if none is left."""
    if subgoal.action == "drop":
        return subgoal
    p, wp = batch.pad, batch.width + 2 * batch.pad
    targets = []
    for slot in subgoal.targets:
        found = np.argwhere(batch.obj_at[b] == slot)
        if not found.size or seen[int(found[0, 0]) * wp + int(found[0, 1])]:  # carried objects are known too
            targets.append(slot)
    doors = [(y, x) for y, x in subgoal.cells if seen[(y + p) * wp + x + p]]
    if targets or doors:
        return replace(subgoal, targets=targets, cells=doors)
    return Subgoal(EXPLORE, walk_over=list(subgoal.walk_over))


def oracle_target_cells(batch: WorldBatch, b: int, subgoal: Subgoal) -> set[tuple[int, int]]:
    """The cells ``(y, x)`` of world ``b``'s padded grid that hold ``subgoal``'s targets: its objects and the door
    cells it faces."""
    p = batch.pad
    return _object_cells(batch, b, subgoal.targets) | {(y + p, x + p) for y, x in subgoal.cells}


def _object_cells(batch: WorldBatch, b: int, slots: Sequence[int | None]) -> set[tuple[int, int]]:
    """The padded-grid cells of world ``b`` that hold the objects ``slots`` (carried or unnamed ones hold none)."""
    found = [np.argwhere(batch.obj_at[b] == slot) for slot in slots]
    return {(int(f[0, 0]), int(f[0, 1])) for f in found if f.size}


def oracle_crossing_cells(batch: WorldBatch, b: int, subgoal: Subgoal) -> set[tuple[int, int]]:
    """The cells of world ``b``'s padded grid that hold the ``walk_over`` objects the oracle must still step on to
    reach ``subgoal``'s targets (Avoid's crossing, which the facts choose); none once it can reach them without."""
    targets = oracle_target_cells(batch, b, subgoal)
    if not subgoal.walk_over or not targets:
        return set()
    start = (int(batch.agent_y[b]), int(batch.agent_x[b]))
    if _shortest_path(batch, b, start, targets, int(batch.carrying[b]), set()) is not None:
        return set()
    return _object_cells(batch, b, subgoal.walk_over)


def oracle_heading_cells(batch: WorldBatch, b: int, subgoal: Subgoal) -> set[tuple[int, int]]:
    """The cells of world ``b``'s padded grid that the oracle is headed for now: the crossing it must first step on
    (:func:`oracle_crossing_cells`), else its targets' (:func:`oracle_target_cells`)."""
    return oracle_crossing_cells(batch, b, subgoal) or oracle_target_cells(batch, b, subgoal)


def oracle_action(
    batch: WorldBatch, b: int, level: SubgoalSource, episode, use_facts: bool = True, seen: np.ndarray | None = None
) -> int:
    """The oracle's next action in world ``b`` (knowing only the cells of ``seen``, when given: see
    :func:`oracle_subgoal`)."""
    carrying = int(batch.carrying[b])
    whole = oracle_subgoal(batch, b, level, episode, use_facts)  # where it must get to in the end
    subgoal = whole if seen is None else _known(batch, b, whole, seen)
    p = batch.pad
    y, x, d = int(batch.agent_y[b]), int(batch.agent_x[b]), int(batch.agent_dir[b])
    if subgoal.action == "drop":
        return _drop_somewhere(batch, b, y, x, d)
    if subgoal.action == EXPLORE:
        assert seen is not None
        subgoal = whole
        action = _explore(batch, b, seen, carrying, set(whole.walk_over), _heading_plan(batch, b, episode, whole))
        if action is not None:
            return action  # else nothing is left to see on the way: plan on all it knows
    targets = oracle_target_cells(batch, b, subgoal)
    if not targets:
        return DONE
    front = (y + int(DIR_YX[d][0]), x + int(DIR_YX[d][1]))
    if front in targets:
        return _FINAL_ACTION[subgoal.action]
    plan = _heading_plan(batch, b, episode, subgoal)
    if plan is not None:
        action = plan.first_action(y - p, x - p, d)
        if action == FORWARD and batch.cell[b][front] in (DOOR_CLOSED, DOOR_LOCKED):
            return TOGGLE
        if action is not None or plan.forbidden:
            return DONE if action is None else action
    # no plan from here (standing where the plan does not stand, or an open border): the shortest path over cells
    path = _shortest_path(batch, b, (y, x), targets, carrying, set(subgoal.walk_over))
    if path is None:
        return DONE
    if not path:  # standing next to a target: turn towards it
        return _turn_towards(d, next(w for t in targets if (w := _direction((y, x), t)) is not None))
    step = path[0]
    want = _direction((y, x), step)
    assert want is not None  # the path's first step is a neighbour
    if want != d:
        return _turn_towards(d, want)
    cell = batch.cell[b, step[0], step[1]]
    return TOGGLE if cell in (DOOR_CLOSED, DOOR_LOCKED) else FORWARD


def _passable(cells: np.ndarray, objects: np.ndarray, keys: np.ndarray, carrying: int, walk_over) -> np.ndarray:
    """Where the agent may stand: floor and open or closed doors without an object (or with one of ``walk_over``),
    and locked doors whose key (``keys``: each door cell's key slot) is carried."""
    passable = ((cells == FLOOR) | (cells == DOOR_OPEN) | (cells == DOOR_CLOSED)) & (objects < 0)
    if carrying >= 0:
        passable |= (cells == DOOR_LOCKED) & (keys == carrying) & (objects < 0)
    for slot in walk_over:
        passable |= (objects == slot) & (cells != WALL)
    return passable


def _failing(batch: WorldBatch, b: int) -> np.ndarray:
    """World ``b``'s padded grid: where an object stands that it fails to face (GoTo-v1's wrong objects)."""
    objects = batch.obj_at[b]
    return (objects >= 0) & (batch.face[b].take(objects) == FAILURE)


def _heading_plan(batch: WorldBatch, b: int, episode, subgoal: Subgoal) -> HeadingPlan | None:
    """World ``b``'s (cell, heading) distance field to ``subgoal``'s targets, in inner grid coordinates; ``None``
    where the grid has an open border.

    Stepping down it gives the fewest left / right / forward actions, turns counted, ties broken in the agent's own
    frame (left, right, forward), never facing a cell where facing fails (GoTo-v1). A shortest path over cells alone
    would break ties by compass direction, which an egocentric view does not show: the same view would be labelled
    with different turns, and imitation could not fit them. Plans are kept in the episode's memo until the grid, the
    goals or what the agent carries change.
    """
    p, carrying = batch.pad, int(batch.carrying[b])
    inner = (slice(p, p + batch.height), slice(p, p + batch.width))
    cells, objects = batch.cell[b][inner], batch.obj_at[b][inner]
    passable = _passable(cells, objects, batch.door_key[b][inner], carrying, subgoal.walk_over)
    if passable[0].any() or passable[-1].any() or passable[:, 0].any() or passable[:, -1].any():
        return None  # the plan's flat offsets need a closed border, which every level's outer wall gives
    goals = {(ty - p, tx - p) for ty, tx in oracle_target_cells(batch, b, subgoal)}
    forbidden = {(int(y), int(x)) for y, x in np.argwhere(_failing(batch, b)[inner])}
    key = (tuple(sorted(goals)), tuple(sorted(forbidden)), passable.tobytes())
    plans = episode.oracle_memo.setdefault("heading_plans", {})
    if key not in plans:
        if len(plans) >= 4:  # an exploring oracle may want two (all it must reach, what it has seen of it)
            plans.clear()
        plans[key] = HeadingPlan(passable, goals, forbidden)
    return plans[key]


def _explore(
    batch: WorldBatch, b: int, seen: np.ndarray, carrying: int, walk_over: set[int], plan: HeadingPlan | None
) -> int | None:
    """The first action towards facing the nearest cell (in left / right / forward actions) of world ``b`` that is
    not a wall and not in ``seen``, never facing a cell where facing fails and never entering a state from which
    ``plan`` (to where the oracle must get in the end) has no way on: a room whose door can be passed only one way
    (an object where facing fails just beyond it) is not explored. ``None`` if no such cell can be reached.

    A search forwards from the agent's (cell, heading) that tries left, right, forward in turn, so ties break in the
    agent's own frame, as the oracle's plans do.
    """
    cells, objects = batch.cell[b], batch.obj_at[b]
    width = cells.shape[1]
    passable = _passable(cells, objects, batch.door_key[b], carrying, walk_over)
    free = passable.reshape(-1).tobytes()
    wanted = (~seen & (cells.reshape(-1) != WALL)).tobytes()
    failing = _failing(batch, b).reshape(-1).tobytes()
    ahead = [int(dy) * width + int(dx) for dy, dx in DIR_YX]
    start = int(batch.agent_y[b]) * width + int(batch.agent_x[b]), int(batch.agent_dir[b])
    first: dict[tuple[int, int], int] = {start: -1}  # state -> the first action of the path that reached it
    closed = np.isin(cells, (DOOR_CLOSED, DOOR_LOCKED)).reshape(-1).tobytes()
    if plan is None:
        way_on = bytes([1]) * (4 * cells.size)
    else:  # the plan's states (inner cell, heading) laid over the padded grid; 1 where it goes on
        p = batch.pad
        ahead_of = np.zeros((*cells.shape, 4), bool)
        ahead_of[p : p + batch.height, p : p + batch.width] = (plan.distance >= 0).reshape(batch.height, batch.width, 4)
        way_on = ahead_of.reshape(-1).tobytes()
    frontier = [start]
    while frontier:
        nxt = []
        for cell, d in frontier:
            if first[(cell, d)] >= 0 and wanted[cell + ahead[d]]:
                return first[(cell, d)]
            for action, state in ((LEFT, (cell, (d - 1) % 4)), (RIGHT, (cell, (d + 1) % 4)),
                                  (FORWARD, (cell + ahead[d], d))):
                if (state in first or not free[state[0]] or failing[state[0] + ahead[state[1]]]
                        or not way_on[state[0] * 4 + state[1]]):
                    continue
                if first[(cell, d)] >= 0:  # the path's first action is already taken
                    action = first[(cell, d)]
                elif action == FORWARD and closed[state[0]]:
                    action = TOGGLE  # the first step goes through a closed door: open it
                first[state] = action
                nxt.append(state)
        frontier = nxt
    return None


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
    """Cells from ``start`` (exclusive) to the nearest cell beside a target; ``[]`` if already beside one, through
    cells where the agent may stand (:func:`_passable`)."""
    cells, objects = batch.cell[b], batch.obj_at[b]
    width = cells.shape[1]
    passable = _passable(cells, objects, batch.door_key[b], carrying, walk_over)
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
