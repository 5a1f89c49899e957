"""Planning over (cell, heading) for worlds where facing some objects fails (GoTo-v1): shared by the oracle, which
follows the plan, and the levels, which redraw a world that has none."""

from __future__ import annotations

import numpy as np

from fusiongym.envs.world import DIR_YX, FORWARD, LEFT, RIGHT

_STEPS = [(int(dy), int(dx)) for dy, dx in DIR_YX]


def first_action_avoiding(passable: np.ndarray, start: tuple[int, int, int], targets: set[tuple[int, int]],
                          forbidden: set[tuple[int, int]]) -> int | None:
    """The first action (left, right or forward) of a shortest plan from ``start`` = (y, x, heading) that ends
    facing a cell of ``targets`` and never faces a cell of ``forbidden`` on the way; ``None`` when there is none.

    ``passable[y, x]``: the agent may step onto the cell (the grid's border must not be passable).
    """

    def ahead(y: int, x: int, d: int) -> tuple[int, int]:
        return y + _STEPS[d][0], x + _STEPS[d][1]

    first: dict[tuple[int, int, int], int] = {start: -1}
    frontier = [start]
    while frontier:
        nxt = []
        for y, x, d in frontier:
            if ahead(y, x, d) in targets:
                return first[(y, x, d)]
            fy, fx = ahead(y, x, d)
            moves = [(LEFT, (y, x, (d - 1) % 4)), (RIGHT, (y, x, (d + 1) % 4))]
            if passable[fy, fx]:
                moves.append((FORWARD, (fy, fx, d)))
            for action, state in moves:
                if state in first or ahead(*state) in forbidden:
                    continue
                first[state] = action if first[(y, x, d)] == -1 else first[(y, x, d)]
                nxt.append(state)
        frontier = nxt
    return None
