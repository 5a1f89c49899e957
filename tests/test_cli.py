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
