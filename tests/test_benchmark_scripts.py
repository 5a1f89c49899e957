"""The scripts in benchmarks/ run on a tiny budget and report what they say they report.

Each script's ``main(argv)`` returns what it prints. multiagent_baseline.py has its own tests
(test_multiagent_baseline.py)."""

from __future__ import annotations

import importlib.util
import logging
import math
from pathlib import Path

import gymnasium as gym
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
    by_look = report["by_goal_look"]  # every episode once, under its goal's look, with the same outcome
    assert sum(sum(counts.values()) for counts in by_look.values()) == 6
    assert sum(counts.get("lost", 0) for counts in by_look.values()) == lost


def test_oracle_agreement_with_the_oracle_leading_wins_every_episode(untrained_agent: Path) -> None:
    report = _script("oracle_agreement").main(
        [str(untrained_agent), "--env", "fusiongym/GoTo-v1", "--episodes", "3", "--mix", "0"])
    assert report["outcomes"] == {"won": 3} and report["lost_facing"] == {}


def test_where_reads_land_finds_strict_reads_on_the_records_the_rule_names(tmp_path: Path) -> None:
    from fusiongym.fusion import FusionConfig

    fusion = FusionConfig.preset("following")
    model = make_agent("ppo", "fusiongym/Unlock-v1", fusion=fusion, seed=0, n_steps=16, batch_size=16)
    agent = save_agent(model, tmp_path / "agent")
    report = _script("where_reads_land").main([str(agent), "--env", "fusiongym/Unlock-v1", "--episodes", "5"])
    assert set(report["reads"]) == {"named", "follow"}  # Unlock: the treasure, then the key to its door
    assert report["reads"]["named"]["target_holds_most"] == 1.0
    assert report["reads"]["follow"]["target_holds_most"] == 1.0  # strict: only what the treasure points to


def _check_rate(result: dict) -> None:
    """A success rate as the scripts report it: a fraction inside its 95% interval."""
    low, high = result["ci95"]
    assert 0.0 <= low <= result["success"] <= high <= 1.0, result


def test_env_speed_reports_a_positive_rate_per_row_and_ratios_to_minigrid() -> None:
    report = _script("env_speed").main(["--steps", "40", "--num-envs", "4", "--repeats", "1",
                                        "--levels", "fusiongym/GoTo-v1"])
    rows = report["rows"]
    assert [(r["env"], r["mode"]) for r in rows] == [("MiniGrid BabyAI-GoToLocal-v0 (RGB 56x56)", "1 env"),
                                                     ("fusiongym/GoTo-v1", "1 env"),
                                                     ("fusiongym/GoTo-v1", "native vector x4")]
    assert all(math.isfinite(r["steps_per_second"]) and r["steps_per_second"] > 0 for r in rows)
    assert all(r["ratio"] == pytest.approx(r["steps_per_second"] / rows[0]["steps_per_second"]) for r in rows)
    assert report["single_target_met"] == (rows[1]["ratio"] >= 5)
    assert report["vector_target_met"] == (rows[2]["ratio"] >= 100)
    assert logging.root.manager.disable == logging.NOTSET  # MiniGrid's warnings were silenced only while measured


def test_fusion_speed_reports_each_policy_and_its_ratio_to_the_cnn() -> None:
    report = _script("fusion_speed").main(["--env", "fusiongym/GoTo-v1", "--rounds", "1",
                                           "--hp", "n_envs=2", "n_steps=8", "batch_size=16", "n_epochs=1"])
    assert report["timesteps"] == 16
    policies = report["policies"]
    assert len(policies) == 5 and next(iter(policies)) == "(a) cnn"
    for name, row in policies.items():
        assert len(row["rounds"]) == 1, name
        assert all(math.isfinite(v) and v > 0 for v in (row["wall"], row["cpu"], *row["rounds"][0])), name
    base = policies["(a) cnn"]
    for label, key in (("wall", "wall"), ("CPU", "cpu")):
        assert report["ratios"][label] == {name[:3] + "/(a)": pytest.approx(row[key] / base[key])
                                           for name, row in policies.items() if name != "(a) cnn"}
    assert base["cache"] == {}  # no language backbone
    assert policies["(b) fusion, frozen MiniLM + cache"]["cache"]["cache_hits"] > 0  # instructions repeat
    assert policies["(c) fusion, frozen MiniLM, no cache"]["cache"]["cache_hits"] == 0


def test_imitate_fusion_evaluates_at_each_interval_and_at_the_last_update(tmp_path: Path,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(BENCHMARKS))  # it imports learn_fusion from its own folder, as a script does
    report = _script("imitate_fusion").main(
        ["--env", "fusiongym/Fetch-v0", "--updates", "3", "--envs", "2", "--rollout", "4", "--eval-every", "2",
         "--episodes", "2", "--out", str(tmp_path / "agent")])
    assert [e["update"] for e in report["evaluations"]] == [2, 3]
    assert [e["states"] for e in report["evaluations"]] == [2 * 2 * 4, 3 * 2 * 4]
    for evaluation in report["evaluations"]:
        _check_rate(evaluation["test"])
        _check_rate(evaluation["test_facts_zeroed"])
    _check_rate(report["test_instruction_zeroed"])
    assert report["run"]["updates"] == 3 and report["out"] == str(tmp_path / "agent")
    assert (tmp_path / "agent" / "policy.safetensors").is_file()


