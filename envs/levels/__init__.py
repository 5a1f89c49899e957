"""Levels: each one's job is to generate a world, facts and an instruction for one episode.

A level is a small dataclass whose fields are its ``gym.make`` kwargs. :meth:`Level.generate` runs per world at
reset, in plain Python, with the world's own ``np_random``; what it returns is loaded into the batched arrays.
:meth:`Level.oracle_subgoal` tells the oracle bot what to do next, reading the episode's facts or — with
``use_facts=False`` — guessing from what the training split makes most likely.

One level per module, as MiniGrid lays out its levels: :mod:`~fusiongym.envs.levels.goto` and
:mod:`~fusiongym.envs.levels.fetch`, and the knowledge levels, whose rules are redrawn every episode,
:mod:`~fusiongym.envs.levels.defeat`, :mod:`~fusiongym.envs.levels.unlock`, :mod:`~fusiongym.envs.levels.bring` and
:mod:`~fusiongym.envs.levels.avoid` (their rule splits in :mod:`~fusiongym.envs.levels.rules`). What they share is in
:mod:`~fusiongym.envs.levels.base` (:class:`Level`, :class:`Episode`, :class:`Subgoal`, :class:`RoomGrid`); what
the oracle believes in an episode is :class:`fusiongym.envs.belief.Belief`. Every public name is importable from
this package.
"""

from __future__ import annotations

from fusiongym.envs.belief import Belief
from fusiongym.envs.levels.avoid import AvoidLevel
from fusiongym.envs.levels.base import (
    Episode,
    GenerationError,
    Level,
    RoomGrid,
    Subgoal,
    compositions,
    held_out_composition,
    kinds_of,
)
from fusiongym.envs.levels.bring import BringLevel
from fusiongym.envs.levels.defeat import DefeatLevel
from fusiongym.envs.levels.fetch import FetchLevel
from fusiongym.envs.levels.goto import GoToLevel
from fusiongym.envs.levels.rules import draw_kinds, held_out_rule, sample_rule
from fusiongym.envs.levels.unlock import UnlockLevel

__all__ = [
    "AvoidLevel",
    "Belief",
    "BringLevel",
    "DefeatLevel",
    "Episode",
    "FetchLevel",
    "GenerationError",
    "GoToLevel",
    "Level",
    "RoomGrid",
    "Subgoal",
    "UnlockLevel",
    "compositions",
    "draw_kinds",
    "held_out_composition",
    "held_out_rule",
    "kinds_of",
    "sample_rule",
]
