"""Run fusion policies on MiniGrid / BabyAI: their text missions become suite-vocabulary ids.

    env = MiniGridFusionWrapper(RGBImgPartialObsWrapper(gym.make("BabyAI-GoToLocal-v0")))

gives the fusiongym observation (``image``, ``mission`` ids, an all-zero ``facts`` array), so a
:class:`~fusiongym.fusion.extractor.FusionExtractor` runs unchanged.
"""

from __future__ import annotations

import re
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

_PUNCTUATION = re.compile(r"[^\w\s]")


class MiniGridFusionWrapper(gym.ObservationWrapper):
    """Turn a MiniGrid observation (``image``, text ``mission``) into the fusiongym Dict observation.

    Args:
        env: a MiniGrid env whose ``image`` is RGB (wrap it in ``RGBImgPartialObsWrapper`` first).
        vocab: the suite vocabulary (default ``get_vocab()``); words it lacks become ``<unk>``.
        mission_length: ``L``, mission ids per observation (longer missions are cut).
        num_facts: ``F``, rows of the (all-zero) ``facts`` array.
    """

    def __init__(self, env: gym.Env, vocab: Any = None, mission_length: int = 16, num_facts: int = 32) -> None:
        super().__init__(env)
        if vocab is None:
            from fusiongym.envs.vocab import get_vocab

            vocab = get_vocab()
        self.vocab = vocab
        self.mission_length = mission_length
        image = env.observation_space["image"]
        base = env.unwrapped
        symbolic_sides = {getattr(base, "agent_view_size", None), getattr(base, "width", None)}
        if len(image.shape) != 3 or image.shape[-1] != 3 or image.dtype != np.uint8 or \
                image.shape[0] in symbolic_sides:  # MiniGrid's (object, colour, state) grid encoding
            raise ValueError(f"MiniGridFusionWrapper needs an RGB uint8 image (H, W, 3), got {image}: wrap the env "
                             "in minigrid.wrappers.RGBImgPartialObsWrapper (or RGBImgObsWrapper) first")
        high = vocab.size - 1
        self.observation_space = spaces.Dict({
            "image": image,
            "mission": spaces.Box(0, high, (mission_length,), np.int64),
            "facts": spaces.Box(0, high, (num_facts, 3), np.int64),
        })
        self._facts = np.zeros((num_facts, 3), np.int64)

    def mission_ids(self, mission: str) -> np.ndarray:
        """``[L]`` suite ids of a mission string (punctuation dropped, unknown words ``<unk>``, 0-padded)."""
        ids = self.vocab.encode(_PUNCTUATION.sub(" ", mission))[:self.mission_length]
        row = np.zeros(self.mission_length, np.int64)
        row[:len(ids)] = ids
        return row

    def observation(self, observation: dict[str, Any]) -> dict[str, np.ndarray]:
        return {"image": observation["image"], "mission": self.mission_ids(str(observation["mission"])),
                "facts": self._facts.copy()}
