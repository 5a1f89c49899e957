"""KnowledgeSplit in PettingZoo's module layout: ``env()`` (AEC, order enforced), ``parallel_env()``, ``raw_env``.

    from fusiongym.envs import multiagent_knowledge_split
    env = multiagent_knowledge_split.parallel_env(split="test")

The spec is :class:`fusiongym.envs.multiagent.KnowledgeSplitEnv`'s docstring.
"""

from __future__ import annotations

from typing import Any

from pettingzoo.utils.wrappers import OrderEnforcingWrapper

from fusiongym.envs.multiagent.knowledge_split import KnowledgeSplitAECEnv, KnowledgeSplitEnv

#: The unwrapped AEC env (a class, as PettingZoo's ``raw_env`` is).
raw_env = KnowledgeSplitAECEnv


def env(**kwargs: Any) -> OrderEnforcingWrapper:
    """The AEC env (agent_0, then agent_1), wrapped so that it raises on calls out of order."""
    return OrderEnforcingWrapper(raw_env(**kwargs))


def parallel_env(**kwargs: Any) -> KnowledgeSplitEnv:
    """The Parallel env (simultaneous moves)."""
    return KnowledgeSplitEnv(**kwargs)


__all__ = ["env", "parallel_env", "raw_env"]
