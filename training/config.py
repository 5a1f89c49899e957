"""Hyperparameters per env id and algorithm (RL-Zoo style YAML) and the resolved config of a run.

``training/configs/<algo>.yml`` (installed with the package as ``fusiongym.training``'s data) maps env ids to
hyperparameters; a ``default`` entry applies to every env and an env's own entry is merged over it;
``--hp key=value`` overrides come last::

    default:
      n_envs: 16
      n_timesteps: 100000
      n_steps: 128
      learning_rate: 0.0005
    fusiongym/GoTo-v0:
      n_timesteps: 200000

Besides the algorithm's own keyword arguments (``PPO(...)``'s ``n_steps``, ``learning_rate``…), an entry may hold
``n_envs`` (worlds in the native batch), ``n_timesteps`` (the budget when ``--timesteps`` is not given),
``policy_kwargs`` (e.g. ``net_arch``), ``fusion`` (:class:`~fusiongym.fusion.FusionConfig` fields, ``fusion``
policy only), ``env_kwargs`` (level keyword arguments, for training and evaluation) and ``train_env_kwargs``
(level keyword arguments for the training worlds only, merged over ``env_kwargs``: a training recipe such as
``shuffle_appearance`` that must not change what the run is evaluated on). Every error names the file, the entry
and the fix.
"""

from __future__ import annotations

import dataclasses
import difflib
import inspect
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from fusiongym.agents.registry import ALGORITHMS, algorithm
from fusiongym.agents.registry import BUILTIN_AGENTS as BUILTIN_AGENT_SUMMARIES
from fusiongym.envs.language import SPLITS

#: The algorithms ``fusiongym train`` runs, by name (:data:`fusiongym.agents.registry.ALGORITHMS` says what each is).
ALGOS = tuple(ALGORITHMS)
#: Keys every config entry may hold besides the algorithm's own keyword arguments.
RUN_KEYS = ("n_envs", "n_timesteps", "policy_kwargs", "fusion", "env_kwargs", "train_env_kwargs", "eval_every",
            "eval_episodes", "value_warmup", "save_replay_buffer")
#: Q-learning's keyword arguments (``fusiongym.agents.QLearningAgent``).
QLEARNING_KEYS = ("alpha", "gamma", "epsilon")
#: SB3 constructor arguments that ``fusiongym train`` sets itself.
_SET_BY_TRAIN = {"self", "policy", "env", "seed", "device", "verbose", "tensorboard_log", "_init_setup_model",
                 "policy_kwargs", "kwargs", "args"}


class ConfigError(ValueError):
    """A hyperparameter file, entry or override that cannot be used; the message says how to fix it."""


def default_config_dir() -> Path:
    """``$FUSIONGYM_CONFIGS``, else the ``configs/`` folder installed with ``fusiongym.training``."""
    env = os.environ.get("FUSIONGYM_CONFIGS")
    return Path(env) if env else Path(__file__).resolve().parent / "configs"


#: Agents that need no run folder (``fusiongym eval --agent``, ``record --agent``, the baselines).
BUILTIN_AGENTS = tuple(BUILTIN_AGENT_SUMMARIES)


def _family(algo: str) -> str | None:
    """The registered family of ``algo`` (``None`` for an unknown one, which validation reports)."""
    return ALGORITHMS[algo].family if algo in ALGORITHMS else None


def algo_keys(algo: str) -> tuple[str, ...]:
    """The hyperparameter names an algorithm accepts (its constructor's keyword arguments)."""
    if _family(algo) == "tabular":
        return QLEARNING_KEYS
    if _family(algo) == "imitation":
        from fusiongym.agents.imitation import Imitation

        parameters = inspect.signature(Imitation.__init__).parameters
        return (*(name for name in parameters if name not in {"self", "model", "env", "expert", "seed", "goal_cells"}
                  and not (algo == "bc" and name in ("mix", "mix_warmup"))),  # behaviour cloning: the expert acts
                "recurrent",  # the learner: PPO's policy, or RecurrentPPO's (an LSTM) when true
                "explore")  # the expert: the oracle knowing only what the agent has seen, when true
    from fusiongym.agents.factory import algorithm_class

    parameters = inspect.signature(algorithm_class(algo).__init__).parameters
    return tuple(name for name in parameters if name not in _SET_BY_TRAIN)


