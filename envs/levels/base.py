"""What every level shares: the :class:`Level` base (its kwargs, generation loop and the helpers that finish an
episode), the :class:`Episode` it generates, the oracle's :class:`Subgoal`, the BabyAI-style :class:`RoomGrid` a
level builds its world in (with the cached cell sets it places objects with), and the kind and composition tables of
the splits that several levels draw from."""

from __future__ import annotations

import functools
import itertools
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from typing import ClassVar

import numpy as np

from fusiongym.envs.knowledge import (
    EpisodeKnowledge,
    Fact,
    appearance_facts,
    apply_knowledge_controls,
    sample_distractors,
    shuffled_facts,
)
from fusiongym.envs.language import SPLITS, Instruction
from fusiongym.envs.ontology import Ontology, load_ontology
from fusiongym.envs.planning import HeadingPlan
from fusiongym.envs.vocab import Vocabulary, get_vocab
from fusiongym.envs.world import (
    DIR_YX,
    DOOR_CLOSED,
    DOOR_OPEN,
    FAILURE,
    FLOOR,
    NOTHING,
    SUCCESS,
    WALL,
    OutcomeTables,
    WorldLayout,
    WorldObject,
)


class GenerationError(RuntimeError):
    """A level could not generate a valid world with its kwargs (too many objects for the rooms, say)."""


@dataclass
class Subgoal:
    """What the oracle does next: reach a cell facing one of ``targets`` (object slots), then ``action``.

    ``action`` is ``"face"`` (facing is the goal), ``"pickup"``, ``"toggle"`` or ``"drop"`` (drop what is carried).
    """

    action: str
    # None, where the belief could name no object, matches no object (and the exploring oracle counts it as seen)
    targets: Sequence[int | None] = field(default_factory=list)
    walk_over: list[int] = field(default_factory=list)  # walkable objects the oracle is willing to step on
    cells: list[tuple[int, int]] = field(default_factory=list)  # grid cells (doors) to face, besides objects


@dataclass
class Episode:
    """Everything one reset generated for one world."""

    layout: WorldLayout
    instruction: Instruction
    knowledge: EpisodeKnowledge  # the true facts: the dynamics were compiled from them
    shown: EpisodeKnowledge  # what the agent is shown: the true facts unless a knowledge control altered them
    mission: str
    split: str
    guess_seed: int  # seeds the oracle's guesses, so they are reproducible
    shuffled_looks: bool = False  # whether kinds were drawn with per-episode appearances
    oracle_memo: dict = field(default_factory=dict, repr=False, compare=False)  # what the oracle planned once


def held_out_composition(shape_index: int, colour_index: int) -> bool:
    """Colour × shape pairs reserved for the test split (one colour per shape, two shapes per colour)."""
    return (shape_index + colour_index) % 6 == 0


@functools.lru_cache(maxsize=64)
def _room_interiors(room_size: int, num_rows: int, num_cols: int) -> dict[tuple[int, int], tuple[tuple[int, int], ...]]:
    step = room_size - 1
    return {
        (r, c): tuple((r * step + y, c * step + x) for y in range(1, room_size - 1) for x in range(1, room_size - 1))
        for r in range(num_rows)
        for c in range(num_cols)
    }


_NEIGHBOURS = ((0, 1), (1, 0), (0, -1), (-1, 0))
_DIR_STEPS: tuple[tuple[int, int], ...] = tuple((int(dy), int(dx)) for dy, dx in DIR_YX)  # (dy, dx) of each direction


@functools.lru_cache(maxsize=256)
def _placeable_cells(
    room_size: int, num_rows: int, num_cols: int, doors: tuple[tuple[int, int], ...]
) -> tuple[tuple[int, int], ...]:
    """Interior cells not in front of a door (or a gap), for a room layout."""
    blocked = {(y + dy, x + dx) for y, x in doors for dy, dx in _NEIGHBOURS}
    interiors = _room_interiors(room_size, num_rows, num_cols)
    return tuple(c for cells in interiors.values() for c in cells if c not in blocked)


@functools.lru_cache(maxsize=1024)
def _placeable_floor(
    room_size: int, num_rows: int, num_cols: int, doors: tuple[tuple[int, int], ...], cells: bytes
) -> tuple[tuple[int, int], ...]:
    """The placeable cells of a layout that are floor, given its int8 cells as row-major bytes."""
    w = num_cols * (room_size - 1) + 1
    return tuple(c for c in _placeable_cells(room_size, num_rows, num_cols, doors) if cells[c[0] * w + c[1]] == FLOOR)


