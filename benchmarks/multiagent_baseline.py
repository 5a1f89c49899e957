"""Learned baselines on the multi-agent envs, with the message ablation that shows communication is used.

Default (``--mode listener``): a **learned listener with a scripted speaker**. Stable-Baselines3 PPO learns the
moves of one agent from its egocentric pixels and the message tokens it hears; every other part of the pair is
the env's own script:

* GuideFollower: the guide is the oracle guide (``GuideFollowerBatch.oracle_guide_actions``: the oracle's next
  action name); PPO learns the follower (``image`` + ``message``).
* KnowledgeSplit: agent_1 is the scripted agent (``ScriptedSplitPair``) and agent_0 says what the script says
  (its category's kind, the kind agent_1 asked for); the policy learns agent_0's moves (``image`` + ``message``:
  agent_1 tells it its target's colour and shape), which is a navigation task (find the named object, face it,
  pick it up). Pure PPO does not learn it in this budget (about chance, 0.2, after 300k steps), so by default the
  policy is first fitted to the scripted mover by DAgger (``--imitation`` agent-steps, :func:`imitate`), then
  trained by PPO on the env's reward (``--imitation 0`` for pure PPO). ``--learners both`` learns the moves of
  both agents with one shared policy (each sees ``image``, ``message``, ``mission``, ``facts`` and a one-hot
  ``agent``); the speech stays scripted.

Message ids go through an embedding (:class:`TokenViewExtractor`), the pixels through a tile CNN (one 8×8 stride-8
convolution per tile, then a 3×3 one: :class:`fusiongym.fusion.vision.TileCNNEncoder`), FiLM-conditioned on them.

``--mode scratch``: shared-parameter PPO from scratch, both speaking and acting (:class:`SharedPolicyVecEnv`).

After training on the train split, each policy plays the first ``--episodes`` test-split seeds of the evaluation
protocol (``fusiongym.training.seeds.SEEDS["test"]``; episode k starts as ``reset(seed=SEEDS["test"][k])``)
as trained and with every message zeroed (``zero_messages=True``: the ablation), actions sampled with a seeded
generator (``--deterministic`` for greedy). The scripted pair on the same seeds is the reference.

    python benchmarks/multiagent_baseline.py                      # listener mode, both envs, default budgets
    python benchmarks/multiagent_baseline.py --envs KnowledgeSplit --learners both --timesteps 400000
    python benchmarks/multiagent_baseline.py --mode scratch --timesteps 500000
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from gymnasium.utils import seeding
from stable_baselines3 import PPO
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from stable_baselines3.common.vec_env.base_vec_env import VecEnv
from torch import nn

import fusiongym  # noqa: F401
from fusiongym.agents.imitation import Imitation
from fusiongym.envs.multiagent import GuideFollowerBatch, KnowledgeSplitBatch, ScriptedSplitPair
from fusiongym.envs.multiagent_registration import MULTIAGENT_REGISTRATIONS
from fusiongym.envs.vocab import get_vocab
from fusiongym.fusion.vision import TileCNNEncoder
from fusiongym.training.seeds import SEEDS

CORES: dict[str, type] = {"GuideFollower": GuideFollowerBatch, "KnowledgeSplit": KnowledgeSplitBatch}
#: The agents a listener run learns, per env and ``--learners`` choice.
LEARNERS: dict[str, dict[str, tuple[str, ...]]] = {
    "GuideFollower": {"one": ("follower",), "both": ("follower",)},
    "KnowledgeSplit": {"one": ("agent_0",), "both": ("agent_0", "agent_1")},
}
#: Observation keys a learned listener sees: one learner needs only its view and what it hears.
LISTENER_KEYS: dict[str, tuple[str, ...]] = {
    "one": ("image", "message"),
    "both": ("image", "message", "mission", "facts"),
}


class _CoreVecEnv(VecEnv):
    """What SB3 asks of a ``VecEnv`` beyond reset/step, for an adapter over a batched multi-agent core."""

    def close(self) -> None:
        pass

    def get_attr(self, attr_name: str, indices=None) -> list[Any]:
        return [getattr(self, attr_name)] * len(self._get_indices(indices))

    def set_attr(self, attr_name: str, value: Any, indices=None) -> None:
        setattr(self, attr_name, value)

    def env_method(self, method_name: str, *args, indices=None, **kwargs) -> list[Any]:
        return [getattr(self, method_name)(*args, **kwargs)] * len(self._get_indices(indices))

    def env_is_wrapped(self, wrapper_class, indices=None) -> list[bool]:
        return [False] * len(self._get_indices(indices))

    def _end_episodes(self, n: int, terminated: np.ndarray, truncated: np.ndarray, success: np.ndarray,
                      final: dict[str, np.ndarray]) -> list[dict[str, Any]]:
        """SB3 infos for the ``n`` envs of each world (env ``b * n + i``), recording and resetting every world
        whose episode ended; ``final`` is the flat observation before the resets."""
        infos: list[dict[str, Any]] = [{} for _ in range(self.num_envs)]
        for b in np.flatnonzero(terminated | truncated):
            self.episode_success.append(bool(success[b]))
            if self.first_success[b] < 0:
                self.first_success[b] = int(success[b])
            for i in range(n):
                infos[b * n + i] = {
                    "terminal_observation": {k: v[b * n + i] for k, v in final.items()},
                    "TimeLimit.truncated": bool(truncated[b] and not terminated[b]),
                    "is_success": bool(success[b]),
                }
            self.core.reset_world(int(b), self._rngs[b])
        return infos

    def get_images(self) -> list[None]:
        return [None] * self.num_envs


# --- listener mode: learned movers, scripted speakers --------------------------------------------------------
class ScriptedPartnerVecEnv(_CoreVecEnv):
    """SB3 ``VecEnv`` over a batched core where the ``learners`` choose their moves and the env's scripts do the rest.

    Env ``b * n + i`` is learner ``i`` of world ``b`` (n learners share one policy). Its observation is the agent's
    own observation restricted to ``keys`` (plus a one-hot ``agent`` when n > 1); its action is a move,
    ``Discrete(7)``. Speech is scripted: the oracle guide on GuideFollower, :class:`ScriptedSplitPair` on
    KnowledgeSplit (which also moves every agent that is not a learner). World ``b`` draws its episodes from
    ``rngs[b]``; ``episode_success`` collects every finished episode's outcome, ``first_success`` each world's first.
    """

    def __init__(self, core_class: type, rngs: Sequence[np.random.Generator], learners: Sequence[str],
                 keys: Sequence[str] = ("image", "message"), **kwargs: Any) -> None:
        self.core = core_class(len(rngs), **kwargs)
        unknown = [a for a in learners if a not in self.core.agents]
        if unknown or not learners:
            raise ValueError(f"learners {list(learners)} must be agents of {core_class.__name__}: {self.core.agents}")
        self.render_mode = None
        self.num_worlds = len(rngs)
        self.learners = tuple(learners)
        self.keys = tuple(keys)
        self._rngs = list(rngs)
        own = self.core.observation_spaces[self.learners[0]].spaces
        spaces: dict[str, gym.spaces.Space] = {k: own[k] for k in self.keys}
        if len(self.learners) > 1:
            spaces["agent"] = gym.spaces.Box(0.0, 1.0, (len(self.learners),), np.float32)
        self._pair = ScriptedSplitPair(self.core) if isinstance(self.core, KnowledgeSplitBatch) else None
        self._last: dict[str, dict[str, np.ndarray]] = {}
        self._moves: np.ndarray | None = None
        self.episode_success: list[bool] = []
        self.first_success = np.full(self.num_worlds, -1, np.int8)  # -1 running, 0 lost, 1 won
        super().__init__(self.num_worlds * len(self.learners), gym.spaces.Dict(spaces), gym.spaces.Discrete(7))

    def _flat(self, per_agent: dict[str, dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
        """Learner observations, world-major: row ``b * n + i`` is learner ``i`` of world ``b``."""
        n, out = len(self.learners), {}
        for key in self.keys:
            stacked = np.stack([per_agent[a][key] for a in self.learners], axis=1)  # (B, n, ...)
            out[key] = stacked.reshape(self.num_envs, *stacked.shape[2:])
        if n > 1:
            out["agent"] = np.tile(np.eye(n, dtype=np.float32), (self.num_worlds, 1))
        return out

    def reset(self) -> dict[str, np.ndarray]:
        for b in range(self.num_worlds):
            self.core.reset_world(b, self._rngs[b])
        self._last = self.core.observe()
        return self._flat(self._last)

    def scripted_moves(self) -> np.ndarray:
        """(num_envs,) the moves the env's script would make for the learners now (the reference policy)."""
        if self._pair is None:
            moves = {"follower": self.core.obedient_actions(self.core.message)}
        else:
            actions = self._pair.actions(self._last)
            moves = {a: actions[a][:, 0] for a in self.core.agents}
        return np.stack([moves[a] for a in self.learners], axis=1).reshape(-1)

    def step_async(self, actions: np.ndarray) -> None:
        self._moves = np.asarray(actions, np.int64).reshape(self.num_worlds, len(self.learners))

    def step_wait(self):
        assert self._moves is not None, "step_async first"
        if self._pair is None:
            acts: dict[str, np.ndarray] = {"guide": self.core.oracle_guide_actions(), "follower": self._moves[:, 0]}
        else:
            acts = {a: v.copy() for a, v in self._pair.actions(self._last).items()}
            for i, agent in enumerate(self.learners):
                acts[agent][:, 0] = self._moves[:, i]
        reward, terminated, truncated, success = self.core.step(acts)
        done = terminated | truncated
        n = len(self.learners)
        final = self._flat(self.core.observe()) if done.any() else {}
        infos = self._end_episodes(n, terminated, truncated, success, final)
        self._last = self.core.observe()
        return self._flat(self._last), np.repeat(reward, n).astype(np.float32), np.repeat(done, n), infos