def _unknown_key_error(key: str, allowed: tuple[str, ...], where: str) -> ConfigError:
    close = difflib.get_close_matches(key, allowed, n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    return ConfigError(f"unknown hyperparameter {key!r} in {where}: {hint}allowed keys are {', '.join(allowed)}")


def load_hyperparams_file(path: Path) -> dict[str, dict[str, Any]]:
    """Parse a hyperparameter YAML file into ``{env id or "default": {key: value}}``."""
    if not path.is_file():
        raise ConfigError(f"hyperparameter file {path} not found: create it (see training/configs/ppo.yml) or pass "
                          "--hyperparams PATH")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        line = f" at line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{path} is not valid YAML{line} ({getattr(err, 'problem', err)}): fix the syntax") from None
    if data is None:
        raise ConfigError(f"{path} is empty: write a `default:` entry (see training/configs/ppo.yml), or leave out "
                          "--hyperparams to use the shipped file")
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must map env ids (or 'default') to hyperparameter mappings, got a "
                          f"{type(data).__name__}: write `default:` / `fusiongym/GoTo-v0:` entries")
    for entry, values in data.items():
        if not isinstance(values, dict):
            raise ConfigError(f"{path}: entry {entry!r} must be a mapping of hyperparameters (key: value), got "
                              f"{values!r}")
    return coerce_numbers(data)


def coerce_numbers(value: Any) -> Any:
    """YAML 1.1 reads ``3e-4`` (no dot) as a string; read such strings as the numbers they spell."""
    if isinstance(value, dict):
        return {k: coerce_numbers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [coerce_numbers(v) for v in value]
    if isinstance(value, str):
        try:
            return float(value) if any(c in value.lower() for c in ".e") else int(value)
        except ValueError:
            return value
    return value


def parse_overrides(overrides: list[str]) -> dict[str, Any]:
    """``["learning_rate=3e-4", "fusion.block.kind=concat"]`` → ``{"learning_rate": 0.0003, "fusion": {"block": …}}``.

    Values are read as YAML (numbers, booleans, lists); a dotted key sets a field of a nested mapping.
    """
    result: dict[str, Any] = {}
    for item in overrides:
        key, sep, text = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"--hp {item!r} is not key=value: write e.g. --hp learning_rate=3e-4")
        try:
            value = coerce_numbers(yaml.safe_load(text))
        except yaml.YAMLError:
            raise ConfigError(f"--hp {item!r}: the value is not valid YAML; quote strings or fix lists "
                              "(e.g. --hp 'policy_kwargs={net_arch: [64, 64]}')") from None
        *parents, leaf = key.split(".")
        target = result
        for parent in parents:
            target = target.setdefault(parent, {})
            if not isinstance(target, dict):
                raise ConfigError(f"--hp {item!r}: {parent!r} was already given a plain value")
        target[leaf] = value
    return result


