"""The scripted pair of KnowledgeSplit: two agents that read only their own observations, tell each other what they
need, and find their way with the oracle's path finder (the upper bound the learned pairs are measured against)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from fusiongym.envs.vocab import get_vocab
from fusiongym.envs.world import DONE, FORWARD, PICKUP, RIGHT

if TYPE_CHECKING:
    from fusiongym.envs.multiagent.knowledge_split import KnowledgeSplitBatch


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
        objects = self.core.sim.episode(b).layout.objects
        slots = [s for s, o in enumerate(objects) if (o.colour, o.shape) == (colour, shape)]
        return slots or None

    def _guess(self, b: int, i: int, step: int) -> list[int] | None:
        if step < self.patience:
            return None  # wait for an answer
        episode = self.core.sim.episode(b)
        on_map = {int(s) for s in np.unique(self.core.batch.obj_at[b]) if 0 <= s < len(episode.layout.objects)}
        options = sorted(on_map)
        if not options:
            return None
        rng = np.random.default_rng([episode.guess_seed, i])
        return [options[int(rng.integers(len(options)))]]


__all__ = ["ScriptedSplitPair"]
