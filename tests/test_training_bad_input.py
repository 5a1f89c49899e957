"""Bad input to ``fusiongym train`` is refused with a clear error before anything is written: no run folder is left
behind, ``running`` and unresumable (it was made before the hyperparameters were tried)."""

from __future__ import annotations

from pathlib import Path

import pytest

BASE = ["train", "--env", "fusiongym/GoTo-v1", "--algo", "ppo", "--policy", "cnn", "--timesteps", "64",
        "--no-progress"]


@pytest.mark.parametrize("extra, message", [
    (["--hp", "n_steps=-3"], "ppo refused the hyperparameters"),
    (["--hp", "env_kwargs.room_size=1"], "room_size=1 is out of range"),
    (["--hp", "env_kwargs.romo_size=8"], "unknown kwargs ['romo_size']"),
    (["--policy", "fusion", "--hp", "fusion.language.backbone=/no/such/backbone"], "cannot be built"),
])
def test_bad_hyperparameters_leave_no_run_folder(tmp_path: Path, capsys, monkeypatch, extra: list[str],
                                                 message: str) -> None:
    from fusiongym.training.cli import main

    monkeypatch.setenv("FUSIONGYM_HOME", str(tmp_path / "home"))
    args = [*BASE, *extra, "--run-dir", str(tmp_path / "run")]
    assert main(args) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("extra", [["--threads", "0"], ["--checkpoint-every", "0"], ["--timesteps", "0"]])
def test_zero_counts_are_refused_by_the_parser(tmp_path: Path, capsys, extra: list[str]) -> None:
    from fusiongym.training.cli import main

    with pytest.raises(SystemExit) as exit_:
        main([*BASE, *extra, "--run-dir", str(tmp_path / "run")])
    assert exit_.value.code == 2 and "must be a positive integer" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("command", [["eval", "--agent", "random", "--env", "fusiongym/GoTo-v1"],
                                     ["record", "--agent", "random", "--env", "fusiongym/GoTo-v1"]])
def test_zero_episodes_are_refused(command: list[str], capsys) -> None:
    from fusiongym.training.cli import main

    with pytest.raises(SystemExit):
        main([*command, "--episodes", "0"])
    assert "must be a positive integer" in capsys.readouterr().err


def test_an_empty_hyperparameter_file_is_named(tmp_path: Path, capsys) -> None:
    from fusiongym.training.cli import main

    empty = tmp_path / "empty.yml"
    empty.write_text("")
    assert main([*BASE, "--hyperparams", str(empty), "--run-dir", str(tmp_path / "run")]) == 2
    assert "is empty" in capsys.readouterr().err and not (tmp_path / "run").exists()


def test_an_unavailable_device_is_named_before_anything_is_written(tmp_path: Path) -> None:
    import torch

    from fusiongym.training.config import ConfigError, build_run_config
    from fusiongym.training.train import train

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    config = build_run_config("fusiongym/GoTo-v1", "ppo", "cnn", timesteps=64)
    with pytest.raises(ConfigError, match="no CUDA device"):
        train(config, tmp_path / "run", progress=False, device="cuda")
    assert not (tmp_path / "run").exists()