def _merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in update.items():
        if key == "fusion" and isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge_fusion(out[key], value)
        elif isinstance(value, dict) and isinstance(out.get(key), dict) and key in ("env_kwargs", "train_env_kwargs",
                                                                                   "policy_kwargs"):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def merge_fusion(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    """Fusion settings ``update`` over ``base``, field by field within each section (either may use the 0.1.0 flat
    keys)."""
    from fusiongym.fusion.config import merge_sections, nest_flat_keys

    return merge_sections(nest_flat_keys(base), nest_flat_keys(update))


def validate_hyperparams(hyperparams: dict[str, Any], algo: str, policy: str, where: str) -> None:
    """Raise :class:`ConfigError` naming the fix when a key or value cannot be used by ``algo`` / ``policy``."""
    allowed = (*RUN_KEYS, *algo_keys(algo))
    for key in hyperparams:
        if key not in allowed:
            raise _unknown_key_error(key, allowed, where)
    n_envs = hyperparams.get("n_envs", 1)
    if not isinstance(n_envs, int) or n_envs < 1:
        raise ConfigError(f"n_envs must be a positive int in {where}, got {n_envs!r}")
    if _family(algo) == "tabular" and n_envs != 1:
        raise ConfigError(f"{algo} steps one env: set n_envs: 1 (or remove it) in {where}")
    steps = hyperparams.get("n_timesteps")
    if steps is not None and (not isinstance(steps, int) or steps < 1):
        raise ConfigError(f"n_timesteps must be a positive int in {where}, got {steps!r} (write 100000, not 1e5)")
    for key in ("fusion", "env_kwargs", "train_env_kwargs", "policy_kwargs"):
        if not isinstance(hyperparams.get(key, {}), dict):
            raise ConfigError(f"{key} must be a mapping in {where}, got {hyperparams[key]!r}")
    if hyperparams.get("fusion") and policy != "fusion":
        raise ConfigError(f"'fusion' settings apply to --policy fusion only (got --policy {policy}) in {where}: "
                          "remove them or choose --policy fusion")
    if hyperparams.get("fusion"):
        from fusiongym.fusion.config import FusionConfig, FusionConfigError

        try:
            FusionConfig.from_dict(hyperparams["fusion"])
        except (FusionConfigError, TypeError) as err:
            raise ConfigError(f"fusion settings in {where}: {err}") from None
    for key, value in hyperparams.items():
        if key in ("learning_rate", "gamma", "alpha", "epsilon", "ent_coef", "clip_range") and not isinstance(
                value, (int, float)):
            raise ConfigError(f"{key} must be a number in {where}, got {value!r}")
    if not isinstance(hyperparams.get("save_replay_buffer", True), bool):
        raise ConfigError(f"save_replay_buffer must be true or false in {where}, got "
                          f"{hyperparams['save_replay_buffer']!r}")
    warmup = hyperparams.get("value_warmup", 0)
    if not isinstance(warmup, int) or isinstance(warmup, bool) or warmup < 0:
        raise ConfigError(f"value_warmup must be a non-negative int (steps) in {where}, got {warmup!r}")
    if warmup and algo not in ("ppo", "recurrent_ppo"):
        raise ConfigError(f"value_warmup trains only the value head of an actor-critic at first; --algo {algo} has "
                          f"none: remove it in {where}")
    for key in ("eval_every", "eval_episodes"):
        value = hyperparams.get(key, 0 if key == "eval_every" else 100)
        if not isinstance(value, int) or isinstance(value, bool) or value < (0 if key == "eval_every" else 1):
            raise ConfigError(f"{key} must be a {'non-negative' if key == 'eval_every' else 'positive'} int in "
                              f"{where}, got {value!r}")
    if _family(algo) == "imitation":
        from fusiongym.agents.imitation import check_imitation_kwargs

        try:
            check_imitation_kwargs(**{k: v for k, v in hyperparams.items() if k in algo_keys(algo)})
        except ValueError as err:
            raise ConfigError(f"{err} in {where}") from None


def resolve_hyperparams(algo: str, policy: str, env_id: str, overrides: list[str] | None = None,
                        path: Path | None = None) -> tuple[dict[str, Any], Path]:
    """``default`` entry, then the env's entry, then ``--hp`` overrides, validated; returns ``(hyperparams, file)``."""
    path = path or default_config_dir() / f"{algo}.yml"
    data = load_hyperparams_file(path)
    unknown_envs = sorted(k for k in data if k != "default" and not str(k).startswith("fusiongym/"))
    if unknown_envs:
        raise ConfigError(f"{path}: entries {unknown_envs} are neither 'default' nor an env id "
                          "(fusiongym/Name-vN): rename them")
    if policy != "fusion":  # a file's fusion settings are for its fusion policy; other policies leave them out
        data = {entry: {k: v for k, v in values.items() if k != "fusion"} for entry, values in data.items()}
    for entry in ("default", env_id):
        if entry in data:
            validate_hyperparams(data[entry], algo, policy, f"{path} [{entry}]")
    hyperparams = _merge(data.get("default", {}), data.get(env_id, {}))
    hyperparams = _merge(hyperparams, parse_overrides(overrides or []))
    validate_hyperparams(hyperparams, algo, policy, f"{path} [{env_id}] with --hp overrides")
    return hyperparams, path


@dataclass
class RunConfig:
    """Everything that defines a training run; saved as ``config.yaml`` in the run folder."""

    env_id: str
    algo: str
    policy: str
    seed: int = 0
    total_timesteps: int = 100_000
    n_envs: int = 16
    checkpoint_every: int = 10_000
    hyperparams: dict[str, Any] = field(default_factory=dict)  # the algorithm's keyword arguments
    fusion: dict[str, Any] = field(default_factory=dict)
    policy_kwargs: dict[str, Any] = field(default_factory=dict)
    env_kwargs: dict[str, Any] = field(default_factory=dict)  # the level's kwargs: training and evaluation
    train_env_kwargs: dict[str, Any] = field(default_factory=dict)  # merged over env_kwargs for training only
    hyperparams_file: str = ""
    wandb: bool = False
    suite_version: str = ""
    eval_every: int = 0  # steps between evaluations during training (0: none)
    eval_episodes: int = 100  # episodes of each of those evaluations (the protocol's fixed seeds of eval_split)
    eval_split: str = "test"  # the split of those evaluations: "train" for a sweep, which must not select on test
    value_warmup: int = 0  # PPO: steps during which only the value head learns (fine-tuning a policy from elsewhere)
    save_replay_buffer: bool = True  # DQN: checkpoint the replay buffer (compressed .npz) so a resume learns on from it
    init_from: str = ""  # a run folder whose trained agent's weights start this run (PPO fine-tuning)

    def validate(self) -> None:
        """Raise :class:`ConfigError` naming the fix if this run cannot be started."""
        import gymnasium as gym

        from fusiongym.envs import env_ids

        if self.env_id not in gym.registry or not self.env_id.startswith("fusiongym/"):
            raise ConfigError(f"unknown env id {self.env_id!r}: run `fusiongym envs` to list them "
                              f"({', '.join(env_ids())})")
        if self.algo not in ALGORITHMS:
            raise ConfigError(f"unknown algo {self.algo!r}: choose one of {', '.join(ALGORITHMS)}")
        allowed = algorithm(self.algo).policies
        if self.policy not in allowed:
            raise ConfigError(f"--policy {self.policy!r} does not fit --algo {self.algo}: choose one of "
                              f"{', '.join(allowed)}")
        for name in ("total_timesteps", "n_envs", "checkpoint_every", "eval_episodes"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"{name} must be a positive int, got {value!r}")
        if not isinstance(self.eval_every, int) or self.eval_every < 0:
            raise ConfigError(f"eval_every must be a non-negative int (0: no evaluation during training), got "
                              f"{self.eval_every!r}")
        if self.eval_split not in SPLITS:
            raise ConfigError(f"eval_split must be one of {SPLITS}, got {self.eval_split!r}")
        if self.init_from and not algorithm(self.algo).init_from:
            able = ", ".join(name for name, spec in ALGORITHMS.items() if spec.init_from)
            raise ConfigError(f"--init-from starts training from a run's weights; --algo {self.algo} cannot use it: "
                              f"choose one of {able}")

    @property
    def training_env_kwargs(self) -> dict[str, Any]:
        """The level keyword arguments of the training worlds (``env_kwargs`` updated by ``train_env_kwargs``)."""
        return {**self.env_kwargs, **self.train_env_kwargs}

    def to_dict(self) -> dict[str, Any]:
        """Plain data for ``config.yaml``."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str = "config") -> RunConfig:
        """Rebuild (and validate) a config read from ``config.yaml``; unknown or missing keys are named."""
        if not isinstance(data, dict):
            raise ConfigError(f"{where} must be a mapping of run settings, got {type(data).__name__}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"{where} has unknown keys {unknown}: valid keys are {sorted(known)}")
        missing = sorted(k for k in ("env_id", "algo", "policy") if k not in data)
        if missing:
            raise ConfigError(f"{where} lacks {missing}: the run folder is incomplete; start a new run")
        config = cls(**data)
        config.validate()
        return config


def build_run_config(env_id: str, algo: str, policy: str, seed: int = 0, timesteps: int | None = None,
                     overrides: list[str] | None = None, hyperparams_file: Path | None = None,
                     checkpoint_every: int | None = None, wandb: bool = False, eval_every: int | None = None,
                     init_from: str | Path | None = None) -> RunConfig:
    """Resolve the YAML hyperparameters and command-line settings into a validated :class:`RunConfig`."""
    import fusiongym

    probe = RunConfig(env_id=env_id, algo=algo, policy=policy, seed=seed)
    probe.validate()  # unknown env ids / algos are named before any file is read
    hyperparams, path = resolve_hyperparams(algo, policy, env_id, overrides, hyperparams_file)
    hyperparams = dict(hyperparams)
    if init_from:  # the weights come with the architecture and the training recipe they were trained with
        source = _source_run_settings(Path(init_from))
        given = parse_overrides(overrides or [])
        if policy == "fusion":
            hyperparams["fusion"] = merge_fusion(source.get("fusion", {}), given.get("fusion", {}))
        hyperparams["policy_kwargs"] = {**source.get("policy_kwargs", {}), **given.get("policy_kwargs", {})}
        hyperparams["train_env_kwargs"] = {**source.get("train_env_kwargs", {}),
                                           **given.get("train_env_kwargs", {})}
    total = timesteps if timesteps is not None else hyperparams.pop("n_timesteps", 100_000)
    hyperparams.pop("n_timesteps", None)
    n_envs = hyperparams.pop("n_envs", algorithm(algo).default_n_envs)  # probe.validate() named an unknown algo
    config = RunConfig(
        env_id=env_id, algo=algo, policy=policy, seed=seed, total_timesteps=total, n_envs=n_envs,
        checkpoint_every=checkpoint_every if checkpoint_every is not None else max(total // 10, 1),
        fusion=hyperparams.pop("fusion", {}) or {}, policy_kwargs=hyperparams.pop("policy_kwargs", {}) or {},
        env_kwargs=hyperparams.pop("env_kwargs", {}) or {},
        train_env_kwargs=hyperparams.pop("train_env_kwargs", {}) or {},
        eval_every=eval_every if eval_every is not None else hyperparams.pop("eval_every", 0),
        eval_episodes=hyperparams.pop("eval_episodes", 100), init_from=str(init_from or ""),
        value_warmup=hyperparams.pop("value_warmup", 0),
        save_replay_buffer=hyperparams.pop("save_replay_buffer", True),
        hyperparams={k: v for k, v in hyperparams.items() if k not in ("eval_every", "eval_episodes")},
        hyperparams_file=str(path), wandb=wandb, suite_version=fusiongym.__version__,
    )
    config.validate()
    return config


def _source_run_settings(run_dir: Path) -> dict[str, Any]:
    """What ``--init-from RUN`` inherits from RUN's ``config.yaml``: its fusion settings, policy_kwargs and
    train_env_kwargs (overrides given with --hp still win)."""
    if not (run_dir / "agent" / "config.json").is_file():
        raise ConfigError(f"--init-from {run_dir}: no trained agent there (agent/config.json is missing): pass a "
                          "finished run folder made by `fusiongym train`")
    try:
        data = yaml.safe_load((run_dir / "config.yaml").read_text())
    except (OSError, yaml.YAMLError) as err:
        raise ConfigError(f"--init-from {run_dir}: its config.yaml cannot be read ({err})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"--init-from {run_dir}: its config.yaml is not a run config")
    return {key: data.get(key) or {} for key in ("fusion", "policy_kwargs", "train_env_kwargs")}
