"""SB3 wiring: PPO / DQN / RecurrentPPO with FusionExtractor on the real envs, the frozen backbone untouched by
training, the text cache hit, named policies, and MiniGrid / BabyAI interop."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import pytest
import torch

import fusiongym  # noqa: F401  (registers the env ids)
from fusion_testing import TINY_BERT, suite_vocab
from fusiongym.agents.factory import make_agent
from fusiongym.fusion.config import FusionConfig, FusionConfigError
from fusiongym.fusion.extractor import FusionExtractor

torch.set_num_threads(1)

TINY_FUSION = FusionConfig(vision={"cnn_channels": (8, 8, 8)}, language={"config": TINY_BERT, "tokenizer": "minilm"},
                           knowledge={"dim": 16}, block={"features_dim": 32, "hidden_dim": 32})


def _params(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {n: p.detach().clone() for n, p in module.named_parameters()}


def test_ppo_updates_leave_a_frozen_backbone_unchanged_and_hit_the_cache() -> None:
    env = gym.make("fusiongym/GoTo-v0")
    model = make_agent("ppo", env, fusion=TINY_FUSION, seed=0, n_steps=32, batch_size=16,
                       n_epochs=2, learning_rate=1e-3)
    extractor = model.policy.features_extractor
    assert isinstance(extractor, FusionExtractor) and extractor.language is not None
    backbone_before = _params(extractor.language.model)
    vision_before = _params(extractor.vision)
    model.learn(64)  # two rollouts, two PPO updates of 2 epochs each
    assert model.num_timesteps == 64
    for name, tensor in extractor.language.model.named_parameters():
        assert torch.equal(tensor, backbone_before[name]), name
    assert any(not torch.equal(p, vision_before[n]) for n, p in extractor.vision.named_parameters())
    cache = extractor.language.cache
    assert cache.hits > 0
    # one backbone pass per distinct instruction ever seen, not one per step or per minibatch
    assert extractor.language.backbone_calls <= cache.misses < 64


@pytest.mark.parametrize("algo, kwargs", [
    ("dqn", dict(buffer_size=400, learning_starts=100, train_freq=4, batch_size=16, target_update_interval=50)),
    ("recurrent_ppo", dict(n_steps=64, batch_size=32, n_epochs=1)),
])
def test_dqn_and_recurrent_ppo_run_a_few_hundred_steps_on_the_dict_observation(algo: str, kwargs: Any) -> None:
    env = gym.make("fusiongym/Fetch-v0")
    fusion = TINY_FUSION.replace(knowledge={"encoder": "rotate"}, block={"kind": "cross_attention"})
    model = make_agent(algo, env, fusion=fusion, seed=0, **kwargs)
    net = model.policy.q_net if algo == "dqn" else model.policy
    before = _params(net)
    model.learn(256)
    assert model.num_timesteps == 256
    changed = [n for n, p in net.named_parameters() if not torch.equal(p, before[n])]
    assert any("knowledge" in n for n in changed) and any("fusion" in n for n in changed)
    obs, _ = env.reset(seed=3)
    action, _ = model.predict(obs, deterministic=True)
    assert env.action_space.contains(int(action))


def test_named_policies() -> None:
    env = gym.make("fusiongym/GoTo-v0")
    cnn = make_agent("PPO", env, policy="cnn", n_steps=16, batch_size=16)
    assert cnn.policy.features_extractor.language is None and cnn.policy.features_extractor.knowledge is None
    default = make_agent("ppo", env, policy="sb3_default", n_steps=16, batch_size=16)
    assert type(default.policy.features_extractor).__name__ == "CombinedExtractor"
    rppo = make_agent("RecurrentPPO", env, policy="cnn", n_steps=16, batch_size=16)
    assert type(rppo.policy).__name__ == "RecurrentMultiInputActorCriticPolicy"
    assert cnn.fusiongym_spec["fusion"]["language"]["backbone"] == "none"


def test_make_agent_errors_name_the_fix() -> None:
    env = gym.make("fusiongym/GoTo-v0")
    with pytest.raises(ValueError, match="choose one of ppo, dqn, recurrent_ppo"):
        make_agent("a2c", env)
    with pytest.raises(ValueError, match="choose one of fusion, cnn, sb3_default"):
        make_agent("ppo", env, policy="mlp")
    with pytest.raises(FusionConfigError, match="use policy='fusion'"):
        make_agent("ppo", env, policy="cnn", fusion=FusionConfig())
    with pytest.raises(ValueError, match="pass the FusionConfig via fusion="):
        make_agent("ppo", env, policy_kwargs={"features_extractor_kwargs": {}})


def test_minigrid_wrapper_maps_missions_to_suite_ids() -> None:
    from minigrid.wrappers import RGBImgPartialObsWrapper

    from fusiongym.agents.minigrid import MiniGridFusionWrapper

    vocab = suite_vocab()
    env = MiniGridFusionWrapper(RGBImgPartialObsWrapper(gym.make("BabyAI-GoToLocal-v0")))
    row = env.mission_ids("go to the green ball, then pick up a purple key!")
    assert vocab.decode(row) == "go to the green ball <unk> pick up a purple key"
    obs, _ = env.reset(seed=0)
    assert env.observation_space.contains(obs)
    assert obs["image"].shape == (56, 56, 3) and not obs["facts"].any()
    assert vocab.decode(obs["mission"]).startswith("go to the ")
    with pytest.raises(ValueError, match="RGBImgPartialObsWrapper"):
        MiniGridFusionWrapper(gym.make("BabyAI-GoToLocal-v0"))


def test_fusion_policy_trains_on_babyai_gotolocal() -> None:
    from minigrid.wrappers import RGBImgPartialObsWrapper

    from fusiongym.agents.minigrid import MiniGridFusionWrapper

    env = MiniGridFusionWrapper(RGBImgPartialObsWrapper(gym.make("BabyAI-GoToLocal-v0")))
    fusion = TINY_FUSION.replace(knowledge={"encoder": "none"}, block={"kind": "film"})
    model = make_agent("ppo", env, fusion=fusion, seed=0, n_steps=32, batch_size=16, n_epochs=1, learning_rate=1e-3)
    extractor = model.policy.features_extractor
    trained = {"vision": extractor.vision, "fusion": extractor.fusion, "action head": model.policy.action_net,
               "value head": model.policy.value_net}
    before = {part: _params(module) for part, module in trained.items()}
    backbone_before = _params(extractor.language.model)
    model.learn(64)  # two rollouts of 32 BabyAI steps, each followed by two gradient steps
    assert model.num_timesteps == 64 and model._n_updates == 2
    for name in ("train/loss", "train/policy_gradient_loss", "train/value_loss", "train/entropy_loss"):
        assert np.isfinite(model.logger.name_to_value[name]), name
    for part, module in trained.items():  # every trained part moved, every weight stayed finite
        assert any(not torch.equal(p, before[part][n]) for n, p in module.named_parameters()), part
        assert all(torch.isfinite(p).all() for p in module.parameters()), part
    assert all(torch.equal(p, backbone_before[n]) for n, p in extractor.language.model.named_parameters())
    obs, _ = env.reset(seed=1)
    features = model.policy.extract_features(model.policy.obs_to_tensor(obs)[0], model.policy.features_extractor)
    assert features.shape == (1, 32) and torch.isfinite(features).all()


def test_real_env_observations_fit_the_extractor_with_the_packaged_minilm() -> None:
    env = gym.make("fusiongym/Fetch-v0")
    extractor = FusionExtractor(env.observation_space, FusionConfig(knowledge={"encoder": "verbalised"},
                                                                      block={"kind": "cross_attention"}))
    obs = [env.reset(seed=s)[0] for s in range(4)]
    batch = {k: torch.as_tensor(np.stack([o[k] for o in obs])) for k in obs[0]}
    batch["image"] = batch["image"].float() / 255
    features = extractor(batch)
    assert features.shape == (4, 256) and torch.isfinite(features).all()
    # the verbalised facts are the env's own fact strings, in sorted order
    from fusiongym.fusion.language import verbalise_facts

    info = env.reset(seed=0)[1]
    text = verbalise_facts(obs[0]["facts"], suite_vocab())
    assert sorted(text.split(" . ")) == sorted(info["facts"])


def test_ppo_on_the_native_batched_vec_env() -> None:
    from fusiongym.agents.sb3_vec_env import FusionSB3VecEnv

    env = FusionSB3VecEnv("fusiongym/Fetch-v0", num_envs=4, seed=0)
    model = make_agent("ppo", env, fusion=TINY_FUSION.replace(knowledge={"encoder": "transe"}), seed=0, n_steps=16,
                       batch_size=32, n_epochs=1)
    model.learn(128)
    assert model.num_timesteps == 128
    language = model.policy.features_extractor.language
    assert language.cache.hits > language.cache.misses > 0
    actions, _ = model.predict(env.reset(), deterministic=True)
    assert actions.shape == (4,)