class TokenViewExtractor(BaseFeaturesExtractor):
    """Pixels through a tile CNN, token ids through one embedding table (0 = padding), joined by FiLM.

    ``message`` and ``mission`` keep their token positions (embeddings concatenated into a query); the query
    FiLM-modulates the 7×7 tile map (per-channel scale and shift, BabyAI's conditioning: "is the tile here the one
    that was named" is a per-tile product), then a 3×3 convolution and a linear layer read the map. ``facts`` rows
    are embedded, each concatenated with the query, passed through an MLP and max-pooled over the non-empty rows
    (a lookup keyed by what was said); ``agent`` (one-hot) passes through."""

    def __init__(self, observation_space: gym.spaces.Dict, embed_dim: int = 16, image_dim: int = 128,
                 channels: tuple[int, ...] = (32, 32)) -> None:
        spaces = observation_space.spaces
        height = spaces["image"].shape[1]  # SB3 hands the extractor channel-first images
        grid = height // 8
        query_dim = sum(int(np.prod(spaces[k].shape)) * embed_dim for k in ("message", "mission") if k in spaces)
        fact_dim = 64 if "facts" in spaces else 0
        agent_dim = int(spaces["agent"].shape[0]) if "agent" in spaces else 0
        super().__init__(observation_space, image_dim + query_dim + fact_dim + agent_dim)
        width = channels[-1]
        self.vision = TileCNNEncoder(3, channels, grid=grid, image_size=height)
        self.embed = nn.Embedding(get_vocab().size, embed_dim, padding_idx=0)
        self.film = nn.Linear(query_dim, 2 * width) if query_dim else None
        self.image_head = nn.Sequential(
            nn.Conv2d(width, width, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(width * grid * grid, image_dim),
            nn.ReLU(),
        )
        if fact_dim:
            self.fact_mlp = nn.Sequential(nn.Linear(3 * embed_dim + query_dim, 128), nn.ReLU(),
                                          nn.Linear(128, fact_dim))

    def forward(self, observations: dict[str, torch.Tensor]) -> torch.Tensor:
        maps = self.vision(observations["image"]).maps  # (B, C, grid, grid)
        queries = [self.embed(observations[k].long()).flatten(1) for k in ("message", "mission") if k in observations]
        query = torch.cat(queries, dim=1) if queries else None
        if self.film is not None and query is not None:
            scale, shift = self.film(query)[:, :, None, None].chunk(2, dim=1)
            maps = torch.relu(maps * (1 + scale) + shift)
        parts = [self.image_head(maps), *queries]
        if "facts" in observations and query is not None:
            facts = observations["facts"].long()  # (B, F, 3)
            rows = self.embed(facts).flatten(2)  # (B, F, 3e)
            pairs = torch.cat([rows, query.unsqueeze(1).expand(-1, rows.shape[1], -1)], dim=2)
            empty = (facts == 0).all(dim=2, keepdim=True)
            parts.append(self.fact_mlp(pairs).masked_fill(empty, -1e4).max(dim=1).values.clamp(min=-1e3))
        if "agent" in observations:
            parts.append(observations["agent"])
        return torch.cat(parts, dim=1)


Policy = Callable[[ScriptedPartnerVecEnv, dict[str, np.ndarray]], np.ndarray]


def listener_success(policy: Policy, core_class: type, kwargs: dict[str, Any], learners: Sequence[str],
                     keys: Sequence[str], seeds: Sequence[int]) -> float:
    """Success over one episode per seed (episode k as ``reset(seed=seeds[k])``), learners moved by ``policy``."""
    venv = ScriptedPartnerVecEnv(core_class, [seeding.np_random(int(s))[0] for s in seeds], learners, keys, **kwargs)
    obs = venv.reset()
    while (venv.first_success < 0).any():
        obs, *_ = venv.step(policy(venv, obs))
    return float(venv.first_success.mean())


def scripted_policy(venv: ScriptedPartnerVecEnv, obs: dict[str, np.ndarray]) -> np.ndarray:
    """The env's scripted moves (obedient follower / scripted pair): the reference."""
    return venv.scripted_moves()


def model_policy(model: PPO, deterministic: bool) -> Policy:
    """A trained model's moves."""
    return lambda venv, obs: model.predict(obs, deterministic=deterministic)[0]


def imitate(model: PPO, venv: ScriptedPartnerVecEnv, steps: int, seed: int, **overrides: Any) -> int:
    """DAgger from the env's script (``fusiongym.agents.imitation.Imitation``): the learner's share of actions rises
    from 0 to 1 over the first half of ``steps``, every visited state is labelled with the script's move
    (:meth:`ScriptedPartnerVecEnv.scripted_moves`, which plans from the true state, so any state can be labelled),
    and the policy's action distribution is fitted to the labels by cross-entropy on the last 8 rollouts of 64
    steps (2 epochs, minibatches of 256; ``overrides`` change these). PPO trains the value head afterwards. Returns
    agent-steps used."""
    settings = {"mix": 1.0, "mix_warmup": 0.5, "rollout": 64, "epochs": 2, "batch_size": 256, "keep": 8,
                "learning_rate": model.lr_schedule(1.0), "max_grad_norm": 0.5, **overrides}
    learner = Imitation(model, venv, expert=venv.scripted_moves, seed=seed, **settings)
    learner.learn(steps)
    return learner.num_timesteps


# --- scratch mode: shared-parameter PPO, speaking and acting ------------------------------------------------
class SharedPolicyVecEnv(_CoreVecEnv):
    """SB3 ``VecEnv`` over a batched multi-agent core: env ``b * n + i`` is agent ``i`` of world ``b``.

    Each agent's observation is padded to the union of the agents' keys (images zero-padded to the largest, absent
    keys zero) plus a one-hot ``agent`` key, and every agent acts in ``MultiDiscrete([7] + [A] * k)`` (the move,
    then the message; a guide's move and a follower's message are ignored). supersuit's padding wrappers handle
    only Box and Discrete spaces, not these Dict observations, hence the adapter."""

    def __init__(self, core_class: type, rngs: Sequence[np.random.Generator], **kwargs: Any) -> None:
        self.core = core_class(len(rngs), **kwargs)
        self.render_mode = None
        self.agents = self.core.agents
        self.num_worlds = len(rngs)
        union: dict[str, gym.spaces.Box] = {}
        for space in (self.core.observation_spaces[a] for a in self.agents):
            for key, box in space.spaces.items():
                if key in union and union[key].shape != box.shape:
                    shape = tuple(max(a, b) for a, b in zip(union[key].shape, box.shape, strict=True))
                    union[key] = gym.spaces.Box(0, int(box.high.max()), shape, box.dtype)
                elif key not in union:
                    union[key] = box
        union["agent"] = gym.spaces.Box(0.0, 1.0, (len(self.agents),), np.float32)
        alphabet, k = len(self.core.alphabet), self.core.message_len
        action_space = gym.spaces.MultiDiscrete(np.array([7] + [alphabet] * k, np.int64))
        super().__init__(self.num_worlds * len(self.agents), gym.spaces.Dict(union), action_space)
        self._rngs = list(rngs)
        self._actions: np.ndarray | None = None
        self.episode_success: list[bool] = []
        self.first_success = np.full(self.num_worlds, -1, np.int8)

    def _obs(self) -> dict[str, np.ndarray]:
        per_agent = self.core.observe()
        n, out = len(self.agents), {}
        for key, box in self.observation_space.spaces.items():
            arr = np.zeros((self.num_worlds, n, *box.shape), box.dtype)
            for i, agent in enumerate(self.agents):
                if key == "agent":
                    arr[:, i, i] = 1.0
                elif key in per_agent[agent]:
                    value = per_agent[agent][key]
                    arr[(slice(None), i, *(slice(0, s) for s in value.shape[1:]))] = value
            out[key] = arr.reshape(self.num_envs, *box.shape)
        return out

    def reset(self) -> dict[str, np.ndarray]:
        for b in range(self.num_worlds):
            self.core.reset_world(b, self._rngs[b])
        return self._obs()

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = np.asarray(actions, np.int64).reshape(self.num_worlds, len(self.agents), -1)

    def step_wait(self):
        assert self._actions is not None, "step_async first"
        acts = {}
        for i, agent in enumerate(self.agents):
            a = self._actions[:, i]
            if isinstance(self.core, GuideFollowerBatch):
                acts[agent] = a[:, 1:] if agent == "guide" else a[:, 0]
            else:
                acts[agent] = a
        reward, terminated, truncated, success = self.core.step(acts)
        done = terminated | truncated
        final = self._obs() if done.any() else {}
        n = len(self.agents)
        infos = self._end_episodes(n, terminated, truncated, success, final)
        return self._obs(), np.repeat(reward, n).astype(np.float32), np.repeat(done, n), infos


def scratch_success(model: PPO, core_class: type, kwargs: dict[str, Any], seeds: Sequence[int],
                    deterministic: bool) -> float:
    """Success of a scratch-mode model over one episode per seed."""
    venv = SharedPolicyVecEnv(core_class, [seeding.np_random(int(s))[0] for s in seeds], **kwargs)
    obs = venv.reset()
    while (venv.first_success < 0).any():
        obs, *_ = venv.step(model.predict(obs, deterministic=deterministic)[0])
    return float(venv.first_success.mean())


# --- the run -----------------------------------------------------------------------------------------------
class TimeBudget(BaseCallback):
    """Stops training after ``seconds`` of wall clock (a cap on top of the step budget)."""

    def __init__(self, seconds: float) -> None:
        super().__init__()
        self.deadline = time.monotonic() + seconds

    def _on_step(self) -> bool:
        return time.monotonic() < self.deadline


def env_kwargs(name: str, args: argparse.Namespace) -> dict[str, Any]:
    """The small variant's registered kwargs, with the command line's message overrides."""
    reg = next(r for r in MULTIAGENT_REGISTRATIONS if r.id == f"fusiongym/{name}-v0")
    kwargs = dict(reg.kwargs)
    if args.message_tokens:
        kwargs["message_tokens"] = args.message_tokens
    if args.message_len:
        kwargs["message_len"] = args.message_len
    return kwargs


def make_ppo(venv: VecEnv, args: argparse.Namespace, policy_kwargs: dict[str, Any] | None) -> PPO:
    """PPO with this benchmark's hyperparameters."""
    return PPO(
        "MultiInputPolicy", venv, n_steps=args.n_steps, batch_size=args.batch_size, n_epochs=4, learning_rate=args.lr,
        ent_coef=0.01, gamma=0.99, gae_lambda=0.95, seed=args.train_seed, verbose=0, device="cpu",
        policy_kwargs=policy_kwargs,
    )


def run_env(name: str, args: argparse.Namespace) -> dict[str, Any]:
    """Train on the train split, evaluate on the test split with and without messages; one result row."""
    kwargs = env_kwargs(name, args)
    seeds = SEEDS["test"][: args.episodes]
    train_rngs = [np.random.default_rng([args.train_seed, b]) for b in range(args.worlds)]
    torch.manual_seed(args.train_seed)
    if args.mode == "listener":
        learners, keys = LEARNERS[name][args.learners], LISTENER_KEYS[args.learners]
        venv: VecEnv = ScriptedPartnerVecEnv(CORES[name], train_rngs, learners, keys, split="train", **kwargs)
        model = make_ppo(venv, args, {"features_extractor_class": TokenViewExtractor, "net_arch": [128]})
    else:
        learners, keys = CORES[name].agents, ()
        venv = SharedPolicyVecEnv(CORES[name], train_rngs, split="train", **kwargs)
        model = make_ppo(venv, args, None)
    start = time.monotonic()
    imitation = 0
    if args.mode == "listener" and args.imitation:
        expert_rngs = [np.random.default_rng([args.train_seed, b, 1]) for b in range(args.worlds)]
        expert_venv = ScriptedPartnerVecEnv(CORES[name], expert_rngs, learners, keys, split="train", **kwargs)
        imitation = imitate(model, expert_venv, args.imitation, args.train_seed)
    model.learn(args.timesteps, callback=TimeBudget(args.minutes * 60) if args.minutes else None)
    minutes = (time.monotonic() - start) / 60
    recent = venv.episode_success[-500:]
    row: dict[str, Any] = {
        "env": f"fusiongym/{name}-v0", "learners": "+".join(learners), "imitation": imitation,
        "steps": model.num_timesteps, "minutes": minutes, "train": float(np.mean(recent)) if recent else float("nan"),
    }
    for label, zero in (("test", False), ("zeroed", True)):
        test_kwargs = {**kwargs, "split": "test", "zero_messages": zero}
        model.set_random_seed(args.eval_seed)  # seeded action sampling
        if args.mode == "listener":
            row[label] = listener_success(model_policy(model, args.deterministic), CORES[name], test_kwargs,
                                          learners, keys, seeds)
            row[f"scripted_{label}"] = listener_success(scripted_policy, CORES[name], test_kwargs, learners, keys,
                                                        seeds)
        else:
            row[label] = scratch_success(model, CORES[name], test_kwargs, seeds, args.deterministic)
    return row


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line (``argv``: default ``sys.argv[1:]``)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mode", choices=["listener", "scratch"], default="listener",
                        help="listener: learned movers with scripted speakers (default); scratch: shared PPO, all "
                             "learned")
    parser.add_argument("--envs", nargs="+", default=["GuideFollower", "KnowledgeSplit"], choices=sorted(CORES))
    parser.add_argument("--learners", choices=["one", "both"], default="one",
                        help="listener mode on KnowledgeSplit: learn agent_0's moves (one) or both agents' (both)")
    parser.add_argument("--timesteps", type=int, default=None,
                        help="PPO agent-steps per env (default: 400000 GuideFollower, 300000 KnowledgeSplit)")
    parser.add_argument("--imitation", type=int, default=None,
                        help="listener mode: agent-steps of DAgger from the scripted mover before PPO "
                             "(default: 0 GuideFollower, 100000 KnowledgeSplit; 0 = pure PPO)")
    parser.add_argument("--minutes", type=float, default=None, help="optional wall-clock cap per env")
    parser.add_argument("--worlds", type=int, default=16, help="worlds stepped together in training")
    parser.add_argument("--n-steps", type=int, default=128, help="PPO rollout length per env")
    parser.add_argument("--batch-size", type=int, default=256, help="PPO minibatch size")
    parser.add_argument("--lr", type=float, default=3e-4)
    parser.add_argument("--episodes", type=int, default=100, help="test-split episodes per evaluation")
    parser.add_argument("--train-seed", type=int, default=0)
    parser.add_argument("--eval-seed", type=int, default=0, help="seeds the sampling of actions in evaluation")
    parser.add_argument("--deterministic", action="store_true", help="greedy actions in evaluation")
    parser.add_argument("--message-tokens", default=None,
                        help="restrict what agents can say, e.g. 'left right forward pickup drop toggle done'")
    parser.add_argument("--message-len", type=int, default=None)
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    return parser.parse_args(argv)


