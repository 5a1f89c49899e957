"""Levels where knowledge is necessary: the rules are redrawn every episode and stated only by the facts.

The levels live one per module in :mod:`fusiongym.envs.levels` (``defeat``, ``unlock``, ``bring``, ``avoid``) and
their rule splits in :mod:`fusiongym.envs.levels.rules`; this module keeps the import path they had.
"""

from __future__ import annotations

from fusiongym.envs.levels.avoid import AvoidLevel
from fusiongym.envs.levels.bring import BringLevel
from fusiongym.envs.levels.defeat import DefeatLevel
from fusiongym.envs.levels.rules import held_out_rule, sample_rule
from fusiongym.envs.levels.unlock import UnlockLevel

__all__ = ["AvoidLevel", "BringLevel", "DefeatLevel", "UnlockLevel", "held_out_rule", "sample_rule"]
