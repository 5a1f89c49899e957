"""Hyperparameter YAML files, --hp overrides and the resolved RunConfig: merges and errors that name the fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from fusiongym.envs import env_ids
from fusiongym.training.config import (
    ALGOS,
    ConfigError,
    RunConfig,
    build_run_config,
    default_config_dir,
    parse_overrides,
    resolve_hyperparams,
)

POLICY = {"ppo": "fusion", "dqn": "cnn", "recurrent_ppo": "fusion", "qlearning": "tabular", "bc": "fusion",
          "dagger": "fusion"}


@pytest.mark.parametrize("algo", ALGOS)
def test_shipped_configs_resolve_for_every_registered_env(algo: str) -> None:
    for env_id in env_ids():
        config = build_run_config(env_id, algo, POLICY[algo])
        assert config.env_id == env_id and config.total_timesteps > 0
        assert config.hyperparams_file == str(default_config_dir() / f"{algo}.yml")


def test_env_entry_merges_over_default_and_overrides_come_last(tmp_path: Path) -> None:
    path = tmp_path / "ppo.yml"
    path.write_text("default:\n  n_steps: 64\n  learning_rate: 0.001\n  fusion: {block: {kind: film, hidden_dim: 64}}\n"
                    "fusiongym/GoTo-v0:\n  n_steps: 32\n  fusion: {block: {hidden_dim: 32}}\n")
    hyperparams, _ = resolve_hyperparams("ppo", "fusion", "fusiongym/GoTo-v0", ["learning_rate=3e-4",
                                                                               "fusion.block.kind=concat"], path)
    assert hyperparams["n_steps"] == 32
    assert hyperparams["learning_rate"] == pytest.approx(3e-4)
    assert hyperparams["fusion"] == {"block": {"kind": "concat", "hidden_dim": 32}}
    other, _ = resolve_hyperparams("ppo", "fusion", "fusiongym/Fetch-v0", [], path)
    assert other["n_steps"] == 64 and other["fusion"]["block"] == {"kind": "film", "hidden_dim": 64}
    # the 0.1.0 flat keys land in the same place
    flat, _ = resolve_hyperparams("ppo", "fusion", "fusiongym/GoTo-v0", ["fusion.block.kind=concat"], path)
    assert flat["fusion"] == hyperparams["fusion"]


def test_run_config_round_trips_through_a_dict() -> None:
    config = build_run_config("fusiongym/GoTo-v0", "ppo", "cnn", seed=3, timesteps=1234,
                              overrides=["n_envs=4", "env_kwargs.max_steps=50",
                                         "train_env_kwargs.shuffle_appearance=true"])
    again = RunConfig.from_dict(config.to_dict())
    assert again == config and again.n_envs == 4 and again.total_timesteps == 1234
    assert again.env_kwargs == {"max_steps": 50}
    assert again.training_env_kwargs == {"max_steps": 50, "shuffle_appearance": True}


@pytest.mark.parametrize("text, fix", [
    ("default:\n  n_steps: [1, 2\n", "not valid YAML at line"),
    ("- just\n- a list\n", "must map env ids"),
    ("default:\n  lerning_rate: 0.1\n", "did you mean 'learning_rate'"),
    ("default:\n  n_envs: 0\n", "n_envs must be a positive int"),
    ("default:\n  n_timesteps: 1e5\n", "write 100000, not 1e5"),
    ("GoTo:\n  n_steps: 64\n", "neither 'default' nor an env id"),
    ("default:\n  fusion: {fusion: telepathy}\n", "choose one of concat"),
    ("default:\n  learning_rate: fast\n", "learning_rate must be a number"),
])
def test_malformed_config_names_the_fix(tmp_path: Path, text: str, fix: str) -> None:
    path = tmp_path / "ppo.yml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        resolve_hyperparams("ppo", "fusion", "fusiongym/GoTo-v0", [], path)
    assert fix in str(err.value)


def test_fusion_settings_with_a_vision_only_policy_are_refused(tmp_path: Path) -> None:
    """A file's fusion settings are for its fusion policy (dagger.yml's reading preset, say): other policies leave
    them out; asking for them on the command line with another policy is an error."""
    path = tmp_path / "ppo.yml"
    path.write_text("default:\n  fusion: {fusion: film}\n")
    hyperparams, _ = resolve_hyperparams("ppo", "cnn", "fusiongym/GoTo-v0", [], path)
    assert "fusion" not in hyperparams
    with pytest.raises(ConfigError, match="--policy fusion only"):
        resolve_hyperparams("ppo", "cnn", "fusiongym/GoTo-v0", ["fusion.block.kind=concat"], path)


@pytest.mark.parametrize("override, fix", [("learning_rate", "is not key=value"), ("=3", "is not key=value")])
def test_bad_override_names_the_fix(override: str, fix: str) -> None:
    with pytest.raises(ConfigError, match=fix):
        parse_overrides([override])


def test_unknown_env_algo_and_policy_are_named() -> None:
    with pytest.raises(ConfigError, match="unknown env id 'fusiongym/Nope-v0'.*fusiongym envs"):
        build_run_config("fusiongym/Nope-v0", "ppo", "fusion")
    with pytest.raises(ConfigError, match="unknown algo 'sac'"):
        build_run_config("fusiongym/GoTo-v0", "sac", "fusion")
    with pytest.raises(ConfigError, match="choose one of tabular"):
        build_run_config("fusiongym/GoTo-v0", "qlearning", "fusion")


def test_configs_ship_inside_the_package() -> None:
    """A non-editable install finds the hyperparameter files: they are package data of fusiongym.training."""
    from importlib.resources import files

    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11

    shipped = files("fusiongym.training") / "configs"
    for algo in ALGOS:
        assert (shipped / f"{algo}.yml").is_file()
    pyproject = tomllib.loads((Path(__file__).resolve().parent.parent / "pyproject.toml").read_text())
    assert "configs/*.yml" in pyproject["tool"]["setuptools"]["package-data"]["fusiongym.training"]


def test_build_env_and_model_builds_what_the_config_says() -> None:
    import dataclasses

    import torch

    from fusiongym.training.build import build_env_and_model
    from fusiongym.training.config import ConfigError, build_run_config

    config = build_run_config("fusiongym/GoTo-v1", "ppo", "cnn", seed=3,
                              overrides=["n_envs=4", "n_steps=8", "batch_size=8", "learning_rate=0.001"])
    env, model = build_env_and_model(config)
    assert env.num_envs == 4 and model.n_steps == 8 and model.learning_rate == 0.001 and model.seed == 3
    fewer, same = build_env_and_model(config, n_envs=2)  # the same seeded weights on a smaller batch
    assert fewer.num_envs == 2
    for (name, a), (_, b) in zip(model.policy.state_dict().items(), same.policy.state_dict().items(), strict=True):
        assert torch.equal(a, b), name
    with pytest.raises(ConfigError, match="train_env_kwargs do not fit"):
        build_env_and_model(dataclasses.replace(config, train_env_kwargs={"no_such_kwarg": 1}))
