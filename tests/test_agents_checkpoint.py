"""Saving agents as safetensors + JSON: save → load gives the same actions; clear errors for corrupt,
mismatched or pickled checkpoints."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
import torch

import fusiongym  # noqa: F401
from fusion_testing import TINY_BERT
from fusiongym.agents.checkpoint import (
    CheckpointError,
    UntrustedPickleError,
    load_agent,
    load_sb3_zip,
    save_agent,
    space_from_json,
    space_to_json,
)
from fusiongym.agents.factory import make_agent
from fusiongym.fusion.config import FLAT_KEYS, FusionConfig

torch.set_num_threads(1)

TINY_FUSION = FusionConfig(vision={"cnn_channels": (8, 8, 8)}, language={"config": TINY_BERT, "tokenizer": "minilm"},
                           knowledge={"dim": 16},
                           block={"kind": "cross_attention", "features_dim": 32, "hidden_dim": 32})


def _at(sections: dict[str, Any], path: tuple[str, ...]) -> Any:
    for part in path:
        sections = sections[part]
    return sections


def _observations(env: gym.Env, count: int = 6) -> dict[str, np.ndarray]:
    obs = [env.reset(seed=s)[0] for s in range(count)]
    return {k: np.stack([o[k] for o in obs]) for k in obs[0]}


def _trained(algo: str, env: gym.Env, **kwargs: Any) -> Any:
    model = make_agent(algo, env, fusion=TINY_FUSION, seed=0, **kwargs)
    model.learn(64)
    return model


def _distribution(model: Any, obs: dict[str, np.ndarray]) -> torch.Tensor:
    tensor, _ = model.policy.obs_to_tensor(obs)
    with torch.no_grad():
        if hasattr(model.policy, "q_net"):
            return model.policy.q_net(tensor)
        return model.policy.get_distribution(tensor).distribution.probs


@pytest.mark.parametrize("algo, kwargs", [
    ("ppo", dict(n_steps=32, batch_size=16, n_epochs=1, device="cpu",  # a device given to make_agent once broke load
                 policy_kwargs=dict(net_arch=[16], activation_fn=torch.nn.Tanh))),
    ("dqn", dict(buffer_size=200, learning_starts=16, train_freq=4, batch_size=8)),
])
def test_save_then_load_gives_identical_outputs(algo: str, kwargs: Any, tmp_path: Path) -> None:
    env = gym.make("fusiongym/Fetch-v0")
    model = _trained(algo, env, **kwargs)
    save_agent(model, tmp_path / "agent")
    loaded = load_agent(tmp_path / "agent", env=env)
    obs = _observations(env)
    assert torch.equal(_distribution(model, obs), _distribution(loaded, obs))
    assert np.array_equal(model.predict(obs, deterministic=True)[0], loaded.predict(obs, deterministic=True)[0])
    config = json.loads((tmp_path / "agent" / "config.json").read_text())
    assert config["algo"] == algo and config["policy"] == "fusion"
    assert FusionConfig.from_dict(config["fusion"]) == TINY_FUSION
    assert config["fusiongym_version"] == fusiongym.__version__
    assert space_from_json(config["action_space"]) == env.action_space
    if algo == "ppo":
        assert loaded.policy.activation_fn is torch.nn.Tanh and config["policy_kwargs"]["net_arch"] == [16]


def test_film_agents_saved_before_film_kernel_existed_still_load(tmp_path: Path) -> None:
    """Agents saved before ``film_kernel`` had 3×3 FiLM convs named ``conv`` and no such key in their config, which
    fusiongym 0.1.0 wrote as one flat mapping."""
    from safetensors.torch import load_file, save_file

    env = gym.make("fusiongym/Fetch-v0")
    fusion = TINY_FUSION.replace(block={"kind": "film", "film_layers": 2, "film_kernel": 3})
    model = make_agent("ppo", env, fusion=fusion, seed=0, n_steps=32, batch_size=16, n_epochs=1)
    model.learn(32)
    folder = tmp_path / "agent"
    save_agent(model, folder)
    config = json.loads((folder / "config.json").read_text())
    # as fusiongym 0.1.0 saved it: one flat mapping, from before film_kernel existed
    config["fusion"] = {flat: _at(config["fusion"], path) for flat, path in FLAT_KEYS.items() if flat != "film_kernel"}
    (folder / "config.json").write_text(json.dumps(config))
    weights = next(folder.glob("*.safetensors"))
    tensors = load_file(str(weights))
    save_file({k.replace(".mix.", ".conv."): v for k, v in tensors.items()}, str(weights))
    assert any(".conv." in k for k in load_file(str(weights)))
    loaded = load_agent(folder, env=env)
    obs = _observations(env)
    assert torch.equal(_distribution(model, obs), _distribution(loaded, obs))


def test_text_entity_embeddings_are_saved_with_the_weights(tmp_path: Path) -> None:
    from safetensors.torch import load_file

    env = gym.make("fusiongym/Fetch-v0")
    fusion = TINY_FUSION.replace(block={"kind": "film", "goal_maps": 2},
                   knowledge={"fact_grouping": "entities", "entity_embeddings": "text"})
    model = make_agent("ppo", env, fusion=fusion, seed=0, n_steps=32, batch_size=16, n_epochs=1)
    model.learn(32)
    folder = save_agent(model, tmp_path / "agent")
    tensors = load_file(str(next(folder.glob("*.safetensors"))))
    assert any(k.endswith("knowledge.entity.text") for k in tensors)
    torch.manual_seed(123)  # a fresh random backbone at load time must not change the table
    loaded = load_agent(folder, env=env)
    obs = _observations(env)
    assert torch.equal(_distribution(model, obs), _distribution(loaded, obs))


def test_recurrent_ppo_round_trip_keeps_actions_and_lstm_states(tmp_path: Path) -> None:
    env = gym.make("fusiongym/GoTo-v0")
    model = _trained("recurrent_ppo", env, n_steps=32, batch_size=16, n_epochs=1)
    save_agent(model, tmp_path)
    loaded = load_agent(tmp_path)
    obs = _observations(env, 4)
    starts = np.ones(4, dtype=bool)
    a1, s1 = model.predict(obs, episode_start=starts, deterministic=True)
    a2, s2 = loaded.predict(obs, episode_start=starts, deterministic=True)
    assert np.array_equal(a1, a2) and np.array_equal(s1[0], s2[0]) and np.array_equal(s1[1], s2[1])
    b1, _ = model.predict(obs, state=s1, episode_start=~starts, deterministic=True)
    b2, _ = loaded.predict(obs, state=s2, episode_start=~starts, deterministic=True)
    assert np.array_equal(b1, b2)


@pytest.fixture()
def saved(tmp_path: Path) -> Path:
    env = gym.make("fusiongym/GoTo-v0")
    model = make_agent("ppo", env, fusion=TINY_FUSION, seed=0, n_steps=16, batch_size=16)
    return save_agent(model, tmp_path / "agent")


def test_corrupt_weights_name_the_file(saved: Path) -> None:
    (saved / "policy.safetensors").write_bytes(b"\x00not safetensors at all")
    with pytest.raises(CheckpointError, match=r"policy\.safetensors could not be read"):
        load_agent(saved)


def test_corrupt_json_names_the_file(saved: Path) -> None:
    (saved / "config.json").write_text("{ nope")
    with pytest.raises(CheckpointError, match=r"config\.json is not valid JSON"):
        load_agent(saved)


def test_a_run_folder_given_for_its_agent_names_the_agent_folder(saved: Path) -> None:
    with pytest.raises(CheckpointError, match=r"is a run folder, pass .*agent$"):
        load_agent(saved.parent)  # the run folder that holds agent/


def test_missing_files_are_named(saved: Path) -> None:
    (saved / "policy.safetensors").unlink()
    with pytest.raises(CheckpointError, match=r"policy\.safetensors not found"):
        load_agent(saved)
    with pytest.raises(CheckpointError, match=r"config\.json not found"):
        load_agent(saved / "elsewhere")


def test_weights_that_do_not_fit_the_config_are_refused(saved: Path) -> None:
    config = json.loads((saved / "config.json").read_text())
    config["fusion"]["block"]["hidden_dim"] = 64
    (saved / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match=r"policy\.safetensors does not fit"):
        load_agent(saved)


def test_env_with_another_space_is_refused(saved: Path) -> None:
    from minigrid.wrappers import RGBImgPartialObsWrapper

    from fusiongym.agents.minigrid import MiniGridFusionWrapper

    other = MiniGridFusionWrapper(RGBImgPartialObsWrapper(gym.make("BabyAI-GoToLocal-v0")), num_facts=8)
    with pytest.raises(CheckpointError, match="does not match"):
        load_agent(saved, env=other)
    assert load_agent(saved, env=gym.make("fusiongym/GoTo-Large-v0")).get_env() is not None


def test_models_not_built_by_make_agent_cannot_be_saved(tmp_path: Path) -> None:
    from stable_baselines3 import PPO

    model = PPO("MultiInputPolicy", gym.make("fusiongym/GoTo-v0"), n_steps=16, batch_size=16)
    with pytest.raises(CheckpointError, match="make_agent"):
        save_agent(model, tmp_path)


def test_sb3_zip_needs_explicit_trust(tmp_path: Path) -> None:
    env = gym.make("fusiongym/GoTo-v0")
    model = make_agent("ppo", env, fusion=TINY_FUSION, seed=0, n_steps=16, batch_size=16)
    model.save(tmp_path / "model.zip")
    with pytest.raises(UntrustedPickleError, match="trust_remote_pickle=True") as err:
        load_sb3_zip(tmp_path / "model.zip", "ppo")
    assert "arbitrary code" in str(err.value)
    loaded = load_sb3_zip(tmp_path / "model.zip", "ppo", trust_remote_pickle=True)
    obs = _observations(env, 3)
    assert torch.equal(_distribution(model, obs), _distribution(loaded, obs))


def test_space_json_round_trip() -> None:
    space = gym.make("fusiongym/Fetch-v0").observation_space
    assert space_from_json(json.loads(json.dumps(space_to_json(space)))) == space


@pytest.mark.parametrize("algo, kwargs", [
    ("ppo", dict(n_steps=16, batch_size=16, n_epochs=1)),
    ("dqn", dict(buffer_size=200, learning_starts=8, train_freq=4, batch_size=8)),
])
def test_load_onto_a_vec_env_of_several_envs_then_predict_and_learn(algo: str, kwargs: Any, tmp_path: Path) -> None:
    from fusiongym.agents.sb3_vec_env import FusionSB3VecEnv

    model = make_agent(algo, gym.make("fusiongym/GoTo-v0"), fusion=TINY_FUSION, seed=0, **kwargs)
    save_agent(model, tmp_path / "agent")
    venv = FusionSB3VecEnv("fusiongym/GoTo-v0", num_envs=4, seed=0)
    loaded = load_agent(tmp_path / "agent", env=venv)
    assert loaded.n_envs == 4 and loaded.get_env().num_envs == 4
    actions, _ = loaded.predict(venv.reset(), deterministic=True)
    assert actions.shape == (4,)
    loaded.learn(64)
    assert loaded.num_timesteps >= 64


# ----------------------------------------------------------------------------------------------------------------
# Frozen pretrained backbones are saved by reference (their source and a sha256), not by copy
# ----------------------------------------------------------------------------------------------------------------


def _save_tiny_pretrained(folder: Path, seed: int = 0) -> Path:
    """A tiny BERT with the MiniLM tokenizer saved like a downloaded model: ``language=<folder>`` loads it with
    ``from_pretrained`` (a pretrained source, as the packaged MiniLM is) in a fraction of the time."""
    from transformers import AutoConfig, AutoModel, AutoTokenizer

    from fusiongym.fusion.backbones import resolve_source

    tokenizer = AutoTokenizer.from_pretrained(resolve_source("minilm")[0], local_files_only=True)
    torch.manual_seed(seed)
    model = AutoModel.from_config(AutoConfig.for_model(**{**TINY_BERT, "vocab_size": len(tokenizer)}))
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _save_tiny_pretrained(tmp_path_factory.mktemp("tiny-pretrained"))


def _pretrained_fusion(source: Path, mode: str = "frozen") -> FusionConfig:
    return TINY_FUSION.replace(language={"config": None, "tokenizer": None, "backbone": str(source), "mode": mode})


def _backbone_keys(keys: Any) -> list[str]:
    return [k for k in keys if ".language.model." in k]


def _ppo(fusion: FusionConfig, env: gym.Env) -> Any:
    model = make_agent("ppo", env, fusion=fusion, seed=0, n_steps=32, batch_size=16, n_epochs=1)
    model.learn(32)
    return model


def test_a_frozen_pretrained_backbone_is_saved_by_reference(pretrained: Path, tmp_path: Path) -> None:
    from safetensors.torch import load_file

    env = gym.make("fusiongym/Fetch-v0")
    model = _ppo(_pretrained_fusion(pretrained), env)
    folder = save_agent(model, tmp_path / "agent")
    tensors = load_file(str(folder / "policy.safetensors"))
    assert not _backbone_keys(tensors), "the frozen backbone's weights were copied into policy.safetensors"
    config = json.loads((folder / "config.json").read_text())
    [reference] = config["frozen_weights"]
    backbone = model.policy.features_extractor.language
    assert reference["module"] == "features_extractor.language" and reference["source"] == str(pretrained)
    assert reference["sha256"] == backbone.weights_sha256() and len(reference["sha256"]) == 64
    assert reference["parameters"] == sum(p.numel() for p in backbone.model.parameters())
    loaded = load_agent(folder, env=env)
    obs = _observations(env)
    assert torch.equal(_distribution(model, obs), _distribution(loaded, obs))
    # re-saved by reference again, with the same hash
    again = json.loads((save_agent(loaded, tmp_path / "again") / "config.json").read_text())
    assert again["frozen_weights"] == config["frozen_weights"]


def test_a_source_whose_weights_changed_is_refused_naming_the_fix(pretrained: Path, tmp_path: Path) -> None:
    import shutil

    source = tmp_path / "model"
    shutil.copytree(pretrained, source)
    env = gym.make("fusiongym/GoTo-v0")
    folder = save_agent(_ppo(_pretrained_fusion(source), env), tmp_path / "agent")
    _save_tiny_pretrained(source, seed=1)  # another model under the same name
    with pytest.raises(CheckpointError, match=r"sha256.*(same weights|install)") as err:
        load_agent(folder)
    assert str(source) in str(err.value)


def test_agents_saved_with_the_backbone_copied_still_load(pretrained: Path, tmp_path: Path) -> None:
    """Agents saved before by-reference saving hold every weight; they load from the file, whatever the source
    holds now."""
    import shutil

    source = tmp_path / "model"
    shutil.copytree(pretrained, source)
    env = gym.make("fusiongym/Fetch-v0")
    model = _ppo(_pretrained_fusion(source), env)
    folder = save_agent(model, tmp_path / "agent")
    config = json.loads((folder / "config.json").read_text())
    config.pop("frozen_weights")
    config["format_version"] = 1
    (folder / "config.json").write_text(json.dumps(config))
    from safetensors.torch import load_file, save_file

    tensors = load_file(str(folder / "policy.safetensors"))
    tensors = {k: v for k, v in tensors.items() if not k.endswith(".source_sha256")}
    full = {f"features_extractor.language.model.{k}": v.clone()
            for k, v in model.policy.features_extractor.language.model.state_dict().items()}
    save_file({**tensors, **full}, str(folder / "policy.safetensors"), metadata={"format": "fusiongym-agent"})
    _save_tiny_pretrained(source, seed=1)  # the file's copy is what counts
    loaded = load_agent(folder, env=env)
    obs = _observations(env)
    assert torch.equal(_distribution(model, obs), _distribution(loaded, obs))


@pytest.mark.parametrize("mode", ["lora", "full"])
def test_trained_backbones_are_saved_by_copy(mode: str, pretrained: Path, tmp_path: Path) -> None:
    from safetensors.torch import load_file

    env = gym.make("fusiongym/GoTo-v0")
    model = _ppo(_pretrained_fusion(pretrained, mode), env)
    folder = save_agent(model, tmp_path / "agent")
    assert _backbone_keys(load_file(str(folder / "policy.safetensors")))
    assert not json.loads((folder / "config.json").read_text()).get("frozen_weights")
    loaded = load_agent(folder, env=env)
    obs = _observations(env)
    for agent in (model, loaded):
        agent.policy.set_training_mode(False)  # a trained backbone samples dropout in training mode
    assert torch.equal(_distribution(model, obs), _distribution(loaded, obs))


def test_strict_loaders_and_sb3_zips_accept_weights_saved_by_reference(pretrained: Path, tmp_path: Path) -> None:
    """Imitation's resume and ``--init-from`` load policy.safetensors with ``load_model(strict=True)``; SB3's zip
    loads with ``load_state_dict(strict=True)``: both take a file without the frozen backbone."""
    from safetensors.torch import load_model

    env = gym.make("fusiongym/Fetch-v0")
    model = _ppo(_pretrained_fusion(pretrained), env)
    folder = save_agent(model, tmp_path / "agent")
    fresh = make_agent("ppo", env, fusion=_pretrained_fusion(pretrained), seed=1, n_steps=32, batch_size=16)
    load_model(fresh.policy, str(folder / "policy.safetensors"), strict=True)
    obs = _observations(env)
    assert torch.equal(_distribution(model, obs), _distribution(fresh, obs))
    model.save(tmp_path / "model.zip")
    loaded = load_sb3_zip(tmp_path / "model.zip", "ppo", trust_remote_pickle=True)
    assert torch.equal(_distribution(model, obs), _distribution(loaded, obs))


def test_the_default_fusion_agent_folder_holds_only_its_trained_weights(tmp_path: Path) -> None:
    """The default PPO fusion agent: 0.76 M trained parameters beside the 22.7 M of the frozen MiniLM (93.9 MB when
    it was copied into policy.safetensors)."""
    env = gym.make("fusiongym/GoTo-v1")
    model = make_agent("ppo", env, seed=0, n_steps=16, batch_size=16)
    folder = save_agent(model, tmp_path / "agent")
    size = sum(p.stat().st_size for p in folder.iterdir())
    assert size < 5_000_000, f"agent/ holds {size} bytes"
    assert json.loads((folder / "config.json").read_text())["frozen_weights"][0]["source"] == "minilm"
    loaded = load_agent(folder, env=env)
    obs = _observations(env, 3)
    assert torch.equal(_distribution(model, obs), _distribution(loaded, obs))


def test_strict_loaders_refuse_weights_saved_with_another_source(pretrained: Path, tmp_path: Path) -> None:
    import shutil

    from safetensors.torch import load_model

    source = tmp_path / "model"
    shutil.copytree(pretrained, source)
    env = gym.make("fusiongym/GoTo-v0")
    folder = save_agent(_ppo(_pretrained_fusion(source), env), tmp_path / "agent")
    _save_tiny_pretrained(source, seed=1)
    fresh = make_agent("ppo", env, fusion=_pretrained_fusion(source), seed=0, n_steps=32, batch_size=16)
    with pytest.raises(RuntimeError, match="not the one these weights were trained with"):
        load_model(fresh.policy, str(folder / "policy.safetensors"), strict=True)
