"""Shared-parameter PPO on the multi-agent envs, with a message ablation.

One Stable-Baselines3 PPO policy plays every agent (parameter sharing). A small adapter, ``SharedPolicyVecEnv``,
shows SB3 a batched multi-agent core (B worlds × 2 agents) as one ``VecEnv`` of 2B envs, with no subprocesses:
each agent's observation is padded to the union of the agents' keys (images zero-padded to the largest, absent
keys zero) plus a one-hot ``agent`` key, and every agent acts in ``MultiDiscrete([7] + [A] * k)`` (the move, then
the message; a guide's move and a follower's message are ignored). supersuit's padding wrappers handle only Box
and Discrete spaces, not these Dict observations, hence the adapter.

After training on the train split, the policy plays ``--episodes`` test-split episodes (seeds ``--seed`` …) twice:
as trained, and with every message zeroed (``zero_messages=True``: the message ablation).

    python benchmarks/multiagent_baseline.py [--minutes 8] [--envs KnowledgeSplit GuideFollower] [--episodes 100]
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from fusiongym.envs.multiagent import GuideFollowerBatch, KnowledgeSplitBatch
from fusiongym.envs.multiagent_registration import MULTIAGENT_REGISTRATIONS
from gymnasium.utils import seeding
from stable_baselines3 import PPO
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.vec_env.base_vec_env import VecEnv

import fusiongym  # noqa: F401

CORES = {"GuideFollower": GuideFollowerBatch, "KnowledgeSplit": KnowledgeSplitBatch}


class SharedPolicyVecEnv(VecEnv):
    """SB3 ``VecEnv`` over a batched multi-agent core: env ``b * n + i`` is agent ``i`` of world ``b``."""

    def __init__(self, core_class: type, num_worlds: int, seed: int, **kwargs: Any) -> None:
        self.core = core_class(num_worlds, **kwargs)
        self.render_mode = None
        self.agents = self.core.agents
        self.num_worlds = num_worlds
        spaces = [self.core.observation_spaces[a] for a in self.agents]
        union: dict[str, gym.spaces.Box] = {}
        for space in spaces:
            for key, box in space.spaces.items():
                if key in union and union[key].shape != box.shape:
                    shape = tuple(max(a, b) for a, b in zip(union[key].shape, box.shape))
                    union[key] = gym.spaces.Box(0, int(box.high.max()), shape, box.dtype)
                elif key not in union:
                    union[key] = box
        union["agent"] = gym.spaces.Box(0.0, 1.0, (len(self.agents),), np.float32)
        alphabet, k = len(self.core.alphabet), self.core.message_len
        action_space = gym.spaces.MultiDiscrete(np.array([7] + [alphabet] * k, np.int64))
        super().__init__(num_worlds * len(self.agents), gym.spaces.Dict(union), action_space)
        self._rngs = [seeding.np_random(seed + b)[0] for b in range(num_worlds)]
        self._actions: np.ndarray | None = None
        self.episode_success: list[bool] = []

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

    def reset(self):
        for b in range(self.num_worlds):
            self.core.reset_world(b, self._rngs[b])
        return self._obs()

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = np.asarray(actions, np.int64).reshape(self.num_worlds, len(self.agents), -1)

    def step_wait(self):
        acts = {}
        for i, agent in enumerate(self.agents):
            a = self._actions[:, i]
            if isinstance(self.core, GuideFollowerBatch):
                acts[agent] = a[:, 1:] if agent == "guide" else a[:, 0]
            else:
                acts[agent] = a
        reward, terminated, truncated, success = self.core.step(acts)
        done = terminated | truncated
        final = self._obs() if done.any() else None
        infos: list[dict] = [{} for _ in range(self.num_envs)]
        for b in np.flatnonzero(done):
            self.episode_success.append(bool(success[b]))
            for i in range(len(self.agents)):
                infos[b * len(self.agents) + i] = {
                    "terminal_observation": {k: v[b * len(self.agents) + i] for k, v in final.items()},
                    "TimeLimit.truncated": bool(truncated[b] and not terminated[b]),
                    "is_success": bool(success[b]),
                }
            self.core.reset_world(int(b), self._rngs[b])
        n = len(self.agents)
        return self._obs(), np.repeat(reward, n).astype(np.float32), np.repeat(done, n), infos

    def close(self) -> None:
        pass

    def get_attr(self, attr_name, indices=None):
        return [getattr(self, attr_name)] * len(self._get_indices(indices))

    def set_attr(self, attr_name, value, indices=None) -> None:
        setattr(self, attr_name, value)

    def env_method(self, method_name, *args, indices=None, **kwargs):
        return [getattr(self, method_name)(*args, **kwargs)] * len(self._get_indices(indices))

    def env_is_wrapped(self, wrapper_class, indices=None):
        return [False] * len(self._get_indices(indices))

    def get_images(self):
        return [None] * self.num_envs


class TimeBudget(BaseCallback):
    def __init__(self, seconds: float) -> None:
        super().__init__()
        self.deadline = time.monotonic() + seconds

    def _on_step(self) -> bool:
        return time.monotonic() < self.deadline


def evaluate(model: PPO, core_class: type, kwargs: dict, episodes: int, seed: int, worlds: int = 50) -> float:
    """Test-split success over ``episodes`` episodes, world ``j`` of round ``r`` seeded ``seed + r * worlds + j``."""
    wins = []
    for start in range(0, episodes, worlds):
        n = min(worlds, episodes - start)
        venv = SharedPolicyVecEnv(core_class, n, seed + start, **kwargs)
        obs = venv.reset()
        done_world = np.zeros(n, bool)
        result = np.zeros(n, bool)
        while not done_world.all():
            actions, _ = model.predict(obs, deterministic=True)
            obs, _, dones, infos = venv.step(actions)
            for b in range(n):
                if dones[b * len(venv.agents)] and not done_world[b]:
                    done_world[b] = True
                    result[b] = infos[b * len(venv.agents)]["is_success"]
        wins += result.tolist()
    return float(np.mean(wins))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--envs", nargs="+", default=["KnowledgeSplit", "GuideFollower"], choices=sorted(CORES))
    parser.add_argument("--minutes", type=float, default=8.0, help="training budget per env (wall clock)")
    parser.add_argument("--timesteps", type=int, default=2_000_000, help="upper bound on agent-steps per env")
    parser.add_argument("--worlds", type=int, default=16, help="worlds stepped together in training")
    parser.add_argument("--episodes", type=int, default=100, help="test-split episodes per evaluation")
    parser.add_argument("--seed", type=int, default=10_000, help="first test-split episode seed")
    parser.add_argument("--train-seed", type=int, default=0)
    parser.add_argument("--message-tokens", default=None, help="restrict what agents can say, e.g. 'left right forward pickup drop toggle done'")
    parser.add_argument("--message-len", type=int, default=None)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    print(f"shared-parameter PPO, {args.minutes:g} min per env on the train split; test split, {args.episodes} "
          f"episodes, seeds {args.seed}..{args.seed + args.episodes - 1}")
    print(f"{'env (small variant)':30} {'agent-steps':>11} {'train succ.':>11} {'test success':>12} {'messages zeroed':>15}")
    for name in args.envs:
        reg = next(r for r in MULTIAGENT_REGISTRATIONS if r.id == f"fusiongym/{name}-v0")
        kwargs = dict(reg.kwargs)
        if args.message_tokens:
            kwargs["message_tokens"] = args.message_tokens
        if args.message_len:
            kwargs["message_len"] = args.message_len
        venv = SharedPolicyVecEnv(CORES[name], args.worlds, args.train_seed, split="train", **kwargs)
        model = PPO(
            "MultiInputPolicy", venv, n_steps=64, batch_size=512, n_epochs=4, learning_rate=3e-4, ent_coef=0.01,
            gamma=0.99, seed=args.train_seed, verbose=0, device="cpu",
        )
        start = time.monotonic()
        model.learn(args.timesteps, callback=TimeBudget(args.minutes * 60))
        train_time = time.monotonic() - start
        recent = venv.episode_success[-200:]
        train_success = float(np.mean(recent)) if recent else float("nan")
        test = evaluate(model, CORES[name], {**kwargs, "split": "test"}, args.episodes, args.seed)
        muted = evaluate(model, CORES[name], {**kwargs, "split": "test", "zero_messages": True}, args.episodes, args.seed)
        print(f"{reg.id:30} {model.num_timesteps:>11} {train_success:>11.2f} {test:>12.2f} {muted:>15.2f}"
              f"   ({train_time / 60:.1f} min)", flush=True)


if __name__ == "__main__":
    main()
