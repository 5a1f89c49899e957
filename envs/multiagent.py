"""Multi-agent fusiongym: PettingZoo envs on the batched world engine.

Two envs, each a batched core (``*Batch``: B worlds as arrays, advanced by :class:`~fusiongym.envs.world.WorldBatch`)
and its PettingZoo faces — the Parallel env is the batch of one, the AEC env is the Parallel env in turns
(PettingZoo's ``parallel_to_aec``), and a batched core of B worlds is what a trainer steps directly
(``benchmarks/multiagent_baseline.py`` does, through a small Stable-Baselines3 adapter):

* :class:`GuideFollowerEnv` — a guide that sees the whole map, the instruction and the facts, but cannot move,
  tells a follower that sees only its egocentric pixels what to do, in tokens of the suite vocabulary.
* :class:`KnowledgeSplitEnv` — two embodied agents in one world, each holding one hop of a two-hop rule
  (one the categories of the kinds, the other their looks); each must pick up the object the other can identify.

Module constructors in PettingZoo's convention (``env()``, ``parallel_env()``, ``raw_env``) live in
:mod:`fusiongym.envs.multiagent_guide_follower` and :mod:`fusiongym.envs.multiagent_knowledge_split`; the ids are
registered with PettingZoo by :mod:`fusiongym.envs.multiagent_registration` when ``fusiongym`` is imported.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
from fusiongym.envs.core import (
    ENV_KWARGS,
    InvalidActionError,
    Simulation,
    tile_atlas,
    check_action,
)
from fusiongym.envs.knowledge import EpisodeKnowledge
from fusiongym.envs.knowledge_levels import (
    AvoidLevel,
    BringLevel,
    DefeatLevel,
    UnlockLevel,
)
from fusiongym.envs.language import PickupCategoryInstr
from fusiongym.envs.levels import (
    Episode,
    FetchLevel,
    GoToLevel,
    Level,
    RoomGrid,
    Subgoal,
)
from fusiongym.envs.oracle import oracle_action
from fusiongym.envs.rendering import text_panel
from fusiongym.envs.vocab import get_vocab
from fusiongym.envs.world import (
    ACTION_NAMES,
    DONE,
    DOOR_CLOSED,
    DOOR_OPEN,
    DX,
    DY,
    FAILURE,
    FLOOR,
    FORWARD,
    NOTHING,
    PICKUP,
    RIGHT,
    SUCCESS,
    TOGGLE,
    OutcomeTables,
    WorldBatch,
)
from gymnasium.utils import seeding
from pettingzoo import ParallelEnv
from pettingzoo.utils.conversions import parallel_to_aec_wrapper

#: The single-agent levels a GuideFollower can be built on (its ``level`` kwarg).
LEVELS: dict[str, type[Level]] = {
    "GoTo": GoToLevel,
    "Fetch": FetchLevel,
    "Defeat": DefeatLevel,
    "Unlock": UnlockLevel,
    "Bring": BringLevel,
    "Avoid": AvoidLevel,
}
NUM_ACTIONS = len(ACTION_NAMES)
MAX_MESSAGE_LEN = 16


# --- kwargs ------------------------------------------------------------------------------------------------
def _split_kwargs(name: str, level_class: type[Level], own: dict[str, Any], kwargs: dict[str, Any]):
    """(level kwargs, env kwargs, own kwargs); unknown names raise a TypeError listing every allowed one."""
    level_names = set(level_class.kwarg_names())
    allowed = level_names | set(ENV_KWARGS) | set(own) | {"render_mode"}
    unknown = sorted(set(kwargs) - allowed)
    if unknown:
        raise TypeError(f"{name} got unknown kwargs {unknown}; allowed kwargs are: {', '.join(sorted(allowed))}")
    level_kwargs = {k: v for k, v in kwargs.items() if k in level_names}
    env_kwargs = {**ENV_KWARGS, **{k: v for k, v in kwargs.items() if k in ENV_KWARGS}}
    own_kwargs = {**own, **{k: v for k, v in kwargs.items() if k in own}}
    return level_kwargs, env_kwargs, own_kwargs


def _positive_int(name: str, value: Any, high: int | None = None) -> int:
    ok = isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value >= 1
    if not ok or (high is not None and value > high):
        bound = f"1 to {high}" if high is not None else "a positive integer"
        raise ValueError(f"{name}={value!r} must be {bound}")
    return int(value)


def message_alphabet(message_tokens: Any) -> np.ndarray:
    """Vocabulary ids a speaker can say: index 0 is always "no token" (id 0); ``None`` allows the whole vocabulary."""
    vocab = get_vocab()
    if message_tokens is None:
        return np.arange(vocab.size, dtype=np.int64)
    if isinstance(message_tokens, str):
        message_tokens = message_tokens.split()
    ids = []
    for token in message_tokens:
        if token not in vocab or vocab.id(token) == 0:
            raise ValueError(
                f"message_tokens: {token!r} is not a token of the suite vocabulary (fusiongym.envs.vocab.get_vocab()); "
                f"pass vocabulary tokens such as {' '.join(ACTION_NAMES)}, or None for the whole vocabulary"
            )
        ids.append(vocab.id(token))
    if not ids or len(set(ids)) != len(ids):
        raise ValueError(f"message_tokens={message_tokens!r} must be a non-empty list of distinct vocabulary tokens")
    return np.array([0] + ids, dtype=np.int64)


def _check_message(action: Any, who: str, length: int, alphabet_size: int, offset: int = 0) -> np.ndarray:
    allowed = (
        f"{who}'s action is {offset + length} integers: "
        + ("the move (0..6: " + ", ".join(f"{i} {a}" for i, a in enumerate(ACTION_NAMES)) + ") then " if offset else "")
        + f"{length} message token indices in 0..{alphabet_size - 1} (0 = no token; index i says env.message_tokens[i])"
    )
    try:
        arr = np.asarray(action)
    except Exception:  # noqa: BLE001 - anything that is not array-like
        raise InvalidActionError(f"action {action!r} is not an integer array; the {allowed}") from None
    if arr.shape != (offset + length,) or not np.issubdtype(arr.dtype, np.integer):
        raise InvalidActionError(f"action {action!r} has shape {arr.shape} and dtype {arr.dtype}; the {allowed}")
    if offset and not 0 <= arr[0] < NUM_ACTIONS:
        raise InvalidActionError(f"move {arr[0]} is out of range; the {allowed}")
    tokens = arr[offset:]
    if tokens.size and (tokens.min() < 0 or tokens.max() >= alphabet_size):
        raise InvalidActionError(f"message {tokens.tolist()} has a token index out of range; the {allowed}")
    return arr.astype(np.int64)


def _message_space(length: int) -> gym.spaces.Box:
    return gym.spaces.Box(0, get_vocab().size - 1, (length,), np.int64)


def _decode(ids: np.ndarray) -> str:
    return get_vocab().decode([int(i) for i in ids])


class _Planner:
    """A stand-in level for :func:`~fusiongym.envs.oracle.oracle_action`: it plans towards a given subgoal."""

    def __init__(self, subgoal: Subgoal) -> None:
        self.subgoal = subgoal

    def oracle_subgoal(self, episode, carrying, use_facts, cells) -> Subgoal:
        return self.subgoal


# --- GuideFollower -----------------------------------------------------------------------------------------
class GuideFollowerBatch:
    """B GuideFollower worlds: a single-agent level's :class:`Simulation` whose agent is the follower, plus the
    guide's map view and the message each follower holds. See :class:`GuideFollowerEnv` for the spec."""

    agents: ClassVar[tuple[str, str]] = ("guide", "follower")
    OWN_KWARGS: ClassVar[dict[str, Any]] = {
        "level": "Fetch",
        "message_len": 4,
        "message_tokens": None,
        "map_tile_size": 8,
        "zero_messages": False,
    }

    def __init__(self, num_worlds: int, **kwargs: Any) -> None:
        kwargs.pop("render_mode", None)
        level_name = kwargs.get("level", "Fetch")
        if level_name not in LEVELS:
            raise ValueError(f"level={level_name!r} is not a fusiongym level; choose one of {sorted(LEVELS)}")
        level_class = LEVELS[level_name]
        level_kwargs, env_kwargs, own = _split_kwargs("GuideFollower", level_class, self.OWN_KWARGS, kwargs)
        self.level = level_class(**level_kwargs)
        self.level_name = level_name
        self.message_len = _positive_int("message_len", own["message_len"], MAX_MESSAGE_LEN)
        map_tile_size = _positive_int("map_tile_size", own["map_tile_size"], 32)
        self.alphabet = message_alphabet(own["message_tokens"])
        self.zero_messages = bool(own["zero_messages"])
        self.sim = Simulation(self.level, int(num_worlds), env_kwargs)
        self.num_worlds = int(num_worlds)
        self.map_atlas = tile_atlas(map_tile_size)
        vocab = get_vocab()
        height, width = self.level.grid_shape
        base = self.sim.observation_space
        self.observation_spaces = {
            "guide": gym.spaces.Dict(
                {
                    "image": gym.spaces.Box(0, 255, (height * map_tile_size, width * map_tile_size, 3), np.uint8),
                    "mission": base["mission"],
                    "facts": base["facts"],
                }
            ),
            "follower": gym.spaces.Dict(
                {"image": base["image"], "message": _message_space(self.message_len)}
            ),
        }
        self.action_spaces = {
            "guide": gym.spaces.MultiDiscrete(np.full(self.message_len, len(self.alphabet), dtype=np.int64)),
            "follower": gym.spaces.Discrete(NUM_ACTIONS),
        }
        self.message = np.zeros((self.num_worlds, self.message_len), np.int64)  # vocab ids the follower holds
        self._action_of_id = np.full(vocab.size, DONE, np.int64)  # what an obedient follower does on hearing an id
        self._is_action = np.zeros(vocab.size, bool)
        for a, name in enumerate(ACTION_NAMES):
            self._action_of_id[vocab.id(name)] = a
            self._is_action[vocab.id(name)] = True
        self._index_of_id = np.full(vocab.size, -1, np.int64)
        self._index_of_id[self.alphabet] = np.arange(len(self.alphabet))
        self._scratch: WorldBatch | None = None

    @property
    def batch(self) -> WorldBatch:
        return self.sim.batch

    def reset_world(self, b: int, rng: np.random.Generator) -> None:
        self.sim.reset_world(b, rng)
        self.message[b] = 0

    def map_tiles(self) -> np.ndarray:
        """(B, H, W) tile ids of the whole grid of every world, the follower drawn facing its direction."""
        batch, p = self.batch, self.batch.pad
        tiles = batch.tile[:, p : p + batch.height, p : p + batch.width].copy()
        rows = np.arange(self.num_worlds)
        tiles[rows, batch.agent_y - p, batch.agent_x - p] = batch.tiles.agent_base + batch.agent_dir
        return tiles

    def observe(self) -> dict[str, dict[str, np.ndarray]]:
        obs = self.sim.observation()
        return {
            "guide": {"image": self.map_atlas.ego_image(self.map_tiles()), "mission": obs["mission"], "facts": obs["facts"]},
            "follower": {"image": obs["image"], "message": self.message.copy()},
        }

    def step(self, actions: dict[str, np.ndarray]):
        """``actions["guide"]``: (B, k) token indices; ``actions["follower"]``: (B,) moves.
        Returns (reward, terminated, truncated, success), each (B,)."""
        said = self.alphabet[np.asarray(actions["guide"], np.int64)]
        reward, terminated, truncated = self.batch.step(np.asarray(actions["follower"], np.int64))
        self.message[:] = 0 if self.zero_messages else said
        return reward, terminated, truncated, terminated & (reward > 0)

    # --- scripted pair ---------------------------------------------------------------------------------
    def obedient_actions(self, message: np.ndarray) -> np.ndarray:
        """(B,) what a follower that obeys does: the first action name in its (B, k) message, else ``done``."""
        named = self._is_action[message]
        first = message[np.arange(len(message)), named.argmax(axis=1)]
        return np.where(named.any(axis=1), self._action_of_id[first], DONE)

    def oracle_guide_actions(self, use_facts: bool = True) -> np.ndarray:
        """(B, k) guide actions: the oracle's next action name, for the state the follower will act in.

        The follower hears a message one step after it is said, so the guide plans one step ahead: it applies the
        move an obedient follower makes on the message it holds now to a copy of the world, and names the oracle's
        action there."""
        missing = [a for a in ACTION_NAMES if self._index_of_id[get_vocab().id(a)] < 0]
        if missing:
            raise ValueError(f"the oracle guide says action names, but message_tokens lacks {missing}")
        batch = self.batch
        if self._scratch is None:
            self._scratch = WorldBatch(
                1, batch.height, batch.width, batch.max_objects, batch.mission.shape[1], batch.facts.shape[1],
                batch.tiles, batch.view_size, batch.see_through_walls, batch.show_carried,
            )
        pending = self.obedient_actions(self.message)
        out = np.zeros((self.num_worlds, self.message_len), np.int64)
        for b in range(self.num_worlds):
            batch.copy_world(b, self._scratch)
            self._scratch.step(pending[b : b + 1])
            a = oracle_action(self._scratch, 0, self.level, self.sim.episodes[b], use_facts)
            out[b, 0] = self._index_of_id[get_vocab().id(ACTION_NAMES[a])]
        return out


