"""One call to build an SB3 agent with a named policy on a fusiongym (or wrapped MiniGrid) env.

    model = make_agent("ppo", env, policy="fusion", fusion=FusionConfig.preset("reading"), seed=0, n_steps=128)
    model.learn(10_000)
"""

from __future__ import annotations

import json
from typing import Any

import gymnasium as gym
from stable_baselines3 import DQN, PPO
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.vec_env import VecEnv

from fusiongym.agents.registry import NETWORK_POLICIES, algorithms_of
from fusiongym.fusion.config import BlockConfig, FusionConfig, FusionConfigError, KnowledgeConfig, LanguageConfig
from fusiongym.fusion.extractor import FusionExtractor

#: Policy names (:data:`fusiongym.agents.registry.POLICIES` says what each is).
POLICIES = NETWORK_POLICIES


def _algorithms() -> dict[str, type[BaseAlgorithm]]:
    from sb3_contrib import RecurrentPPO

    return {"ppo": PPO, "dqn": DQN, "recurrent_ppo": RecurrentPPO}


#: The SB3 algorithms of :data:`fusiongym.agents.registry.ALGORITHMS`.
ALGORITHMS = algorithms_of("sb3")
_ALIASES = {"recurrentppo": "recurrent_ppo", "recurrent-ppo": "recurrent_ppo", "rppo": "recurrent_ppo"}


def algorithm_name(algo: str) -> str:
    """Canonical algorithm name (``"PPO"`` → ``"ppo"``, ``"RecurrentPPO"`` → ``"recurrent_ppo"``)."""
    name = _ALIASES.get(algo.lower(), algo.lower())
    if name not in ALGORITHMS:
        raise ValueError(f"unknown algo {algo!r}: choose one of {', '.join(ALGORITHMS)}")
    return name


def algorithm_class(algo: str) -> type[BaseAlgorithm]:
    """The SB3 / sb3-contrib class of an algorithm name."""
    return _algorithms()[algorithm_name(algo)]


def vision_only_config() -> FusionConfig:
    """The ``cnn`` policy's config: the CNN alone (no language backbone, no knowledge encoder)."""
    return FusionConfig(language=LanguageConfig(backbone="none"), knowledge=KnowledgeConfig(encoder="none"),
                        block=BlockConfig(kind="concat"))


def policy_setup(algo: str, policy: str, fusion: FusionConfig | None,
                 vocab: Any = None) -> tuple[str, dict[str, Any], FusionConfig | None]:
    """``(policy class name, policy_kwargs, resolved FusionConfig)`` for a named policy."""
    name = algorithm_name(algo)
    policy_class = "MultiInputLstmPolicy" if name == "recurrent_ppo" else "MultiInputPolicy"
    if policy not in POLICIES:
        raise ValueError(f"unknown policy {policy!r}: choose one of {', '.join(POLICIES)}")
    if policy == "sb3_default":
        if fusion is not None:
            raise FusionConfigError("policy='sb3_default' takes no fusion config: use policy='fusion'")
        return policy_class, {}, None
    if policy == "cnn":
        if fusion is not None:
            raise FusionConfigError("policy='cnn' is vision only and takes no fusion config: use policy='fusion'")
        config = vision_only_config()
    else:
        config = fusion if fusion is not None else FusionConfig()
    extractor_kwargs: dict[str, Any] = {"config": config}
    if vocab is not None:
        extractor_kwargs["vocab"] = vocab
    return policy_class, {"features_extractor_class": FusionExtractor,
                          "features_extractor_kwargs": extractor_kwargs}, config


def _json_ready(value: Any) -> bool:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return False
    return True


def make_agent(algo: str, env: gym.Env | VecEnv | str, policy: str = "fusion", fusion: FusionConfig | None = None,
               seed: int | None = None, vocab: Any = None, **algo_kwargs: Any) -> BaseAlgorithm:
    """Build ``PPO`` / ``DQN`` / ``RecurrentPPO`` on ``env`` with a named policy.

    Args:
        algo: ``"ppo"``, ``"dqn"`` or ``"recurrent_ppo"`` (case-insensitive).
        env: a Gymnasium env, an SB3 VecEnv, or an env id.
        policy: ``"fusion"``, ``"cnn"`` or ``"sb3_default"`` (see :data:`POLICIES`).
        fusion: the :class:`FusionConfig` of a ``"fusion"`` policy (default ``FusionConfig()``).
        seed: SB3 seed.
        vocab: suite vocabulary override (default ``get_vocab()``).
        algo_kwargs: passed to the algorithm (``n_steps``, ``learning_rate``, ``policy_kwargs`` such as
            ``net_arch``...). DQN's ``buffer_size`` defaults to 100 000 here, not SB3's 1 000 000 (an image
            observation is 9 KB).

    The returned model carries ``model.fusiongym_spec`` (what :func:`fusiongym.agents.checkpoint.save_agent`
    writes to JSON to rebuild it).
    """
    name = algorithm_name(algo)
    cls = algorithm_class(name)
    policy_class, policy_kwargs, config = policy_setup(name, policy, fusion, vocab)
    user_policy_kwargs = dict(algo_kwargs.pop("policy_kwargs", None) or {})
    clash = sorted(set(user_policy_kwargs) & set(policy_kwargs))
    if clash:
        raise ValueError(f"policy_kwargs {clash} are set by policy={policy!r}: pass the FusionConfig via fusion=")
    if name == "dqn":
        algo_kwargs.setdefault("buffer_size", 100_000)
    model = cls(policy_class, env, seed=seed, policy_kwargs={**policy_kwargs, **user_policy_kwargs}, **algo_kwargs)
    model.fusiongym_spec = {  # type: ignore[attr-defined]
        "algo": name,
        "policy": policy,
        "fusion": config.to_dict() if config is not None else None,
        "policy_kwargs": user_policy_kwargs,  # made JSON-ready (or refused, naming the key) when saved
        # where the model ran is not part of the agent: load_agent takes its own device
        "algo_kwargs": {k: v for k, v in algo_kwargs.items() if _json_ready(v) and k != "device"},
        "seed": seed,
    }
    return model
