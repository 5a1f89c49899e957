"""Zero-shot LM agent (GLAM-style): score each action's text by a causal LM's log-likelihood after a prompt that
holds the instruction, the facts and a text description of the view; act with the most likely one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from fusiongym.fusion.language import resolve_source, verbalise_facts

#: Text of each ``Discrete(7)`` action, in action-id order (MiniGrid's actions).
ACTION_TEXTS = ("turn left", "turn right", "go forward", "pick up", "drop", "toggle", "done")

DEFAULT_PROMPT = ("You are an agent in a grid world.\n"
                  "Instruction: {mission}\n"
                  "Facts: {facts}\n"
                  "You see: {view}\n"
                  "Next action:")


def default_describe_view(observation: dict[str, Any]) -> str:
    """The view's text when no describer is given: the observation's ``description`` if it has one."""
    description = observation.get("description") if isinstance(observation, dict) else None
    return str(description) if description is not None else "nothing described"


class LMScorerAgent:
    """Pick the action whose text the causal LM finds most likely after the prompt.

    Args:
        model: a ``transformers`` causal LM, or a folder / hub id / ``"minilm"`` source to load one from.
        tokenizer: its tokenizer (loaded from ``model`` when it is a source).
        vocab: the suite vocabulary (to turn mission / fact ids into text; default ``get_vocab()``).
        describe_view: observation → text description of the view (default :func:`default_describe_view`).
        action_texts: text of each action id.
        prompt: template with ``{mission}``, ``{facts}`` and ``{view}``.
        length_normalise: score by the mean instead of the sum of token log-probabilities.
    """

    def __init__(self, model: Any, tokenizer: Any = None, vocab: Any = None,
                 describe_view: Callable[[dict[str, Any]], str] | None = None,
                 action_texts: Sequence[str] = ACTION_TEXTS, prompt: str = DEFAULT_PROMPT,
                 length_normalise: bool = False) -> None:
        if isinstance(model, str):
            from transformers import AutoModelForCausalLM, AutoTokenizer

            path, local = resolve_source(model)
            tokenizer = tokenizer or AutoTokenizer.from_pretrained(path, local_files_only=local)
            model = AutoModelForCausalLM.from_pretrained(path, local_files_only=local)
        if tokenizer is None:
            raise ValueError("LMScorerAgent needs the model's tokenizer (or a model path to load both from)")
        if vocab is None:
            from fusiongym.envs.vocab import get_vocab

            vocab = get_vocab()
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.vocab = vocab
        self.describe_view = describe_view or default_describe_view
        self.action_texts = tuple(action_texts)
        self.prompt = prompt
        self.length_normalise = length_normalise
        self._action_ids = [list(tokenizer(" " + text, add_special_tokens=False)["input_ids"])
                            for text in self.action_texts]
        if any(not ids for ids in self._action_ids):
            raise ValueError("an action text tokenizes to nothing")

    def prompt_text(self, observation: dict[str, Any]) -> str:
        """The prompt for one (unbatched) observation."""
        facts = verbalise_facts(np.asarray(observation["facts"]), self.vocab) if "facts" in observation else ""
        return self.prompt.format(mission=self.vocab.decode(np.asarray(observation["mission"]).tolist()),
                                  facts=facts or "none", view=self.describe_view(observation))

    @torch.no_grad()
    def action_scores(self, observation: dict[str, Any]) -> np.ndarray:
        """Log-likelihood of each action text after the prompt, ``[n_actions]``."""
        prompt_ids = list(self.tokenizer(self.prompt_text(observation))["input_ids"])
        sequences = [prompt_ids + ids for ids in self._action_ids]
        length = max(len(s) for s in sequences)
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        device = next(self.model.parameters()).device
        input_ids = torch.full((len(sequences), length), pad, dtype=torch.long)
        attention = torch.zeros_like(input_ids)
        for n, seq in enumerate(sequences):
            input_ids[n, :len(seq)] = torch.tensor(seq)
            attention[n, :len(seq)] = 1
        logits = self.model(input_ids=input_ids.to(device), attention_mask=attention.to(device)).logits.float()
        log_probs = torch.log_softmax(logits[:, :-1], dim=-1)  # position t predicts token t + 1
        scores = []
        for n, ids in enumerate(self._action_ids):
            positions = torch.arange(len(prompt_ids) - 1, len(prompt_ids) - 1 + len(ids), device=device)
            token_lp = log_probs[n, positions, torch.tensor(ids, device=device)]
            scores.append(float(token_lp.mean() if self.length_normalise else token_lp.sum()))
        return np.asarray(scores)

    def predict(self, observation: dict[str, Any], state: Any = None, episode_start: Any = None,
                deterministic: bool = True) -> tuple[np.ndarray, None]:
        """The most likely action (batched observations give one action per row)."""
        if np.asarray(observation["mission"]).ndim == 2:
            rows = [{k: v[n] for k, v in observation.items()} for n in range(len(observation["mission"]))]
            return np.asarray([int(np.argmax(self.action_scores(o))) for o in rows]), None
        return np.asarray(int(np.argmax(self.action_scores(observation)))), None
