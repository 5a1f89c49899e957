"""One registry of algorithms, policies and built-in agents: everything that lists them reads it."""

from __future__ import annotations

import argparse
import importlib.util
from pathlib import Path

import pytest

from fusiongym.agents.registry import ALGORITHMS, BUILTIN_AGENTS, POLICIES, algorithm
from fusiongym.training.config import ConfigError, build_run_config, default_config_dir

REPO = Path(__file__).resolve().parents[1]


def _choices(parser: argparse.ArgumentParser, command: str, option: str) -> list[str]:
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices[command]
    return list(next(a for a in sub._actions if option in a.option_strings).choices)


def test_the_cli_offers_what_the_registry_lists() -> None:
    from fusiongym.training.cli import build_parser

    parser = build_parser()
    assert _choices(parser, "train", "--algo") == list(ALGORITHMS)
    assert _choices(parser, "train", "--policy") == list(POLICIES)
    assert _choices(parser, "eval", "--agent") == list(BUILTIN_AGENTS)
    assert _choices(parser, "record", "--agent") == list(BUILTIN_AGENTS)


@pytest.mark.parametrize("name", list(ALGORITHMS))
def test_every_algorithm_has_a_config_file_and_takes_exactly_its_policies(name: str) -> None:
    spec = algorithm(name)
    assert (default_config_dir() / f"{name}.yml").is_file()
    for policy in POLICIES:
        if policy in spec.policies:
            config = build_run_config("fusiongym/GoTo-v1", name, policy, timesteps=64)
            config.validate()
            if spec.family == "tabular":
                assert config.n_envs == 1  # a table steps one env
        else:
            with pytest.raises(ConfigError, match=f"does not fit --algo {name}"):
                build_run_config("fusiongym/GoTo-v1", name, policy, timesteps=64).validate()


def test_init_from_is_refused_exactly_where_the_registry_says(tmp_path: Path) -> None:
    for name, spec in ALGORITHMS.items():
        config = build_run_config("fusiongym/GoTo-v1", name, spec.policies[0], timesteps=64)
        config.init_from = str(tmp_path)
        if spec.init_from:
            config.validate()
        else:
            with pytest.raises(ConfigError, match=f"--algo {name} cannot use it: choose one of ppo"):
                config.validate()


def test_the_leaderboard_trains_only_registered_pairs_and_an_unknown_algo_names_the_choices() -> None:
    spec = importlib.util.spec_from_file_location("make_leaderboard", REPO / "scripts" / "make_leaderboard.py")
    script = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(script)
    for name, pair in script.LEARNED.items():
        algo, policy = pair
        assert policy in algorithm(algo).policies, name
    with pytest.raises(ValueError, match="unknown algo 'a2c': choose one of ppo, dqn"):
        algorithm("a2c")
