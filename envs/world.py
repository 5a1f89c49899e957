"""The batched array world: B grid worlds as numpy arrays, advanced together by one step function.

Every level shares this engine. Generation (a level placing rooms, objects, facts and an instruction) runs per
world at reset in plain Python and produces a :class:`WorldLayout`; :meth:`WorldBatch.load` copies it into
row ``b`` of the batch. :meth:`WorldBatch.step` then advances all B worlds with array operations only, and
:meth:`WorldBatch.ego_tiles` gathers each world's egocentric view as tile ids for the renderer.

What a level asks of the dynamics is compiled into :class:`OutcomeTables`: per object slot, what facing it,
walking into it, picking it up or using (toggling) it while carrying another object does — nothing, success
or failure. Doors (open / closed / locked, each locked door opened by one object slot) are terrain.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from fusiongym.envs.sight import pack_view_bits, sight_lines

# --- cells -------------------------------------------------------------------------------------------------
FLOOR, WALL, DOOR_OPEN, DOOR_CLOSED, DOOR_LOCKED = 0, 1, 2, 3, 4
CELL_NAMES = ("floor", "wall", "open door", "closed door", "locked door")
_PASSABLE = np.array([True, False, True, False, False])
#: What toggling each cell makes of it; a locked door opens only with its key, which the step checks apart.
_TOGGLED = np.array([FLOOR, WALL, DOOR_CLOSED, DOOR_OPEN, DOOR_LOCKED], np.int8)

# --- actions (MiniGrid's) ----------------------------------------------------------------------------------
LEFT, RIGHT, FORWARD, PICKUP, DROP, TOGGLE, DONE = range(7)
ACTION_NAMES = ("left", "right", "forward", "pickup", "drop", "toggle", "done")

# --- outcomes ----------------------------------------------------------------------------------------------
NOTHING, SUCCESS, FAILURE = 0, 1, 2

#: Direction d as (dy, dx): 0 east, 1 south, 2 west, 3 north (MiniGrid's convention).
DIR_YX = np.array([(0, 1), (1, 0), (0, -1), (-1, 0)], dtype=np.int64)
DY, DX = DIR_YX[:, 0].copy(), DIR_YX[:, 1].copy()


@dataclass(frozen=True)
class WorldObject:
    """An object placed in a world. ``kind`` is an ontology kind (``None`` for plain shapes)."""

    shape: str
    colour: str
    kind: str | None = None
    pickable: bool = True


@dataclass
class OutcomeTables:
    """What interacting with each object slot does (``NOTHING`` / ``SUCCESS`` / ``FAILURE``).

    ``use[c, t]``: toggling object ``t`` while carrying object ``c`` (row ``n`` = carrying nothing).
    ``walkable[t]``: the agent may step onto object ``t`` (``touch`` still applies when it does).
    ``wrong_key``: toggling a locked door while carrying an object that does not open it.
    ``done``: what the ``done`` action does (wherever the agent stands).
    """

    n: int
    wrong_key: int = NOTHING
    done: int = NOTHING
    face: np.ndarray = field(init=False)
    touch: np.ndarray = field(init=False)
    pickup: np.ndarray = field(init=False)
    use: np.ndarray = field(init=False)
    walkable: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.face = np.zeros(self.n, np.int8)
        self.touch = np.zeros(self.n, np.int8)
        self.pickup = np.zeros(self.n, np.int8)
        self.use = np.zeros((self.n + 1, self.n), np.int8)
        self.walkable = np.zeros(self.n, bool)

    def goal_slots(self) -> np.ndarray:
        """The slots whose ``face``, ``touch`` or ``pickup`` wins; where none does (Defeat, Bring), those whose
        use on another wins: the object to carry."""
        wins = np.flatnonzero((self.face == SUCCESS) | (self.touch == SUCCESS) | (self.pickup == SUCCESS))
        return wins if len(wins) else np.flatnonzero((self.use[:-1] == SUCCESS).any(axis=1))


@dataclass
class WorldLayout:
    """One generated world, before it is copied into a batch row. Coordinates are (y, x) in the grid."""

    cells: np.ndarray  # (h, w) cell codes
    door_colour: np.ndarray  # (h, w) colour index of door cells
    door_key: np.ndarray  # (h, w) object slot that unlocks a locked door, -1 elsewhere
    objects: list[WorldObject]
    object_pos: list[tuple[int, int]]
    agent_pos: tuple[int, int]
    agent_dir: int
    tables: OutcomeTables
    mission_ids: list[int]
    fact_ids: np.ndarray  # (F, 3)
    max_steps: int


class TileIndex:
    """Tile ids of the render atlas: unseen, floor, wall, doors (colour × state), objects (shape × colour),
    agent (4 directions). The atlas in :mod:`fusiongym.envs.rendering` is drawn in this order."""

    UNSEEN, FLOOR, WALL = 0, 1, 2  # UNSEEN must stay 0: views hide cells by multiplying with a visibility mask

    def __init__(self, n_shapes: int, n_colours: int) -> None:
        self.n_shapes, self.n_colours = n_shapes, n_colours
        self.door_base = 3
        self.object_base = self.door_base + 3 * n_colours
        self.agent_base = self.object_base + n_shapes * n_colours
        self.count = self.agent_base + 4
        opaque = np.zeros(self.count, dtype=bool)
        opaque[self.WALL] = True
        for colour in range(n_colours):
            opaque[self.door(colour, DOOR_CLOSED)] = opaque[self.door(colour, DOOR_LOCKED)] = True
        self.opaque = opaque

    def door(self, colour: int, state: int) -> int:
        return self.door_base + 3 * colour + (state - DOOR_OPEN)

    def object(self, shape: int, colour: int) -> int:
        return self.object_base + shape * self.n_colours + colour

    def agent(self, direction: int) -> int:
        return self.agent_base + direction


@functools.lru_cache(maxsize=8)
def _view_offsets(view_size: int) -> tuple[np.ndarray, np.ndarray]:
    """(4, V, V) grid offsets of each egocentric view cell, agent at the bottom centre facing up."""
    rows = np.arange(view_size)[:, None]
    cols = np.arange(view_size)[None, :]
    ahead = view_size - 1 - rows
    side = cols - view_size // 2
    off_y = np.empty((4, view_size, view_size), np.int64)
    off_x = np.empty_like(off_y)
    for d in range(4):
        fy, fx = DIR_YX[d]
        ry, rx = DIR_YX[(d + 1) % 4]
        off_y[d] = fy * ahead + ry * side
        off_x[d] = fx * ahead + rx * side
    return off_y, off_x


class WorldBatch:
    """B worlds of one grid size, as arrays with a leading batch axis.

    Grids are padded by ``view_size`` wall cells on every side so views never index out of bounds. The
    agent's position is kept as a flat index into the whole batch of padded grids (``agent_at``), so moving,
    looking ahead and gathering the view are single index operations; ``agent_y`` / ``agent_x`` give it as
    padded grid coordinates.
    """

    def __init__(
        self,
        batch_size: int,
        height: int,
        width: int,
        max_objects: int,
        mission_len: int,
        max_facts: int,
        tiles: TileIndex,
        view_size: int = 7,
        see_through_walls: bool = False,
        show_carried: bool = False,
    ) -> None:
        if view_size < 3 or view_size % 2 == 0 or view_size > 7:
            raise ValueError(
                f"view_size must be 3, 5 or 7 (odd, at most 7 so a view fits a 64-bit set), got {view_size}")
        b, n, pad = batch_size, max_objects, view_size
        self.batch_size, self.height, self.width, self.pad = b, height, width, pad
        self.max_objects, self.view_size, self.see_through_walls = n, view_size, see_through_walls
        self.show_carried = show_carried
        self.tiles = tiles
        hp, wp = height + 2 * pad, width + 2 * pad
        self.cell = np.full((b, hp, wp), WALL, np.int8)
        self.door_colour = np.zeros((b, hp, wp), np.int8)
        self.door_key = np.full((b, hp, wp), -1, np.int8)
        self.obj_at = np.full((b, hp, wp), -1, np.int8)
        self.tile = np.full((b, hp, wp), tiles.WALL, np.int16)
        # per object slot; column n is a sentinel so that slot -1 ("none") reads NOTHING / not pickable
        self.obj_tile = np.zeros((b, n + 1), np.int16)
        self.pickable = np.zeros((b, n + 1), bool)
        self.face = np.zeros((b, n + 1), np.int8)
        self.touch = np.zeros((b, n + 1), np.int8)
        self.pickup = np.zeros((b, n + 1), np.int8)
        self.use = np.zeros((b, n + 1, n + 1), np.int8)  # row n: carrying nothing
        self.walkable = np.zeros((b, n + 1), bool)
        self.wrong_key = np.zeros(b, np.int8)
        self.done_outcome = np.zeros(b, np.int8)
        self.agent_at = np.zeros(b, np.int64)
        self.agent_dir = np.zeros(b, np.int64)
        self.carrying = np.full(b, -1, np.int64)
        self.steps = np.zeros(b, np.int64)
        self.max_steps = np.ones(b, np.int64)
        self.mission = np.zeros((b, mission_len), np.int64)
        self.facts = np.zeros((b, max_facts, 3), np.int64)
        self._rows = np.arange(b)
        self._slots = np.arange(n, dtype=np.int8)  # object slot numbers
        # tile of each cell code and door colour (only doors depend on the colour)
        self._cell_tile = np.full((len(CELL_NAMES), tiles.n_colours), tiles.FLOOR, np.int16)
        self._cell_tile[WALL] = tiles.WALL
        for state in (DOOR_OPEN, DOOR_CLOSED, DOOR_LOCKED):
            self._cell_tile[state] = [tiles.door(colour, state) for colour in range(tiles.n_colours)]
        self._cells_per_world = hp * wp
        self._ahead = DY * wp + DX  # flat offset of the cell in front, per direction
        self._flat = self._flat_views()
        view_y, view_x = _view_offsets(view_size)
        self._view_flat = view_y * wp + view_x  # (4, V, V) offsets in the flattened padded grid
        self._sight = sight_lines(view_size)

    def _flat_views(self) -> dict[str, np.ndarray]:
        """Flat views of the per-cell arrays: writing through them writes the arrays themselves."""
        return {name: getattr(self, name).reshape(-1) for name in ("cell", "door_key", "door_colour", "obj_at", "tile")}

    # A pickle (or deepcopy) stores each view as an array of its own, so the restored flat views would no longer
    # alias the grids they were made from: a reset would load the grids while the step read stale copies.
    # Views are therefore never pickled; they are made anew from the restored arrays.
    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        del state["_flat"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._flat = self._flat_views()

    # --- one world's rows ------------------------------------------------------------------------------
    def world_arrays(self) -> tuple[str, ...]:
        """Names of the arrays that hold the worlds' state: every public array attribute, each with the leading
        batch axis (the flat views and the private lookup tables are derived from them or shared by all rows)."""
        return tuple(name for name, value in vars(self).items() if isinstance(value, np.ndarray) and name[0] != "_")

    def copy_world(self, b: int, dst: WorldBatch, row: int = 0) -> None:
        """Copy world ``b`` into row ``row`` of ``dst`` (a batch of the same grid size, object slots, mission and
        facts lengths), in place so that ``dst``'s flat views stay valid; the agent's flat index is moved to ``row``."""
        for name in self.world_arrays():
            getattr(dst, name)[row] = getattr(self, name)[b]
        dst.agent_at[row] = self.agent_at[b] - b * self._cells_per_world + row * dst._cells_per_world

    # --- generation → batch ----------------------------------------------------------------------------
    def load(self, b: int, layout: WorldLayout, shape_index: dict[str, int], colour_index: dict[str, int]) -> None:
        """Copy one generated world into row ``b``."""
        self._check_fits(layout)
        p, n, wp = self.pad, len(layout.objects), self.tile.shape[2]
        inner = (b, slice(p, p + self.height), slice(p, p + self.width))
        self.cell[inner] = layout.cells
        self.door_colour[inner] = layout.door_colour
        self.door_key[inner] = layout.door_key
        # tile of each cell: wall / floor, doors by colour and state, then the objects' sprites
        tile = self._cell_tile[layout.cells, layout.door_colour]
        base, colours = self.tiles.object_base, self.tiles.n_colours  # sprite of an object: TileIndex.object
        sprites = [base + shape_index[o.shape] * colours + colour_index[o.colour] for o in layout.objects]
        self.obj_at[inner] = -1
        if n:
            tile.reshape(-1)[[y * self.width + x for y, x in layout.object_pos]] = sprites
            first = b * self._cells_per_world + p * wp + p  # flat index of the grid's cell (0, 0)
            self._flat["obj_at"][[first + y * wp + x for y, x in layout.object_pos]] = self._slots[:n]
        self.tile[inner] = tile
        # per object slot; slots past the world's objects are empty (sprite 0, not pickable, no outcome)
        empty = [0] * (self.max_objects + 1 - n)
        tables = layout.tables
        self.obj_tile[b] = sprites + empty
        self.pickable[b] = [o.pickable for o in layout.objects] + empty
        self.face[b] = tables.face.tolist() + empty
        self.touch[b] = tables.touch.tolist() + empty
        self.pickup[b] = tables.pickup.tolist() + empty
        self.walkable[b] = tables.walkable.tolist() + empty
        self.use[b] = 0
        self.use[b, :n, :n] = tables.use[:n, :n]
        self.use[b, self.max_objects, :n] = tables.use[n, :n]
        self.wrong_key[b] = tables.wrong_key
        self.done_outcome[b] = tables.done
        y, x = layout.agent_pos
        self.agent_at[b] = b * self._cells_per_world + (y + p) * wp + x + p
        self.agent_dir[b] = layout.agent_dir
        self.carrying[b] = -1
        self.steps[b] = 0
        self.max_steps[b] = layout.max_steps
        self.mission[b] = list(layout.mission_ids) + [0] * (self.mission.shape[1] - len(layout.mission_ids))
        self.facts[b] = layout.fact_ids

    def _check_fits(self, layout: WorldLayout) -> None:
        """A ValueError naming what does not fit when ``layout`` does not fit a row of this batch."""
        h, w = layout.cells.shape
        if (h, w) != (self.height, self.width):
            raise ValueError(f"layout is {h}x{w} but this batch holds {self.height}x{self.width} grids")
        n = len(layout.objects)
        if n > self.max_objects:
            raise ValueError(f"layout has {n} objects, more than max_objects={self.max_objects}")
        if len(layout.mission_ids) > self.mission.shape[1]:
            raise ValueError(
                f"instruction has {len(layout.mission_ids)} tokens but max_mission_len={self.mission.shape[1]}"
            )

    @property
    def agent_y(self) -> np.ndarray:
        return (self.agent_at % self._cells_per_world) // self.tile.shape[2]

    @property
    def agent_x(self) -> np.ndarray:
        return self.agent_at % self.tile.shape[2]

    # --- dynamics --------------------------------------------------------------------------------------
    def step(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Advance every world by one action; returns (reward, terminated, truncated), each of shape (B,)."""
        flat, d, here, carrying = self._flat, self.agent_dir, self.agent_at, self.carrying
        self.steps += 1
        front = here + self._ahead[d]
        front_cell = flat["cell"].take(front)
        front_obj = flat["obj_at"].take(front)
        outcome = np.zeros(self.batch_size, np.int8)
        # the worlds taking each action, from one sort (cheaper than one mask per action at any batch size)
        order = np.argsort(actions, kind="stable")
        groups, start = {}, 0
        for action, count in enumerate(np.bincount(actions, minlength=len(ACTION_NAMES)).tolist()):
            if count:
                groups[action] = order[start : start + count]
                start += count

        if (m := groups.get(FORWARD)) is not None:
            obj = front_obj[m]
            go = m[((obj < 0) | self.walkable[m, obj]) & _PASSABLE[front_cell[m]]]
            here[go] = front[go]
            outcome[m] = self.touch[m, obj]

        if (m := groups.get(PICKUP)) is not None:
            obj = front_obj[m]
            ok = (carrying[m] < 0) & self.pickable[m, obj]
            m, obj = m[ok], obj[ok]
            carrying[m] = obj
            flat["obj_at"][front[m]] = -1
            flat["tile"][front[m]] = self.tiles.FLOOR
            outcome[m] = self.pickup[m, obj]

        if (m := groups.get(DROP)) is not None:
            m = m[(carrying[m] >= 0) & (front_cell[m] == FLOOR) & (front_obj[m] < 0)]
            obj = carrying[m]
            flat["obj_at"][front[m]] = obj
            flat["tile"][front[m]] = self.obj_tile[m, obj]
            carrying[m] = -1

        if (m := groups.get(TOGGLE)) is not None:
            cell, held, where = front_cell[m], carrying[m], front[m]
            key_fits = (held >= 0) & (flat["door_key"][where] == held)
            new_cell = np.where((cell == DOOR_LOCKED) & key_fits, np.int8(DOOR_OPEN), _TOGGLED[cell])
            changed = new_cell != cell
            if changed.any():
                where, state = where[changed], new_cell[changed]
                flat["cell"][where] = state
                colour = flat["door_colour"][where].astype(np.int16)
                flat["tile"][where] = self.tiles.door_base + 3 * colour + (state - DOOR_OPEN)
            outcome[m] = self.use[m, held, front_obj[m]]
            misused = (cell == DOOR_LOCKED) & (held >= 0) & ~key_fits
            if misused.any():
                outcome[m[misused]] = self.wrong_key[m[misused]]

        if (m := groups.get(DONE)) is not None:
            outcome[m] = self.done_outcome[m]

        if (m := groups.get(LEFT)) is not None:
            d[m] = (d[m] - 1) % 4
        if (m := groups.get(RIGHT)) is not None:
            d[m] = (d[m] + 1) % 4

        facing = self.facing()
        outcome = np.where(outcome != NOTHING, outcome, self.face[self._rows, facing])

        terminated = outcome != NOTHING
        reward = np.zeros(self.batch_size, np.float32)
        success = outcome == SUCCESS
        if success.any():
            reward[success] = 1.0 - 0.9 * (self.steps[success] / self.max_steps[success])
        truncated = (self.steps >= self.max_steps) & ~terminated
        return reward, terminated, truncated

    def facing(self) -> np.ndarray:
        """(B,) the slot of the object in the cell in front of each world's agent, -1 where that cell holds none."""
        return self._flat["obj_at"].take(self.agent_at + self._ahead[self.agent_dir])

    # --- observation -----------------------------------------------------------------------------------
    def _ego_index(self) -> np.ndarray:
        """(B, V, V) flat grid index of every cell of each world's egocentric view."""
        index = self._view_flat.take(self.agent_dir, axis=0)
        index += self.agent_at[:, None, None]
        return index

    def _ego_visible(self, ids: np.ndarray) -> np.ndarray:
        """(B, V, V) whether each cell of the views with tile ids ``ids`` is in the agent's line of sight."""
        v = self.view_size
        opaque = pack_view_bits(self.tiles.opaque.take(ids).reshape(self.batch_size, v * v))  # (B,) bit sets
        return self._sight.visible(opaque).reshape(self.batch_size, v, v)

    def ego_tiles(self) -> np.ndarray:
        """(B, V, V) tile ids of each world's egocentric view, agent at the bottom centre facing up."""
        v = self.view_size
        ids = self._flat["tile"].take(self._ego_index(), mode="clip")
        if not self.see_through_walls:
            ids *= self._ego_visible(ids)  # unseen cells become tile 0, UNSEEN
        ids[:, v - 1, v // 2] = self.tiles.agent(3)
        if self.show_carried:  # MiniGrid's way: the carried object drawn in the agent's own cell
            held = self.carrying >= 0
            ids[held, v - 1, v // 2] = self.obj_tile[self._rows[held], self.carrying[held]]
        return ids

    def ego_cells(self) -> np.ndarray:
        """(B, V, V) cell of its own padded grid (``y * (width + 2 * pad) + x``) that each world's agent sees at each
        cell of its egocentric view; -1 out of sight."""
        index = self._ego_index()
        cells = index - (self._rows * self._cells_per_world)[:, None, None]
        if not self.see_through_walls:
            cells[~self._ego_visible(self._flat["tile"].take(index, mode="clip"))] = -1
        return cells

    def ego_slots(self) -> np.ndarray:
        """(B, V, V) object slot seen at each cell of the egocentric views (-1: no object, or out of sight)."""
        index = self._ego_index()
        slots = self._flat["obj_at"].take(index, mode="clip").astype(np.int16)
        if not self.see_through_walls:
            slots[~self._ego_visible(self._flat["tile"].take(index, mode="clip"))] = -1
        return slots
