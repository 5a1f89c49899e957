"""A run folder: its file names, its config and state, and the signed checkpoints it resumes from.

A run folder holds::

    config.yaml        the fully resolved RunConfig (hyperparameters after YAML defaults and --hp overrides)
    state.json         progress: steps done, wall time, the checkpoint's file name, step count, sha256 and this
                       machine's signature of it
    checkpoint-N.zip   SB3's own save of the model and optimiser at step N (for resuming; it holds pickles, so it
                       is opened only when this machine signed it, see below)  — Q-learning: qtable.npz;
                       imitation (bc / dagger): checkpoint-N/ (safetensors + JSON, no pickle)
    agent/             the trained policy as policy.safetensors + config.json (fusiongym.agents.save_agent)
    best_agent/        with eval_every: the agent of the best test-split evaluation during training
    evaluations.jsonl  with eval_every: one line per test-split evaluation during training
    logs/segment-K/    SB3 logger output of the K-th (re)start: progress.csv and TensorBoard events
    learning_curve.png success rate and return against steps, from the CSVs

A checkpoint is written under a new name, recorded in state.json (atomically), and only then are older ones
removed, so a kill at any instant leaves a run that resumes from the newest recorded checkpoint. A pickled
checkpoint is trusted only when state.json carries this machine's HMAC of its sha256, made with a secret key in
``$FUSIONGYM_HOME/checkpoint.key``: a run folder that came from elsewhere carries no valid signature, whatever
hashes its state.json holds, and is opened only with ``--trust-pickle``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

import yaml

from fusiongym.training.config import ConfigError, RunConfig
from fusiongym.training.evaluation import atomic_write_text

CONFIG_FILE = "config.yaml"
STATE_FILE = "state.json"
SB3_CHECKPOINT = "checkpoint.zip"
REPLAY_BUFFER = "replay_buffer.pkl"  # off-policy algorithms (DQN): what a resumed run goes on learning from
QTABLE_CHECKPOINT = "qtable.npz"
AGENT_FOLDER = "agent"  # the trained policy (safetensors + JSON), what --init-from and eval load
BEST_AGENT_FOLDER = "best_agent"


class RunFolderError(ValueError):
    """A run folder that is missing, incomplete or was changed by something other than ``fusiongym train``."""


def default_run_name(config: RunConfig) -> str:
    """``<env>-<algo>-<policy>-s<seed>-<timestamp>`` (the env id without its ``fusiongym/`` namespace)."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return f"{config.env_id.split('/')[-1]}-{config.algo}-{config.policy}-s{config.seed}-{stamp}"


def sha256_of(path: Path) -> str:
    """Hex SHA-256 digest of the file at ``path``."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_run_config(run_dir: Path) -> RunConfig:
    """The run's ``config.yaml`` as a validated :class:`RunConfig`, with errors that say what is wrong."""
    path = Path(run_dir) / CONFIG_FILE
    if not Path(run_dir).is_dir():
        raise RunFolderError(f"run folder {run_dir} does not exist: pass a folder made by `fusiongym train`")
    if not path.is_file():
        raise RunFolderError(f"{run_dir} is not a fusiongym run folder ({CONFIG_FILE} is missing): pass a folder "
                             "made by `fusiongym train`")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise RunFolderError(f"{path} is corrupt (not valid YAML: {err}); start a new run") from None
    try:
        return RunConfig.from_dict(data, where=str(path))
    except (ConfigError, TypeError) as err:
        raise RunFolderError(f"{path} is corrupt: {err}") from None


def read_state(run_dir: Path) -> dict[str, Any]:
    """The run's ``state.json`` (steps done, checkpoint record, wall time)."""
    path = Path(run_dir) / STATE_FILE
    if not path.is_file():
        raise RunFolderError(f"{run_dir} has no {STATE_FILE}: it is not a fusiongym run folder, or its first "
                             "checkpoint was never written; start a new run")
    try:
        state = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise RunFolderError(f"{path} is corrupt (not valid JSON: {err}); start a new run") from None
    if not isinstance(state, dict) or "num_timesteps" not in state:
        raise RunFolderError(f"{path} is corrupt (no num_timesteps); start a new run")
    return state


def write_state(run_dir: Path, state: dict[str, Any]) -> None:
    """Write a run's ``state.json`` atomically."""
    atomic_write_text(Path(run_dir) / STATE_FILE, json.dumps(state, indent=2) + "\n")


def _signing_key() -> bytes:
    """This machine's secret for signing checkpoints (``$FUSIONGYM_HOME/checkpoint.key``, made on first use)."""
    from fusiongym.training.leaderboard import default_db_path

    path = default_db_path().parent / "checkpoint.key"
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process made it first
            pass
        else:
            with os.fdopen(fd, "wb") as handle:
                handle.write(os.urandom(32))
    key = path.read_bytes()
    if len(key) != 32:
        raise RunFolderError(f"{path} is damaged (not a 32-byte key): remove it; checkpoints signed with it will "
                             "then need --trust-pickle to resume")
    return key


def sign(digest: str) -> str:
    """This machine's HMAC of a checkpoint's sha256 (what makes a pickled checkpoint trusted without asking)."""
    return hmac.new(_signing_key(), digest.encode(), hashlib.sha256).hexdigest()


def file_record(path: Path, num_timesteps: int) -> dict[str, Any]:
    """The state.json record of a checkpoint file this process just wrote: name, steps, sha256 and signature."""
    digest = sha256_of(path)
    return {"file": path.name, "num_timesteps": int(num_timesteps), "sha256": digest, "signature": sign(digest)}


def verified_checkpoint(run_dir: Path, state: dict[str, Any], trust_pickle: bool = False,
                        key: str = "checkpoint") -> Path:
    """The run's SB3 checkpoint (``key="replay_buffer"``: its replay buffer), after checking that this machine
    wrote it (state.json holds this machine's signature of its sha256).

    SB3 zips and replay buffers hold pickles; a file this machine did not sign is opened only with
    ``trust_pickle=True``.
    """
    record = state.get(key) or {}
    path = Path(run_dir) / record.get("file", SB3_CHECKPOINT if key == "checkpoint" else REPLAY_BUFFER)
    what = key.replace("_", " ")
    if not path.is_file():
        raise RunFolderError(f"{run_dir} has no {what} ({path.name} is missing): the run was killed before its "
                             "first checkpoint, or the file was removed; start the run again")
    if trust_pickle:
        return path
    digest = sha256_of(path)
    if digest != record.get("sha256"):
        raise RunFolderError(f"{path} is not the {what} this run wrote (its sha256 differs from {STATE_FILE}); "
                             "it holds pickles, so it is not opened. If you trust it, pass --trust-pickle")
    if not hmac.compare_digest(str(record.get("signature", "")), sign(digest)):
        raise RunFolderError(f"{path} was not written by fusiongym on this machine (its {STATE_FILE} record "
                             "carries no valid signature: the run folder was copied from elsewhere, or made by an "
                             "older fusiongym); it holds pickles, so it is not opened. If you trust whoever made "
                             "it, pass --trust-pickle")
    return path


def remove_older(run_dir: Path, keep: set[str], pattern: str) -> None:
    """Delete the run's files (or folders) matching ``pattern`` except ``keep`` (after a newer one is recorded)."""
    for old in Path(run_dir).glob(pattern):
        if old.name in keep or old.name.endswith(".tmp"):
            continue
        if old.is_dir():
            shutil.rmtree(old, ignore_errors=True)
        else:
            old.unlink(missing_ok=True)
