"""Planning over (cell, heading) for worlds where facing some objects fails (GoTo-v1): shared by the oracle, which
follows the plan, and the levels, which redraw a world that has none.

The plan is a distance field: for every state (cell, heading), the fewest left / right / forward actions to a state
that faces a target, never passing through a state that faces a forbidden cell. One backward search per world makes
it; every later step of the episode reads it (the oracle steps down it, whatever the agent did meanwhile).
"""

from __future__ import annotations

import numpy as np

from fusiongym.envs.world import DIR_YX, FORWARD, LEFT, RIGHT


class HeadingPlan:
    """The distance field of one world's grid (``passable[y, x]``: the agent may stand there; the border must not
    be passable), ``targets`` to face and ``forbidden`` cells never to face."""

    def __init__(self, passable: np.ndarray, targets: set[tuple[int, int]], forbidden: set[tuple[int, int]]) -> None:
        width = passable.shape[1]
        self.width = width
        self.forbidden = frozenset(forbidden)
        self.ahead = [int(dy) * width + int(dx) for dy, dx in DIR_YX]  # flat offset of the cell in front
        free = passable.reshape(-1).tobytes()
        goal = {y * width + x for y, x in targets}
        banned = {y * width + x for y, x in forbidden}
        n = len(free)
        # a state is cell * 4 + heading; usable: the agent may stand on the cell and does not face a banned cell
        self.usable = bytearray(4 * n)
        for cell in range(n):
            if free[cell]:
                for d in range(4):
                    if cell + self.ahead[d] not in banned:
                        self.usable[cell * 4 + d] = 1
        self.distance = np.full(4 * n, -1, np.int64)
        frontier = [cell * 4 + d for cell in range(n) if free[cell] for d in range(4)
                    if cell + self.ahead[d] in goal]
        for state in frontier:
            self.distance[state] = 0
        step = 0
        while frontier:  # backwards: which usable states lead, in one action, to the frontier
            step += 1
            nxt = []
            for state in frontier:
                cell, d = divmod(state, 4)
                back = cell - self.ahead[d]  # forward from there lands here
                for before in (cell * 4 + (d + 1) % 4, cell * 4 + (d - 1) % 4, back * 4 + d):
                    if 0 <= before < len(self.usable) and self.usable[before] and self.distance[before] < 0:
                        self.distance[before] = step
                        nxt.append(before)
            frontier = nxt

    def _state(self, y: int, x: int, d: int) -> int:
        return (y * self.width + x) * 4 + d

    def solvable_from(self, y: int, x: int, d: int) -> bool:
        """Whether a plan exists from (y, x) facing ``d``."""
        return bool(self.distance[self._state(y, x, d)] >= 0)

    def first_action(self, y: int, x: int, d: int) -> int | None:
        """The first action of a shortest plan from (y, x) facing ``d`` (``None``: none exists, or already there)."""
        state = self._state(y, x, d)
        here = int(self.distance[state])
        if here <= 0:
            return None
        cell = state // 4
        for action, new in ((LEFT, cell * 4 + (d - 1) % 4), (RIGHT, cell * 4 + (d + 1) % 4),
                            (FORWARD, (cell + self.ahead[d]) * 4 + d)):
            if 0 <= new < len(self.distance) and self.distance[new] == here - 1 and self.usable[new]:
                return action
        return None
