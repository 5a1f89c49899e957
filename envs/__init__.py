"""fusiongym environments: the batched world engine, knowledge, language, levels and their registration.

Importing this package registers every env id with Gymnasium. It imports numpy, gymnasium and (lazily,
when an env is built) rdflib and Pillow — never torch.
"""

from __future__ import annotations

from fusiongym.envs.registration import REGISTRATIONS, env_ids, register_envs

register_envs()

try:  # the multi-agent ids, where PettingZoo is installed (pip install "fusiongym[multiagent]")
    from fusiongym.envs.multiagent_registration import register_multiagent_envs
except ImportError:
    pass
else:
    register_multiagent_envs()


def __getattr__(name: str):
    # The env classes are imported on first use, so `import fusiongym` stays fast.
    if name in {"FusionEnv", "FusionVectorEnv", "InvalidActionError"}:
        from fusiongym.envs import core

        return getattr(core, name)
    if name.endswith("Env") and name not in {"FusionEnv", "FusionVectorEnv"}:
        from fusiongym.envs import suite

        return getattr(suite, name)
    raise AttributeError(f"module 'fusiongym.envs' has no attribute {name!r}")


__all__ = [
    "REGISTRATIONS",
    "env_ids",
    "register_envs",
    "FusionEnv",
    "FusionVectorEnv",
    "InvalidActionError",
    "GoToEnv",
    "FetchEnv",
    "GoToVectorEnv",
    "FetchVectorEnv",
    "DefeatEnv",
    "UnlockEnv",
    "BringEnv",
    "AvoidEnv",
]
