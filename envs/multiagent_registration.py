"""The one list of multi-agent ids, registered with PettingZoo (``pettingzoo.make("parallel" | "aec", id)``).

Imported by ``fusiongym.envs`` only when PettingZoo is installed; it imports nothing heavier than PettingZoo's
registry, so ``import fusiongym`` stays fast. Bump ``vN`` on any behaviour change and say why in the env's spec.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pettingzoo


@dataclass(frozen=True)
class MultiAgentRegistration:
    """One registered PettingZoo id: the module that builds it, its kwargs and a one-line description."""
    id: str
    module: str  # fusiongym.envs.<module> holds env(), parallel_env() and raw_env
    kwargs: dict[str, Any] = field(default_factory=dict)
    description: str = ""


MULTIAGENT_REGISTRATIONS: tuple[MultiAgentRegistration, ...] = (
    MultiAgentRegistration(
        "fusiongym/GuideFollower-v0",
        "multiagent_guide_follower",
        {"level": "Fetch"},
        "a guide that sees the map and the facts tells a follower what to do (Fetch, one room)",
    ),
    MultiAgentRegistration(
        "fusiongym/GuideFollower-Large-v0",
        "multiagent_guide_follower",
        {"level": "Fetch", "num_rows": 3, "num_cols": 3, "num_distractors": 5, "map_tile_size": 4},
        "guide and follower on Fetch in 3x3 rooms, 5 distractors",
    ),
    MultiAgentRegistration(
        "fusiongym/KnowledgeSplit-v0",
        "multiagent_knowledge_split",
        {},
        "two agents, one holding the categories, one the looks; each fetches what the other can identify",
    ),
    MultiAgentRegistration(
        "fusiongym/KnowledgeSplit-Large-v0",
        "multiagent_knowledge_split",
        {"num_rows": 3, "num_cols": 3, "num_distractors": 4},
        "knowledge split in 3x3 rooms, 6 objects",
    ),
)


def register_multiagent_envs() -> None:
    """Register every multi-agent id with PettingZoo's Parallel and AEC registries (idempotent)."""
    for reg in MULTIAGENT_REGISTRATIONS:
        for env_type, constructor in (("parallel", "parallel_env"), ("aec", "env")):
            registry = pettingzoo.parallel_registry if env_type == "parallel" else pettingzoo.aec_registry
            if reg.id not in registry:
                pettingzoo.register(
                    env_type, reg.id, entry_point=f"fusiongym.envs.{reg.module}:{constructor}", kwargs=dict(reg.kwargs)
                )


def multiagent_env_ids() -> list[str]:
    """Every registered fusiongym multi-agent id."""
    return [reg.id for reg in MULTIAGENT_REGISTRATIONS]
