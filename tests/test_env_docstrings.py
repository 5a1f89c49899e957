"""Each env class docstring is its spec: its Arguments section names exactly the kwargs the env accepts."""

from __future__ import annotations

import re

import pytest

from fusiongym.envs import suite
from fusiongym.envs.core import ENV_KWARGS, FusionEnv
from fusiongym.envs.levels import Level

ENV_CLASSES = sorted((cls for cls in vars(suite).values()
                      if isinstance(cls, type) and issubclass(cls, FusionEnv) and cls is not FusionEnv
                      and getattr(cls, "level_class", None) is not None), key=lambda cls: cls.__name__)


#: What "Those of every level" in an Arguments section stands for: the base level's and the env's kwargs.
EVERY_LEVEL = set(Level.kwarg_names()) | set(ENV_KWARGS) | {"render_mode"}


def _documented_arguments(doc: str) -> set[str]:
    section = doc.split("## Arguments", 1)[1].split("\n    ## ", 1)[0]
    named = set(re.findall(r"``(\w+)(?:=|``)", section))
    return named | EVERY_LEVEL if "Those of every level" in section else named


def test_every_level_env_is_checked() -> None:
    assert {cls.__name__ for cls in ENV_CLASSES} >= {"GoToEnv", "FetchEnv", "DefeatEnv", "UnlockEnv", "BringEnv",
                                                       "AvoidEnv"}


@pytest.mark.parametrize("env_class", ENV_CLASSES, ids=lambda cls: cls.__name__)
def test_the_arguments_section_names_every_accepted_kwarg(env_class: type) -> None:
    accepted = set(env_class.level_class.kwarg_names()) | set(ENV_KWARGS) | {"render_mode"}
    documented = _documented_arguments(env_class.__doc__)
    assert documented == accepted, (f"{env_class.__name__}'s docstring leaves out {sorted(accepted - documented)} "
                                    f"and names {sorted(documented - accepted)} it does not accept")
