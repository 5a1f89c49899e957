"""Run fusion policies on MiniGrid / BabyAI: their text missions become suite-vocabulary ids.

    env = MiniGridFusionWrapper(RGBImgPartialObsWrapper(gym.make("BabyAI-GoToLocal-v0")))

gives the fusiongym observation (``image``, ``mission`` ids, an all-zero ``facts`` array), so a
:class:`~fusiongym.fusion.extractor.FusionExtractor` runs unchanged, and fusiongym's infos (``mission`` text,
``success``). :func:`wrapped_env_id` registers such an env as a Gymnasium id with a vector entry point
(``fusiongym-wrapped/BabyAI-GoToLocal-v0``), which fusiongym's evaluation and recording run on like one of theirs
(``fusiongym eval --agent random --env BabyAI-GoToLocal-v0``).

Missions go through the suite vocabulary word by word: a word it lacks becomes ``<unk>`` (BabyAI's GoTo, PutNext
and Synth missions lose none; PickupLoc / OpenDoor lose "in front of you" and "on your left"'s ``front``, ``you``,
``on``; MiniGrid's DoorKey loses ``use``, ``then``, ``goal``); :func:`lost_words` lists them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
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
        space = env.observation_space
        image = space["image"] if isinstance(space, spaces.Dict) and "image" in space.spaces else None
        base = env.unwrapped
        symbolic_sides = {getattr(base, "agent_view_size", None), getattr(base, "width", None)}
        if not isinstance(image, spaces.Box) or len(image.shape) != 3 or image.shape[-1] != 3 or \
                image.dtype != np.uint8 or \
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

    def reset(self, **kwargs: Any) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Reset; ``info`` gets the mission text (``"mission"``) and ``"success": False``, as fusiongym's envs."""
        observation, info = self.env.reset(**kwargs)
        info = {**info, "mission": str(observation["mission"]), "success": False}
        return self.observation(observation), info

    def step(self, action: Any) -> tuple[dict[str, np.ndarray], Any, bool, bool, dict[str, Any]]:
        """Step; ``info["success"]``: the episode ended on the mission's goal (MiniGrid pays a reward only then)."""
        observation, reward, terminated, truncated, info = self.env.step(action)
        info = {**info, "mission": str(observation["mission"]), "success": bool(terminated and float(reward) > 0)}
        return self.observation(observation), reward, terminated, truncated, info


#: Namespace of the ids :func:`wrapped_env_id` registers.
WRAPPED_NAMESPACE = "fusiongym-wrapped"


def make_wrapped_env(env_id: str, render_mode: str | None = None, split: str | None = None,
                     **kwargs: Any) -> MiniGridFusionWrapper:
    """``env_id`` (a MiniGrid / BabyAI id) with its RGB egocentric view, as a fusiongym observation. ``split`` is
    accepted for fusiongym's evaluation and ignored: third-party envs have no held-out split."""
    from minigrid.wrappers import RGBImgPartialObsWrapper

    return MiniGridFusionWrapper(RGBImgPartialObsWrapper(gym.make(env_id, render_mode=render_mode, **kwargs)))


def make_wrapped_vector_env(env_id: str, num_envs: int = 1, render_mode: str | None = None,
                            split: str | None = None, **kwargs: Any) -> gym.vector.VectorEnv:
    """``num_envs`` copies of :func:`make_wrapped_env` in a ``SyncVectorEnv`` (world ``i`` is reset with the
    ``i``-th seed given)."""
    return gym.vector.SyncVectorEnv([lambda: make_wrapped_env(env_id, render_mode=render_mode, **kwargs)
                                     for _ in range(num_envs)])


def wrapped_env_id(env_id: str) -> str:
    """Register (once) and return ``fusiongym-wrapped/<env_id>``: a MiniGrid / BabyAI id wrapped by
    :func:`make_wrapped_env`, with a vector entry point. A ``ValueError`` naming the problem for an id that is not
    registered or whose observation is not MiniGrid's (an ``image`` and a text ``mission``)."""
    try:
        import minigrid  # noqa: F401  (registers the MiniGrid and BabyAI ids)
    except ImportError:
        pass
    if env_id not in gym.registry:
        raise ValueError(f"{env_id!r} is not a registered Gymnasium id (MiniGrid / BabyAI ids need `pip install "
                         "minigrid`)")
    alias = f"{WRAPPED_NAMESPACE}/{env_id.replace('/', '-')}"
    if alias in gym.registry:
        return alias
    probe = gym.make(env_id)
    space = probe.observation_space
    probe.close()
    if not (isinstance(space, spaces.Dict) and "image" in space.spaces and "mission" in space.spaces):
        raise ValueError(f"{env_id!r} is not a MiniGrid / BabyAI env (its observations are {space}, not a dict with an "
                         "'image' and a text 'mission'): only those can be wrapped into fusiongym observations")
    from functools import partial

    gym.register(alias, entry_point=partial(make_wrapped_env, env_id),
                 vector_entry_point=partial(make_wrapped_vector_env, env_id))
    return alias


def lost_words(missions: Iterable[str], vocab: Any = None) -> list[str]:
    """The words of ``missions`` (punctuation dropped) that the suite vocabulary lacks, so the wrapper turns them
    into ``<unk>``; sorted."""
    from fusiongym.envs.vocab import UNK, get_vocab

    vocab = vocab if vocab is not None else get_vocab()
    unknown = [vocab.id(UNK)]
    words = {w.lower() for mission in missions for w in _PUNCTUATION.sub(" ", mission).split()}
    return sorted(w for w in words if vocab.encode(w) == unknown)
