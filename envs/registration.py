"""The one list of registered env ids. Bump ``vN`` on any behaviour change and say why in the env's spec."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym


@dataclass(frozen=True)
class Registration:
    """One registered id: its env class in ``fusiongym.envs.suite``, its kwargs and a one-line description."""
    id: str
    env_class: str  # "GoToEnv" in fusiongym.envs.suite; its vector twin is "<Name>VectorEnv" minus "Env"
    kwargs: dict[str, Any] = field(default_factory=dict)
    description: str = ""

    @property
    def entry_point(self) -> str:
        return f"fusiongym.envs.suite:{self.env_class}"

    @property
    def vector_entry_point(self) -> str:
        return f"fusiongym.envs.suite:{self.env_class.removesuffix('Env')}VectorEnv"


# The Large layouts of the carrying levels, shared by v1 and the deprecated v0 (which lacks the carried view)
_DEFEAT_LARGE = {"num_rows": 3, "num_cols": 3, "num_distractors": 2, "num_weapons": 4}
_UNLOCK_LARGE = {"room_size": 8, "num_doors": 4, "num_distractors": 3, "max_facts": 48}
_BRING_LARGE = {"num_rows": 3, "num_cols": 3, "num_distractors": 2, "num_medicines": 4}
_CARRIED_VIEW = {"show_carried": True}


REGISTRATIONS: tuple[Registration, ...] = (
    Registration("fusiongym/GoTo-v1", "GoToEnv", {"wrong_object_fails": True},
                 "go to the <colour> <shape> in one room; facing another object fails (no knowledge)"),
    Registration(
        "fusiongym/GoTo-Large-v1",
        "GoToEnv",
        {"num_rows": 3, "num_cols": 3, "num_distractors": 12, "wrong_object_fails": True},
        "go to the <colour> <shape> in 3x3 rooms; facing another object fails (no knowledge)",
    ),
    Registration("fusiongym/GoTo-v0", "GoToEnv", {},
                 "deprecated, use GoTo-v1: facing another object ends nothing, so search wins without reading"),
    Registration(
        "fusiongym/GoTo-Large-v0",
        "GoToEnv",
        {"num_rows": 3, "num_cols": 3, "num_distractors": 12},
        "deprecated, use GoTo-Large-v1: facing another object ends nothing",
    ),
    Registration("fusiongym/Fetch-v0", "FetchEnv", {}, "pick up a <category>, told by the facts, in one room"),
    Registration(
        "fusiongym/Fetch-Large-v0",
        "FetchEnv",
        {"num_rows": 3, "num_cols": 3, "num_distractors": 5},
        "pick up a <category>, told by the facts, in 3x3 rooms",
    ),
    Registration("fusiongym/Defeat-v1", "DefeatEnv", {**_CARRIED_VIEW},
                 "defeat the <monster> with the weapon the facts say it is weak to"),
    Registration("fusiongym/Defeat-Large-v1", "DefeatEnv", {**_DEFEAT_LARGE, **_CARRIED_VIEW},
                 "defeat the <monster>, 3 monsters and 4 weapons in 3x3 rooms"),
    Registration("fusiongym/Unlock-v1", "UnlockEnv", {**_CARRIED_VIEW},
                 "reach the <gem> behind the locked door the facts name, with its key"),
    Registration("fusiongym/Unlock-Large-v1", "UnlockEnv", {**_UNLOCK_LARGE, **_CARRIED_VIEW},
                 "reach the <gem>: 4 locked doors, 4 keys, distractor gems"),
    Registration("fusiongym/Bring-v1", "BringEnv", {**_CARRIED_VIEW},
                 "bring the cure for <ailment> (a fact) to the <container>"),
    Registration("fusiongym/Bring-Large-v1", "BringEnv", {**_BRING_LARGE, **_CARRIED_VIEW},
                 "bring the cure for <ailment> to the <container> in 3x3 rooms"),
    Registration("fusiongym/Avoid-v0", "AvoidEnv", {}, "reach the <colour> <shape>, crossing only harmless creatures"),
    Registration(
        "fusiongym/Avoid-Large-v0",
        "AvoidEnv",
        {"room_size": 13, "num_crossings": 5, "num_harmless": 2, "num_distractors": 3},
        "reach the <colour> <shape>: 5 creatures in the wall, 2 harmless",
    ),
    # v0 of the levels where the agent carries an object across steps: the view did not show what it carries, so
    # a policy without memory cannot tell whether to pick up, drop or use (Fetch ends at the first pickup)
    Registration("fusiongym/Defeat-v0", "DefeatEnv", {}, "deprecated, use Defeat-v1: the view hides what is carried"),
    Registration("fusiongym/Defeat-Large-v0", "DefeatEnv", {**_DEFEAT_LARGE},
                 "deprecated, use Defeat-Large-v1: the view hides what is carried"),
    Registration("fusiongym/Unlock-v0", "UnlockEnv", {}, "deprecated, use Unlock-v1: the view hides what is carried"),
    Registration("fusiongym/Unlock-Large-v0", "UnlockEnv", {**_UNLOCK_LARGE},
                 "deprecated, use Unlock-Large-v1: the view hides what is carried"),
    Registration("fusiongym/Bring-v0", "BringEnv", {}, "deprecated, use Bring-v1: the view hides what is carried"),
    Registration("fusiongym/Bring-Large-v0", "BringEnv", {**_BRING_LARGE},
                 "deprecated, use Bring-Large-v1: the view hides what is carried"),
)


def register_envs() -> None:
    """Register every id with Gymnasium (idempotent)."""
    for reg in REGISTRATIONS:
        if reg.id in gym.registry:
            continue
        gym.register(
            id=reg.id,
            entry_point=reg.entry_point,
            vector_entry_point=reg.vector_entry_point,
            kwargs=dict(reg.kwargs),
        )


def is_deprecated(env_id: str) -> bool:
    """Whether a newer version of ``env_id``'s name is registered (the old one stays for reproducibility)."""
    name, _, version = env_id.rpartition("-v")
    return any(other.rpartition("-v")[0] == name and int(other.rpartition("-v")[2]) > int(version)
               for other in (reg.id for reg in REGISTRATIONS))


def env_ids(include_deprecated: bool = True) -> list[str]:
    """Every registered fusiongym single-agent id (without the deprecated ones if ``include_deprecated=False``)."""
    return [reg.id for reg in REGISTRATIONS if include_deprecated or not is_deprecated(reg.id)]
