"""Helpers shared by the fusion / agents tests: tiny tokenizers and backbones, synthetic observations and env.

Everything here is offline and small: tokenizers are trained on the suite vocabulary's surfaces with the
``tokenizers`` library in a temporary folder, and models are built from tiny ``transformers`` configs.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("WANDB_MODE", "disabled")

IMAGE_SHAPE = (56, 56, 3)
MISSION_LEN = 16
NUM_FACTS = 32


def suite_vocab() -> Any:
    from fusiongym.envs.vocab import get_vocab

    return get_vocab()


def corpus(vocab: Any) -> list[str]:
    """Training text for tiny tokenizers: every surface, alone and in little sentences."""
    surfaces = [vocab.surface(i) for i in range(2, vocab.size)]
    lines = list(surfaces)
    for n in range(0, len(surfaces) - 3, 3):
        lines.append(" ".join(surfaces[n:n + 4]) + " . " + surfaces[n])
    return lines * 2


def save_tiny_tokenizer(folder: Path, style: str, vocab: Any) -> str:
    """Train and save a small fast tokenizer; ``style`` is ``gpt2`` (byte-level BPE, no specials added),
    ``llama`` (SentencePiece-like BPE, BOS added) or ``t5`` (SentencePiece-like Unigram, EOS appended)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    folder.mkdir(parents=True, exist_ok=True)
    if style == "gpt2":
        tok = Tokenizer(models.BPE())
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tok.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(vocab_size=400, special_tokens=["<|endoftext|>"],
                                      initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
        tok.train_from_iterator(corpus(vocab), trainer)
        fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<|endoftext|>", eos_token="<|endoftext|>",
                                       unk_token="<|endoftext|>")
    elif style == "llama":
        tok = Tokenizer(models.BPE(unk_token="<unk>"))
        tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="first")
        tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="first")
        trainer = trainers.BpeTrainer(vocab_size=400, special_tokens=["<unk>", "<s>", "</s>"])
        tok.train_from_iterator(corpus(vocab), trainer)
        tok.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", 1)])
        fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>")
    elif style == "t5":
        tok = Tokenizer(models.Unigram())
        tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
        tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
        trainer = trainers.UnigramTrainer(vocab_size=300, special_tokens=["<pad>", "</s>", "<unk>"],
                                          unk_token="<unk>")
        tok.train_from_iterator(corpus(vocab), trainer)
        tok.post_processor = processors.TemplateProcessing(single="$A </s>", special_tokens=[("</s>", 1)])
        fast = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="</s>",
                                       unk_token="<unk>")
    else:
        raise ValueError(style)
    fast.save_pretrained(folder)
    return str(folder)


TINY_LANGUAGE_CONFIGS: dict[str, dict[str, Any]] = {
    "bert": dict(model_type="bert", hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                 intermediate_size=64, max_position_embeddings=256),
    "gpt2": dict(model_type="gpt2", n_embd=32, n_layer=1, n_head=2, n_positions=256),
    "llama": dict(model_type="llama", hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                  num_key_value_heads=1, intermediate_size=64, max_position_embeddings=256),
    "qwen2": dict(model_type="qwen2", hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                  num_key_value_heads=1, intermediate_size=64, max_position_embeddings=256),
    "t5": dict(model_type="t5", d_model=32, d_kv=16, d_ff=64, num_layers=1, num_decoder_layers=1, num_heads=2),
}

TINY_BERT = TINY_LANGUAGE_CONFIGS["bert"]


def fusion_space(vocab_size: int, image_shape: tuple[int, int, int] = IMAGE_SHAPE) -> spaces.Dict:
    """The observation space DESIGN.md fixes."""
    return spaces.Dict({
        "image": spaces.Box(0, 255, image_shape, np.uint8),
        "mission": spaces.Box(0, vocab_size - 1, (MISSION_LEN,), np.int64),
        "facts": spaces.Box(0, vocab_size - 1, (NUM_FACTS, 3), np.int64),
    })


MISSIONS = ["go to the apple", "pick up the bronze key", "defeat the troll", "open the red door"]
FACTS = [("apple", "is_a", "fruit"), ("troll", "weak_to", "axe"), ("bronze_key", "opens", "red_door"),
         ("banana", "is_a", "fruit"), ("axe", "made_of", "metal")]


def mission_row(vocab: Any, text: str) -> np.ndarray:
    row = np.zeros(MISSION_LEN, np.int64)
    ids = vocab.encode(text)[:MISSION_LEN]
    row[:len(ids)] = ids
    return row


def facts_block(vocab: Any, triples: list[tuple[str, str, str]]) -> np.ndarray:
    block = np.zeros((NUM_FACTS, 3), np.int64)
    for n, (s, r, o) in enumerate(triples):
        block[n] = (vocab.id(s), vocab.id(r), vocab.id(o))
    return block


def random_obs(vocab: Any, rng: np.random.Generator, mission: str | None = None, num_facts: int = 3) -> dict:
    text = mission if mission is not None else MISSIONS[int(rng.integers(len(MISSIONS)))]
    picks = rng.choice(len(FACTS), size=num_facts, replace=False)
    return {"image": rng.integers(0, 256, IMAGE_SHAPE, dtype=np.uint8),
            "mission": mission_row(vocab, text),
            "facts": facts_block(vocab, [FACTS[int(i)] for i in picks])}


def obs_batch(vocab: Any, batch: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    items = [random_obs(vocab, rng) for _ in range(batch)]
    return {k: np.stack([o[k] for o in items]) for k in items[0]}


class SyntheticFusionEnv(gym.Env):
    """A tiny env with the fusiongym Dict space: reward 1 for the action the mission picks, 8-step episodes."""

    metadata = {"render_modes": []}

    def __init__(self, vocab: Any = None, max_steps: int = 8) -> None:
        self.vocab = vocab if vocab is not None else suite_vocab()
        self.observation_space = fusion_space(self.vocab.size)
        self.action_space = spaces.Discrete(7)
        self.max_steps = max_steps
        self._obs: dict = {}
        self._target = 0
        self._t = 0

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[dict, dict]:
        super().reset(seed=seed)
        self._t = 0
        return self._new_obs(), {}

    def _new_obs(self) -> dict:
        k = int(self.np_random.integers(len(MISSIONS)))
        self._target = k
        self._obs = random_obs(self.vocab, self.np_random, MISSIONS[k])
        return self._obs

    def step(self, action: int) -> tuple[dict, float, bool, bool, dict]:
        self._t += 1
        reward = float(int(action) == self._target)
        return self._new_obs(), reward, False, self._t >= self.max_steps, {}

    def oracle_action(self, use_facts: bool = True) -> int:
        return self._target