# --- KnowledgeSplit ----------------------------------------------------------------------------------------
@dataclass
class PairEpisode(Episode):
    """A Fetch episode for two agents: the level's agent is ``agent_0``; these fields add ``agent_1``."""

    partner_pos: tuple[int, int] = (0, 0)
    partner_dir: int = 0
    partner_instruction: PickupCategoryInstr | None = None
    partner_mission: str = ""
    partner_mission_ids: list[int] = dataclasses.field(default_factory=list)
    partner_pickup: np.ndarray | None = None  # pickup outcome table of agent_1, per object slot


@dataclass
class PairFetchLevel(FetchLevel):
    """Fetch for two: the level's target category is ``agent_0``'s; ``agent_1`` is asked for the category of another
    object and placed on a free cell reachable from ``agent_0``. ``num_distractors`` counts the objects besides the
    two targets. Two object slots past the objects are kept for the agents' bodies."""

    num_distractors: int = 2

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.num_distractors + 2 > len(self.fetchable_categories):
            raise ValueError(
                f"num_distractors={self.num_distractors} is too many: the two targets and the distractors each need "
                f"their own category, and there are {len(self.fetchable_categories)}; use at most "
                f"{len(self.fetchable_categories) - 2}"
            )
        # the single-agent Fetch level that generates the world: one more distractor, whose category is agent_1's
        fetch = {f.name: getattr(self, f.name) for f in dataclasses.fields(FetchLevel)}
        self._fetch = FetchLevel(**{**fetch, "num_distractors": self.num_distractors + 1})

    @property
    def max_objects(self) -> int:
        return self.num_distractors + 2 + 2  # the objects, then the two bodies

    def _try_generate(self, rng: np.random.Generator, max_facts: int) -> Episode | None:
        episode = self._fetch._try_generate(rng, max_facts)
        if episode is None:
            return None
        layout = episode.layout
        objects, knowledge = layout.objects, episode.knowledge
        category = {o.kind: knowledge.objects(o.kind, "is_a")[0] for o in objects}
        others = sorted({category[o.kind] for o in objects} - {episode.instruction.category})
        partner_category = others[int(rng.integers(len(others)))]
        grid = RoomGrid(self.room_size, self.num_rows, self.num_cols)
        grid.cells = layout.cells.copy()
        grid.doors = [tuple(int(v) for v in c) for c in np.argwhere((layout.cells == DOOR_OPEN) | (layout.cells == DOOR_CLOSED))]
        grid.occupied = set(layout.object_pos) | {layout.agent_pos}
        reachable = grid.reachable_from(layout.agent_pos)
        free = sorted(
            c for c in reachable
            if c not in grid.occupied and grid.cells[c] == FLOOR and not grid.next_to_door(*c)
        )
        if not free:
            return None
        partner_pos = free[int(rng.integers(len(free)))]
        instruction = PickupCategoryInstr(partner_category)
        tables = OutcomeTables(len(objects))
        instruction.compile(objects, knowledge, tables)
        mission, mission_ids = instruction.sample_render(rng, self.split, self.vocab)
        fields = {f.name: getattr(episode, f.name) for f in dataclasses.fields(Episode)}
        return PairEpisode(
            **fields,
            partner_pos=partner_pos,
            partner_dir=int(rng.integers(4)),
            partner_instruction=instruction,
            partner_mission=mission,
            partner_mission_ids=mission_ids,
            partner_pickup=tables.pickup.copy(),
        )


