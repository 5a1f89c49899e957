"""GuideFollower in PettingZoo's module layout: ``env()`` (AEC, order enforced), ``parallel_env()``, ``raw_env``.

    from fusiongym.envs import multiagent_guide_follower
    env = multiagent_guide_follower.parallel_env(split="test")

The spec is :class:`fusiongym.envs.multiagent.GuideFollowerEnv`'s docstring.
"""

from __future__ import annotations

from typing import Any

from pettingzoo.utils.wrappers import OrderEnforcingWrapper

from fusiongym.envs.multiagent.guide_follower import GuideFollowerAECEnv, GuideFollowerEnv

#: The unwrapped AEC env (a class, as PettingZoo's ``raw_env`` is).
raw_env = GuideFollowerAECEnv


def env(**kwargs: Any) -> OrderEnforcingWrapper:
    """The AEC env (guide, then follower), wrapped so that it raises on calls out of order."""
    return OrderEnforcingWrapper(raw_env(**kwargs))


def parallel_env(**kwargs: Any) -> GuideFollowerEnv:
    """The Parallel env (simultaneous moves)."""
    return GuideFollowerEnv(**kwargs)


__all__ = ["env", "parallel_env", "raw_env"]