#: Whether the agent may stand on each cell code: floor and unlocked doors.
_STANDABLE = np.array([True, False, True, True, False])


@functools.lru_cache(maxsize=1024)
def _standable_bits(cells: bytes) -> int:
    """Bit ``y * w + x`` set for each standable cell of int8 cells given as row-major bytes."""
    standable = _STANDABLE[np.frombuffer(cells, np.int8)]
    return int.from_bytes(np.packbits(standable, bitorder="little").tobytes(), "little")


@functools.lru_cache(maxsize=64)
def _empty_grid(room_size: int, num_rows: int, num_cols: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cells (walls around and between the rooms, no doors), door colours and door keys of a room grid; the
    grid copies them, so these stay untouched."""
    step = room_size - 1
    cells = np.full((num_rows * step + 1, num_cols * step + 1), FLOOR, np.int8)
    cells[::step, :] = WALL
    cells[:, ::step] = WALL
    return cells, np.zeros_like(cells), np.full_like(cells, -1)


class RoomGrid:
    """A BabyAI-style grid of rooms with shared walls, filled in by a level."""

    def __init__(self, room_size: int, num_rows: int, num_cols: int) -> None:
        self.room_size, self.num_rows, self.num_cols = room_size, num_rows, num_cols
        step = room_size - 1
        self.height, self.width = num_rows * step + 1, num_cols * step + 1
        cells, door_colour, door_key = _empty_grid(room_size, num_rows, num_cols)
        self.cells, self.door_colour, self.door_key = cells.copy(), door_colour.copy(), door_key.copy()
        self.occupied: set[tuple[int, int]] = set()
        self.doors: list[tuple[int, int]] = []
        self._interiors = _room_interiors(room_size, num_rows, num_cols)

    def room_interior(self, row: int, col: int) -> tuple[tuple[int, int], ...]:
        """The cells inside room (``row``, ``col``), walls excluded."""
        return self._interiors[(row, col)]

    def connect(self, rng: np.random.Generator, n_colours: int, closed_prob: float = 0.5) -> None:
        """Doors along a random spanning tree of the rooms, so every room is reachable."""
        if self.num_rows * self.num_cols == 1:
            return
        step = self.room_size - 1
        start = (int(rng.integers(self.num_rows)), int(rng.integers(self.num_cols)))
        seen, stack = {start}, [start]
        while stack:
            r, c = stack[-1]
            options = [
                (r + dr, c + dc)
                for dr, dc in _NEIGHBOURS
                if 0 <= r + dr < self.num_rows and 0 <= c + dc < self.num_cols and (r + dr, c + dc) not in seen
            ]
            if not options:
                stack.pop()
                continue
            nr, nc = options[int(rng.integers(len(options)))]
            offset = int(rng.integers(1, self.room_size - 1))
            if nr != r:  # horizontal wall between vertically adjacent rooms
                y, x = max(r, nr) * step, c * step + offset
            else:
                y, x = r * step + offset, max(c, nc) * step
            self.cells[y, x] = DOOR_CLOSED if rng.random() < closed_prob else DOOR_OPEN
            self.door_colour[y, x] = int(rng.integers(n_colours))
            self.doors.append((y, x))
            seen.add((nr, nc))
            stack.append((nr, nc))

    def next_to_door(self, y: int, x: int) -> bool:
        """Whether cell (``y``, ``x``) touches a door (or a gap kept free as one)."""
        doors = self.doors
        return bool(doors) and any((y + dy, x + dx) in doors for dy, dx in _NEIGHBOURS)

    def place(
        self, rng: np.random.Generator, count: int, rooms: list[tuple[int, int]] | None = None
    ) -> list[tuple[int, int]]:
        """``count`` distinct free cells drawn uniformly from ``rooms`` (default: all), not in front of doors or
        gaps, and now occupied."""
        free: Sequence[tuple[int, int]] = _placeable_floor(self.room_size, self.num_rows, self.num_cols,
                                                           tuple(self.doors), self.cells.tobytes())
        if self.occupied:
            free = list(itertools.filterfalse(self.occupied.__contains__, free))
        if rooms is not None:
            allowed = {c for r in rooms for c in self._interiors[r]}
            free = [cell for cell in free if cell in allowed]
        if count > len(free):
            raise GenerationError(f"{count} objects do not fit in {len(free)} free cells: use fewer or larger rooms")
        chosen = [free[i] for i in rng.choice(len(free), size=count, replace=False).tolist()]
        self.occupied.update(chosen)
        return chosen

    def reachable_mask(self, start: tuple[int, int], walkable: frozenset = frozenset()) -> int:
        """Bit ``y * width + x`` set for each cell the agent can stand on from ``start`` (objects block unless
        ``walkable``; unlocked doors pass): a flood fill of the grid as one integer bit set."""
        w = self.width
        free = _standable_bits(self.cells.tobytes())
        for y, x in self.occupied - walkable:
            free &= ~(1 << (y * w + x))
        reach = 1 << (start[0] * w + start[1])
        while True:  # the outer wall keeps every shift inside the grid's rows
            grown = reach | ((reach << 1 | reach >> 1 | reach << w | reach >> w) & free)
            if grown == reach:
                return reach
            reach = grown

    def reachable_from(self, start: tuple[int, int], walkable: frozenset = frozenset()) -> set[tuple[int, int]]:
        """Cells the agent can stand on from ``start`` (objects block unless ``walkable``; unlocked doors pass)."""
        reach, w = self.reachable_mask(start, walkable), self.width
        return {divmod(cell, w) for cell in range(self.height * w) if reach >> cell & 1}

    def all_reachable(
        self, start: tuple[int, int], positions: list[tuple[int, int]], walkable: frozenset = frozenset()
    ) -> bool:
        """Whether the agent can stand next to every position.

        Rooms are rectangles at least 3 cells wide inside and nothing stands in front of a door, so only an
        8-connected chain of objects can cut a region off: when no two objects touch, even diagonally, every
        free cell is reachable and the search is skipped.
        """
        if not walkable and not any(
            abs(y1 - y2) <= 1 and abs(x1 - x2) <= 1 and (y1, x1) != (y2, x2)
            for (y1, x1), (y2, x2) in itertools.combinations(positions, 2)
        ):
            return True  # no two objects touch, even diagonally
        reach, h, w = self.reachable_mask(start, walkable), self.height, self.width
        return all(
            any(0 <= y + dy < h and 0 <= x + dx < w and reach >> ((y + dy) * w + x + dx) & 1 for dy, dx in _NEIGHBOURS)
            for y, x in positions
        )


@dataclass
class Level(ABC):
    """Common kwargs of every level. Subclasses add their own fields (each one a ``gym.make`` kwarg)."""

    split: str = "train"
    room_size: int = 8
    num_rows: int = 1
    num_cols: int = 1
    num_distractors: int = 3
    distractor_facts: int = 0
    max_steps: int | None = None
    shuffle_appearance: bool = False
    drop_facts: int = 0
    corrupt_facts: int = 0
    contradict_facts: int = 0

    needs_knowledge: ClassVar[bool] = False
    uses_kinds: ClassVar[bool] = True  # whether objects are ontology kinds (shuffle_appearance needs them)

    def __post_init__(self) -> None:
        if self.split not in SPLITS:
            raise ValueError(f"split={self.split!r} is not a split: choose one of {SPLITS}")
        if not 5 <= self.room_size <= 16:
            raise ValueError(f"room_size={self.room_size} is out of range: choose 5 to 16 (walls included)")
        for name in ("num_rows", "num_cols"):
            if not 1 <= getattr(self, name) <= 3:
                raise ValueError(f"{name}={getattr(self, name)} is out of range: choose 1 to 3 rooms")
        for name in ("num_distractors", "distractor_facts", "drop_facts", "corrupt_facts", "contradict_facts"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name}={getattr(self, name)} must be >= 0")
        if self.shuffle_appearance and not self.uses_kinds:
            raise ValueError(
                f"shuffle_appearance: {type(self).__name__}'s objects are plain shapes, not ontology kinds, so there "
                "is no appearance to shuffle; use it with the levels whose objects are kinds (Fetch, Defeat, Unlock, "
                "Bring, Avoid)"
            )
        if self.max_steps is not None and self.max_steps < 1:
            raise ValueError(f"max_steps={self.max_steps} must be a positive integer (or None for the default)")

    @classmethod
    def kwarg_names(cls) -> tuple[str, ...]:
        """The level's ``gym.make`` kwargs: its dataclass fields."""
        return tuple(f.name for f in fields(cls))

    @property
    def grid_shape(self) -> tuple[int, int]:
        """(height, width) of the grid in cells, outer walls included."""
        step = self.room_size - 1
        return self.num_rows * step + 1, self.num_cols * step + 1

    @property
    def max_objects(self) -> int:
        """Object slots a world of this level needs."""
        return self.num_distractors + 1

    @property
    def episode_steps(self) -> int:
        """The time limit: ``max_steps`` or 2 × room_size² per room."""
        return self.max_steps or 2 * self.room_size**2 * self.num_rows * self.num_cols

    @property
    def ontology(self) -> Ontology:
        """The shipped ontology (kinds, categories, looks)."""
        return load_ontology()

    @property
    def vocab(self) -> Vocabulary:
        """The suite vocabulary missions and facts are encoded with."""
        return get_vocab()

    def generate(self, rng: np.random.Generator, max_facts: int) -> Episode:
        """One episode for one world, drawn with ``rng`` (the world's ``np_random``)."""
        for _ in range(100):
            episode = self._try_generate(rng, max_facts)
            if episode is not None:
                return episode
        raise GenerationError(f"{type(self).__name__} failed to generate a solvable world in 100 tries: {self}")

    @abstractmethod
    def _try_generate(self, rng: np.random.Generator, max_facts: int) -> Episode | None:
        """One attempt; ``None`` when the drawn world is unusable (the caller draws again)."""

    @abstractmethod
    def oracle_subgoal(self, episode: Episode, carrying: int, use_facts: bool, cells: np.ndarray) -> Subgoal:
        """The oracle's next subgoal given what the agent carries (object slot or -1) and the grid's cells now."""

    # --- helpers for subclasses ------------------------------------------------------------------------
    def _finish(
        self,
        rng: np.random.Generator,
        grid: RoomGrid,
        objects: list[WorldObject],
        positions: list[tuple[int, int]],
        instruction: Instruction,
        facts: list[Fact],
        max_facts: int,
        agent_rooms: list[tuple[int, int]] | None = None,
        agent_cells: list[tuple[int, int]] | None = None,
        must_reach: list[tuple[int, int]] | None = None,
        walkable: frozenset = frozenset(),
    ) -> Episode | None:
        """Place the agent (in ``agent_rooms`` or on one of ``agent_cells``), compile the instruction, and package
        the episode (``None`` if unusable). ``must_reach`` (default: every object) must be reachable from the
        agent, stepping on ``walkable`` cells."""
        if agent_cells is not None:
            free = [cell for cell in agent_cells if cell not in grid.occupied]
            agent = free[int(rng.integers(len(free)))]
            grid.occupied.add(agent)
        else:
            (agent,) = grid.place(rng, 1, agent_rooms)
        agent_dir = int(rng.integers(4))
        if not grid.all_reachable(agent, positions if must_reach is None else must_reach, walkable):
            return None
        knowledge = EpisodeKnowledge(shuffled_facts(facts, rng))
        shown = apply_knowledge_controls(knowledge, rng, self.drop_facts, self.corrupt_facts, self.contradict_facts)
        tables = OutcomeTables(len(objects))
        instruction.compile(objects, knowledge, tables)
        dy, dx = _DIR_STEPS[agent_dir]
        front = (agent[0] + dy, agent[1] + dx)
        if front in positions and tables.face[positions.index(front)] != NOTHING:
            return None  # would succeed (or fail) before acting
        plan = self._heading_plan(grid, positions, tables) if (tables.face == FAILURE).any() else None
        if plan is not None and not plan[1].solvable_from(*agent, agent_dir):
            return None  # every way to the target passes in front of an object that must not be faced
        mission, mission_ids = instruction.sample_render(rng, self.split, self.vocab)
        layout = WorldLayout(
            cells=grid.cells,
            door_colour=grid.door_colour,
            door_key=grid.door_key,
            objects=objects,
            object_pos=positions,
            agent_pos=agent,
            agent_dir=agent_dir,
            tables=tables,
            mission_ids=mission_ids,
            fact_ids=shown.ids(self.vocab, max_facts),
            max_steps=self.episode_steps,
        )
        episode = Episode(
            layout, instruction, knowledge, shown, mission, self.split, int(rng.integers(2**31)),
            self.shuffle_appearance,
        )
        if plan is not None:
            episode.oracle_memo["heading_plan"] = plan
        return episode

    @staticmethod
    def _heading_plan(grid: RoomGrid, positions: list[tuple[int, int]],
                      tables: OutcomeTables) -> tuple[tuple, HeadingPlan]:
        """How to come to face a target object without ever facing one whose ``face`` fails, keyed as the oracle
        keys it (carrying nothing, the targets' cells), so that the oracle reuses it for the episode."""
        passable = np.isin(grid.cells, (FLOOR, DOOR_OPEN, DOOR_CLOSED))
        for y, x in positions:
            passable[y, x] = False
        targets = {p for p, outcome in zip(positions, tables.face, strict=True) if outcome == SUCCESS}
        forbidden = {p for p, outcome in zip(positions, tables.face, strict=True) if outcome == FAILURE}
        return (-1, tuple(sorted(targets))), HeadingPlan(passable, targets, forbidden)

    def _looks(self, rng: np.random.Generator, kinds: list) -> list[tuple[str, str]]:
        """(shape, colour) of each kind: the ontology's, or with ``shuffle_appearance`` a fresh distinct draw."""
        if not self.shuffle_appearance:
            return [(k.shape, k.colour) for k in kinds]
        onto = self.ontology
        train, test = compositions(len(onto.shapes), len(onto.colours))
        pool = train if self.split == "train" else train + test
        picks = rng.choice(len(pool), size=len(kinds), replace=False)
        return [(onto.shapes[pool[int(i)][0]], onto.colours[pool[int(i)][1]]) for i in picks]

    def _kind_objects(self, rng: np.random.Generator, kinds: list,
                      relevant: bool = True) -> tuple[list[WorldObject], list[Fact]]:
        """Objects for ``kinds`` drawn with their looks, and the facts that state each kind's look and category."""
        objects: list[WorldObject] = []
        facts: list[Fact] = []
        for kind, (shape, colour) in zip(kinds, self._looks(rng, kinds), strict=True):
            obj, stated = _kind_object(kind.name, kind.category, kind.pickable, shape, colour, relevant)
            objects.append(obj)
            facts += stated
        return objects, facts

    def _new_grid(self, rng: np.random.Generator) -> RoomGrid:
        grid = RoomGrid(self.room_size, self.num_rows, self.num_cols)
        grid.connect(rng, len(self.ontology.colours))
        return grid

    def _ontology_distractor_facts(self, rng: np.random.Generator, exclude: set[str]) -> list[Fact]:
        """True facts about kinds of this split that are not in the episode (noise the agent must ignore)."""
        if self.distractor_facts == 0:
            return []
        pool = [f for f in _ontology_facts(self.split) if f.subject not in exclude]
        return sample_distractors(pool, self.distractor_facts, rng)

    def _kind_in_split(self, kind_split: str) -> bool:
        return kind_split == "train" if self.split == "train" else kind_split == "test"


@functools.lru_cache(maxsize=4096)
def _kind_object(
    name: str, category: str, pickable: bool, shape: str, colour: str, relevant: bool
) -> tuple[WorldObject, tuple[Fact, ...]]:
    """A kind's object with a look, and the facts stating its category and look (both immutable, so shared)."""
    obj = WorldObject(shape=shape, colour=colour, kind=name, pickable=pickable)
    return obj, (Fact(name, "is_a", category, relevant), *appearance_facts(name, shape, colour, relevant))


@functools.lru_cache(maxsize=64)
def kinds_of(category: str, split: str) -> tuple:
    """The kinds of ``category`` a split uses (training kinds in train, held-out kinds in test)."""
    return tuple(load_ontology().kinds_in(category, split))


@functools.lru_cache(maxsize=4)
def compositions(n_shapes: int, n_colours: int) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """(training, held-out) shape × colour index pairs."""
    pairs = [(s, c) for s in range(n_shapes) for c in range(n_colours)]
    return [p for p in pairs if not held_out_composition(*p)], [p for p in pairs if held_out_composition(*p)]


@functools.lru_cache(maxsize=2)
def _ontology_facts(split: str) -> tuple[Fact, ...]:
    """The ontology's facts about the kinds a split uses: category and appearance of each."""
    wanted = "train" if split == "train" else "test"
    return tuple(
        fact
        for kind in load_ontology().kinds
        if kind.split == wanted
        for fact in [Fact(kind.name, "is_a", kind.category),
                     *appearance_facts(kind.name, kind.shape, kind.colour, False)]
    )