DEFAULT_TIMESTEPS = {"GuideFollower": 400_000, "KnowledgeSplit": 300_000}
DEFAULT_IMITATION = {"GuideFollower": 0, "KnowledgeSplit": 100_000}


def main(argv: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """Train and evaluate on each env; print one row per env and return the rows."""
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    budget = "default" if args.timesteps is None else f"{args.timesteps}"
    print("python benchmarks/multiagent_baseline.py " + " ".join(sys.argv[1:] if argv is None else argv))
    print(f"mode={args.mode} learners={args.learners} timesteps={budget} train_seed={args.train_seed} "
          f"eval_seed={args.eval_seed} worlds={args.worlds} threads={args.threads}; test split, {args.episodes} "
          "episodes "
          f"(SEEDS['test'][:{args.episodes}]), actions {'greedy' if args.deterministic else 'sampled'}")
    header = (f"{'env':28} {'learned':16} {'imitation':>9} {'ppo steps':>9} {'min':>5} {'train':>6} {'test':>6} "
              f"{'zeroed':>7}")
    if args.mode == "listener":
        header += f" {'scripted':>9} {'scripted zeroed':>16}"
    print(header, flush=True)
    rows = []
    for name in args.envs:
        budget = {"timesteps": DEFAULT_TIMESTEPS[name] if args.timesteps is None else args.timesteps,
                  "imitation": DEFAULT_IMITATION[name] if args.imitation is None else args.imitation}
        row = run_env(name, argparse.Namespace(**{**vars(args), **budget}))
        line = (f"{row['env']:28} {row['learners']:16} {row['imitation']:>9} {row['steps']:>9} {row['minutes']:>5.1f} "
                f"{row['train']:>6.2f} "
                f"{row['test']:>6.2f} {row['zeroed']:>7.2f}")
        if args.mode == "listener":
            line += f" {row['scripted_test']:>9.2f} {row['scripted_zeroed']:>16.2f}"
        print(line, flush=True)
        rows.append(row)
    return rows


if __name__ == "__main__":
    main()
