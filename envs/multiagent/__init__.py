"""Multi-agent fusiongym: PettingZoo envs on the batched world engine.

Two envs, each a batched core (``*Batch``: B worlds as arrays, advanced by :class:`~fusiongym.envs.world.WorldBatch`)
and its PettingZoo faces — the Parallel env is the batch of one, the AEC env is the Parallel env in turns
(PettingZoo's ``parallel_to_aec``), and a batched core of B worlds is what a trainer steps directly
(``benchmarks/multiagent_baseline.py`` does, through a small Stable-Baselines3 adapter):

* :class:`GuideFollowerEnv` — a guide that sees the whole map, the instruction and the facts, but cannot move,
  tells a follower that sees only its egocentric pixels what to do, in tokens of the suite vocabulary.
* :class:`KnowledgeSplitEnv` — two embodied agents in one world, each holding one hop of a two-hop rule
  (one the categories of the kinds, the other their looks); each must pick up the object the other can identify.

One module per concern, each env in its own module as PettingZoo lays out its envs:

* :mod:`~fusiongym.envs.multiagent.common` — the message alphabet, message checks and spaces, the kwargs split;
* :mod:`~fusiongym.envs.multiagent.parallel` — the Parallel and AEC faces both envs share;
* :mod:`~fusiongym.envs.multiagent.guide_follower` — GuideFollower's batch, Parallel and AEC envs, oracle guide;
* :mod:`~fusiongym.envs.multiagent.pair_fetch` — the two-agent Fetch level KnowledgeSplit is built on;
* :mod:`~fusiongym.envs.multiagent.knowledge_split` — the fact split, KnowledgeSplit's batch, Parallel and AEC envs;
* :mod:`~fusiongym.envs.multiagent.scripted_pair` — KnowledgeSplit's scripted pair.

Every public name is importable from this package. Module constructors in PettingZoo's convention (``env()``,
``parallel_env()``, ``raw_env``) live in :mod:`fusiongym.envs.multiagent_guide_follower` and
:mod:`fusiongym.envs.multiagent_knowledge_split`; the ids are registered with PettingZoo by
:mod:`fusiongym.envs.multiagent_registration` when ``fusiongym`` is imported.
"""

from __future__ import annotations

from fusiongym.envs.multiagent.common import MAX_MESSAGE_LEN, NUM_ACTIONS, message_alphabet
from fusiongym.envs.multiagent.guide_follower import LEVELS, GuideFollowerAECEnv, GuideFollowerBatch, GuideFollowerEnv
from fusiongym.envs.multiagent.knowledge_split import (
    FACT_HOLDER,
    KnowledgeSplitAECEnv,
    KnowledgeSplitBatch,
    KnowledgeSplitEnv,
    split_facts,
)
from fusiongym.envs.multiagent.pair_fetch import PairEpisode, PairFetchLevel
from fusiongym.envs.multiagent.parallel import FusionAECEnv, FusionParallelEnv
from fusiongym.envs.multiagent.scripted_pair import ScriptedSplitPair

__all__ = [
    "FACT_HOLDER",
    "LEVELS",
    "MAX_MESSAGE_LEN",
    "NUM_ACTIONS",
    "FusionAECEnv",
    "FusionParallelEnv",
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
