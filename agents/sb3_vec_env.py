"""Stable-Baselines3 ``VecEnv`` over fusiongym's native batch: SB3 steps all worlds at once, no subprocesses.

SB3 resets a finished env within the same step and passes its last observation in
``info["terminal_observation"]``; the adapter runs the native vector env in Gymnasium's ``SAME_STEP`` autoreset
mode, which does exactly that, and converts its dict-of-arrays infos to SB3's list of dicts (with
``is_success`` when an episode ends, so SB3 logs ``rollout/success_rate``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from stable_baselines3.common.vec_env.base_vec_env import VecEnv, VecEnvIndices, VecEnvObs, VecEnvStepReturn


class FusionSB3VecEnv(VecEnv):
    """SB3 view of ``gym.make_vec(env_id, num_envs, vectorization_mode="vector_entry_point")``."""

    def __init__(self, env_id: str, num_envs: int, seed: int | None = None, **env_kwargs: Any) -> None:
        self.vector_env = gym.make_vec(
            env_id, num_envs=num_envs, vectorization_mode="vector_entry_point", autoreset_mode="same_step", **env_kwargs
        )
        native = self.vector_env.unwrapped
        self.env_id = env_id
        super().__init__(num_envs, native.single_observation_space, native.single_action_space)
        self.render_mode = native.render_mode
        self._actions: np.ndarray | None = None
        if seed is not None:
            self.seed(seed)

    @property
    def native(self):
        """The native batch (``FusionVectorEnv``): oracle actions, episodes, level."""
        return self.vector_env.unwrapped

    def reset(self) -> VecEnvObs:
        seeds = self._seeds if any(s is not None for s in self._seeds) else None
        # one seed per world: fusiongym's vector env takes a list, as Gymnasium's own do (its base class says int)
        obs, infos = self.vector_env.reset(seed=seeds)  # type: ignore[arg-type]
        self._reset_seeds()
        self._reset_options()
        self.reset_infos = [self._info_at(infos, i) for i in range(self.num_envs)]
        return obs

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = np.asarray(actions).reshape(self.num_envs).astype(np.int64)

    def step_wait(self) -> VecEnvStepReturn:
        obs, rewards, terminated, truncated, infos = self.vector_env.step(self._actions)
        dones = terminated | truncated
        out_infos = []
        for i in range(self.num_envs):
            info = self._info_at(infos, i)
            if dones[i]:
                info["terminal_observation"] = infos["final_obs"][i]
                info["TimeLimit.truncated"] = bool(truncated[i] and not terminated[i])
                info["is_success"] = bool(infos["success"][i])
            out_infos.append(info)
        return obs, rewards.astype(np.float32), dones, out_infos

    @staticmethod
    def _info_at(infos: dict[str, Any], i: int) -> dict[str, Any]:
        return {"mission": infos["mission"][i], "facts": infos["facts"][i]}

    def close(self) -> None:
        self.vector_env.close()

    def get_images(self) -> Sequence[np.ndarray | None]:
        frames: Sequence[np.ndarray] | None = self.vector_env.render()
        return [np.asarray(frame) for frame in frames] if frames is not None else [None] * self.num_envs

    # SB3 asks these of sub-envs; the batch has none, so they are answered from the native vector env.
    def get_attr(self, attr_name: str, indices: VecEnvIndices = None) -> list[Any]:
        value = getattr(self.native, attr_name)
        return [value for _ in self._get_indices(indices)]

    def set_attr(self, attr_name: str, value: Any, indices: VecEnvIndices = None) -> None:
        setattr(self.native, attr_name, value)

    def env_method(self, method_name: str, *method_args: Any, indices: VecEnvIndices = None,
                   **method_kwargs: Any) -> list[Any]:
        result = getattr(self.native, method_name)(*method_args, **method_kwargs)
        return [result for _ in self._get_indices(indices)]

    def env_is_wrapped(self, wrapper_class: type[gym.Wrapper], indices: VecEnvIndices = None) -> list[bool]:
        return [False for _ in self._get_indices(indices)]
