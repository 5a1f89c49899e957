"""Random, oracle, tabular Q-learning and the zero-shot LM scorer."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium import spaces

import fusiongym  # noqa: F401
from fusion_testing import save_tiny_tokenizer, suite_vocab
from fusiongym.agents.lm_scorer import ACTION_TEXTS, LMScorerAgent
from fusiongym.agents.policies import OraclePolicy, RandomPolicy
from fusiongym.agents.qlearning import QLearningAgent, observation_key

torch.set_num_threads(1)


def _run(env: gym.Env, agent: Any, episodes: int, seed: int = 0) -> list[float]:
    returns = []
    for episode in range(episodes):
        obs, _ = env.reset(seed=seed + episode)
        done, total = False, 0.0
        while not done:
            action, _ = agent.predict(obs)
            obs, reward, terminated, truncated, _ = env.step(int(action))
            total += float(reward)
            done = terminated or truncated
        returns.append(total)
    return returns


def test_random_policy_is_seeded_and_batched() -> None:
    a, b = RandomPolicy(seed=1), RandomPolicy(seed=1)
    draws = [int(a.predict()[0]) for _ in range(200)]
    assert draws == [int(b.predict()[0]) for _ in range(200)]
    assert set(draws) == set(range(7))
    batch = {"mission": np.zeros((5, 16), np.int64)}
    assert a.predict(batch)[0].shape == (5,)
    assert a.act(batch, None, np.ones(5, bool)).shape == (5,)  # the evaluation protocol's face, the same draws


@pytest.mark.parametrize("env_id", ["fusiongym/GoTo-v0", "fusiongym/Fetch-v0"])
def test_oracle_beats_random(env_id: str) -> None:
    env = gym.make(env_id)
    oracle = _run(env, OraclePolicy(env=env), episodes=10)
    random = _run(env, RandomPolicy(seed=0), episodes=10)
    assert np.mean([r > 0 for r in oracle]) >= 0.9
    assert np.mean(oracle) > np.mean(random) + 0.3


def test_oracle_policy_predicts_on_a_vector_env_as_it_acts() -> None:
    vector_env = gym.make_vec("fusiongym/Fetch-v0", num_envs=4, vectorization_mode="vector_entry_point")
    observations, _ = vector_env.reset(seed=0)
    oracle = OraclePolicy(env=vector_env)
    acted = oracle.act(observations, vector_env, np.ones(4, bool))
    assert oracle.predict(observations)[0].tolist() == acted.tolist()
    assert acted.tolist() == list(vector_env.unwrapped.oracle_actions())


def test_oracle_needs_an_env_with_an_oracle() -> None:
    with pytest.raises(TypeError, match="oracle_action"):
        OraclePolicy(env=gym.make("CartPole-v1"))
    with pytest.raises(ValueError, match="env="):
        OraclePolicy().predict()


def test_q_learning_update_is_the_classic_rule() -> None:
    agent = QLearningAgent(n_actions=3, alpha=0.5, gamma=0.9)
    agent.q["s2"] = np.array([0.0, 2.0, 1.0])
    td = agent.update("s1", 1, reward=1.0, next_key="s2", terminated=False)
    assert td == pytest.approx(1.0 + 0.9 * 2.0)
    assert agent.q["s1"][1] == pytest.approx(0.5 * 2.8)
    agent.update("s1", 1, reward=1.0, next_key="s2", terminated=True)  # no bootstrap at termination
    assert agent.q["s1"][1] == pytest.approx(1.4 + 0.5 * (1.0 - 1.4))


class _Corridor(gym.Env):
    """Five cells; ``go forward`` (2) moves right, reaching the last cell pays 1; the image shows the position."""

    def __init__(self) -> None:
        self.observation_space = spaces.Dict({"image": spaces.Box(0, 255, (5, 1, 3), np.uint8),
                                              "mission": spaces.Box(0, 10, (2,), np.int64)})
        self.action_space = spaces.Discrete(7)
        self.pos = 0
        self.t = 0

    def _obs(self) -> dict[str, np.ndarray]:
        image = np.zeros((5, 1, 3), np.uint8)
        image[self.pos] = 255
        return {"image": image, "mission": np.array([3, 4])}

    def reset(self, *, seed: int | None = None, options: Any = None) -> tuple[dict, dict]:
        super().reset(seed=seed)
        self.pos, self.t = 0, 0
        return self._obs(), {}

    def step(self, action: int) -> tuple[dict, float, bool, bool, dict]:
        self.t += 1
        if action == 2:
            self.pos += 1
        done = self.pos == 4
        return self._obs(), float(done), done, self.t >= 20, {}


def test_q_learning_learns_a_corridor() -> None:
    env = _Corridor()
    agent = QLearningAgent(n_actions=7, alpha=0.5, gamma=0.9, epsilon=0.3, seed=0)
    returns = agent.learn(env, total_timesteps=3000, seed=0)
    assert len(agent.q) == 4  # one entry per non-terminal position: the key is the observation's content
    assert _run(env, agent, episodes=3) == [1.0, 1.0, 1.0]
    assert returns[-1] == 1.0


def test_observation_key_is_stable_and_content_based() -> None:
    obs = {"image": np.zeros((2, 2, 3), np.uint8), "mission": np.arange(4), "facts": np.zeros((2, 3), np.int64)}
    same = {k: v.copy() for k, v in obs.items()}
    other = {**same, "image": np.ones((2, 2, 3), np.uint8)}
    assert observation_key(obs) == observation_key(same) != observation_key(other)
    assert observation_key(obs).hex() == observation_key(same).hex() and len(observation_key(obs)) == 16


@pytest.fixture(scope="module")
def tiny_lm(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Any]:
    from transformers import AutoTokenizer, GPT2Config, GPT2LMHeadModel

    folder = save_tiny_tokenizer(tmp_path_factory.mktemp("lm") / "tok", "gpt2", suite_vocab())
    tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    torch.manual_seed(0)
    model = GPT2LMHeadModel(GPT2Config(vocab_size=len(tokenizer), n_embd=32, n_layer=1, n_head=2, n_positions=512))
    return model, tokenizer


def test_lm_scorer_scores_are_action_log_likelihoods(tiny_lm: tuple[Any, Any]) -> None:
    model, tokenizer = tiny_lm
    env = gym.make("fusiongym/Fetch-v0")
    obs, info = env.reset(seed=0)
    agent = LMScorerAgent(model, tokenizer, describe_view=lambda o: "a red apple ahead")
    prompt = agent.prompt_text(obs)
    assert info["mission"] in prompt and "a red apple ahead" in prompt
    assert all(f in prompt for f in info["facts"])
    scores = agent.action_scores(obs)
    assert scores.shape == (7,)
    for n, text in enumerate(ACTION_TEXTS):  # independent check through the model's own LM loss
        prompt_ids = tokenizer(prompt)["input_ids"]
        action_ids = tokenizer(" " + text, add_special_tokens=False)["input_ids"]
        ids = torch.tensor([prompt_ids + action_ids])
        labels = ids.clone()
        labels[0, :len(prompt_ids)] = -100
        with torch.no_grad():
            loss = model(input_ids=ids, labels=labels).loss
        assert scores[n] == pytest.approx(-loss.item() * len(action_ids), abs=1e-4)
    action, _ = agent.predict(obs)
    assert int(action) == int(np.argmax(scores))
    batch = {k: np.stack([obs[k], obs[k]]) for k in obs}
    assert agent.predict(batch)[0].tolist() == [int(action)] * 2


class _FavouringLM(torch.nn.Module):
    """A stand-in causal LM whose next-token distribution always favours the given tokens."""

    def __init__(self, vocab_size: int, favoured: list[int]) -> None:
        super().__init__()
        self.bias = torch.nn.Parameter(torch.zeros(vocab_size))
        with torch.no_grad():
            self.bias[favoured] = 10.0

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> Any:
        from types import SimpleNamespace

        return SimpleNamespace(logits=self.bias.expand(*input_ids.shape, -1))


@pytest.mark.parametrize("action", ["toggle", "pick up", "turn left"])
def test_lm_scorer_follows_the_model(action: str, tiny_lm: tuple[Any, Any]) -> None:
    _, tokenizer = tiny_lm
    favoured = tokenizer(" " + action, add_special_tokens=False)["input_ids"]
    env = gym.make("fusiongym/GoTo-v0")
    agent = LMScorerAgent(_FavouringLM(len(tokenizer), favoured), tokenizer, length_normalise=True, env=env)
    obs, _ = env.reset(seed=0)
    assert ACTION_TEXTS[int(agent.predict(obs)[0])] == action


def _objects_in_view(vector_env: Any) -> list[set[str]]:
    """Per world, "<colour> <shape>" of each object its agent sees, read from the view's object slots and the
    episode's layout (not from the env's description of the view)."""
    native = vector_env.unwrapped
    slots = native.view_slots().copy()
    v = slots.shape[1]
    slots[:, v - 1, v // 2] = -1  # the agent's own cell
    return [{f"{native.episodes[b].layout.objects[s].colour} {native.episodes[b].layout.objects[s].shape}"
             for s in set(slots[b].ravel().tolist()) - {-1}} for b in range(len(slots))]


def _recording_prompts(agent: LMScorerAgent) -> list[str]:
    """Every prompt ``agent`` builds from now on, in order."""
    prompts: list[str] = []
    build = agent.prompt_text

    def prompt_text(observation: dict[str, Any], view: str | None = None) -> str:
        prompts.append(build(observation, view))
        return prompts[-1]

    agent.prompt_text = prompt_text  # type: ignore[method-assign]
    return prompts


def test_lm_scorer_prompt_says_what_is_in_view(tiny_lm: tuple[Any, Any]) -> None:
    model, tokenizer = tiny_lm
    vector_env = gym.make_vec("fusiongym/Fetch-v0", num_envs=6, vectorization_mode="vector_entry_point")
    with pytest.raises(gym.error.ResetNeeded, match=r"call reset\(\) first"):
        vector_env.unwrapped.describe_views()
    batch, _ = vector_env.reset(seed=0)
    in_view = _objects_in_view(vector_env)
    assert sum(bool(seen) for seen in in_view) >= 2 and not all(in_view)  # views with objects, and one without
    # the native vector env: one prompt per world, each naming what that world's agent sees
    agent = LMScorerAgent(model, tokenizer, env=vector_env)
    prompts = _recording_prompts(agent)
    assert agent.predict(batch)[0].shape == (6,)
    assert len(prompts) == 6
    for prompt, seen in zip(prompts, in_view, strict=True):
        assert all(f"a {thing}" in prompt for thing in seen), (seen, prompt)
        assert ("You see nothing." in prompt) == (not seen)
    # a single env seeded b is world b of the vector env seeded 0
    b = next(b for b, seen in enumerate(in_view) if seen)
    env = gym.make("fusiongym/Fetch-v0")
    obs, _ = env.reset(seed=b)
    agent = LMScorerAgent(model, tokenizer, env=env)
    prompt = agent.prompt_text(obs)
    view = env.unwrapped.describe_view()
    assert all(f"a {thing}" in prompt for thing in in_view[b]) and view in prompt
    obs, *_ = env.step(0)  # turn left: the env's view is described anew, and so is the prompt
    obs, *_ = env.step(0)
    assert env.unwrapped.describe_view() != view and env.unwrapped.describe_view() in agent.prompt_text(obs)


def test_lm_scorer_runs_the_evaluation_protocol_on_the_vector_envs_views(tiny_lm: tuple[Any, Any]) -> None:
    from fusiongym.training.evaluation import evaluate

    model, tokenizer = tiny_lm
    agent = LMScorerAgent(model, tokenizer)  # evaluation hands it the vector env it makes
    prompts, views = _recording_prompts(agent), []
    act = agent.act

    def recording_act(observations: dict[str, np.ndarray], vector_env: Any, episode_start: np.ndarray) -> np.ndarray:
        views.extend(vector_env.unwrapped.describe_views())
        return act(observations, vector_env, episode_start)

    agent.act = recording_act  # type: ignore[method-assign]
    result = evaluate(agent, "fusiongym/Fetch-v0", split="train", episodes=2, batch_size=2,
                      env_kwargs={"max_steps": 3}, progress=False)
    assert result.episodes == 2 and len(prompts) == len(views) >= 2
    assert all(view in prompt for view, prompt in zip(views, prompts, strict=True))
    assert any(view != "You see nothing." for view in views)


def test_lm_scorer_refuses_to_prompt_without_a_view(tiny_lm: tuple[Any, Any]) -> None:
    model, tokenizer = tiny_lm
    obs, _ = gym.make("fusiongym/GoTo-v0").reset(seed=0)
    with pytest.raises(ValueError, match="env="):
        LMScorerAgent(model, tokenizer).predict(obs)
    with pytest.raises(TypeError, match="describe_view="):
        LMScorerAgent(model, tokenizer, env=gym.make("CartPole-v1"))
    vector_env = gym.make_vec("fusiongym/GoTo-v0", num_envs=2, vectorization_mode="vector_entry_point")
    vector_env.reset(seed=0)
    with pytest.raises(ValueError, match="holds 1 world"):
        LMScorerAgent(model, tokenizer, env=vector_env).predict(obs)
