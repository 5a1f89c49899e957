"""The multi-agent baseline script: its SB3 adapters, its message ablation, and a run on a tiny budget.

No learning is asserted (training budgets here are a few hundred steps); the scripted reference through the same
harness is, since it is deterministic."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

pytest.importorskip("pettingzoo")
pytest.importorskip("stable_baselines3")
import torch
from gymnasium.utils import seeding
from stable_baselines3.common.preprocessing import preprocess_obs

from fusiongym.envs.multiagent import GuideFollowerBatch, GuideFollowerEnv, KnowledgeSplitBatch
from fusiongym.training.seeds import SEEDS

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "multiagent_baseline.py"
_spec = importlib.util.spec_from_file_location("multiagent_baseline", SCRIPT)
mab = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(mab)


def _rngs(n: int, seed: int = 0) -> list[np.random.Generator]:
    return [np.random.default_rng([seed, b]) for b in range(n)]


@pytest.mark.parametrize(
    ("core_class", "learners", "keys"),
    [
        (GuideFollowerBatch, ("follower",), ("image", "message")),
        (KnowledgeSplitBatch, ("agent_0",), ("image", "message")),
        (KnowledgeSplitBatch, ("agent_0", "agent_1"), ("image", "message", "mission", "facts")),
    ],
)
def test_listener_adapter_shapes(core_class, learners, keys) -> None:
    venv = mab.ScriptedPartnerVecEnv(core_class, _rngs(3), learners, keys)
    n = len(learners)
    assert venv.num_envs == 3 * n and venv.action_space == gym.spaces.Discrete(7)
    assert set(venv.observation_space.spaces) == set(keys) | ({"agent"} if n > 1 else set())
    obs = venv.reset()
    for _ in range(5):
        for key, space in venv.observation_space.spaces.items():
            assert obs[key].shape == (3 * n, *space.shape) and obs[key].dtype == space.dtype, key
        assert all(space.contains(obs[k][0]) for k, space in venv.observation_space.spaces.items())
        obs, reward, done, infos = venv.step(np.full(3 * n, 2))
        assert reward.shape == done.shape == (3 * n,) and len(infos) == 3 * n
    if n > 1:
        assert obs["agent"].tolist() == [[1, 0], [0, 1]] * 3
        # row b * n + i is agent i of world b: its own mission
        per_agent = venv.core.observe()
        assert np.array_equal(obs["mission"][1], per_agent["agent_1"]["mission"][0])
        assert np.array_equal(obs["mission"][4], per_agent["agent_0"]["mission"][2])


@pytest.mark.parametrize(("core_class", "learners"),
                         [(GuideFollowerBatch, ("follower",)), (KnowledgeSplitBatch, ("agent_0",))])
def test_ablation_zeroes_every_message_the_learner_hears(core_class, learners) -> None:
    heard = {}
    for zero in (False, True):
        venv = mab.ScriptedPartnerVecEnv(core_class, _rngs(8), learners, zero_messages=zero)
        obs, total = venv.reset(), 0
        for _ in range(6):
            obs, *_ = venv.step(venv.scripted_moves())
            total += int(np.count_nonzero(obs["message"]))
        heard[zero] = total
    assert heard[False] > 0 and heard[True] == 0


def test_scripted_reference_through_the_harness() -> None:
    """The harness plays the env's scripts: they win with messages and lose the follower without."""
    seeds = SEEDS["test"][:8]
    gf = mab.listener_success(mab.scripted_policy, GuideFollowerBatch, {"split": "test"}, ("follower",),
                              ("image", "message"), seeds)
    ks = mab.listener_success(mab.scripted_policy, KnowledgeSplitBatch, {"split": "test"}, ("agent_0",),
                              ("image", "message"), seeds)
    muted = mab.listener_success(mab.scripted_policy, GuideFollowerBatch, {"split": "test", "zero_messages": True},
                                 ("follower",), ("image", "message"), seeds)
    assert gf == 1.0 and ks == 1.0 and muted == 0.0


