"""Levels where knowledge is necessary: the rules are redrawn every episode and stated only by the facts.

Each level draws a rule assignment per episode (which weapon defeats which monster, which key opens which door,
what cures what, which creature is dangerous), states it as facts, and compiles its outcome tables from those
same facts. On the test split every kind is a held-out kind and every rule pair a held-out pair, so an agent that
ignores the facts is at chance there; ``benchmarks/knowledge_gap.py`` prints the gap.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from fusiongym.envs.knowledge import Fact
from fusiongym.envs.language import AvoidInstr, BringInstr, DefeatInstr, ObjectDescription, UnlockInstr
from fusiongym.envs.levels import (
    Belief,
    Episode,
    GenerationError,
    Level,
    RoomGrid,
    Subgoal,
    _compositions,
    _kinds_of,
)
from fusiongym.envs.ontology import load_ontology
from fusiongym.envs.vocab import door_token
from fusiongym.envs.world import DOOR_LOCKED, FLOOR, WALL, WorldObject


def held_out_rule(subject: str, obj: str) -> bool:
    """Rule pairs (``goblin weak_to axe``) reserved for the test split: every pair with a held-out kind, and a
    fixed quarter of the pairs of training kinds (by a hash of the names, so the choice never changes)."""
    kinds = load_ontology().kind_by_name
    if any(name in kinds and kinds[name].split == "test" for name in (subject, obj)):
        return True
    return zlib.crc32(f"{subject} {obj}".encode()) % 4 == 0


def sample_rule(
    rng: np.random.Generator, subjects: list[str], objects: list[str], split: str, tries: int = 50
) -> list[str] | None:
    """A distinct object for each subject (a random injection) whose pairs belong to ``split``; ``None`` if none."""
    if len(objects) < len(subjects):
        raise GenerationError(f"{len(subjects)} rule subjects need at least as many objects, got {len(objects)}")
    for _ in range(tries):
        picks = [objects[int(i)] for i in rng.permutation(len(objects))[: len(subjects)]]
        if all(held_out_rule(s, o) == (split == "test") for s, o in zip(subjects, picks)):
            return picks
    return None


def _draw_kinds(rng: np.random.Generator, category: str, split: str, count: int) -> list:
    """``count`` distinct kinds of ``category``: the first always of the split's own kinds. The test split has two
    held-out kinds per category; when a level needs more, the rest are training kinds (their rules with a held-out
    kind are still held out, so nothing about them can have been learnt)."""
    own = list(_kinds_of(category, split))
    extra = list(_kinds_of(category, "train")) if split == "test" else []
    if count > len(own) + len(extra):
        raise GenerationError(f"{count} kinds of {category} asked for; the {split} split has {len(own) + len(extra)}")
    first = [own[int(i)] for i in rng.permutation(len(own))]
    rest = [extra[int(i)] for i in rng.permutation(len(extra))]
    chosen = (first + rest)[:count]
    return [chosen[0]] + [chosen[1:][int(i)] for i in rng.permutation(count - 1)]


@dataclass
class DefeatLevel(Level):
    """Defeat the <monster>: use on it the weapon it is weak to, a per-episode fact."""

    num_distractors: int = 1  # other monsters
    num_weapons: int = 3

    needs_knowledge: ClassVar[bool] = True

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.num_distractors + 1 <= self.num_weapons <= 4:
            raise ValueError(
                f"num_weapons={self.num_weapons} must be between the number of monsters ({self.num_distractors + 1}) "
                "and 4 (the weapons of one split)"
            )

    @property
    def max_objects(self) -> int:
        return self.num_distractors + 1 + self.num_weapons

    def _try_generate(self, rng: np.random.Generator, max_facts: int) -> Episode | None:
        monsters = _draw_kinds(rng, "monster", self.split, self.num_distractors + 1)
        weapons = _draw_kinds(rng, "weapon", self.split, self.num_weapons)
        weak_to = sample_rule(rng, [m.name for m in monsters], [w.name for w in weapons], self.split)
        if weak_to is None:
            return None
        grid = self._new_grid(rng)
        objects, facts = self._kind_objects(rng, monsters + weapons)
        facts += [Fact(m.name, "weak_to", w, True) for m, w in zip(monsters, weak_to)]
        facts += self._ontology_distractor_facts(rng, exclude={k.name for k in monsters + weapons})
        positions = grid.place(rng, len(objects))
        instruction = DefeatInstr(monsters[0].name)
        return self._finish(rng, grid, objects, positions, instruction, facts, max_facts)

    def oracle_subgoal(self, episode: Episode, carrying: int, use_facts: bool, cells: np.ndarray) -> Subgoal:
        belief = Belief(episode, use_facts)
        monster = episode.instruction.monster
        target = belief.slot_of(monster, "monster", "monster")
        weapon_kind = belief.one_of(belief.objects(monster, "weak_to"), "weak_to")
        weapon = belief.slot_of(weapon_kind, "weapon", "weapon", exclude=(target,))
        if carrying >= 0:
            return Subgoal("toggle", [target]) if carrying == weapon else Subgoal("drop")
        return Subgoal("pickup", [weapon])


@dataclass
class UnlockLevel(Level):
    """Reach the <target> behind one of several locked doors; which key opens which door is a per-episode fact."""

    room_size: int = 6
    num_rows: int = 3
    num_cols: int = 3
    num_distractors: int = 0  # objects in the other side rooms
    num_doors: int = 3

    needs_knowledge: ClassVar[bool] = True
    _SIDE_ROOMS: ClassVar[tuple[tuple[int, int], ...]] = ((1, 2), (1, 0), (2, 1), (0, 1))  # E, W, S, N of the centre

    def __post_init__(self) -> None:
        super().__post_init__()
        if (self.num_rows, self.num_cols) != (3, 3):
            raise ValueError("Unlock is laid out as a centre room with side rooms: num_rows and num_cols must be 3")
        if not 2 <= self.num_doors <= 4:
            raise ValueError(f"num_doors={self.num_doors} must be 2 to 4 (one per side of the centre room)")
        if self.num_distractors > self.num_doors - 1:
            raise ValueError(f"num_distractors={self.num_distractors} must be at most num_doors - 1 (one per side room)")

    @property
    def max_objects(self) -> int:
        return self.num_doors + 1 + self.num_distractors

    def _try_generate(self, rng: np.random.Generator, max_facts: int) -> Episode | None:
        onto = self.ontology
        keys = _draw_kinds(rng, "key", self.split, self.num_doors)
        treasures = _draw_kinds(rng, "gem", self.split, 1 + self.num_distractors)
        colours = [onto.colours[int(i)] for i in rng.choice(len(onto.colours), size=self.num_doors, replace=False)]
        opens = sample_rule(rng, [k.name for k in keys], [door_token(c) for c in colours], self.split)
        if opens is None:
            return None
        grid = RoomGrid(self.room_size, 3, 3)
        step = self.room_size - 1
        for r, c in ((0, 0), (0, 2), (2, 0), (2, 2)):  # the corners are solid rock
            grid.cells[r * step : (r + 1) * step + 1, c * step : (c + 1) * step + 1] = WALL
        rooms = [self._SIDE_ROOMS[int(i)] for i in rng.permutation(4)[: self.num_doors]]
        for (r, c), colour in zip(rooms, colours):
            offset = int(rng.integers(1, step))
            y, x = (max(r, 1) * step, step + offset) if c == 1 else (step + offset, max(c, 1) * step)
            grid.cells[y, x] = DOOR_LOCKED
            grid.door_colour[y, x] = onto.colours.index(colour)
            grid.doors.append((y, x))
        objects, facts = self._kind_objects(rng, keys + treasures)
        positions = grid.place(rng, len(keys), rooms=[(1, 1)])
        for treasure_room in rooms[: 1 + self.num_distractors]:
            positions += grid.place(rng, 1, rooms=[treasure_room])
        for slot, door in enumerate(opens):  # the dynamics: each door opens for the key (slot) the facts name
            y, x = grid.doors[colours.index(door.removesuffix("_door"))]
            grid.door_key[y, x] = slot
        facts += [Fact(k.name, "opens", door, True) for k, door in zip(keys, opens)]
        facts += [Fact(t.name, "lies_behind", door_token(colour), True) for t, colour in zip(treasures, colours)]
        facts += self._ontology_distractor_facts(rng, exclude={k.name for k in keys + treasures})
        instruction = UnlockInstr(treasures[0].name)
        return self._finish(
            rng, grid, objects, positions, instruction, facts, max_facts, agent_rooms=[(1, 1)],
            must_reach=positions[: len(keys)] + grid.doors,  # every key, and the front of every door
        )

    def oracle_subgoal(self, episode: Episode, carrying: int, use_facts: bool, cells: np.ndarray) -> Subgoal:
        belief = Belief(episode, use_facts)
        target_kind = episode.instruction.target
        layout = episode.layout
        onto = self.ontology
        doors = {door_token(onto.colours[int(layout.door_colour[y, x])]): (int(y), int(x))
                 for y, x in zip(*np.nonzero(layout.cells == DOOR_LOCKED))}
        door = belief.one_of(belief.objects(target_kind, "lies_behind"), "lies_behind") or sorted(doors)[
            belief.choose(list(range(len(doors))), "door")
        ]
        target = belief.slot_of(target_kind, "gem", "target")
        if door in doors and cells[doors[door]] != DOOR_LOCKED:
            return Subgoal("face", [target])
        key_kind = belief.one_of(belief.subjects("opens", door), "opens")
        key = belief.slot_of(key_kind, "key", "key", exclude=(target,))
        if carrying >= 0 and carrying != key:
            return Subgoal("drop")
        if carrying < 0:
            return Subgoal("pickup", [key])
        return Subgoal("toggle", cells=[doors[door]])


@dataclass
class BringLevel(Level):
    """Bring the cure for <ailment> to the <container>: what cures what is a per-episode fact."""

    num_distractors: int = 1  # other containers
    num_medicines: int = 3

    needs_knowledge: ClassVar[bool] = True

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 2 <= self.num_medicines <= 4:
            raise ValueError(f"num_medicines={self.num_medicines} must be 2 to 4")
        if self.num_distractors > 3:
            raise ValueError(f"num_distractors={self.num_distractors} (other containers) must be at most 3")

    @property
    def max_objects(self) -> int:
        return self.num_distractors + 1 + self.num_medicines

    def _try_generate(self, rng: np.random.Generator, max_facts: int) -> Episode | None:
        onto = self.ontology
        medicines = _draw_kinds(rng, "medicine", self.split, self.num_medicines)
        containers = _draw_kinds(rng, "container", self.split, self.num_distractors + 1)
        ailments = [onto.ailments[int(i)] for i in rng.permutation(len(onto.ailments))]
        cures = sample_rule(rng, [m.name for m in medicines], ailments, self.split)
        if cures is None:
            return None
        grid = self._new_grid(rng)
        objects, facts = self._kind_objects(rng, containers + medicines)
        facts += [Fact(m.name, "cures", a, True) for m, a in zip(medicines, cures)]
        facts += self._ontology_distractor_facts(rng, exclude={k.name for k in medicines + containers})
        positions = grid.place(rng, len(objects))
        ailment = cures[int(rng.integers(len(cures)))]
        instruction = BringInstr(ailment, containers[0].name)
        return self._finish(rng, grid, objects, positions, instruction, facts, max_facts)

    def oracle_subgoal(self, episode: Episode, carrying: int, use_facts: bool, cells: np.ndarray) -> Subgoal:
        belief = Belief(episode, use_facts)
        instruction = episode.instruction
        container = belief.slot_of(instruction.container, "container", "container")
        cure_kind = belief.one_of(belief.subjects("cures", instruction.ailment), "cures")
        cure = belief.slot_of(cure_kind, "medicine", "cure", exclude=(container,))
        if carrying >= 0:
            return Subgoal("toggle", [container]) if carrying == cure else Subgoal("drop")
        return Subgoal("pickup", [cure])


@dataclass
class AvoidLevel(Level):
    """Reach the <colour> <shape> across a wall whose gaps hold creatures; which are dangerous is a fact."""

    room_size: int = 9
    num_distractors: int = 1  # other shapes beyond the wall
    num_crossings: int = 3
    num_harmless: int = 1

    needs_knowledge: ClassVar[bool] = True

    def __post_init__(self) -> None:
        super().__post_init__()
        if (self.num_rows, self.num_cols) != (1, 1):
            raise ValueError("Avoid is one room split by a wall: num_rows and num_cols must be 1")
        if self.room_size < 8:
            raise ValueError(f"room_size={self.room_size} must be at least 8 for a wall with gaps between two halves")
        if not 2 <= self.num_crossings <= self.room_size - 4:
            raise ValueError(f"num_crossings={self.num_crossings} must be 2 to room_size - 4")
        if not 1 <= self.num_harmless < self.num_crossings:
            raise ValueError(f"num_harmless={self.num_harmless} must be at least 1 and less than num_crossings")

    @property
    def max_objects(self) -> int:
        return self.num_crossings + 1 + self.num_distractors

    def _try_generate(self, rng: np.random.Generator, max_facts: int) -> Episode | None:
        onto = self.ontology
        own = list(_kinds_of("animal", self.split) + _kinds_of("monster", self.split))
        extra = list(_kinds_of("animal", "train") + _kinds_of("monster", "train")) if self.split == "test" else []
        if self.num_crossings > len(own) + len(extra):
            raise GenerationError(f"num_crossings={self.num_crossings} exceeds the {len(own) + len(extra)} creature kinds")
        ordered = [own[int(i)] for i in rng.permutation(len(own))] + [extra[int(i)] for i in rng.permutation(len(extra))]
        chosen = ordered[: self.num_crossings]  # held-out kinds first on the test split
        creatures = [chosen[int(i)] for i in rng.permutation(len(chosen))]
        harmless = set(int(i) for i in rng.choice(self.num_crossings, size=self.num_harmless, replace=False))
        grid = RoomGrid(self.room_size, 1, 1)
        wall_row = self.room_size // 2
        grid.cells[wall_row, :] = WALL
        gaps = [1 + int(i) for i in np.sort(rng.choice(self.room_size - 2, size=self.num_crossings, replace=False))]
        for x in gaps:
            grid.cells[wall_row, x] = FLOOR
            grid.doors.append((wall_row, x))  # keeps the cells beside each gap free
            grid.occupied.add((wall_row, x))
        objects, facts = self._kind_objects(rng, creatures)
        facts += [Fact(c.name, "is", "harmless" if i in harmless else "dangerous", True) for i, c in enumerate(creatures)]
        shapes, colours = onto.shapes, onto.colours
        train, test = _compositions(len(shapes), len(colours))
        target_pool = train if self.split == "train" else test
        ts, tc = target_pool[int(rng.integers(len(target_pool)))]
        shapes_beyond = [(shapes[ts], colours[tc])]
        for _ in range(self.num_distractors):
            s, c = train[int(rng.integers(len(train)))]
            if (s, c) != (ts, tc):
                shapes_beyond.append((shapes[s], colours[c]))
        objects += [WorldObject(shape=s, colour=c) for s, c in shapes_beyond]
        step = self.room_size - 1
        beyond = [(y, x) for y in range(wall_row + 1, step) for x in range(1, step)]
        free_beyond = [cell for cell in beyond if cell not in grid.occupied and not grid.next_to_door(*cell)]
        picks = rng.choice(len(free_beyond), size=len(shapes_beyond), replace=False)
        positions = [(wall_row, x) for x in gaps] + [free_beyond[int(i)] for i in picks]
        grid.occupied.update(positions)
        facts += self._ontology_distractor_facts(rng, exclude={c.name for c in creatures})
        instruction = AvoidInstr(ObjectDescription(colour=colours[tc], shape=shapes[ts]))
        above = [(y, x) for y in range(1, wall_row) for x in range(1, step)]
        agent_cells = [cell for cell in above if cell not in grid.occupied and not grid.next_to_door(*cell)]
        walkable = frozenset(positions[: self.num_crossings])
        return self._finish(
            rng, grid, objects, positions, instruction, facts, max_facts, agent_cells=agent_cells, walkable=walkable
        )

    def oracle_subgoal(self, episode: Episode, carrying: int, use_facts: bool, cells: np.ndarray) -> Subgoal:
        if carrying >= 0:
            return Subgoal("drop")
        belief = Belief(episode, use_facts)
        objects = episode.layout.objects
        creatures = [i for i, o in enumerate(objects) if o.kind is not None]
        said = {i: belief.one_of(belief.objects(belief.kinds[i], "is"), f"is {i}") if belief.kinds[i] else None
                for i in creatures}
        safe = [i for i in creatures if said[i] == "harmless"]
        unsure = [i for i in creatures if said[i] is None]
        crossing = safe or unsure or creatures
        walk = belief.choose(crossing, "crossing")
        targets = [i for i, o in enumerate(objects) if o.kind is None and episode.instruction.target.matches(o)]
        return Subgoal("face", targets, walk_over=[walk])

