"""From a run config to what trains: the native batch of training worlds and the SB3 model on it.

``fusiongym train`` and the benchmarks that train (``fusion_speed``, ``learn_fusion``, ``imitate_fusion``) build
both here, so a benchmark measures the model the command would train.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fusiongym.training.config import ConfigError, RunConfig
from fusiongym.training.run_folder import AGENT_FOLDER

if TYPE_CHECKING:
    from fusiongym.agents.sb3_vec_env import FusionSB3VecEnv
    from fusiongym.fusion.config import FusionConfig



def training_env(config: RunConfig, done: int = 0) -> FusionSB3VecEnv:
    """The native batch of ``config.n_envs`` training worlds as an SB3 VecEnv; a resumed run (``done`` steps taken)
    meets fresh worlds, seeded past those steps, not the first ones again. Bad level kwargs are a ConfigError
    naming the fix."""
    from fusiongym.agents.sb3_vec_env import FusionSB3VecEnv

    try:
        return FusionSB3VecEnv(config.env_id, num_envs=config.n_envs, seed=config.seed + done, split="train",
                               **config.training_env_kwargs)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"env_kwargs / train_env_kwargs do not fit {config.env_id}: {err}") from None


def new_model(config: RunConfig, env: Any, algo: str | None = None, device: str = "cpu") -> Any:
    """The SB3 model of ``algo`` (default ``config.algo``; its hyperparameters apply only to it) that a new run
    starts from, with ``config.init_from``'s trained weights when set."""
    from fusiongym.agents.factory import make_agent
    from fusiongym.fusion.config import FusionConfig, FusionConfigError

    algo = algo or config.algo
    hyperparams = config.hyperparams if algo == config.algo else {}
    try:
        fusion = FusionConfig.from_dict(config.fusion) if config.policy == "fusion" else None
        model = make_agent(algo, env, policy=config.policy, fusion=fusion, seed=config.seed,
                           policy_kwargs=config.policy_kwargs or None, device=device, **hyperparams)
    except (FusionConfigError, OSError) as err:
        raise ConfigError(f"the {config.policy} policy cannot be built: {err}") from None
    except (TypeError, ValueError, AssertionError) as err:  # SB3 checks its arguments with asserts
        raise ConfigError(f"{algo} refused the hyperparameters {config.hyperparams}: {err or type(err).__name__}"
                          ) from None
    if config.init_from:
        start_from_run(model, Path(config.init_from))
    return model


def build_env_and_model(config: RunConfig, algo: str | None = None, device: str = "cpu",
                        fusion: FusionConfig | None = None, n_envs: int | None = None) -> tuple[FusionSB3VecEnv, Any]:
    """The training env and a new model for ``config`` (``fusion`` / ``n_envs``: in place of the config's)."""
    if fusion is not None:
        config = dataclasses.replace(config, fusion=fusion.to_dict())
    if n_envs is not None:
        config = dataclasses.replace(config, n_envs=n_envs)
    env = training_env(config)
    return env, new_model(config, env, algo, device)


def start_from_run(model: Any, other_run: Path) -> None:
    """Load another run's trained policy weights (``agent/``, safetensors) into ``model``; a policy of another
    architecture is refused, naming both."""
    from fusiongym.agents.checkpoint import CheckpointError, load_policy_weights

    try:
        load_policy_weights(model.policy, Path(other_run) / AGENT_FOLDER)
    except CheckpointError as err:
        raise ConfigError(f"--init-from {other_run}: its agent does not fit the policy this run builds ({err}); "
                          "use the same --policy and fusion settings as that run") from None


def check_device(device: str) -> str:
    """``device`` if torch can use it here, else a ConfigError naming what is available."""
    import torch

    try:
        resolved = torch.device("cuda" if device == "auto" and torch.cuda.is_available() else
                                "cpu" if device == "auto" else device)
    except (RuntimeError, TypeError) as err:
        raise ConfigError(f"--device {device!r} is not a torch device ({err}): use cpu, cuda, cuda:N or auto") from None
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"--device {device}: torch sees no CUDA device here (torch {torch.__version__}); use "
                          "--device cpu")
    if resolved.type == "cuda" and resolved.index is not None and resolved.index >= torch.cuda.device_count():
        raise ConfigError(f"--device {device}: this machine has {torch.cuda.device_count()} CUDA device(s); use "
                          "cuda:0 … or --device cpu")
    return str(resolved)


def count_parameters(model: Any) -> dict[str, int]:
    """Total and trainable parameters of an SB3 model's policy."""
    parameters = list(model.policy.parameters())
    return {"total": int(sum(p.numel() for p in parameters)),
            "trainable": int(sum(p.numel() for p in parameters if p.requires_grad))}
