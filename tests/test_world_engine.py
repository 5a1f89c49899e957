"""The batched step's mechanics, on hand-built worlds: movement, doors, keys, carrying, outcomes, time limits, sight."""

from __future__ import annotations

import numpy as np
import pytest

from fusiongym.envs.world import (
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
    SUCCESS,
    TOGGLE,
    WALL,
    OutcomeTables,
    TileIndex,
    WorldBatch,
    WorldLayout,
    WorldObject,
)

SHAPES = {"ball": 0, "square": 1}
COLOURS = {"red": 0, "blue": 1}


def make_layout(**overrides) -> WorldLayout:
    """A 7x7 room (5x5 inside), agent at (3, 1) facing east, a red ball at (3, 4) and a blue square at (1, 1)."""
    cells = np.full((7, 7), FLOOR, np.int8)
    cells[0, :] = cells[-1, :] = cells[:, 0] = cells[:, -1] = WALL
    objects = [WorldObject("ball", "red"), WorldObject("square", "blue")]
    tables = OutcomeTables(len(objects))
    fields = dict(
        cells=cells,
        door_colour=np.zeros((7, 7), np.int8),
        door_key=np.full((7, 7), -1, np.int8),
        objects=objects,
        object_pos=[(3, 4), (1, 1)],
        agent_pos=(3, 1),
        agent_dir=0,
        tables=tables,
        mission_ids=[5, 6],
        fact_ids=np.zeros((4, 3), np.int64),
        max_steps=50,
    )
    fields.update(overrides)
    return WorldLayout(**fields)


def make_batch(layouts: list[WorldLayout], see_through_walls: bool = False, show_carried: bool = False) -> WorldBatch:
    batch = WorldBatch(len(layouts), 7, 7, max_objects=3, mission_len=4, max_facts=4, tiles=TileIndex(2, 2),
                       see_through_walls=see_through_walls, show_carried=show_carried)
    for b, layout in enumerate(layouts):
        batch.load(b, layout, SHAPES, COLOURS)
    return batch


def pos(batch: WorldBatch, b: int = 0) -> tuple[int, int]:
    return int(batch.agent_y[b]) - batch.pad, int(batch.agent_x[b]) - batch.pad


def act(batch: WorldBatch, *actions: int):
    return batch.step(np.array(actions))


def test_forward_moves_until_blocked_by_an_object() -> None:
    batch = make_batch([make_layout()])
    act(batch, FORWARD)
    act(batch, FORWARD)
    assert pos(batch) == (3, 3)
    act(batch, FORWARD)  # the ball is in front: blocked
    assert pos(batch) == (3, 3)


def test_turns_cycle_directions_and_walls_block() -> None:
    batch = make_batch([make_layout()])
    act(batch, LEFT)
    assert batch.agent_dir[0] == 3  # north
    for _ in range(5):
        act(batch, FORWARD)
    assert pos(batch) == (1, 1) or pos(batch) == (2, 1)  # the square at (1, 1) or the wall stops it
    act(batch, RIGHT)
    act(batch, RIGHT)
    act(batch, RIGHT)
    act(batch, RIGHT)
    assert batch.agent_dir[0] == 3


def test_pickup_carry_one_drop_elsewhere() -> None:
    batch = make_batch([make_layout(agent_pos=(3, 3))])
    act(batch, PICKUP)
    assert batch.carrying[0] == 0 and batch.obj_at[0, 3 + batch.pad, 4 + batch.pad] == -1
    act(batch, PICKUP)  # already carrying: nothing happens
    assert batch.carrying[0] == 0
    act(batch, LEFT)
    act(batch, DROP)  # drops at (2, 3)
    assert batch.carrying[0] == -1 and batch.obj_at[0, 2 + batch.pad, 3 + batch.pad] == 0
    act(batch, DROP)  # nothing carried: nothing happens
    assert batch.obj_at[0, 2 + batch.pad, 3 + batch.pad] == 0