def test_evaluation_episode_k_is_reset_with_seed_k() -> None:
    seeds = SEEDS["test"][:3]
    venv = mab.ScriptedPartnerVecEnv(GuideFollowerBatch, [seeding.np_random(s)[0] for s in seeds], ("follower",),
                                     split="test")
    obs = venv.reset()
    env = GuideFollowerEnv(split="test")
    for b, seed in enumerate(seeds):
        single, _ = env.reset(seed=seed)
        assert np.array_equal(obs["image"][b], single["follower"]["image"])


def test_extractor_reads_message_ids_through_an_embedding() -> None:
    venv = mab.ScriptedPartnerVecEnv(KnowledgeSplitBatch, _rngs(2), ("agent_0", "agent_1"),
                                     ("image", "message", "mission", "facts"))
    model = mab.make_ppo(venv, mab.parse_args(["--n-steps", "8", "--batch-size", "16"]),
                         {"features_extractor_class": mab.TokenViewExtractor, "net_arch": [32]})
    extractor = model.policy.features_extractor
    assert isinstance(extractor.embed, torch.nn.Embedding)
    obs = venv.reset()
    tensors, _ = model.policy.obs_to_tensor(obs)
    with torch.no_grad():
        base = extractor(preprocess_obs(tensors, model.observation_space))
        tensors["message"] = torch.full_like(tensors["message"], 7)
        changed = extractor(preprocess_obs(tensors, model.observation_space))
    assert base.shape == (4, extractor.features_dim)
    assert not torch.allclose(base, changed)


@pytest.mark.parametrize("mode", ["listener", "scratch"])
def test_script_runs_on_a_tiny_budget(mode: str, capsys) -> None:
    argv = ["--mode", mode, "--timesteps", "64", "--imitation", "64", "--worlds", "4", "--n-steps", "16",
            "--batch-size", "32", "--episodes", "3"]
    rows = mab.main(argv)
    out = capsys.readouterr().out
    assert [r["env"] for r in rows] == ["fusiongym/GuideFollower-v0", "fusiongym/KnowledgeSplit-v0"]
    for row in rows:
        assert row["steps"] >= 64 and 0.0 <= row["test"] <= 1.0 and 0.0 <= row["zeroed"] <= 1.0
        assert (row["imitation"] >= 64) if mode == "listener" else row["imitation"] == 0
        assert row["env"] in out
        if mode == "listener":
            assert row["scripted_test"] == 1.0
    assert "python benchmarks/multiagent_baseline.py --mode " + mode in out


def test_imitation_fits_the_policy_to_the_scripted_moves() -> None:
    venv = mab.ScriptedPartnerVecEnv(KnowledgeSplitBatch, _rngs(4), ("agent_0",))
    model = mab.make_ppo(venv, mab.parse_args(["--n-steps", "8", "--batch-size", "32"]),
                         {"features_extractor_class": mab.TokenViewExtractor, "net_arch": [32]})
    expert = mab.ScriptedPartnerVecEnv(KnowledgeSplitBatch, _rngs(4, seed=1), ("agent_0",))
    obs = expert.reset()
    labels = expert.scripted_moves()
    tensors, _ = model.policy.obs_to_tensor(obs)

    def label_log_prob() -> float:
        with torch.no_grad():
            return float(model.policy.get_distribution(tensors).log_prob(torch.as_tensor(labels)).mean())

    before = label_log_prob()
    used = mab.imitate(model, mab.ScriptedPartnerVecEnv(KnowledgeSplitBatch, _rngs(4, seed=2), ("agent_0",)), 256,
                       seed=0, rollout=16, epochs=4, batch_size=32)
    assert used >= 256
    assert label_log_prob() > before  # the script's moves became likelier (they are mostly one move: wait or turn)
