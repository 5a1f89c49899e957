"""The ``fusiongym`` command through its installed entry point."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest


def fusiongym(*args: str) -> subprocess.CompletedProcess:
    exe = shutil.which("fusiongym")
    cmd = [exe, *args] if exe else [sys.executable, "-m", "fusiongym.training.cli", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300)


def test_envs_lists_every_id() -> None:
    from fusiongym.envs import env_ids

    out = fusiongym("envs")
    assert out.returncode == 0
    assert all(env_id in out.stdout for env_id in env_ids())


def test_record_writes_a_gif(tmp_path: Path) -> None:
    import imageio.v3 as iio

    gif = tmp_path / "fetch.gif"
    out = fusiongym("record", "--env", "fusiongym/Fetch-v0", "--episodes", "2", "--out", str(gif))
    assert out.returncode == 0, out.stderr
    assert "success 100%" in out.stdout
    frames = iio.imread(gif, index=None)
    assert frames.ndim == 4 and frames.shape[0] > 4 and frames.shape[-1] in (3, 4)


@pytest.mark.parametrize("args, message", [
    (["record", "--env", "fusiongym/Nope-v0"], "unknown env id"),
    (["record", "--agent", "genius"], "invalid choice"),
    (["frobnicate"], "invalid choice"),
])
def test_bad_input_is_a_clear_error(args: list[str], message: str) -> None:
    out = fusiongym(*args)
    assert out.returncode == 2 and message in out.stderr


# ------------------------------------------------------------------------------------------------------------------
# train / eval / record / leaderboard / demo through the entry point, with tiny budgets
# ------------------------------------------------------------------------------------------------------------------

TINY_PPO = ["--hp", "n_envs=4", "--hp", "n_steps=32", "--hp", "batch_size=64", "--hp", "n_epochs=1"]


def fusiongym_home(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    import os

    exe = shutil.which("fusiongym")
    cmd = [exe, *args] if exe else [sys.executable, "-m", "fusiongym.training.cli", *args]
    env = {**os.environ, "FUSIONGYM_HOME": str(tmp_path / "home"), "WANDB_MODE": "disabled"}
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env, cwd=tmp_path)


def test_every_command_and_option_has_help() -> None:
    import argparse

    from fusiongym.training.cli import build_parser

    def undocumented(parser: argparse.ArgumentParser, path: list[str]):
        assert parser.description, f"`fusiongym {' '.join(path)}` has no description"
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    yield from undocumented(sub, [*path, name])
            elif not isinstance(action, argparse._HelpAction) and not action.help:
                yield " ".join([*path, *(action.option_strings or [action.dest])])

    assert list(undocumented(build_parser(), [])) == []
    with pytest.raises(SystemExit) as exit_:
        build_parser().parse_args(["leaderboard", "export", "--help"])
    assert exit_.value.code == 0


def test_train_eval_record_submit_show_export(tmp_path: Path) -> None:
    import json

    run = tmp_path / "run"
    out = fusiongym_home(tmp_path, "train", "--env", "fusiongym/GoTo-v0", "--algo", "ppo", "--policy", "sb3_default",
                         "--timesteps", "256", "--run-dir", str(run), "--wandb", *TINY_PPO)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "trained 256 steps" in out.stdout and "step/s" in out.stderr  # the progress bar
    config = (run / "config.yaml").read_text()
    assert "n_steps: 32" in config and "learning_rate" in config  # resolved: YAML defaults + overrides
    assert (run / "logs" / "segment-0" / "progress.csv").is_file() and (run / "learning_curve.png").is_file()
    assert any((run / "logs" / "segment-0").glob("events.out.tfevents.*"))

    out = fusiongym_home(tmp_path, "eval", str(run), "--episodes", "20", "--json")
    assert out.returncode == 0, out.stderr[-3000:]
    metrics = json.loads(out.stdout)
    rate = metrics["success_rate"]
    assert metrics["split"] == "test" and metrics["episodes"] == 20 and rate["low"] <= rate["value"] <= rate["high"]
    assert metrics["actions"] == "sampled"
    repeat = fusiongym_home(tmp_path, "eval", str(run), "--episodes", "20", "--json")
    assert json.loads(repeat.stdout) == metrics  # sampled actions, seeded: the same numbers every time
    episodes = (run / "episodes-test-20ep.jsonl").read_text().splitlines()  # 20, not the protocol's 100: own file
    assert len(episodes) == 20 and {"seed", "success", "return", "length"} <= set(json.loads(episodes[0]))
    assert (run / "eval-test-20ep.json").is_file() and not (run / "eval-test.json").exists()
    sampled = (run / "eval-test-20ep.json").read_text()
    greedy = fusiongym_home(tmp_path, "eval", str(run), "--episodes", "20", "--deterministic", "--json")
    assert greedy.returncode == 0 and json.loads(greedy.stdout)["actions"] == "greedy", greedy.stderr[-2000:]
    # the greedy evaluation of a sampling agent goes beside its protocol evaluation, never over it
    assert (run / "eval-test-greedy-20ep.json").is_file() and (run / "eval-test-20ep.json").read_text() == sampled

    out = fusiongym_home(tmp_path, "record", str(run), "--episodes", "1")
    assert out.returncode == 0 and (run / "episodes-train.gif").is_file(), out.stderr[-2000:]

    db = tmp_path / "board.sqlite"
    out = fusiongym_home(tmp_path, "leaderboard", "submit", str(run), "--db", str(db), "--name", "tiny-ppo")
    assert out.returncode == 0 and "submitted 'tiny-ppo'" in out.stdout, out.stderr[-2000:]
    assert "not ranked" in out.stdout  # 20 episodes: shown, marked, out of the IQM
    again = fusiongym_home(tmp_path, "leaderboard", "submit", str(run), "--db", str(db), "--name", "tiny-ppo")
    assert again.returncode == 2 and "already has a test-split result" in again.stderr
    out = fusiongym_home(tmp_path, "eval", str(run), "--episodes", "20", "--ablate", "facts")
    assert out.returncode == 0 and (run / "eval-test-no-facts-20ep.json").is_file(), out.stderr[-2000:]
    out = fusiongym_home(tmp_path, "leaderboard", "submit", str(run), "--db", str(db), "--name", "tiny-ppo",
                         "--ablate", "facts", "--episodes", "20")
    assert out.returncode == 0 and "facts zeroed" in out.stdout, out.stderr[-2000:]  # not a duplicate
    shown = fusiongym_home(tmp_path, "leaderboard", "show", "--db", str(db))
    assert shown.returncode == 0 and "tiny-ppo" in shown.stdout and "fusiongym/GoTo-v0 (test split)" in shown.stdout
    assert "tiny-ppo (no facts)" in shown.stdout and "20 (unranked)" in shown.stdout
    out = fusiongym_home(tmp_path, "leaderboard", "export", "--db", str(db), "--out", str(tmp_path / "export"))
    assert out.returncode == 0
    assert "tiny-ppo" in (tmp_path / "export" / "leaderboard.html").read_text()


@pytest.mark.parametrize("args, message", [
    (["train", "--env", "fusiongym/Nope-v0", "--algo", "ppo"], "unknown env id"),
    (["train", "--env", "fusiongym/GoTo-v0", "--algo", "ppo", "--hp", "lerning_rate=0.1"],
     "did you mean 'learning_rate'"),
    (["train", "--env", "fusiongym/GoTo-v0", "--algo", "qlearning", "--policy", "fusion"], "choose one of tabular"),
    (["eval", "no-such-run"], "does not exist"),
    (["leaderboard", "submit", "--json", "missing.json"], "not a readable JSON submission"),
])
def test_training_commands_give_clear_errors(tmp_path: Path, args: list[str], message: str) -> None:
    out = fusiongym_home(tmp_path, *args)
    assert out.returncode == 2 and message in out.stderr, out.stderr[-2000:]


def test_demo_with_a_tiny_budget_ends_with_the_leaderboard(tmp_path: Path) -> None:
    """The main job end to end, with the fusion policy (safetensors save and load included)."""
    db = tmp_path / "board.sqlite"
    out = fusiongym_home(tmp_path, "demo", "--timesteps", "128", "--episodes", "10", "--db", str(db),
                         "--no-progress", "--hp", "n_envs=8", "--hp", "rollout=4")
    assert out.returncode == 0, out.stderr[-3000:]
    assert "instruction zeroed" in out.stdout and "mission zeroed" in out.stdout
    board = out.stdout[out.stdout.index("[6/6]"):]
    assert "→ demo-GoTo-v1-dagger-fusion-s0-" in board and "random" in board and "oracle" in board
    assert "(no mission)" in board
    assert list((tmp_path / "runs").glob("demo-*/episodes-test.gif"))


# ------------------------------------------------------------------------------------------------------------------
# Consistency across commands: --no-progress, --device, multi-agent ids, resuming a finished run
# ------------------------------------------------------------------------------------------------------------------

TINY_FUSION_RUN = ["--env", "fusiongym/GoTo-v1", "--algo", "ppo", "--policy", "fusion", "--timesteps", "64",
                   "--hp", "n_envs=2", "--hp", "n_steps=32", "--hp", "batch_size=64", "--hp", "n_epochs=1"]


@pytest.fixture(scope="module")
def fusion_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess]:
    """A finished run of the default fusion policy (the packaged MiniLM: transformers draws a bar loading it)."""
    tmp = tmp_path_factory.mktemp("fusion-run")
    out = fusiongym_home(tmp, "train", *TINY_FUSION_RUN, "--run-dir", str(tmp / "run"), "--no-progress")
    assert out.returncode == 0, out.stderr[-3000:]
    return tmp / "run", out


def _progress_bars(stderr: str) -> list[str]:
    import re

    return [line for line in re.split(r"[\r\n]", stderr)
            if "Loading weights" in line or re.search(r"\d+%\|", line) or re.search(r"(it|episode)/s\]", line)]


def test_envs_lists_the_multiagent_ids_marked_as_such() -> None:
    from fusiongym.envs.multiagent_registration import multiagent_env_ids

    out = fusiongym("envs")
    assert out.returncode == 0
    lines = {line.split()[0]: line for line in out.stdout.splitlines() if line.startswith("fusiongym/")}
    for env_id in multiagent_env_ids():
        assert env_id in lines and "multi-agent" in lines[env_id], out.stdout
    assert "pettingzoo.make" in out.stdout
    assert not any("multi-agent" in lines[env_id] for env_id in __import__("fusiongym.envs").envs.env_ids())


def test_no_progress_silences_every_bar_of_train_eval_and_record(
        fusion_run: tuple[Path, subprocess.CompletedProcess]) -> None:
    run, trained = fusion_run
    assert _progress_bars(trained.stderr) == [], trained.stderr[-2000:]
    tmp = run.parent
    for args in (["eval", str(run), "--episodes", "5"],
                 ["record", str(run), "--episodes", "1", "--out", str(tmp / "run.gif")],
                 ["eval", "--agent", "random", "--env", "fusiongym/GoTo-v1", "--episodes", "5"],
                 ["record", "--agent", "random", "--env", "fusiongym/GoTo-v1", "--episodes", "1", "--out",
                  str(tmp / "random.gif")]):
        out = fusiongym_home(tmp, *args, "--no-progress")
        assert out.returncode == 0, out.stderr[-2000:]
        assert _progress_bars(out.stderr) == [], (args, out.stderr[-2000:])
    shown = fusiongym_home(tmp, "eval", str(run), "--episodes", "5")  # without it, the bars are drawn
    assert any("evaluating" in line for line in _progress_bars(shown.stderr)), shown.stderr[-2000:]


def test_resuming_a_finished_run_says_only_that(fusion_run: tuple[Path, subprocess.CompletedProcess]) -> None:
    run, _ = fusion_run
    out = fusiongym_home(run.parent, "train", "--resume", str(run))
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines() == [f"{run} already finished its budget of 64 steps; nothing to resume"]
    assert "Traceback" not in out.stderr and _progress_bars(out.stderr) == []


def test_eval_and_record_run_on_the_device_asked_for(fusion_run: tuple[Path, subprocess.CompletedProcess]) -> None:
    import json

    import torch

    run, _ = fusion_run
    tmp = run.parent
    out = fusiongym_home(tmp, "eval", str(run), "--episodes", "5", "--device", "cpu", "--json")
    assert out.returncode == 0, out.stderr[-2000:]
    assert json.loads(out.stdout)["episodes"] == 5
    out = fusiongym_home(tmp, "record", str(run), "--episodes", "1", "--device", "auto", "--out", str(tmp / "a.gif"))
    assert out.returncode == 0, out.stderr[-2000:]
    out = fusiongym_home(tmp, "eval", str(run), "--episodes", "5", "--device", "gpu")
    assert out.returncode == 2 and "'gpu' is not a torch device" in out.stderr and "Traceback" not in out.stderr, \
        out.stderr
    if torch.cuda.is_available():
        return
    for command in (["eval", str(run), "--episodes", "5"], ["record", str(run), "--episodes", "1"],
                    ["train", *TINY_FUSION_RUN, "--run-dir", str(tmp / "gpu-run")]):
        out = fusiongym_home(tmp, *command, "--device", "cuda")
        assert out.returncode == 2 and "Traceback" not in out.stderr, out.stderr[-2000:]
        assert "error: --device cuda: torch sees no CUDA device" in out.stderr and "--device cpu" in out.stderr, \
            out.stderr
    assert not (tmp / "gpu-run").exists()


def test_the_random_agent_plays_a_babyai_id_through_the_minigrid_wrapper(tmp_path: Path) -> None:
    import json

    out = fusiongym_home(tmp_path, "eval", "--agent", "random", "--env", "BabyAI-GoToLocal-v0", "--episodes", "5",
                         "--json", "--no-progress")
    assert out.returncode == 0, out.stderr[-2000:]
    metrics = json.loads(out.stdout)
    assert metrics["env_id"] == "fusiongym-wrapped/BabyAI-GoToLocal-v0" and metrics["episodes"] == 5
    assert "every mission word is in the suite vocabulary" in out.stderr
    out = fusiongym_home(tmp_path, "eval", "--agent", "random", "--env", "BabyAI-PickupLoc-v0", "--episodes", "20")
    assert out.returncode == 0 and "as <unk>: " in out.stderr and "you" in out.stderr, out.stderr[-2000:]
    gif = tmp_path / "babyai.gif"
    out = fusiongym_home(tmp_path, "record", "--agent", "random", "--env", "BabyAI-GoToLocal-v0", "--episodes", "1",
                         "--out", str(gif), "--no-progress")
    assert out.returncode == 0 and gif.is_file(), out.stderr[-2000:]
    for args, message in ((["--agent", "oracle", "--env", "BabyAI-GoToLocal-v0"], "use --agent random"),
                          (["--agent", "random", "--env", "CartPole-v1"], "not a MiniGrid / BabyAI env"),
                          (["--agent", "random", "--env", "BabyAI-Nope-v0"], "not a registered Gymnasium id")):
        out = fusiongym_home(tmp_path, "eval", *args, "--episodes", "5")
        assert out.returncode == 2 and message in out.stderr and "Traceback" not in out.stderr, out.stderr[-2000:]


def test_hp_overrides_may_follow_one_flag_or_each_their_own() -> None:
    from fusiongym.training.cli import build_parser

    parser = build_parser()
    together = parser.parse_args(["train", "--env", "fusiongym/GoTo-v1", "--hp", "n_envs=4",
                                  "fusion.block.kind=concat"])
    apart = parser.parse_args(["train", "--env", "fusiongym/GoTo-v1", "--hp", "n_envs=4", "--hp",
                               "fusion.block.kind=concat"])
    assert together.hp == apart.hp == ["n_envs=4", "fusion.block.kind=concat"]
    assert parser.parse_args(["demo", "--hp", "a=1", "b=2", "--hp", "c=3"]).hp == ["a=1", "b=2", "c=3"]