def test_the_view_shows_what_is_carried_only_with_show_carried() -> None:
    v, tiles = 7, TileIndex(2, 2)
    ball = tiles.object(SHAPES["ball"], COLOURS["red"])
    layouts = [make_layout(agent_pos=(3, 3)), make_layout(agent_pos=(3, 2))]  # world 1 faces the floor
    for show in (False, True):
        batch = make_batch(layouts, show_carried=show)
        act(batch, PICKUP, PICKUP)
        assert list(batch.carrying) == [0, -1]
        cell = batch.ego_tiles()[:, v - 1, v // 2]
        assert cell[0] == (ball if show else tiles.agent(3))  # the red ball in hand, drawn where the agent is
        assert cell[1] == tiles.agent(3)  # empty hands: the agent
        act(batch, DROP, DROP)
        assert list(batch.ego_tiles()[:, v - 1, v // 2]) == [tiles.agent(3)] * 2


def test_cannot_pick_up_unpickable_objects() -> None:
    objects = [WorldObject("ball", "red", pickable=False), WorldObject("square", "blue")]
    batch = make_batch([make_layout(agent_pos=(3, 3), objects=objects)])
    act(batch, PICKUP)
    assert batch.carrying[0] == -1


def test_doors_open_close_and_locked_needs_its_key() -> None:
    cells = make_layout().cells.copy()
    cells[3, 4] = DOOR_LOCKED
    door_key = np.full((7, 7), -1, np.int8)
    door_key[3, 4] = 1  # the blue square opens it
    layout = make_layout(cells=cells, door_key=door_key, object_pos=[(5, 5), (3, 2)], agent_pos=(3, 3))
    batch = make_batch([layout])
    p = batch.pad
    act(batch, TOGGLE)
    assert batch.cell[0, 3 + p, 4 + p] == DOOR_LOCKED  # no key
    act(batch, FORWARD)
    assert pos(batch) == (3, 3)  # locked doors block
    act(batch, LEFT)
    act(batch, LEFT)
    act(batch, PICKUP)  # the square (the key) behind the agent
    assert batch.carrying[0] == 1
    act(batch, RIGHT)
    act(batch, RIGHT)
    act(batch, TOGGLE)
    assert batch.cell[0, 3 + p, 4 + p] == DOOR_OPEN
    act(batch, TOGGLE)
    assert batch.cell[0, 3 + p, 4 + p] == DOOR_CLOSED
    act(batch, TOGGLE)
    act(batch, FORWARD)
    assert pos(batch) == (3, 4)


def test_wrong_key_does_not_open() -> None:
    cells = make_layout().cells.copy()
    cells[3, 4] = DOOR_LOCKED
    door_key = np.full((7, 7), -1, np.int8)
    door_key[3, 4] = 1
    batch = make_batch([make_layout(cells=cells, door_key=door_key, object_pos=[(3, 2), (5, 5)], agent_pos=(3, 3))])
    act(batch, LEFT)
    act(batch, LEFT)
    act(batch, PICKUP)  # the red ball, slot 0: not the key
    act(batch, LEFT)
    act(batch, LEFT)
    act(batch, TOGGLE)
    assert batch.cell[0, 3 + batch.pad, 4 + batch.pad] == DOOR_LOCKED


@pytest.mark.parametrize(
    "table, actions, expected",
    [
        ("face", [FORWARD, FORWARD], SUCCESS),  # facing the ball after the second step
        ("touch", [FORWARD, FORWARD, FORWARD], FAILURE),  # walking into it
        ("pickup", [FORWARD, FORWARD, PICKUP], SUCCESS),
    ],
)
def test_outcome_tables_end_episodes(table: str, actions: list[int], expected: int) -> None:
    tables = OutcomeTables(2)
    getattr(tables, table)[0] = expected
    batch = make_batch([make_layout(tables=tables)])
    results = [act(batch, a) for a in actions]
    reward, terminated, truncated = results[-1]
    assert terminated[0] and not truncated[0]
    assert all(not r[1][0] for r in results[:-1])
    steps = len(actions)
    assert reward[0] == pytest.approx((1 - 0.9 * steps / 50) if expected == SUCCESS else 0.0)


def test_use_table_reads_what_is_carried() -> None:
    tables = OutcomeTables(2)
    tables.use[1, 0] = SUCCESS  # toggling the ball while carrying the square wins
    tables.use[2, 0] = FAILURE  # toggling it empty-handed loses
    layout = make_layout(tables=tables, object_pos=[(3, 4), (3, 2)], agent_pos=(3, 3))
    empty, armed = make_batch([layout, layout]), None
    _, terminated, _ = act(empty, TOGGLE, DONE)
    assert terminated[0] and not terminated[1]
    armed = make_batch([layout])
    act(armed, LEFT)
    act(armed, LEFT)
    act(armed, PICKUP)
    act(armed, RIGHT)
    act(armed, RIGHT)
    reward, terminated, _ = act(armed, TOGGLE)
    assert terminated[0] and reward[0] > 0


def test_time_limit_truncates_not_terminates() -> None:
    batch = make_batch([make_layout(max_steps=3)])
    for t in range(3):
        _, terminated, truncated = act(batch, LEFT)
        assert not terminated[0]
        assert truncated[0] == (t == 2)


def test_worlds_in_a_batch_are_independent() -> None:
    batch = make_batch([make_layout(), make_layout(agent_pos=(1, 3), agent_dir=1)])
    act(batch, FORWARD, LEFT)
    assert pos(batch, 0) == (3, 2) and pos(batch, 1) == (1, 3) and batch.agent_dir[1] == 0


def test_walls_and_closed_doors_occlude() -> None:
    cells = make_layout().cells.copy()
    cells[1:6, 3] = WALL  # a wall across the room in front of the agent
    cells[3, 3] = DOOR_CLOSED
    layout = make_layout(cells=cells, object_pos=[(3, 5), (1, 1)], agent_pos=(3, 2))
    tiles = TileIndex(2, 2)
    v = 7
    blind = make_batch([layout]).ego_tiles()[0]
    seeing = make_batch([layout], see_through_walls=True).ego_tiles()[0]
    ball = tiles.object(SHAPES["ball"], COLOURS["red"])
    # facing east: the ball is 3 ahead (view row 3), straight on (view col 3), behind the closed door
    assert seeing[v - 1 - 3, v // 2] == ball
    assert blind[v - 1 - 3, v // 2] == tiles.UNSEEN
    assert blind[v - 1 - 1, v // 2] == tiles.door(0, DOOR_CLOSED)  # the door itself is seen
    batch = make_batch([layout])
    act(batch, TOGGLE)  # open it: now the ball shows
    assert batch.ego_tiles()[0][v - 1 - 3, v // 2] == ball


def test_view_slots_name_the_objects_the_view_shows_and_hide_the_occluded() -> None:
    cells = make_layout().cells.copy()
    cells[1:6, 3] = WALL
    cells[3, 3] = DOOR_CLOSED
    layout = make_layout(cells=cells, object_pos=[(3, 5), (2, 2)], agent_pos=(3, 2))
    v = 7
    for see_through in (False, True):
        batch = make_batch([layout], see_through_walls=see_through)
        slots, tiles = batch.ego_slots()[0], batch.ego_tiles()[0]
        # facing east from (3, 2): the square at (2, 2) is 0 ahead, 1 left; the ball 3 ahead behind the door
        assert slots[v - 1, v // 2 - 1] == 1
        assert slots[v - 1 - 3, v // 2] == (0 if see_through else -1)
        shown = {(int(y), int(x)) for y, x in zip(*np.nonzero(slots >= 0), strict=True)}
        objects = {(int(y), int(x)) for y, x in zip(*np.nonzero(tiles >= batch.tiles.object_base), strict=True)
                   if tiles[y, x] < batch.tiles.agent_base}
        assert shown == objects


def test_agent_drawn_at_bottom_centre() -> None:
    tiles = TileIndex(2, 2)
    ids = make_batch([make_layout()]).ego_tiles()[0]
    assert ids[6, 3] == tiles.agent(3)


def test_walkable_objects_can_be_stepped_on_and_touch_applies() -> None:
    tables = OutcomeTables(2)
    tables.walkable[0] = True  # the ball at (3, 4)
    batch = make_batch([make_layout(tables=tables)])
    for _ in range(3):
        act(batch, FORWARD)
    assert pos(batch) == (3, 4)  # standing on the ball's cell
    tables = OutcomeTables(2)
    tables.walkable[0] = True
    tables.touch[0] = FAILURE
    batch = make_batch([make_layout(tables=tables)])
    act(batch, FORWARD)
    act(batch, FORWARD)
    _, terminated, _ = act(batch, FORWARD)
    assert terminated[0] and pos(batch) == (3, 4)


def test_wrong_key_outcome() -> None:
    cells = make_layout().cells.copy()
    cells[3, 4] = DOOR_LOCKED
    door_key = np.full((7, 7), -1, np.int8)
    door_key[3, 4] = 1
    tables = OutcomeTables(2, wrong_key=FAILURE)
    batch = make_batch([make_layout(cells=cells, door_key=door_key, object_pos=[(3, 2), (5, 5)], agent_pos=(3, 3),
                                    tables=tables)])
    act(batch, LEFT)
    act(batch, LEFT)
    act(batch, PICKUP)  # slot 0: not the key
    act(batch, LEFT)
    act(batch, LEFT)
    reward, terminated, _ = act(batch, TOGGLE)
    assert terminated[0] and reward[0] == 0.0
