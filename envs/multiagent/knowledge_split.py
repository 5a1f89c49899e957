"""KnowledgeSplit: two embodied agents in one world, each holding one hop of a two-hop rule (one the categories of
the kinds, the other their looks); each must pick up the object the other can identify. The batched core
(:class:`KnowledgeSplitBatch`: two agents in one :class:`~fusiongym.envs.world.WorldBatch`), the split of the facts,
the Parallel env (:class:`KnowledgeSplitEnv`, whose docstring is the spec) and its AEC env."""

from __future__ import annotations

from typing import Any, ClassVar

import gymnasium as gym
import numpy as np

from fusiongym.envs.knowledge import EpisodeKnowledge
from fusiongym.envs.levels import Episode, Subgoal
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
from fusiongym.envs.multiagent.pair_fetch import PairEpisode, PairFetchLevel
from fusiongym.envs.multiagent.parallel import FusionAECEnv, FusionParallelEnv
from fusiongym.envs.multiagent.scripted_pair import ScriptedSplitPair
from fusiongym.envs.oracle import oracle_action
from fusiongym.envs.rendering import text_panel
from fusiongym.envs.simulation import Simulation, tile_atlas
from fusiongym.envs.vocab import get_vocab
from fusiongym.envs.world import (
    DONE,
    DOOR_OPEN,
    DX,
    DY,
    FAILURE,
    FLOOR,
    NOTHING,
    SUCCESS,
    TOGGLE,
    WorldBatch,
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


class _Planner:
    """A stand-in level for :func:`~fusiongym.envs.oracle.oracle_action`: it plans towards a given subgoal."""

    def __init__(self, subgoal: Subgoal) -> None:
        self.subgoal = subgoal

    def oracle_subgoal(self, episode: Episode, carrying: int, use_facts: bool, cells: np.ndarray) -> Subgoal:
        return self.subgoal


class KnowledgeSplitBatch:
    """B KnowledgeSplit worlds: one :class:`WorldBatch` row per world and per-agent position, direction, carried
    object, pickup table, mission, facts and inbox. See :class:`KnowledgeSplitEnv` for the spec."""

    agents: ClassVar[tuple[str, str]] = ("agent_0", "agent_1")
    OWN_KWARGS: ClassVar[dict[str, Any]] = {"message_len": 4, "message_tokens": None, "zero_messages": False}

    def __init__(self, num_worlds: int, **kwargs: Any) -> None:
        kwargs.pop("render_mode", None)
        level_kwargs, env_kwargs, own = split_multiagent_kwargs("KnowledgeSplit", PairFetchLevel, self.OWN_KWARGS,
                                                                kwargs)
        self.level = PairFetchLevel(**level_kwargs)
        self.message_len = positive_int("message_len", own["message_len"], MAX_MESSAGE_LEN)
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
                "message": message_space(self.message_len),
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
        """The worlds' arrays; the agent fields hold whichever agent was entered last."""
        return self.sim.batch

    @property
    def episodes(self) -> list[PairEpisode]:
        """The episode of each world, as the level generated it."""
        return self.sim.episodes  # type: ignore[return-value]

    def reset_world(self, b: int, rng: np.random.Generator) -> None:
        """Draw world ``b`` anew with ``rng``: both agents placed, each given its mission and half of the facts."""
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
        assert episode.partner_pickup is not None  # the level sets it
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
        """Store agent ``i``'s fields back from the batch and lift agent ``1 - i``'s body out of the grid."""
        j, batch = 1 - i, self.batch
        self.pos[:, i], self.dir[:, i], self.carrying[:, i] = batch.agent_at, batch.agent_dir, batch.carrying
        where = self.pos[:, j]
        assert self._under is not None, "_enter first"
        self._obj[where], self._tile[where] = self._under
        self._under = None

    def observe(self) -> dict[str, dict[str, np.ndarray]]:
        """Each agent's (B, ...) observations, each seeing the other as the agent sprite."""
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

    def step(self, actions: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
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
            assert self._under is not None
            self._obj[where], self._tile[where] = self._under
        try:
            for b, slots in enumerate(targets):
                if slots:
                    moves[b] = oracle_action(self.batch, b, _Planner(Subgoal("pickup", slots)), self.sim.episodes[b],
                                             True)
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

    def _check(self, agent: str, action: Any) -> np.ndarray:
        return check_message(action, f"{agent}", self.core.message_len, len(self.core.alphabet), offset=1)

    def _infos(self) -> dict[str, dict[str, Any]]:
        core = self.core
        return {
            agent: {
                "mission": core.missions[0][i],
                "facts": list(core.fact_sentences[0][i]),
                "message": decode_message(core.inbox[0, i]),
            }
            for i, agent in enumerate(core.agents)
        }

    def render(self) -> np.ndarray | None:
        """With ``render_mode="rgb_array"``: the map from above beside each agent's mission, inbox and facts."""
        if self.render_mode != "rgb_array":
            return None
        core = self.core
        image = tile_atlas(int(core.sim.env_kwargs["render_tile_size"])).grid_image(core.map_tiles(0))
        lines = []
        for i, agent in enumerate(core.agents):
            lines += [f"{agent}: {core.missions[0][i]}", f"  heard: {decode_message(core.inbox[0, i]) or '-'}"]
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


class KnowledgeSplitAECEnv(FusionAECEnv):  # noqa: D101  (its docstring is assembled in __doc__)
    __doc__ = "AEC :class:`KnowledgeSplitEnv` (agent_0, then agent_1). " + (FusionAECEnv.__doc__ or "")
    parallel_class = KnowledgeSplitEnv


__all__ = [
    "FACT_HOLDER",
    "KnowledgeSplitAECEnv",
    "KnowledgeSplitBatch",
    "KnowledgeSplitEnv",
    "ScriptedSplitPair",
    "split_facts",
]
