"""The diagnosis scripts in benchmarks/ run on a tiny budget and report what they say they report."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

pytest.importorskip("stable_baselines3")
from fusiongym.agents import make_agent, save_agent

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def _script(name: str):
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def untrained_agent(tmp_path_factory: pytest.TempPathFactory) -> Path:
    model = make_agent("ppo", "fusiongym/GoTo-v1", policy="cnn", seed=0, n_steps=16, batch_size=16)
    return save_agent(model, tmp_path_factory.mktemp("agent") / "agent")


def test_oracle_agreement_counts_every_lost_episode_by_what_it_faced(untrained_agent: Path) -> None:
    report = _script("oracle_agreement").main(
        [str(untrained_agent), "--env", "fusiongym/GoTo-v1", "--episodes", "6", "--mix", "1", "--sample"])
    assert sum(report["outcomes"].values()) == 6
    lost = report["outcomes"].get("lost", 0)
    assert lost > 0  # an untrained agent on GoTo-v1 walks into wrong objects or says done
    assert sum(report["lost_facing"].values()) == lost
    assert set(report["lost_facing"]) <= {"done", "nothing", "neither", "same colour", "same shape",
                                          "same colour and shape"}
    assert 0.0 <= report["agreement"] <= 1.0


def test_oracle_agreement_with_the_oracle_leading_wins_every_episode(untrained_agent: Path) -> None:
    report = _script("oracle_agreement").main(
        [str(untrained_agent), "--env", "fusiongym/GoTo-v1", "--episodes", "3", "--mix", "0"])
    assert report["outcomes"] == {"won": 3} and report["lost_facing"] == {}


def test_where_reads_land_finds_strict_reads_on_the_records_the_rule_names(tmp_path: Path) -> None:
    from fusiongym.fusion import FusionConfig

    fusion = FusionConfig.preset("reading", named_retrieval=True, follow_retrieval=True, strict_reads=True)
    model = make_agent("ppo", "fusiongym/Unlock-v1", fusion=fusion, seed=0, n_steps=16, batch_size=16)
    agent = save_agent(model, tmp_path / "agent")
    report = _script("where_reads_land").main([str(agent), "--env", "fusiongym/Unlock-v1", "--episodes", "5"])
    assert set(report["reads"]) == {"named", "follow"}  # Unlock: the treasure, then the key to its door
    assert report["reads"]["named"]["target_holds_most"] == 1.0
    assert report["reads"]["follow"]["target_holds_most"] == 1.0  # strict: only what the treasure points to
