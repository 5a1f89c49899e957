"""Checkpoints: a training process killed after a checkpoint resumes to the same total budget, losing at most one
checkpoint interval; corrupt or foreign checkpoints are refused with a clear error."""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

TOTAL, INTERVAL = 4096, 512
TINY_PPO = ["--hp", "n_envs=4", "--hp", "n_steps=32", "--hp", "batch_size=64", "--hp", "n_epochs=1"]


def fusiongym_cmd(*args: str) -> list[str]:
    exe = shutil.which("fusiongym")
    return [exe, *args] if exe else [sys.executable, "-m", "fusiongym.training.cli", *args]


def run(*args: str, tmp_path: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "FUSIONGYM_HOME": str(tmp_path / "home")}
    return subprocess.run(fusiongym_cmd(*args), capture_output=True, text=True, timeout=300, env=env)


def logged_steps(run_dir: Path, segment: int) -> int:
    path = run_dir / "logs" / f"segment-{segment}" / "progress.csv"
    with open(path, newline="") as handle:
        steps = [float(r["time/total_timesteps"]) for r in csv.DictReader(handle) if r.get("time/total_timesteps")]
    return int(max(steps, default=0))


def test_killed_run_resumes_to_the_same_budget_losing_at_most_one_interval(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    args = ["train", "--env", "fusiongym/GoTo-v0", "--algo", "ppo", "--policy", "sb3_default", "--timesteps",
            str(TOTAL), "--checkpoint-every", str(INTERVAL), "--run-dir", str(run_dir), "--no-progress", *TINY_PPO]
    process = subprocess.Popen(fusiongym_cmd(*args), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               env={**os.environ, "FUSIONGYM_HOME": str(tmp_path / "home")})
    deadline = time.time() + 240
    state: dict = {}
    while time.time() < deadline and process.poll() is None:
        time.sleep(0.2)
        try:
            state = json.loads((run_dir / "state.json").read_text())
        except (OSError, json.JSONDecodeError):
            continue
        if state.get("checkpoint"):
            break
    assert process.poll() is None, f"training ended before it could be killed: {process.stderr.read()[-2000:]}"
    assert state.get("checkpoint"), "no checkpoint within 240 s"
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)

    reached = logged_steps(run_dir, 0)
    killed_state = json.loads((run_dir / "state.json").read_text())
    assert killed_state["status"] == "running" and killed_state["num_timesteps"] < TOTAL

    out = run("train", "--resume", str(run_dir), "--no-progress", tmp_path=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    final = json.loads((run_dir / "state.json").read_text())
    resumed_from = final["segments"][1]["resumed_from_step"]
    assert final["status"] == "finished"
    assert TOTAL <= final["num_timesteps"] < TOTAL + 4 * 32  # the budget, rounded up to one PPO rollout
    assert resumed_from == killed_state["checkpoint"]["num_timesteps"] > 0
    assert reached - resumed_from <= INTERVAL, f"lost {reached - resumed_from} steps, more than one interval"
    assert logged_steps(run_dir, 1) >= TOTAL  # the second segment logged on to the end
    assert (run_dir / "agent" / "policy.safetensors").is_file() and (run_dir / "learning_curve.png").is_file()

    again = run("train", "--resume", str(run_dir), "--no-progress", tmp_path=tmp_path)
    assert again.returncode == 0 and "nothing to resume" in again.stdout

    assert sorted(p.name for p in run_dir.glob("checkpoint*")) == [final["checkpoint"]["file"]]  # older removed

    final["status"] = "running"  # pretend it was killed again, then swap in a checkpoint it did not write
    (run_dir / "state.json").write_text(json.dumps(final))
    segments = len(final["segments"])
    with open(run_dir / final["checkpoint"]["file"], "ab") as handle:
        handle.write(b"tampered")
    refused = run("train", "--resume", str(run_dir), "--no-progress", tmp_path=tmp_path)
    assert refused.returncode == 2
    assert "not the checkpoint this run wrote" in refused.stderr and "--trust-pickle" in refused.stderr
    assert len(json.loads((run_dir / "state.json").read_text())["segments"]) == segments  # a refusal writes nothing

    # whoever ships a run folder controls its state.json: matching hashes are not trust, this machine's key is
    from fusiongym.training.run_folder import sha256_of

    final["checkpoint"]["sha256"] = sha256_of(run_dir / final["checkpoint"]["file"])
    (run_dir / "state.json").write_text(json.dumps(final))
    forged = run("train", "--resume", str(run_dir), "--no-progress", tmp_path=tmp_path)
    assert forged.returncode == 2 and "not written by fusiongym on this machine" in forged.stderr
    for command in (["eval", str(run_dir)], ["record", str(run_dir)]):
        final["status"] = "finished"
        (run_dir / "state.json").write_text(json.dumps(final))
        shutil.rmtree(run_dir / "agent", ignore_errors=True)  # only the pickled checkpoint is left to load
        refused = run(*command, tmp_path=tmp_path)
        assert refused.returncode == 2 and "--trust-pickle" in refused.stderr, command


def test_qlearning_checkpoints_its_table_and_evaluates(tmp_path: Path, capsys) -> None:
    from fusiongym.training.cli import main

    run_dir = tmp_path / "q"
    assert main(["train", "--env", "fusiongym/GoTo-v0", "--algo", "qlearning", "--timesteps", "1500",
                 "--checkpoint-every", "500", "--run-dir", str(run_dir), "--no-progress"]) == 0
    state = json.loads((run_dir / "state.json").read_text())
    assert state["num_timesteps"] == 1500 and state["checkpoint"]["file"] == "qtable.npz"
    assert state["parameters"]["total"] > 0  # states seen x 7 actions
    capsys.readouterr()
    assert main(["eval", str(run_dir), "--episodes", "5", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["episodes"] == 5


def test_train_env_kwargs_change_the_training_worlds_only(tmp_path: Path, capsys, monkeypatch) -> None:
    import gymnasium as gym

    from fusiongym.training.cli import main

    made: list[tuple[str, dict]] = []
    for name in ("make", "make_vec"):
        original = getattr(gym, name)
        monkeypatch.setattr(gym, name, lambda *a, _original=original, **kw: made.append((kw.get("split"), kw))
                            or _original(*a, **kw))
    run_dir = tmp_path / "q"
    assert main(["train", "--env", "fusiongym/Fetch-v0", "--algo", "qlearning", "--timesteps", "300",
                 "--hp", "train_env_kwargs.shuffle_appearance=true", "--run-dir", str(run_dir),
                 "--no-progress"]) == 0
    assert main(["eval", str(run_dir), "--episodes", "4", "--json"]) == 0
    training = [kw for split, kw in made if split == "train"]
    evaluation = [kw for split, kw in made if split == "test"]
    assert training and all(kw.get("shuffle_appearance") is True for kw in training)
    assert evaluation and not any("shuffle_appearance" in kw for kw in evaluation)
    capsys.readouterr()


@pytest.mark.parametrize("damage, message", [
    (lambda d: (d / "config.yaml").unlink(), "config.yaml is missing"),
    (lambda d: (d / "config.yaml").write_text("env_id: [unclosed"), "is corrupt"),
    (lambda d: (d / "config.yaml").write_text("env_id: fusiongym/Nope-v0\nalgo: ppo\npolicy: cnn\n"),
     "unknown env id"),
    (lambda d: (d / "state.json").write_text("{not json"), "state.json is corrupt"),
])
def test_corrupt_run_folders_give_clear_errors(tmp_path: Path, damage, message: str, capsys) -> None:
    import yaml

    from fusiongym.training.config import build_run_config
    from fusiongym.training.evaluation import atomic_write_text

    run_dir = tmp_path / "run"
    run_dir.mkdir()
    config = build_run_config("fusiongym/GoTo-v0", "ppo", "cnn", timesteps=100)
    atomic_write_text(run_dir / "config.yaml", yaml.safe_dump(config.to_dict()))
    (run_dir / "state.json").write_text(json.dumps({"status": "finished", "num_timesteps": 100}))
    damage(run_dir)
    from fusiongym.training.cli import main

    for command in (["eval", str(run_dir)], ["train", "--resume", str(run_dir)], ["record", str(run_dir)]):
        assert main(command) == 2, command  # in-process: the entry point's own path is covered in test_cli.py
        assert message in capsys.readouterr().err, command


def test_dqn_resumes_with_its_replay_buffer(tmp_path: Path, monkeypatch) -> None:
    """An off-policy run checkpoints its replay buffer as a compressed .npz of arrays (no pickle; SB3's own
    save_replay_buffer pickles the object) and a resumed run learns on from it."""
    import numpy as np

    from fusiongym.training import train as train_module
    from fusiongym.training.config import build_run_config
    from fusiongym.training.run_folder import read_state
    from fusiongym.training.train import train

    monkeypatch.setenv("FUSIONGYM_HOME", str(tmp_path / "home"))
    run_dir = tmp_path / "dqn"
    config = build_run_config("fusiongym/GoTo-v1", "dqn", "cnn", timesteps=256, checkpoint_every=128,
                              overrides=["n_envs=2", "buffer_size=512", "learning_starts=64"])
    train(config, run_dir, progress=False)
    state = read_state(run_dir)
    assert state["replay_buffer"]["num_timesteps"] == state["num_timesteps"] >= 256
    assert state["replay_buffer"]["file"].endswith(".npz") and not list(run_dir.glob("*.pkl"))
    with np.load(run_dir / state["replay_buffer"]["file"], allow_pickle=False) as data:
        assert data["observations.image"].shape[1:] == (2, 3, 56, 56)  # steps x envs x image (channels first)
    state["status"], state["num_timesteps"] = "running", 128  # as if killed: resume must reload the buffer
    (run_dir / "state.json").write_text(json.dumps(state))
    loaded: list[int] = []
    original = train_module.load_replay_buffer_arrays

    def spy(buffer, path):  # type: ignore[no-untyped-def]
        original(buffer, path)
        loaded.append(buffer.size())

    monkeypatch.setattr(train_module, "load_replay_buffer_arrays", spy)
    train(None, run_dir, resume=True, progress=False)
    assert loaded and loaded[0] * config.n_envs >= 256  # size() counts steps of all n_envs together
    with open(run_dir / read_state(run_dir)["replay_buffer"]["file"], "ab") as handle:
        handle.write(b"tampered")
    state = read_state(run_dir)
    state["status"] = "running"
    (run_dir / "state.json").write_text(json.dumps(state))
    from fusiongym.training.runs import RunFolderError

    with pytest.raises(RunFolderError, match="not the replay buffer this run wrote"):
        train(None, run_dir, resume=True, progress=False)
    without = build_run_config("fusiongym/GoTo-v1", "dqn", "cnn", timesteps=128, checkpoint_every=64,
                               overrides=["n_envs=2", "buffer_size=512", "learning_starts=64",
                                          "save_replay_buffer=false"])
    train(without, tmp_path / "no-buffer", progress=False)
    assert "replay_buffer" not in read_state(tmp_path / "no-buffer")
    assert not list((tmp_path / "no-buffer").glob("replay_buffer*"))


def test_a_full_disk_is_a_clear_error_that_keeps_the_previous_checkpoint(tmp_path: Path, monkeypatch) -> None:
    import errno

    from stable_baselines3 import PPO

    from fusiongym.training.config import build_run_config
    from fusiongym.training.evaluation import DiskFullError
    from fusiongym.training.run_folder import read_state, verified_checkpoint
    from fusiongym.training.train import train

    monkeypatch.setenv("FUSIONGYM_HOME", str(tmp_path / "home"))
    config = build_run_config("fusiongym/GoTo-v1", "ppo", "sb3_default", timesteps=512, checkpoint_every=128,
                              overrides=["n_envs=4", "n_steps=32", "batch_size=64", "n_epochs=1"])
    original, saves = PPO.save, {"n": 0}

    def save_until_full(self, path, *args, **kwargs):  # type: ignore[no-untyped-def]
        saves["n"] += 1
        if saves["n"] > 1:
            path.write(b"half a checkpoint")
            raise OSError(errno.ENOSPC, "No space left on device")
        return original(self, path, *args, **kwargs)

    monkeypatch.setattr(PPO, "save", save_until_full)
    with pytest.raises(DiskFullError, match="disk is full.*previous version.*intact"):
        train(config, tmp_path / "run", progress=False)
    run_dir = tmp_path / "run"
    assert not list(run_dir.glob("*.tmp")), "a temp file was left behind"
    state = read_state(run_dir)
    assert verified_checkpoint(run_dir, state).name == state["checkpoint"]["file"]  # the previous one, intact
    monkeypatch.setattr(PPO, "save", original)
    assert train(None, run_dir, resume=True, progress=False).num_timesteps >= 512


def test_a_kill_between_writing_a_checkpoint_and_recording_it_leaves_a_resumable_run(tmp_path: Path,
                                                                                      monkeypatch) -> None:
    """The new checkpoint is written under a new name; state.json still names the previous one, which is still
    there: the run resumes from it, to its budget, and the stray file goes with the next checkpoint."""
    from fusiongym.training import train as train_module
    from fusiongym.training.config import build_run_config
    from fusiongym.training.run_folder import read_state
    from fusiongym.training.train import train

    monkeypatch.setenv("FUSIONGYM_HOME", str(tmp_path / "home"))
    config = build_run_config("fusiongym/GoTo-v1", "ppo", "sb3_default", timesteps=512, checkpoint_every=128,
                              overrides=["n_envs=4", "n_steps=32", "batch_size=64", "n_epochs=1"])
    original = train_module.write_state

    def killed_after_the_second_checkpoint_file(run_dir, state):  # type: ignore[no-untyped-def]
        if state.get("checkpoint") and state["checkpoint"]["num_timesteps"] >= 256:
            raise KeyboardInterrupt  # the instant after checkpoint-256.zip was written, before it was recorded
        original(run_dir, state)

    monkeypatch.setattr(train_module, "write_state", killed_after_the_second_checkpoint_file)
    with pytest.raises(KeyboardInterrupt):
        train(config, tmp_path / "run", progress=False)
    monkeypatch.setattr(train_module, "write_state", original)
    state = read_state(tmp_path / "run")
    assert state["checkpoint"]["num_timesteps"] == 128 and (tmp_path / "run" / state["checkpoint"]["file"]).is_file()
    assert (tmp_path / "run" / "checkpoint-256.zip").is_file()  # written, never recorded
    result = train(None, tmp_path / "run", resume=True, progress=False)
    assert 512 <= result.num_timesteps < 512 + 128
    recorded = read_state(tmp_path / "run")["checkpoint"]["file"]
    assert [p.name for p in (tmp_path / "run").glob("checkpoint*")] == [recorded]


def test_a_trusted_checkpoint_of_another_architecture_is_refused(tmp_path: Path, monkeypatch) -> None:
    """--trust-pickle opens a zip this machine did not sign, but a policy that is not the one the run's config builds
    would give an agent nobody can load: it is refused, and the refusal writes nothing."""
    import shutil

    from fusiongym.training.config import build_run_config
    from fusiongym.training.run_folder import read_state
    from fusiongym.training.runs import RunFolderError
    from fusiongym.training.train import train

    monkeypatch.setenv("FUSIONGYM_HOME", str(tmp_path / "home"))
    tiny = ["n_envs=4", "n_steps=32", "batch_size=64", "n_epochs=1"]
    for name, policy in (("cnn", "cnn"), ("default", "sb3_default")):
        train(build_run_config("fusiongym/GoTo-v1", "ppo", policy, timesteps=256, checkpoint_every=128,
                               overrides=tiny), tmp_path / name, progress=False)
    state = read_state(tmp_path / "default")
    state["status"], state["num_timesteps"] = "running", 128
    (tmp_path / "default" / "state.json").write_text(json.dumps(state))
    foreign = read_state(tmp_path / "cnn")["checkpoint"]["file"]
    shutil.copy(tmp_path / "cnn" / foreign, tmp_path / "default" / state["checkpoint"]["file"])
    with pytest.raises(RunFolderError, match="another architecture"):
        train(None, tmp_path / "default", resume=True, progress=False, trust_pickle=True)
    assert len(read_state(tmp_path / "default")["segments"]) == len(state["segments"])
