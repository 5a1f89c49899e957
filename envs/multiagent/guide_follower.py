"""GuideFollower: a guide that sees the whole map, the instruction and the facts, but cannot move, tells a follower
that sees only its egocentric pixels what to do. The batched core (:class:`GuideFollowerBatch`), its Parallel env
(:class:`GuideFollowerEnv`, whose docstring is the spec) and its AEC env; the oracle guide and the obedient follower."""

from __future__ import annotations

from typing import Any, ClassVar

import gymnasium as gym
import numpy as np

from fusiongym.envs.core import check_action
from fusiongym.envs.levels import (
    AvoidLevel,
    BringLevel,
    DefeatLevel,
    FetchLevel,
    GoToLevel,
    Level,
    UnlockLevel,
)
from fusiongym.envs.multiagent.common import (
    MAX_MESSAGE_LEN,
    NUM_ACTIONS,
    check_message,
    decode_message,
    message_alphabet,
    message_space,
    positive_int,
    split_multiagent_kwargs,
)
from fusiongym.envs.multiagent.parallel import FusionAECEnv, FusionParallelEnv
from fusiongym.envs.oracle import oracle_action
from fusiongym.envs.rendering import text_panel
from fusiongym.envs.simulation import Simulation, tile_atlas
from fusiongym.envs.vocab import get_vocab
from fusiongym.envs.world import ACTION_NAMES, DONE, WorldBatch

#: The single-agent levels a GuideFollower can be built on (its ``level`` kwarg).
LEVELS: dict[str, type[Level]] = {
    "GoTo": GoToLevel,
    "Fetch": FetchLevel,
    "Defeat": DefeatLevel,
    "Unlock": UnlockLevel,
    "Bring": BringLevel,
    "Avoid": AvoidLevel,
}


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
        level_kwargs, env_kwargs, own = split_multiagent_kwargs("GuideFollower", level_class, self.OWN_KWARGS, kwargs)
        self.level = level_class(**level_kwargs)
        self.level_name = level_name
        self.message_len = positive_int("message_len", own["message_len"], MAX_MESSAGE_LEN)
        map_tile_size = positive_int("map_tile_size", own["map_tile_size"], 32)
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
                {"image": base["image"], "message": message_space(self.message_len)}
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
        """The worlds' arrays (the level's agent is the follower)."""
        return self.sim.batch

    def reset_world(self, b: int, rng: np.random.Generator) -> None:
        """Draw world ``b`` anew with ``rng``; its follower holds no message."""
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
        """Each agent's (B, ...) observations."""
        obs = self.sim.observation()
        return {
            "guide": {"image": self.map_atlas.ego_image(self.map_tiles()), "mission": obs["mission"],
                      "facts": obs["facts"]},
            "follower": {"image": obs["image"], "message": self.message.copy()},
        }

    def step(self, actions: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
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

    def _check(self, agent: str, action: Any) -> int | np.ndarray:
        if agent == "follower":
            return check_action(action)
        return check_message(action, "the guide", self.core.message_len, len(self.core.alphabet))

    def _infos(self) -> dict[str, dict[str, Any]]:
        sim = self.core.sim
        return {
            "guide": {"mission": sim.episodes[0].mission, "facts": list(sim.fact_sentences[0])},
            "follower": {"message": decode_message(self.core.message[0])},
        }

    def render(self) -> np.ndarray | None:
        """With ``render_mode="rgb_array"``: the level's frame with what the guide said last beneath it."""
        if self.render_mode != "rgb_array":
            return None
        frame = self.core.sim.frame(0)
        said = decode_message(self.core.message[0]) or "-"
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


class GuideFollowerAECEnv(FusionAECEnv):  # noqa: D101  (its docstring is assembled in __doc__)
    __doc__ = "AEC :class:`GuideFollowerEnv` (guide, then follower). " + (FusionAECEnv.__doc__ or "")
    parallel_class = GuideFollowerEnv


__all__ = ["LEVELS", "GuideFollowerAECEnv", "GuideFollowerBatch", "GuideFollowerEnv"]
