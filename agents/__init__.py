"""Agents a user runs: SB3 PPO / DQN / RecurrentPPO with fusion policies, random, oracle, tabular Q-learning and a
zero-shot LM scorer (one policy family, :mod:`fusiongym.agents.policies`); save / load without pickle.

Names are re-exported lazily, so ``import fusiongym.agents`` does not import torch or SB3 until one is used.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "make_agent": "factory",
    "POLICIES": "factory",
    "ALGORITHMS": "factory",
    "RandomPolicy": "policies",
    "OraclePolicy": "policies",
    "SB3Policy": "policies",
    "QTablePolicy": "policies",
    "BatchPolicy": "policies",
    "QLearningAgent": "qlearning",
    "LMScorerAgent": "lm_scorer",
    "MiniGridFusionWrapper": "minigrid",
    "save_agent": "checkpoint",
    "load_agent": "checkpoint",
    "load_sb3_zip": "checkpoint",
    "CheckpointError": "checkpoint",
    "UntrustedPickleError": "checkpoint",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"fusiongym.agents.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'fusiongym.agents' has no attribute {name!r}")
