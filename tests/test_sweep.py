"""``fusiongym sweep``: a tiny Ray Tune sweep with ASHA writes run folders, trials.csv and a usable best.yml;
malformed sweep files are refused with errors that name the fix; train()'s evaluation hook."""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import pytest
import yaml

from fusiongym.training.config import ConfigError, build_run_config, load_hyperparams_file
from fusiongym.training.sweep import add_sweep_arguments, load_sweep, sweep_command

TINY_PPO = ["n_envs=4", "n_steps=32", "batch_size=64", "n_epochs=1"]
SWEEP = {"env": "fusiongym/GoTo-v1", "algo": "ppo", "policy": "cnn", "timesteps": 512, "eval_every": 128,
         "eval_episodes": 4, "seeds": [0, 1], "num_samples": 2,
         "search_space": {"learning_rate": {"loguniform": [0.0001, 0.003]}, "ent_coef": {"choice": [0.0, 0.01]}},
         "scheduler": {"asha": {"grace_period": 1, "reduction_factor": 2}}, "hp": TINY_PPO}


def _write(tmp_path: Path, **changes) -> Path:
    path = tmp_path / "sweep.yml"
    path.write_text(yaml.safe_dump({**SWEEP, **changes}))
    return path


def test_a_tiny_sweep_with_early_stopping_writes_trials_and_a_best_config(tmp_path: Path) -> None:
    pytest.importorskip("ray.tune")
    import ray

    parser = argparse.ArgumentParser()
    add_sweep_arguments(parser)
    out = tmp_path / "sweep"
    args = parser.parse_args([str(_write(tmp_path)), "--out", str(out), "--workers", "2"])
    try:
        assert sweep_command(args) == 0
    finally:
        ray.shutdown()
    with open(out / "trials.csv", newline="") as handle:
        trials = list(csv.DictReader(handle))
    assert sorted(t["trial"] for t in trials) == ["draw0-s0", "draw0-s1", "draw1-s0", "draw1-s1"]
    for trial in trials:
        assert trial["error"] == ""
        assert int(trial["evaluations"]) >= 1  # ASHA's first rung is one evaluation: each trial reported
        config = yaml.safe_load((out / "trials" / trial["trial"] / "config.yaml").read_text())
        assert config["eval_split"] == "train" and config["seed"] == int(trial["seed"])
        records = [json.loads(line) for line in (out / "trials" / trial["trial"] / "evaluations.jsonl").open()]
        assert {r["split"] for r in records} == {"train"}  # never selected on the test split
        if trial["stopped_early"] == "False":  # ran its budget: a whole run folder, with its trained agent
            assert int(trial["num_timesteps"]) >= 512 and (out / "trials" / trial["trial"] / "agent").is_dir()
    entry = load_hyperparams_file(out / "best.yml")["fusiongym/GoTo-v1"]
    best_draws = [{k: float(t[k]) for k in ("learning_rate", "ent_coef")} for t in trials]
    assert {k: entry[k] for k in ("learning_rate", "ent_coef")} in best_draws
    assert entry["n_envs"] == 4 and entry["n_steps"] == 32 and entry["n_timesteps"] == 512
    config = build_run_config("fusiongym/GoTo-v1", "ppo", "cnn", hyperparams_file=out / "best.yml")
    assert config.total_timesteps == 512 and config.hyperparams["learning_rate"] == entry["learning_rate"]


@pytest.mark.parametrize(("changes", "fix"), [
    ({"search_space": {"learnin_rate": {"uniform": [0.0001, 0.001]}}}, "did you mean 'learning_rate'"),
    ({"search_space": {"learning_rate": {"logunifrom": [0.0001, 0.001]}}}, "did you mean 'loguniform'"),
    ({"search_space": {"learning_rate": {"loguniform": [0.0, 0.001]}}}, "low > 0"),
    ({"scheduler": {"hyperband": {}}}, "asha"),
    ({"seeds": 3}, "seeds must be a list"),
    ({"num_sample": 2}, "did you mean 'num_samples'"),
    ({"timesteps": None}, "timesteps must be an int from 1"),
    ({"eval_episodes": 100000}, "eval_episodes must be an int from 1 to"),
])
def test_a_malformed_sweep_file_names_the_fix(tmp_path: Path, changes: dict, fix: str) -> None:
    with pytest.raises(ConfigError, match=fix):
        load_sweep(_write(tmp_path, **changes))


def test_a_sweep_file_without_a_required_key_says_which(tmp_path: Path) -> None:
    path = tmp_path / "sweep.yml"
    path.write_text(yaml.safe_dump({k: v for k, v in SWEEP.items() if k != "search_space"}))
    with pytest.raises(ConfigError, match="lacks search_space"):
        load_sweep(path)


def test_train_hands_each_evaluation_to_on_evaluation(tmp_path: Path) -> None:
    from fusiongym.training.train import train

    config = build_run_config("fusiongym/GoTo-v1", "ppo", "cnn", timesteps=256, eval_every=128,
                              overrides=[*TINY_PPO, "eval_episodes=2"])
    seen: list[dict] = []
    train(config, tmp_path / "run", progress=False, on_evaluation=seen.append)
    written = [json.loads(line) for line in (tmp_path / "run" / "evaluations.jsonl").open()]
    assert seen == written and [r["num_timesteps"] for r in seen] == [128, 256]
    assert {r["split"] for r in seen} == {"test"}  # a plain run still evaluates on the test split
