"""``--wandb`` logs what SB3 logs: a run in wandb's offline mode holds ``rollout/*``, ``train/*`` and ``time/*``
(before the fix the SB3 logger skipped the wandb output, which was not a ``KVWriter``, and the run held none)."""

from __future__ import annotations

from pathlib import Path

import pytest


def test_an_offline_wandb_run_holds_sb3s_metrics(tmp_path: Path, monkeypatch) -> None:
    pytest.importorskip("wandb")
    from fusiongym.training.config import build_run_config
    from fusiongym.training.train import train

    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.setenv("FUSIONGYM_HOME", str(tmp_path / "home"))
    config = build_run_config("fusiongym/GoTo-v1", "ppo", "sb3_default", timesteps=256, wandb=True,
                              overrides=["n_envs=4", "n_steps=32", "batch_size=64", "n_epochs=1"])
    train(config, tmp_path / "run", progress=False)
    records = list((tmp_path / "run").glob("wandb/offline-run-*/run-*.wandb"))
    assert records, "no offline wandb run was written"
    data = records[0].read_bytes()
    for key in (b"rollout/ep_rew_mean", b"train/value_loss", b"train/entropy_loss", b"time/fps"):
        assert key in data, f"{key.decode()} was not logged to wandb"