#: Which agent holds which facts: agent_0 the categories, agent_1 the looks.
FACT_HOLDER = {"is_a": 0, "has_shape": 1, "has_colour": 1}


def split_facts(knowledge: EpisodeKnowledge) -> tuple[EpisodeKnowledge, EpisodeKnowledge]:
    """The two halves of an episode's facts: ``is_a`` facts to agent_0, ``has_shape``/``has_colour`` to agent_1
    (any other relation alternates between them), each in the order shown."""
    halves: tuple[list, list] = ([], [])
    other = 0
    for fact in knowledge.facts:
        holder = FACT_HOLDER.get(fact.relation)
        if holder is None:
            holder, other = other, 1 - other
        halves[holder].append(fact)
    return EpisodeKnowledge(halves[0]), EpisodeKnowledge(halves[1])


class KnowledgeSplitBatch:
    """B KnowledgeSplit worlds: one :class:`WorldBatch` row per world and per-agent position, direction, carried
    object, pickup table, mission, facts and inbox. See :class:`KnowledgeSplitEnv` for the spec."""

    agents: ClassVar[tuple[str, str]] = ("agent_0", "agent_1")
    OWN_KWARGS: ClassVar[dict[str, Any]] = {"message_len": 4, "message_tokens": None, "zero_messages": False}

    def __init__(self, num_worlds: int, **kwargs: Any) -> None:
        kwargs.pop("render_mode", None)
        level_kwargs, env_kwargs, own = _split_kwargs("KnowledgeSplit", PairFetchLevel, self.OWN_KWARGS, kwargs)
        self.level = PairFetchLevel(**level_kwargs)
        self.message_len = _positive_int("message_len", own["message_len"], MAX_MESSAGE_LEN)
        self.alphabet = message_alphabet(own["message_tokens"])
        self.zero_messages = bool(own["zero_messages"])
        self.num_worlds = b = int(num_worlds)
        self.sim = Simulation(self.level, b, env_kwargs)
        batch = self.sim.batch
        m = batch.max_objects
        self.body_slot = np.array([m - 2, m - 1], np.int64)
        self.pos = np.zeros((b, 2), np.int64)
        self.dir = np.zeros((b, 2), np.int64)
        self.carrying = np.full((b, 2), -1, np.int64)
        self.pickup = np.zeros((b, 2, m + 1), np.int8)
        self.mission = np.zeros((b, 2, batch.mission.shape[1]), np.int64)
        self.facts = np.zeros((b, 2, batch.facts.shape[1], 3), np.int64)
        self.inbox = np.zeros((b, 2, self.message_len), np.int64)  # inbox[:, i]: what agent i was told last step
        self.missions: list[list[str]] = [["", ""] for _ in range(b)]
        self.fact_sentences: list[list[list[str]]] = [[[], []] for _ in range(b)]
        self._rows = np.arange(b)
        wp = batch.tile.shape[2]
        self._ahead = DY * wp + DX
        self._under: tuple[np.ndarray, np.ndarray] | None = None
        base = self.sim.observation_space
        space = gym.spaces.Dict(
            {
                "image": base["image"],
                "mission": base["mission"],
                "facts": base["facts"],
                "message": _message_space(self.message_len),
            }
        )
        self.observation_spaces = {agent: space for agent in self.agents}
        nvec = np.array([NUM_ACTIONS] + [len(self.alphabet)] * self.message_len, np.int64)
        self.action_spaces = {agent: gym.spaces.MultiDiscrete(nvec) for agent in self.agents}

    @property
    def _obj(self) -> np.ndarray:
        """The batch's flat object-slot grid (a view looked up each time, so it survives pickling)."""
        return self.sim.batch._flat["obj_at"]

    @property
    def _tile(self) -> np.ndarray:
        """The batch's flat tile grid (a view looked up each time, so it survives pickling)."""
        return self.sim.batch._flat["tile"]

    @property
    def batch(self) -> WorldBatch:
        return self.sim.batch

    @property
    def episodes(self) -> list[PairEpisode]:
        return self.sim.episodes  # type: ignore[return-value]

    def reset_world(self, b: int, rng: np.random.Generator) -> None:
        self.sim.reset_world(b, rng)
        batch, episode = self.batch, self.sim.episodes[b]
        assert isinstance(episode, PairEpisode)
        p, wp = batch.pad, batch.tile.shape[2]
        self.pos[b, 0], self.dir[b, 0] = batch.agent_at[b], batch.agent_dir[b]
        y, x = episode.partner_pos
        self.pos[b, 1] = b * batch.tile.shape[1] * wp + (y + p) * wp + x + p
        self.dir[b, 1] = episode.partner_dir
        self.carrying[b] = -1
        n = len(episode.layout.objects)
        self.pickup[b] = NOTHING
        self.pickup[b, 0] = batch.pickup[b]
        self.pickup[b, 1, :n] = episode.partner_pickup
        self.mission[b] = 0
        self.mission[b, 0] = batch.mission[b]
        self.mission[b, 1, : len(episode.partner_mission_ids)] = episode.partner_mission_ids
        halves = split_facts(episode.shown)
        vocab, max_facts = get_vocab(), batch.facts.shape[1]
        for i, half in enumerate(halves):
            self.facts[b, i] = half.ids(vocab, max_facts)
            self.fact_sentences[b][i] = half.sentences(vocab)
        self.missions[b] = [episode.mission, episode.partner_mission]
        self.inbox[b] = 0

    # --- two agents in one WorldBatch: swap one in, the other stands as a body -------------------------
    def _enter(self, i: int, relative_sprite: bool = True) -> None:
        """Load agent ``i`` into the batch's agent fields and stand agent ``1 - i`` in the grid as a body: an
        object slot that is neither pickable nor walkable and drawn as the agent sprite (heading relative to
        agent ``i``'s view when ``relative_sprite``, else absolute)."""
        j, batch = 1 - i, self.batch
        batch.agent_at[:] = self.pos[:, i]
        batch.agent_dir[:] = self.dir[:, i]
        batch.carrying[:] = self.carrying[:, i]
        batch.pickup[:] = self.pickup[:, i]
        where = self.pos[:, j]
        self._under = (self._obj[where].copy(), self._tile[where].copy())
        heading = (self.dir[:, j] - self.dir[:, i] + 3) % 4 if relative_sprite else self.dir[:, j]
        self._obj[where] = self.body_slot[j]
        self._tile[where] = batch.tiles.agent_base + heading

    def _leave(self, i: int) -> None:
        j, batch = 1 - i, self.batch
        self.pos[:, i], self.dir[:, i], self.carrying[:, i] = batch.agent_at, batch.agent_dir, batch.carrying
        where = self.pos[:, j]
        self._obj[where], self._tile[where] = self._under
        self._under = None

    def observe(self) -> dict[str, dict[str, np.ndarray]]:
        views = []
        for i in range(2):
            self._enter(i)
            views.append(self.sim.atlas.ego_image(self.batch.ego_tiles()))
            self._leave(i)
        return {
            agent: {
                "image": views[i],
                "mission": self.mission[:, i].copy(),
                "facts": self.facts[:, i].copy(),
                "message": self.inbox[:, i].copy(),
            }
            for i, agent in enumerate(self.agents)
        }

    def step(self, actions: dict[str, np.ndarray]):
        """``actions[agent]``: (B, 1 + k) — the move, then k token indices. Agent_0 moves first, then agent_1.
        Returns (reward, terminated, truncated, success), each (B,)."""
        batch = self.batch
        steps = batch.steps.copy()
        outcome = np.zeros((self.num_worlds, 2), np.int8)
        acts = [np.asarray(actions[agent], np.int64).reshape(self.num_worlds, -1) for agent in self.agents]
        for i in range(2):
            self._enter(i, relative_sprite=False)
            move = acts[i][:, 0].copy()
            front = batch.agent_at + self._ahead[batch.agent_dir]
            move[(move == TOGGLE) & (self._obj[front] == self.body_slot[1 - i])] = DONE  # no door shuts on an agent
            batch.steps[:] = steps  # one env step is one engine step for each agent: the clock ticks once
            reward, terminated, _ = batch.step(move)
            outcome[:, i] = np.where(terminated, np.where(reward > 0, SUCCESS, FAILURE), NOTHING)
            self._leave(i)
        failed = (outcome == FAILURE).any(axis=1)
        holds = [self.pickup[self._rows, i, self.carrying[:, i]] == SUCCESS for i in range(2)]
        success = holds[0] & holds[1] & ~failed
        terminated = failed | success
        truncated = (batch.steps >= batch.max_steps) & ~terminated
        reward = np.where(success, 1.0 - 0.9 * batch.steps / batch.max_steps, 0.0).astype(np.float32)
        if self.zero_messages:
            self.inbox[:] = 0
        else:
            self.inbox[:, 1] = self.alphabet[acts[0][:, 1:]]
            self.inbox[:, 0] = self.alphabet[acts[1][:, 1:]]
        return reward, terminated, truncated, success

    def map_tiles(self, b: int) -> np.ndarray:
        """(H, W) tile ids of world ``b`` seen from above, both agents drawn."""
        batch, p = self.batch, self.batch.pad
        tiles = batch.tile[b, p : p + batch.height, p : p + batch.width].copy()
        wp = batch.tile.shape[2]
        for i in range(2):
            y, x = divmod(int(self.pos[b, i]) % (batch.tile.shape[1] * wp), wp)
            tiles[y - p, x - p] = batch.tiles.agent_base + self.dir[b, i]
        return tiles

    # --- scripted pair ---------------------------------------------------------------------------------
    def plan(self, i: int, targets: list[list[int] | None], see_other: bool = True) -> np.ndarray:
        """(B,) agent ``i``'s next move towards picking up one of ``targets[b]`` (object slots; ``None``: wait),
        by the oracle's path finder; the other agent blocks the way unless ``see_other=False``."""
        moves = np.full(self.num_worlds, DONE, np.int64)
        self._enter(i, relative_sprite=False)
        if not see_other:  # take the body out again: plan as if the other were not there
            where = self.pos[:, 1 - i]
            self._obj[where], self._tile[where] = self._under
        try:
            for b, slots in enumerate(targets):
                if slots:
                    moves[b] = oracle_action(self.batch, b, _Planner(Subgoal("pickup", slots)), self.sim.episodes[b], True)
        finally:
            self._leave(i)
        return moves

    def front(self, i: int) -> np.ndarray:
        """(B,) flat index of the cell in front of agent ``i``."""
        return self.pos[:, i] + self._ahead[self.dir[:, i]]

    def free(self, where: np.ndarray) -> np.ndarray:
        """(B,) whether each flat cell can be stepped onto: floor or an open door, no object, no agent."""
        cell = self.batch.cell.reshape(-1)[where]
        return ((cell == FLOOR) | (cell == DOOR_OPEN)) & (self._obj[where] < 0) & (where != self.pos[:, 0]) & (
            where != self.pos[:, 1]
        )


