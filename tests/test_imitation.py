"""Imitation (``fusiongym train --algo bc | dagger``): the learner fits its expert, checkpoints without pickle,
resumes to the same step count, evaluates and fine-tunes like PPO (``--init-from``)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

import fusiongym  # noqa: F401  (registers the ids)
from fusiongym.agents import make_agent
from fusiongym.agents.imitation import Imitation
from fusiongym.agents.sb3_vec_env import FusionSB3VecEnv

TINY = ["--hp", "n_envs=8", "--hp", "rollout=4"]  # 32 env steps per update


def test_the_learner_takes_up_its_experts_actions() -> None:
    venv = FusionSB3VecEnv("fusiongym/GoTo-v1", num_envs=8, seed=0)
    model = make_agent("ppo", venv, policy="cnn", seed=0, device="cpu")
    forward = lambda: np.full(venv.num_envs, 2)  # noqa: E731  (an expert that always goes forward)
    obs = venv.reset()
    before = model.policy.get_distribution(model.policy.obs_to_tensor(obs)[0]).distribution.probs[:, 2].mean()
    learner = Imitation(model, venv, expert=forward, mix=0.5, rollout=4, learning_rate=3e-3)
    learner.learn(8 * 4 * 30)
    after = model.policy.get_distribution(model.policy.obs_to_tensor(venv.reset())[0]).distribution.probs[:, 2]
    assert float(before) < 0.3 and float(after.mean()) > 0.9
    assert learner.num_timesteps == 8 * 4 * 30 and learner.updates == 30


def test_the_step_size_decays_linearly_to_its_final_value_and_a_resumed_learner_picks_it_up(tmp_path: Path) -> None:
    venv = FusionSB3VecEnv("fusiongym/GoTo-v1", num_envs=4, seed=0)
    expert = lambda: venv.native.oracle_actions(True)  # noqa: E731
    budget = 4 * 4 * 10  # ten updates
    seen: list[float] = []
    learner = Imitation(make_agent("ppo", venv, policy="cnn", seed=0, device="cpu"), venv, expert, rollout=4,
                        learning_rate=1e-3, final_learning_rate=1e-4)
    def interrupt_halfway(it: Imitation) -> None:  # as a killed run: stopped inside the budget's schedule
        seen.append(it.optimizer.param_groups[0]["lr"])
        if it.updates == 5:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        learner.learn(budget, callback=interrupt_halfway)
    learner.save(tmp_path / "half")
    resumed = Imitation(make_agent("ppo", venv, policy="cnn", seed=0, device="cpu"), venv, expert, rollout=4,
                        learning_rate=1e-3, final_learning_rate=1e-4)
    resumed.load(tmp_path / "half")
    resumed.learn(budget, callback=lambda it: seen.append(it.optimizer.param_groups[0]["lr"]))
    # the k-th update (k = 0..9) steps at 1e-3 + k/10 * (1e-4 - 1e-3): the schedule does not restart on resume
    assert seen == pytest.approx([1e-3 - k * 9e-5 for k in range(10)])
    assert resumed.step_size(budget) == pytest.approx(1e-4)  # the budget spent: the final value
    constant = Imitation(make_agent("ppo", venv, policy="cnn", seed=0, device="cpu"), venv, expert, rollout=4,
                         learning_rate=1e-3)
    constant.learn(budget // 2)
    assert constant.optimizer.param_groups[0]["lr"] == 1e-3


def test_a_checkpoint_restores_weights_optimizer_and_progress(tmp_path: Path) -> None:
    venv = FusionSB3VecEnv("fusiongym/GoTo-v1", num_envs=4, seed=0)
    expert = lambda: venv.native.oracle_actions(True)  # noqa: E731
    first = Imitation(make_agent("ppo", venv, policy="cnn", seed=0, device="cpu"), venv, expert, rollout=4)
    first.learn(4 * 4 * 5)
    first.save(tmp_path / "ckpt")
    assert not list(tmp_path.glob("ckpt/*.pkl")) and not list(tmp_path.glob("ckpt/*.zip"))  # no pickle
    second = Imitation(make_agent("ppo", venv, policy="cnn", seed=1, device="cpu"), venv, expert, rollout=4)
    second.load(tmp_path / "ckpt")
    assert (second.num_timesteps, second.updates) == (first.num_timesteps, first.updates)
    for a, b in zip(first.policy.parameters(), second.policy.parameters(), strict=True):
        assert torch.equal(a, b)
    saved, loaded = first.optimizer.state_dict(), second.optimizer.state_dict()
    for index, entry in saved["state"].items():
        for name, value in entry.items():
            assert torch.equal(torch.as_tensor(value), torch.as_tensor(loaded["state"][index][name]))
    assert first.rng.random() == second.rng.random()
    other = Imitation(make_agent("ppo", venv, policy="fusion", seed=0, device="cpu"), venv, expert, rollout=4)
    from fusiongym.agents.checkpoint import CheckpointError

    with pytest.raises(CheckpointError, match="another architecture"):
        other.load(tmp_path / "ckpt")


def test_dagger_runs_end_to_end_from_the_command(tmp_path: Path, capsys, monkeypatch) -> None:
    from fusiongym.training.cli import main

    monkeypatch.setenv("FUSIONGYM_HOME", str(tmp_path / "home"))
    run_dir = tmp_path / "dagger"
    assert main(["train", "--env", "fusiongym/Fetch-v0", "--algo", "dagger", "--policy", "cnn", "--timesteps",
                 "640", "--checkpoint-every", "320", "--eval-every", "320", "--hp", "eval_episodes=4",
                 "--run-dir", str(run_dir), "--no-progress", *TINY]) == 0
    state = json.loads((run_dir / "state.json").read_text())
    assert state["status"] == "finished" and state["num_timesteps"] == 640
    assert state["checkpoint"]["file"] == "checkpoint-640" and (run_dir / "checkpoint-640" / "optimizer.safetensors"
                                                                 ).is_file()
    assert [p.name for p in run_dir.glob("checkpoint*")] == ["checkpoint-640"]
    evaluations = [json.loads(line) for line in (run_dir / "evaluations.jsonl").read_text().splitlines()]
    assert [e["num_timesteps"] for e in evaluations] == [320, 640] and (run_dir / "best_agent").is_dir()
    progress = (run_dir / "logs" / "segment-0" / "progress.csv").read_text()
    assert "train/imitation_loss" in progress and "eval/success_rate" in progress
    config = (run_dir / "config.yaml").read_text()
    assert "shuffle_appearance: true" in config  # dagger.yml's training recipe for kind levels
    capsys.readouterr()
    assert main(["eval", str(run_dir), "--episodes", "5", "--json", "--ablate", "facts"]) == 0
    assert json.loads(capsys.readouterr().out)["ablated"] == ["facts"]
    assert main(["record", str(run_dir), "--episodes", "1", "--out", str(tmp_path / "r.gif")]) == 0
    assert main(["eval", str(run_dir), "--json"]) == 0
    capsys.readouterr()
    assert main(["leaderboard", "submit", str(run_dir), "--db", str(tmp_path / "lb.sqlite")]) == 0
    assert "dagger" in capsys.readouterr().out


@pytest.mark.parametrize("recurrent", ["false", "true"])
def test_a_resumed_dagger_run_equals_an_uninterrupted_one_in_step_count(tmp_path: Path, monkeypatch,
                                                                        recurrent: str) -> None:
    from fusiongym.training.config import build_run_config
    from fusiongym.training.run_folder import read_state
    from fusiongym.training.train import train

    monkeypatch.setenv("FUSIONGYM_HOME", str(tmp_path / "home"))
    config = build_run_config("fusiongym/GoTo-v1", "dagger", "cnn", timesteps=1000, checkpoint_every=256,
                              overrides=["n_envs=8", "rollout=4", f"recurrent={recurrent}"])
    whole = train(config, tmp_path / "whole", progress=False)

    calls = {"n": 0}
    original = Imitation.update

    def crash_after_20(self, share):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] > 20:
            raise KeyboardInterrupt  # as a kill between two checkpoints
        return original(self, share)

    monkeypatch.setattr(Imitation, "update", crash_after_20)
    with pytest.raises(KeyboardInterrupt):
        train(config, tmp_path / "cut", progress=False)
    killed = read_state(tmp_path / "cut")
    assert killed["status"] == "running" and killed["num_timesteps"] == 512  # the last checkpoint, 2 x 256
    monkeypatch.setattr(Imitation, "update", original)
    resumed = train(None, tmp_path / "cut", resume=True, progress=False)
    assert resumed.num_timesteps == whole.num_timesteps == 1024  # 1000 rounded up to whole updates of 32
    state = read_state(tmp_path / "cut")
    assert [s["resumed_from_step"] for s in state["segments"]] == [0, 512]
    saved = json.loads((tmp_path / "cut" / "agent" / "config.json").read_text())
    assert saved["algo"] == ("recurrent_ppo" if recurrent == "true" else "ppo")  # evaluates with its LSTM state


def test_ppo_starts_from_an_imitation_run(tmp_path: Path, monkeypatch) -> None:
    from fusiongym.agents.checkpoint import load_agent
    from fusiongym.training.build import new_model, training_env
    from fusiongym.training.config import ConfigError, build_run_config
    from fusiongym.training.train import train

    monkeypatch.setenv("FUSIONGYM_HOME", str(tmp_path / "home"))
    source = tmp_path / "bc"
    train(build_run_config("fusiongym/GoTo-v1", "bc", "cnn", timesteps=320, overrides=["n_envs=8", "rollout=4"]),
          source, progress=False)
    config = build_run_config("fusiongym/GoTo-v1", "ppo", "cnn", timesteps=64, init_from=source,
                              overrides=["n_envs=2", "n_steps=32", "batch_size=32"])
    model = new_model(config, training_env(config, 0), "ppo")
    trained = load_agent(source / "agent")
    for (name, a), b in zip(model.policy.state_dict().items(), trained.policy.state_dict().values(), strict=True):
        assert torch.equal(a, b), name
    train(config, tmp_path / "ppo", progress=False)
    assert "init_from" in (tmp_path / "ppo" / "config.yaml").read_text()
    wrong = build_run_config("fusiongym/GoTo-v1", "ppo", "sb3_default", timesteps=64, init_from=source)
    with pytest.raises(ConfigError, match="does not fit the policy"):
        train(wrong, tmp_path / "wrong", progress=False)
    assert not (tmp_path / "wrong").exists()  # refused before the run folder was made
    with pytest.raises(ConfigError, match="no trained agent"):
        build_run_config("fusiongym/GoTo-v1", "ppo", "cnn", init_from=tmp_path / "nothing")


@pytest.mark.parametrize("overrides, message", [
    (["mix=1.5"], "mix must be a probability"),
    (["rollout=0"], "rollout must be a positive int"),
    (["final_learning_rate=-1e-4"], "final_learning_rate must be a number >= 0"),
    (["mix=0.5"], "unknown hyperparameter 'mix'"),  # bc: the expert always acts
])
def test_bad_imitation_hyperparameters_name_the_fix(overrides: list[str], message: str) -> None:
    from fusiongym.training.config import ConfigError, build_run_config

    algo = "bc" if overrides == ["mix=0.5"] else "dagger"
    with pytest.raises(ConfigError, match=message):
        build_run_config("fusiongym/GoTo-v1", algo, "cnn", overrides=overrides)


def test_value_warmup_holds_the_policy_while_the_value_head_learns(tmp_path: Path, monkeypatch) -> None:
    from fusiongym.agents.checkpoint import load_agent
    from fusiongym.training.config import build_run_config
    from fusiongym.training.train import train

    monkeypatch.setenv("FUSIONGYM_HOME", str(tmp_path / "home"))
    source = tmp_path / "bc"
    train(build_run_config("fusiongym/GoTo-v1", "bc", "cnn", timesteps=320, overrides=["n_envs=8", "rollout=4"]),
          source, progress=False)
    tiny = ["n_envs=2", "n_steps=32", "batch_size=32", "n_epochs=1"]
    held = build_run_config("fusiongym/GoTo-v1", "ppo", "cnn", timesteps=128, init_from=source,
                            overrides=[*tiny, "value_warmup=1000"])
    train(held, tmp_path / "held", progress=False)
    before, after = load_agent(source / "agent").policy.state_dict(), load_agent(tmp_path / "held" / "agent").policy
    for name, value in after.state_dict().items():
        same = torch.equal(value, before[name])
        assert same != name.startswith(("value_net", "mlp_extractor.value_net")), name  # only the value head moved
    free = build_run_config("fusiongym/GoTo-v1", "ppo", "cnn", timesteps=128, init_from=source, overrides=tiny)
    train(free, tmp_path / "free", progress=False)
    moved = load_agent(tmp_path / "free" / "agent").policy.state_dict()
    assert not torch.equal(moved["action_net.weight"], before["action_net.weight"])


@pytest.mark.parametrize("env_id", ["fusiongym/Fetch-v0", "fusiongym/Defeat-v1", "fusiongym/Unlock-v1",
                                    "fusiongym/Bring-v1"])  # GoTo-v1 ends on facing: no final action to check
def test_the_goal_cells_mark_what_the_oracle_acts_on(env_id: str) -> None:
    from fusiongym.envs.world import DONE, PICKUP

    venv = FusionSB3VecEnv(env_id, num_envs=16, seed=1)
    venv.reset()
    native = venv.native
    side = native.view_slots().shape[1]
    front = (side - 2) * side + side // 2  # the cell the agent faces
    finals = 0
    for _ in range(40):
        goals, actions = native.oracle_goal_cells(), native.oracle_actions()
        assert goals.shape == (16, side * side + 1)
        assert np.array_equal(goals[:, -1], ~goals[:, :-1].any(1))  # "none in view" exactly when no cell is marked
        # the oracle picks up or declares done only facing its target (toggles also open doors on its way)
        finishing = np.isin(actions, [PICKUP, DONE])
        assert goals[finishing, front].all()
        finals += int(finishing.sum())
        venv.step(actions)
    assert finals > 10


@pytest.mark.parametrize("env_id, explore", [("fusiongym/Avoid-v0", False), ("fusiongym/Avoid-Large-v0", True)])
def test_avoids_goal_cells_mark_the_harmless_crossing_until_it_is_crossed(env_id: str, explore: bool) -> None:
    """Avoid's oracle is first after the crossing the facts call harmless (that is what its goal cells teach a
    reader), then, once over it, after its target: never a dangerous creature. The exploring oracle too, before it
    has seen its target."""
    from fusiongym.envs.world import FORWARD

    venv = FusionSB3VecEnv(env_id, num_envs=16, seed=2)
    venv.reset()
    native = venv.native
    side = native.view_slots().shape[1]
    front = (side - 2) * side + side // 2
    crossings = steps_onto_crossing = 0
    for _ in range(30 if not explore else 60):
        goals = native.oracle_goal_cells(True, explore)
        actions, slots = native.oracle_actions(True, explore), native.view_slots()
        for b in range(16):
            episode = native.episodes[b]
            objects = episode.layout.objects
            marked = [int(slot) for slot in slots[b].reshape(-1)[goals[b, :-1]]]
            kinds = {kind for slot in marked if (kind := objects[slot].kind) is not None}
            assert all(episode.knowledge.holds(kind, "is", "harmless") for kind in kinds), (b, kinds)
            crossings += len(kinds)
            ahead = int(slots[b].reshape(-1)[front])
            if actions[b] == FORWARD and ahead >= 0 and objects[ahead].kind is not None:  # stepping onto a creature
                assert goals[b, front]
                steps_onto_crossing += 1
        venv.step(actions)
    assert crossings > 20 and steps_onto_crossing > 5


def test_the_goal_head_learns_the_experts_target_cells_and_is_checkpointed(tmp_path: Path) -> None:
    venv = FusionSB3VecEnv("fusiongym/Defeat-v1", num_envs=8, seed=0)

    def learner(epochs: int, goal_loss: float = 1.0, seed: int = 0) -> Imitation:
        return Imitation(make_agent("ppo", venv, policy="cnn", seed=seed, device="cpu"), venv,
                         expert=lambda: venv.native.oracle_actions(True), rollout=8, epochs=epochs,
                         learning_rate=3e-3, goal_cells=lambda: venv.native.oracle_goal_cells(True),
                         goal_loss=goal_loss)

    fitted = learner(epochs=30)
    fitted.update(0.5)
    assert fitted.goal_accuracy is not None and fitted.goal_accuracy > 0.9  # it fits the cells it was shown
    assert learner(epochs=1, goal_loss=0.0).goal_head is None
    fitted.save(tmp_path / "ckpt")
    restored = learner(epochs=1, seed=1)
    restored.load(tmp_path / "ckpt")
    assert restored.goal_head is not None and fitted.goal_head is not None
    for a, b in zip(fitted.goal_head.parameters(), restored.goal_head.parameters(), strict=True):
        assert torch.equal(a, b)
    with pytest.raises(ValueError, match="needs goal_cells"):
        Imitation(fitted.model, venv, expert=lambda: venv.native.oracle_actions(True), goal_loss=1.0)
    from fusiongym.training.config import ConfigError, build_run_config

    with pytest.raises(ConfigError, match="goal_loss must be a weight"):
        build_run_config("fusiongym/Defeat-v1", "dagger", "cnn", overrides=["goal_loss=-1"])
    with pytest.raises(ConfigError, match="recurrent must be true"):
        build_run_config("fusiongym/Defeat-v1", "dagger", "cnn", overrides=["recurrent=lstm"])


def test_a_recurrent_learner_remembers_what_its_view_does_not_show() -> None:
    """The expert turns left on an episode's first step and right after: the first view comes back on the third
    step, needing the other action, so only a learner with memory (fitted on sequences) can take up both."""
    venv = FusionSB3VecEnv("fusiongym/GoTo-v1", num_envs=8, seed=0, max_steps=4)
    steps = np.zeros(8, dtype=np.int64)  # each world's step in its episode (facing a wrong object ends one early)
    step = venv.step

    def counted_step(actions: np.ndarray) -> tuple:
        out = step(actions)
        steps[:] = np.where(out[2], 0, steps + 1)
        return out

    venv.step = counted_step  # type: ignore[method-assign]
    expert = lambda: np.where(steps == 0, 0, 1)  # noqa: E731

    def fitted(algo: str) -> tuple[float, float]:
        model = make_agent(algo, venv, policy="cnn", seed=0, device="cpu")
        learner = Imitation(model, venv, expert=expert, mix=0.0, rollout=4, keep=2, epochs=4, batch_size=32,
                            learning_rate=3e-3)
        learner.learn(8 * 4 * 40)
        # from fresh episodes: the left turn's probability on the first view, and on the same view two turns later
        obs, state, start = venv.reset(), None, np.ones(8, dtype=bool)
        steps[:] = 0
        left = []
        while len(left) < 3:
            again = steps == 2  # the worlds whose episode went on (facing a wrong object ends one)
            tensors = model.policy.obs_to_tensor(obs)[0]
            with torch.no_grad():
                if learner.recurrent:
                    zeros = torch.zeros(1, 8, model.policy.lstm_hidden_state_shape[2])
                    dist, state = model.policy.get_distribution(tensors, state or (zeros, zeros.clone()),
                                                                torch.as_tensor(start).float())
                else:
                    dist = model.policy.get_distribution(tensors)
            left.append(dist.distribution.probs[:, 0])
            obs, _, _, _ = venv.step(expert())
            start = np.zeros(8, dtype=bool)
        assert again.sum() >= 4
        return left[0].mean().item(), left[2][torch.as_tensor(again)].mean().item()

    first, again = fitted("recurrent_ppo")
    assert first > 0.8 and again < 0.2
    first, again = fitted("ppo")  # memoryless: one view, one distribution
    assert abs(first - again) < 0.2


def test_a_finished_run_resumes_to_a_larger_budget(tmp_path: Path, monkeypatch) -> None:
    from fusiongym.training.config import ConfigError, build_run_config
    from fusiongym.training.run_folder import read_run_config, read_state
    from fusiongym.training.train import train

    monkeypatch.setenv("FUSIONGYM_HOME", str(tmp_path / "home"))
    config = build_run_config("fusiongym/GoTo-v1", "dagger", "cnn", timesteps=320, overrides=["n_envs=8", "rollout=4"])
    train(config, tmp_path / "run", progress=False)
    with pytest.raises(ConfigError, match="only be given a larger budget"):
        train(None, tmp_path / "run", resume=True, progress=False, extend_to=160)
    assert read_state(tmp_path / "run")["status"] == "finished"  # a refused extension changes nothing
    extended = train(None, tmp_path / "run", resume=True, progress=False, extend_to=640)
    state = read_state(tmp_path / "run")
    assert extended.num_timesteps == 640 and state["status"] == "finished" and state["total_timesteps"] == 640
    assert state["extended"] == [{"to": 640, "at_step": 320}]
    assert read_run_config(tmp_path / "run").total_timesteps == 640
    assert [s["resumed_from_step"] for s in state["segments"]] == [0, 320]
    from fusiongym.training.cli import main

    assert main(["train", "--resume", str(tmp_path / "run"), "--timesteps", "960", "--no-progress"]) == 0  # the CLI
    assert read_state(tmp_path / "run")["num_timesteps"] == 960