def test_knowledge_gap_oracle_reading_the_facts_wins_every_episode() -> None:
    module = _script("knowledge_gap")
    report = module.main(["--episodes", "2", "--controls"])
    levels = report["levels"]
    assert levels and all(gym.make(env_id).unwrapped.needs_knowledge for env_id in levels)
    for env_id, row in levels.items():
        assert row["with_facts"] == 1.0, env_id
        assert 0.0 <= row["without_facts"] <= 1.0 and row["gap"] == pytest.approx(1.0 - row["without_facts"])
        assert row["necessary"] == (row["without_facts"] <= 0.5), env_id
    small = [env_id for env_id in levels if "Large" not in env_id]
    assert list(report["controls"]) == list(module.CONTROLS)
    assert all(list(rates) == small for rates in report["controls"].values())
    assert set(report["controls"]["none"].values()) == {1.0}  # the true facts, shown as they are


def test_learn_fusion_evaluates_every_interval_then_ablates_what_the_level_reads(tmp_path: Path) -> None:
    report = _script("learn_fusion").main(
        ["--env", "fusiongym/Fetch-v0", "--policy", "cnn", "--timesteps", "64", "--eval-every", "32",
         "--episodes", "2", "--hp", "n_envs=2", "n_steps=16", "batch_size=32", "n_epochs=1",
         "--out", str(tmp_path / "agent")])
    assert [e["steps"] for e in report["evaluations"]] == [32, 64]
    for evaluation in report["evaluations"]:
        _check_rate(evaluation["test"])
    assert set(report["ablations"]) == {"test_instruction_zeroed", "test_facts_zeroed"}  # Fetch needs knowledge
    for result in report["ablations"].values():
        _check_rate(result)
    assert report["run"]["n_envs"] == 2 and (tmp_path / "agent" / "policy.safetensors").is_file()


def test_link_prediction_counts_add_up_and_pretraining_fits_the_training_triples() -> None:
    report = _script("link_prediction").main(["--epochs", "20", "--dim", "8"])
    assert report["train_triples"] + report["held_out_triples"] == report["triples"]
    assert sum(m["triples"] for m in report["held_out_by_relation"].values()) == report["held_out_triples"]
    for state in ("untrained", "pretrained"):
        for split in ("train", "held_out"):
            m = report[state][split]
            assert 1 / report["candidates"] <= m["mrr"] <= 1, (state, split)
            assert 0 <= m["hits@1"] <= m["hits@3"] <= m["hits@10"] <= 1, (state, split)
    assert report["pretrained"]["train"]["mrr"] > report["untrained"]["train"]["mrr"]


def test_reading_probe_reports_its_accuracies_and_saves_the_extractor(tmp_path: Path) -> None:
    report = _script("reading_probe").main(
        ["--env", "fusiongym/GoTo-v1", "--steps", "3", "--batch", "8", "--eval-states", "16",
         "--save-extractor", str(tmp_path / "extractor.safetensors")])
    assert 0.0 <= report["run"]["counted"] <= 1.0
    assert [e["step"] for e in report["evaluations"]] == [1, 2, 3]  # every max(1, steps // 5) steps
    for evaluation in report["evaluations"]:
        assert math.isfinite(evaluation["loss"]) and evaluation["loss"] > 0
        assert all(0.0 <= evaluation[k] <= 1.0 for k in ("train", "train_zeroed", "test", "test_zeroed"))
    assert report["saved"] == str(tmp_path / "extractor.safetensors") and Path(report["saved"]).is_file()


def test_reading_probe_names_the_look_of_a_held_out_composition() -> None:
    # Bring's test cures include a red ball, a shape x colour no training cure wears: a head with one class per
    # composition never names it (0.83 at most); the shape head and the colour head name it from the facts.
    report = _script("reading_probe").main(
        ["--env", "fusiongym/Bring-v1", "--env-kwargs", '{"shuffle_appearance": true}', "--target", "look",
         "--fusion", '{"preset": "named"}',
         "--steps", "40", "--batch", "64", "--eval-states", "300"])
    final = report["evaluations"][-1]
    assert final["test"] >= 0.95 and final["test_zeroed"] < 0.2


def test_matrix_scaling_builds_the_same_rows_with_one_worker_and_with_two() -> None:
    pytest.importorskip("ray")
    report = _script("matrix_scaling").main(["--levels", "fusiongym/GoTo-v1", "--agents", "random", "qlearning",
                                             "--seeds", "0", "--timesteps", "qlearning=200", "--episodes", "2"])
    assert report["one"]["status"] == report["many"]["status"] == 0
    assert report["one"]["rows"] == report["many"]["rows"] == 5  # random, qlearning-s0 and its three ablations
    assert report["speedup"] > 0