class ScriptedSplitPair:
    """Two scripted agents for KnowledgeSplit: each reads only its own observation (mission, facts, inbox) and
    tells the other what it needs; the path finder is the oracle's.

    * agent_0 (holds the categories) says ``[k0, answer]``: ``k0`` is the kind of its own category (whose look it
      needs), ``answer`` the kind of the category agent_1 asked for.
    * agent_1 (holds the looks) says ``[c1, colour, shape]``: ``c1`` is its own category, then the look of the kind
      agent_0 asked about.

    An agent that knows its target's look walks to it and picks it up. One that has heard nothing useful after
    ``patience`` steps (messages zeroed) guesses among the objects it cannot rule out, by the episode's seed.
    """

    def __init__(self, core: KnowledgeSplitBatch, patience: int = 3) -> None:
        vocab = get_vocab()
        onto = core.level.ontology
        self.core, self.patience, self.vocab = core, patience, vocab
        self.categories = {vocab.id(c) for c in onto.categories}
        self.kinds = {vocab.id(k.name) for k in onto.kinds}
        self.is_a, self.shape, self.colour = vocab.id("is_a"), vocab.id("has_shape"), vocab.id("has_colour")
        self.shape_name = {vocab.id(s): s for s in onto.shapes}
        self.colour_name = {vocab.id(c): c for c in onto.colours}
        self._index_of_id = np.full(vocab.size, -1, np.int64)
        self._index_of_id[core.alphabet] = np.arange(len(core.alphabet))

    def _say(self, ids: list[int]) -> np.ndarray:
        k = self.core.message_len
        out = np.zeros(k, np.int64)
        idx = [int(self._index_of_id[i]) for i in ids[:k]]
        out[: len(idx)] = [max(v, 0) for v in idx]
        return out

    def actions(self, observations: dict[str, dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
        """(B, 1 + k) actions per agent, from batched observations."""
        core = self.core
        steps = core.batch.steps
        targets: list[list] = [[], []]
        words: list[list] = [[], []]
        for b in range(core.num_worlds):
            o0 = {k: v[b] for k, v in observations["agent_0"].items()}
            o1 = {k: v[b] for k, v in observations["agent_1"].items()}
            own0 = self._category(o0["mission"])
            kind_of = {int(o): int(s) for s, r, o in o0["facts"] if r == self.is_a}  # category id -> kind id
            k0 = kind_of.get(own0, 0)
            asked = int(o0["message"][0]) if o0["message"][0] in self.categories else 0
            words[0].append([k0, kind_of.get(asked, 0)])
            own1 = self._category(o1["mission"])
            looks: dict[int, dict[int, int]] = {}
            for s, r, o in o1["facts"]:
                if r in (self.shape, self.colour):
                    looks.setdefault(int(s), {})[int(r)] = int(o)
            about = int(o1["message"][0]) if o1["message"][0] in self.kinds else 0
            look = looks.get(about, {})
            words[1].append([own1, look.get(self.colour, 0), look.get(self.shape, 0)])
            # targets: agent_0 by the look agent_1 told it; agent_1 by the kind agent_0 named and its own look facts
            told = (int(o0["message"][1]), int(o0["message"][2])) if len(o0["message"]) > 2 else (0, 0)
            targets[0].append(self._slots_by_look(b, told) or self._guess(b, 0, steps[b]))
            named = int(o1["message"][1]) if len(o1["message"]) > 1 and o1["message"][1] in self.kinds else 0
            mine = looks.get(named, {})
            look1 = (mine.get(self.colour, 0), mine.get(self.shape, 0))
            targets[1].append(self._slots_by_look(b, look1) or self._guess(b, 1, steps[b]))
        moves = self._moves(targets)
        return {
            agent: np.stack([np.concatenate([[moves[i][b]], self._say(words[i][b])]) for b in range(core.num_worlds)])
            for i, agent in enumerate(core.agents)
        }

    def _moves(self, targets: list[list]) -> list[np.ndarray]:
        """Right of way: agent_0 plans as if agent_1 were not there and waits when agent_1 stands in front of it;
        agent_1 plans around agent_0 and, when it has no way (or stands in agent_0's), steps aside; an idle
        agent_0 steps aside while agent_1 has no way."""
        core = self.core
        move0 = core.plan(0, targets[0], see_other=False)
        blocked0 = (move0 == FORWARD) & (core.front(0) == core.pos[:, 1])
        move0[blocked0] = DONE
        move1 = core.plan(1, targets[1])
        stuck1 = (move1 == DONE) & np.array([bool(t) for t in targets[1]])
        in_way = (blocked0 | stuck1) & (move1 != PICKUP)
        aside = np.where(core.free(core.front(1)), FORWARD, RIGHT)
        move1[in_way] = aside[in_way]
        idle0 = stuck1 & (move0 == DONE) & ~blocked0  # agent_0 has nothing to do but may stand in agent_1's way
        aside = np.where(core.free(core.front(0)), FORWARD, RIGHT)
        move0[idle0] = aside[idle0]
        return [move0, move1]

    def _category(self, mission: np.ndarray) -> int:
        return next((int(t) for t in mission if t in self.categories), 0)

    def _slots_by_look(self, b: int, look: tuple[int, int]) -> list[int] | None:
        colour, shape = self.colour_name.get(look[0]), self.shape_name.get(look[1])
        if colour is None or shape is None:
            return None
        objects = self.core.sim.episodes[b].layout.objects
        slots = [s for s, o in enumerate(objects) if (o.colour, o.shape) == (colour, shape)]
        return slots or None

    def _guess(self, b: int, i: int, step: int) -> list[int] | None:
        if step < self.patience:
            return None  # wait for an answer
        episode = self.core.sim.episodes[b]
        on_map = {int(s) for s in np.unique(self.core.batch.obj_at[b]) if 0 <= s < len(episode.layout.objects)}
        options = sorted(on_map)
        if not options:
            return None
        rng = np.random.default_rng([episode.guess_seed, i])
        return [options[int(rng.integers(len(options)))]]


# --- PettingZoo faces --------------------------------------------------------------------------------------
class FusionParallelEnv(ParallelEnv):
    """Base of the multi-agent envs: the PettingZoo Parallel face of a batched core of one world."""

    metadata: ClassVar[dict[str, Any]] = {"render_modes": ["rgb_array"], "render_fps": 8, "is_parallelizable": True}
    core_class: ClassVar[type]

    def __init__(self, render_mode: str | None = None, **kwargs: Any) -> None:
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(
                f"render_mode={render_mode!r} is not supported; choose one of {self.metadata['render_modes']} or None"
            )
        self.render_mode = render_mode
        self.core = self.core_class(1, **kwargs)
        self.possible_agents = list(self.core.agents)
        self.agents: list[str] = []
        self._np_random: np.random.Generator | None = None
        self._np_random_seed: int | None = None
        self._last_obs: dict[str, dict] = {}

    # --- spaces ----------------------------------------------------------------------------------------
    def observation_space(self, agent: str) -> gym.spaces.Dict:
        return self.core.observation_spaces[self._known(agent)]

    def action_space(self, agent: str) -> gym.spaces.Space:
        return self.core.action_spaces[self._known(agent)]

    def _known(self, agent: str) -> str:
        if agent not in self.core.observation_spaces:
            raise KeyError(f"{agent!r} is not an agent of {type(self).__name__}; the agents are {self.possible_agents}")
        return agent

    @property
    def message_tokens(self) -> list[str]:
        """What each message token index says (index 0: no token)."""
        vocab = get_vocab()
        return [""] + [vocab.token(int(i)) for i in self.core.alphabet[1:]]

    @property
    def np_random(self) -> np.random.Generator:
        if self._np_random is None:
            self._np_random, self._np_random_seed = seeding.np_random()
        return self._np_random

    # --- Parallel API ----------------------------------------------------------------------------------
    def reset(self, seed: int | None = None, options: dict | None = None):
        if seed is not None:
            self._np_random, self._np_random_seed = seeding.np_random(seed)
        self.core.reset_world(0, self.np_random)
        self.agents = list(self.possible_agents)
        obs = self._observations()
        return obs, self._infos()

    def step(self, actions: dict[str, Any]):
        if not self.agents:
            raise gym.error.ResetNeeded("the episode is over (or never began): call reset() before step()")
        missing = [a for a in self.agents if a not in actions]
        unknown = [a for a in actions if a not in self.agents]
        if missing or unknown:
            raise KeyError(
                f"step() needs one action for each live agent {self.agents}; "
                + (f"missing {missing}" if missing else f"got actions for {unknown}")
            )
        batched = {agent: np.asarray(self._check(agent, actions[agent]))[None] for agent in self.agents}
        reward, terminated, truncated, success = self.core.step(batched)
        obs = self._observations()
        infos = self._infos()
        for info in infos.values():
            info["success"] = bool(success[0])
        r, term, trunc = float(reward[0]), bool(terminated[0]), bool(truncated[0])
        agents = self.agents
        if term or trunc:
            self.agents = []
        return (
            obs,
            {a: r for a in agents},
            {a: term for a in agents},
            {a: trunc for a in agents},
            infos,
        )

    def close(self) -> None:
        pass

    def _observations(self) -> dict[str, dict[str, np.ndarray]]:
        batched = self.core.observe()
        return {agent: {k: v[0] for k, v in batched[agent].items()} for agent in self.possible_agents}

    def _check(self, agent: str, action: Any):
        raise NotImplementedError


class GuideFollowerEnv(FusionParallelEnv):
    """A guide that sees everything but cannot move tells a follower that sees only its own view what to do.

    ## Description
    A single-agent fusiongym level (``level="Fetch"`` by default; any of GoTo, Fetch, Defeat, Unlock, Bring, Avoid)
    generates the world, the instruction and the facts; its agent is the **follower**. The **guide** sees the whole
    map, the instruction and the facts, and speaks; the follower sees only its egocentric pixels and what the guide
    said, and acts. The world, its dynamics, its oracle and its splits are the level's.

    ## Agents
    ``possible_agents = ["guide", "follower"]``. Both act every step (simultaneous moves); both leave together
    when the episode ends.

    ## Observation
    ``guide``: ``Dict(image=Box(0, 255, (H*m, W*m, 3), uint8), mission=Box(0, V-1, (16,), int64),
    facts=Box(0, V-1, (32, 3), int64))`` — the top-down RGB of the whole grid (H×W cells of ``map_tile_size`` m px;
    the follower drawn as the agent sprite pointing where it faces), the instruction and the facts as
    suite-vocabulary ids (V = 192), as in the single-agent envs.
    ``follower``: ``Dict(image=Box(0, 255, (56, 56, 3), uint8), message=Box(0, V-1, (k,), int64))`` — the egocentric
    view (the level's, 7×7 tiles of 8 px) and the k vocabulary ids the guide said at the previous step (0 = no token;
    all zero at reset).

    ## Actions
    ``guide``: ``MultiDiscrete([A] * k)``, k = ``message_len`` token indices; index i says ``message_tokens[i]``
    (``env.message_tokens``; index 0 is no token). By default A = V and index i is vocabulary id i.
    ``follower``: ``Discrete(7)``, MiniGrid's actions (left, right, forward, pickup, drop, toggle, done).
    Anything else raises ``InvalidActionError`` naming what is allowed.

    ## Messages
    What the guide says at step t is in the follower's observation returned by step t, so the follower acts on it
    at step t + 1 (one step of delay, as with any simultaneous move). The suite vocabulary holds the action names
    ``left right forward pickup drop toggle done`` and ``turn stop yes no here there``, besides every object, kind,
    colour, shape and relation token. ``zero_messages=True`` delivers every message as all zeros (the ablation).

    ## Rewards
    Shared: both agents get the level's reward, ``1 - 0.9 * steps / max_steps`` on success, else 0.

    ## Termination
    The level's: ``terminated`` on success or failure (as the level defines them), ``truncated`` at its ``max_steps``.
    ``infos[agent]["success"]`` says whether the episode was won.

    ## Knowledge
    The level's facts, shown to the guide only. The follower knows nothing but what it sees and hears.

    ## Splits
    ``split="train" | "test"`` is passed to the level: the test split holds out its kinds, rules, compositions
    and phrasings exactly as the single-agent level does.

    ## Arguments
    ``level="Fetch"``, the chosen level's own kwargs (``room_size``, ``num_rows``, ``num_cols``,
    ``num_distractors``, ``split``, ``max_steps``, knowledge controls …), the single-agent env kwargs
    (``tile_size=8``, ``view_size=7``, ``see_through_walls=False``, ``show_carried=False``, ``max_mission_len=16``,
    ``max_facts=32``, ``render_tile_size=16``, ``render_facts=True``), ``message_len=4`` (k, 1 to 16),
    ``message_tokens=None`` (a list of vocabulary tokens to restrict what the guide can say, e.g. the action names;
    ``None``: the whole vocabulary), ``map_tile_size=8``, ``zero_messages=False``,
    ``render_mode=None | "rgb_array"`` (the map, the text and the last message).

    ## Registered configurations
    ``fusiongym/GuideFollower-v0``: Fetch in one 8×8 room, 2 distractors, 64×64 map.
    ``fusiongym/GuideFollower-Large-v0``: Fetch in 3×3 rooms, 5 distractors, 88×88 map (``map_tile_size=4``).
    Both with ``pettingzoo.make("parallel", id)`` (this class) and ``pettingzoo.make("aec", id)`` (the same env in
    turns, guide first: the moves of a cycle are applied together when the follower has acted).

    ## Version history
    v0: initial release.
    """

    metadata: ClassVar[dict[str, Any]] = {**FusionParallelEnv.metadata, "name": "fusiongym_guide_follower_v0"}
    core_class = GuideFollowerBatch

    def _check(self, agent: str, action: Any):
        if agent == "follower":
            return check_action(action)
        return _check_message(action, "the guide", self.core.message_len, len(self.core.alphabet))

    def _infos(self) -> dict[str, dict[str, Any]]:
        sim = self.core.sim
        return {
            "guide": {"mission": sim.episodes[0].mission, "facts": list(sim.fact_sentences[0])},
            "follower": {"message": _decode(self.core.message[0])},
        }

    def render(self) -> np.ndarray | None:
        if self.render_mode != "rgb_array":
            return None
        frame = self.core.sim.frame(0)
        said = _decode(self.core.message[0]) or "-"
        return np.concatenate([frame, text_panel([f"guide said: {said}"], 22, frame.shape[1])], axis=0)

    # --- scripted pair ---------------------------------------------------------------------------------
    def oracle_guide_action(self, use_facts: bool = True) -> np.ndarray:
        """The oracle guide's action: the name of the oracle's next action, planned one step ahead (see
        :meth:`GuideFollowerBatch.oracle_guide_actions`)."""
        return self.core.oracle_guide_actions(use_facts)[0]

    @staticmethod
    def obedient_follower_action(observation: dict[str, np.ndarray]) -> int:
        """What a follower that obeys does: the first action name in its message, else ``done``."""
        vocab = get_vocab()
        for token in observation["message"]:
            name = vocab.token(int(token))
            if name in ACTION_NAMES:
                return ACTION_NAMES.index(name)
        return DONE

    @property
    def episode(self) -> Episode:
        return self.core.sim.episodes[0]


class KnowledgeSplitEnv(FusionParallelEnv):
    """Two agents, each holding one hop of the rule that identifies the other's target; each must pick up its own.

    ## Description
    Fetch for two (built on the Fetch level): objects of distinct categories lie in a room (or a grid of rooms).
    ``agent_0`` is told "pick up a <category>", ``agent_1`` "pick up a <another category>". The kinds' categories
    (``<kind> is_a <category>``) are given to ``agent_0`` only and their looks (``<kind> has_shape / has_colour``)
    to ``agent_1`` only, so each target is found by a two-hop rule (category → kind → look) whose two hops are held
    by different agents: neither can find its own target alone, and the episode is won only when **both** hold
    their target — it needs both halves and both agents.

    ## Agents
    ``possible_agents = ["agent_0", "agent_1"]``, embodied in one world, each seeing the other as the agent sprite
    (pointing where the other faces, relative to the viewer's own heading); an agent blocks the other's way.

    ## Observation
    Per agent, ``Dict(image=Box(0, 255, (56, 56, 3), uint8), mission=Box(0, V-1, (16,), int64),
    facts=Box(0, V-1, (32, 3), int64), message=Box(0, V-1, (k,), int64))``: its egocentric view, its own
    instruction, its half of the facts (all-zero rows pad) and the k vocabulary ids the other said at the previous
    step (0 = no token; all zero at reset). V = 192, the suite vocabulary.

    ## Actions
    Per agent, ``MultiDiscrete([7] + [A] * k)``: the move (MiniGrid's left, right, forward, pickup, drop, toggle,
    done), then k message token indices (index i says ``env.message_tokens[i]``, 0 = no token; by default A = V and
    index i is vocabulary id i). Anything else raises ``InvalidActionError`` naming what is allowed.

    ## Simultaneous moves
    Both act every step; the engine applies ``agent_0``'s move, then ``agent_1``'s, in the world ``agent_0`` left:
    if both walk into one cell or reach for one object, ``agent_0`` gets it and ``agent_1``'s move is blocked
    (turns still turn). An agent cannot close a door the other stands in (that toggle does nothing). The clock
    ticks once per step.

    ## Messages
    What an agent says at step t is in the other's observation returned by step t (it acts on it at t + 1).
    ``zero_messages=True`` delivers every message as all zeros (the ablation).

    ## Rewards
    Shared: ``1 - 0.9 * steps / max_steps`` to both when both hold their target, else 0.

    ## Termination
    ``terminated`` on success (both hold their target) or failure (either picks up anything but its own target);
    ``truncated`` at ``max_steps`` (default 2 × room_size² per room). ``infos[agent]["success"]``.

    ## Knowledge
    The Fetch facts of every object (``is_a``, ``has_shape``, ``has_colour``, plus ``distractor_facts``), split by
    relation: ``is_a`` to ``agent_0``, the looks to ``agent_1`` (``fusiongym.envs.multiagent.split_facts``). The
    dynamics read the true facts. A scripted pair that tells each other what it needs wins ≥ 99%; the same pair with
    messages zeroed is near chance (tests/test_multiagent.py).

    ## Splits
    As Fetch: ``split="test"`` uses only held-out kinds (whose looks and categories only the facts tell) and
    held-out phrasings.

    ## Arguments
    Fetch's level kwargs with ``num_distractors=2`` (objects besides the two targets, at most 6), the single-agent
    env kwargs (``tile_size=8``, ``view_size=7``, ``max_mission_len=16``, ``max_facts=32`` …), ``message_len=4``
    (k, 1 to 16; the scripted pair needs 3), ``message_tokens=None``, ``zero_messages=False``,
    ``render_mode=None | "rgb_array"``.

    ## Registered configurations
    ``fusiongym/KnowledgeSplit-v0``: one 8×8 room, 4 objects (2 targets, 2 distractors).
    ``fusiongym/KnowledgeSplit-Large-v0``: 3×3 rooms, 6 objects.
    Both with ``pettingzoo.make("parallel", id)`` and ``pettingzoo.make("aec", id)`` (turns in the order
    ``agent_0``, ``agent_1``; the moves of a cycle are applied together, as above, when ``agent_1`` has acted).

    ## Version history
    v0: initial release.
    """

    metadata: ClassVar[dict[str, Any]] = {**FusionParallelEnv.metadata, "name": "fusiongym_knowledge_split_v0"}
    core_class = KnowledgeSplitBatch

    def _check(self, agent: str, action: Any):
        return _check_message(action, f"{agent}", self.core.message_len, len(self.core.alphabet), offset=1)

    def _infos(self) -> dict[str, dict[str, Any]]:
        core = self.core
        return {
            agent: {
                "mission": core.missions[0][i],
                "facts": list(core.fact_sentences[0][i]),
                "message": _decode(core.inbox[0, i]),
            }
            for i, agent in enumerate(core.agents)
        }

    def render(self) -> np.ndarray | None:
        if self.render_mode != "rgb_array":
            return None
        core = self.core
        image = tile_atlas(int(core.sim.env_kwargs["render_tile_size"])).grid_image(core.map_tiles(0))
        lines = []
        for i, agent in enumerate(core.agents):
            lines += [f"{agent}: {core.missions[0][i]}", f"  heard: {_decode(core.inbox[0, i]) or '-'}"]
            lines += [f"  - {s}" for s in core.fact_sentences[0][i]]
        panel = text_panel(lines, max(image.shape[0], 14 * (int(core.sim.env_kwargs["max_facts"]) + 8)), 300)
        if panel.shape[0] > image.shape[0]:
            image = np.pad(image, ((0, panel.shape[0] - image.shape[0]), (0, 0), (0, 0)))
        return np.concatenate([image, panel], axis=1)

    def scripted_actions(self, observations: dict[str, dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
        """The :class:`ScriptedSplitPair`'s actions for this env's observations."""
        if getattr(self, "_pair", None) is None:
            self._pair = ScriptedSplitPair(self.core)
        batched = {agent: {k: np.asarray(v)[None] for k, v in obs.items()} for agent, obs in observations.items()}
        return {agent: a[0] for agent, a in self._pair.actions(batched).items()}

    @property
    def episode(self) -> PairEpisode:
        return self.core.sim.episodes[0]


class FusionAECEnv(parallel_to_aec_wrapper):
    """The AEC face: the Parallel env in turns (PettingZoo's ``parallel_to_aec``), in ``possible_agents`` order.
    An agent's action is held until the last agent of the cycle has acted; then the moves are applied together."""

    parallel_class: ClassVar[type[FusionParallelEnv]]

    def __init__(self, render_mode: str | None = None, **kwargs: Any) -> None:
        super().__init__(self.parallel_class(render_mode=render_mode, **kwargs))


class GuideFollowerAECEnv(FusionAECEnv):
    __doc__ = "AEC :class:`GuideFollowerEnv` (guide, then follower). " + (FusionAECEnv.__doc__ or "")
    parallel_class = GuideFollowerEnv


class KnowledgeSplitAECEnv(FusionAECEnv):
    __doc__ = "AEC :class:`KnowledgeSplitEnv` (agent_0, then agent_1). " + (FusionAECEnv.__doc__ or "")
    parallel_class = KnowledgeSplitEnv


__all__ = [
    "LEVELS",
    "GuideFollowerAECEnv",
    "GuideFollowerBatch",
    "GuideFollowerEnv",
    "KnowledgeSplitAECEnv",
    "KnowledgeSplitBatch",
    "KnowledgeSplitEnv",
    "PairEpisode",
    "PairFetchLevel",
    "ScriptedSplitPair",
    "message_alphabet",
    "split_facts",
]
