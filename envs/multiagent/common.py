"""What both multi-agent envs share: the message alphabet and its checks, and the split of an env's kwargs."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from fusiongym.envs.core import ENV_KWARGS, InvalidActionError
from fusiongym.envs.levels import Level
from fusiongym.envs.vocab import get_vocab
from fusiongym.envs.world import ACTION_NAMES

NUM_ACTIONS = len(ACTION_NAMES)
MAX_MESSAGE_LEN = 16


# --- kwargs ------------------------------------------------------------------------------------------------
def split_multiagent_kwargs(
    name: str, level_class: type[Level], own: dict[str, Any], kwargs: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """(level kwargs, env kwargs, own kwargs) of a multi-agent env named ``name``, ``own`` giving its own kwargs'
    defaults; unknown names raise a TypeError listing every allowed one."""
    level_names = set(level_class.kwarg_names())
    allowed = level_names | set(ENV_KWARGS) | set(own) | {"render_mode"}
    unknown = sorted(set(kwargs) - allowed)
    if unknown:
        raise TypeError(f"{name} got unknown kwargs {unknown}; allowed kwargs are: {', '.join(sorted(allowed))}")
    level_kwargs = {k: v for k, v in kwargs.items() if k in level_names}
    env_kwargs = {**ENV_KWARGS, **{k: v for k, v in kwargs.items() if k in ENV_KWARGS}}
    own_kwargs = {**own, **{k: v for k, v in kwargs.items() if k in own}}
    return level_kwargs, env_kwargs, own_kwargs


def positive_int(name: str, value: Any, high: int | None = None) -> int:
    """``value`` as an int, or a ValueError naming the kwarg ``name`` when it is not 1 to ``high`` (or positive)."""
    ok = isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value >= 1
    if not ok or (high is not None and value > high):
        bound = f"1 to {high}" if high is not None else "a positive integer"
        raise ValueError(f"{name}={value!r} must be {bound}")
    return int(value)


def message_alphabet(message_tokens: Any) -> np.ndarray:
    """Vocabulary ids a speaker can say: index 0 is always "no token" (id 0); ``None`` allows the whole vocabulary."""
    vocab = get_vocab()
    if message_tokens is None:
        return np.arange(vocab.size, dtype=np.int64)
    if isinstance(message_tokens, str):
        message_tokens = message_tokens.split()
    ids = []
    for token in message_tokens:
        if token not in vocab or vocab.id(token) == 0:
            raise ValueError(
                f"message_tokens: {token!r} is not a token of the suite vocabulary (fusiongym.envs.vocab.get_vocab()); "
                f"pass vocabulary tokens such as {' '.join(ACTION_NAMES)}, or None for the whole vocabulary"
            )
        ids.append(vocab.id(token))
    if not ids or len(set(ids)) != len(ids):
        raise ValueError(f"message_tokens={message_tokens!r} must be a non-empty list of distinct vocabulary tokens")
    return np.array([0] + ids, dtype=np.int64)


def check_message(action: Any, who: str, length: int, alphabet_size: int, offset: int = 0) -> np.ndarray:
    """``action`` (``offset`` moves, then ``length`` message token indices) as an int64 array, or
    :class:`~fusiongym.envs.core.InvalidActionError` naming what ``who`` may do."""
    allowed = (
        f"{who}'s action is {offset + length} integers: "
        + ("the move (0..6: " + ", ".join(f"{i} {a}" for i, a in enumerate(ACTION_NAMES)) + ") then " if offset else "")
        + f"{length} message token indices in 0..{alphabet_size - 1} (0 = no token; index i says env.message_tokens[i])"
    )
    try:
        arr = np.asarray(action)
    except Exception:  # noqa: BLE001 - anything that is not array-like
        raise InvalidActionError(f"action {action!r} is not an integer array; the {allowed}") from None
    if arr.shape != (offset + length,) or not np.issubdtype(arr.dtype, np.integer):
        raise InvalidActionError(f"action {action!r} has shape {arr.shape} and dtype {arr.dtype}; the {allowed}")
    if offset and not 0 <= arr[0] < NUM_ACTIONS:
        raise InvalidActionError(f"move {arr[0]} is out of range; the {allowed}")
    tokens = arr[offset:]
    if tokens.size and (tokens.min() < 0 or tokens.max() >= alphabet_size):
        raise InvalidActionError(f"message {tokens.tolist()} has a token index out of range; the {allowed}")
    return arr.astype(np.int64)


def message_space(length: int) -> gym.spaces.Box:
    """The space of a heard message: ``length`` suite-vocabulary ids (0 = no token)."""
    return gym.spaces.Box(0, get_vocab().size - 1, (length,), np.int64)


def decode_message(ids: np.ndarray) -> str:
    """A message's vocabulary ids as text (no-token ids dropped)."""
    return get_vocab().decode([int(i) for i in ids])


__all__ = [
    "MAX_MESSAGE_LEN",
    "NUM_ACTIONS",
    "check_message",
    "decode_message",
    "message_alphabet",
    "message_space",
    "positive_int",
    "split_multiagent_kwargs",
]
