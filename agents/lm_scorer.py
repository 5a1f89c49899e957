"""Zero-shot LM agent (GLAM-style): score each action's text by a causal LM's log-likelihood after a prompt that
holds the instruction, the facts and a text description of the view; act with the most likely one.

The observation holds no text of the view (SB3 takes fixed-size arrays only), so the agent asks the env for it:
``env.unwrapped.describe_view()`` of a single env, ``describe_views()`` of the native vector env — as
:class:`~fusiongym.agents.policies.OraclePolicy` asks the env for the oracle's action. The env describes its view
only when asked, so envs and their step stay as fast without the agent.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from fusiongym.fusion.backbones import resolve_source
from fusiongym.fusion.language import verbalise_facts

#: Text of each ``Discrete(7)`` action, in action-id order (MiniGrid's actions).
ACTION_TEXTS = ("turn left", "turn right", "go forward", "pick up", "drop", "toggle", "done")

#: ``{view}`` is a sentence of its own: a fusiongym env describes its view as "You see a red ball 2 ahead."
DEFAULT_PROMPT = ("You are an agent in a grid world.\n"
                  "Instruction: {mission}\n"
                  "Facts: {facts}\n"
                  "{view}\n"
                  "Next action:")


def _rows(observation: dict[str, Any]) -> list[dict[str, Any]]:
    """The observations of a batched Dict observation, one per world (a single one: a list of itself)."""
    if np.asarray(observation["mission"]).ndim == 2:
        return [{k: v[n] for k, v in observation.items()} for n in range(len(observation["mission"]))]
    return [observation]


_NO_VIEW_FIX = ("LMScorerAgent needs a fusiongym env (FusionEnv or its vector env, wrapped or not) to describe the "
                "view, or describe_view= (observation -> text) for another env")


def _describes_its_view(env: Any) -> bool:
    return hasattr(env.unwrapped, "describe_views") or hasattr(env.unwrapped, "describe_view")


def env_view_texts(env: Any) -> list[str]:
    """What the agent of each world of ``env`` sees, in words: ``describe_views()`` of a (wrapped) fusiongym vector
    env, ``[describe_view()]`` of a single one."""
    native = env.unwrapped
    if hasattr(native, "describe_views"):
        return list(native.describe_views())
    if hasattr(native, "describe_view"):
        return [native.describe_view()]
    raise TypeError(f"{type(native).__name__} has no describe_view(): {_NO_VIEW_FIX}")


class LMScorerAgent:
    """Pick the action whose text the causal LM finds most likely after the prompt.

    The view's text comes from ``describe_view(observation)`` when given, else from the env: ``env`` (given here
    or to :meth:`predict`; it describes its current state, so the observation must be its latest), or the vector
    env that :func:`~fusiongym.training.evaluation.evaluate` passes to :meth:`act`. With neither, ``predict``
    raises rather than prompt the LM with no view.

    Example::

        env = gym.make("fusiongym/Fetch-v0")
        agent = LMScorerAgent("path/to/causal-lm", env=env)
        obs, _ = env.reset(seed=0)
        action, _ = agent.predict(obs)

    Args:
        model: a ``transformers`` causal LM, or a folder / hub id / ``"minilm"`` source to load one from.
        tokenizer: its tokenizer (loaded from ``model`` when it is a source).
        vocab: the suite vocabulary (to turn mission / fact ids into text; default ``get_vocab()``).
        describe_view: observation → text description of the view, for envs that cannot describe their own.
        action_texts: text of each action id.
        prompt: template with ``{mission}``, ``{facts}`` and ``{view}``.
        length_normalise: score by the mean instead of the sum of token log-probabilities.
        env: the fusiongym env (single or vector, wrapped or not) whose observations ``predict`` gets.
    """

    def __init__(self, model: Any, tokenizer: Any = None, vocab: Any = None,
                 describe_view: Callable[[dict[str, Any]], str] | None = None,
                 action_texts: Sequence[str] = ACTION_TEXTS, prompt: str = DEFAULT_PROMPT,
                 length_normalise: bool = False, env: Any = None) -> None:
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
        if env is not None and describe_view is None and not _describes_its_view(env):
            raise TypeError(f"{type(env.unwrapped).__name__} has no describe_view(): {_NO_VIEW_FIX}")
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.vocab = vocab
        self.describe_view = describe_view
        self.env = env
        self.action_texts = tuple(action_texts)
        self.prompt = prompt
        self.length_normalise = length_normalise
        self._action_ids = [list(tokenizer(" " + text, add_special_tokens=False)["input_ids"])
                            for text in self.action_texts]
        if any(not ids for ids in self._action_ids):
            raise ValueError("an action text tokenizes to nothing")

    def view_texts(self, observation: dict[str, Any], env: Any = None) -> list[str]:
        """The view in words, one text per world of a batched observation (a list of one for a single one), from
        ``describe_view`` or else from ``env`` (default: the agent's own)."""
        rows = _rows(observation)
        if self.describe_view is not None:
            return [self.describe_view(row) for row in rows]
        env = env if env is not None else self.env
        if env is None:
            raise ValueError("LMScorerAgent cannot describe the view: pass env= (the fusiongym env whose "
                             "observations it gets) or describe_view= (observation -> text)")
        views = env_view_texts(env)
        if len(views) != len(rows):
            raise ValueError(f"the observation holds {len(rows)} world(s) but {type(env.unwrapped).__name__} "
                             f"{len(views)}: pass the env the observation came from")
        return views

    def prompt_text(self, observation: dict[str, Any], view: str | None = None) -> str:
        """The prompt for one (unbatched) observation; ``view`` defaults to :meth:`view_texts`'s."""
        if view is None:
            view = self.view_texts(observation)[0]
        facts = verbalise_facts(np.asarray(observation["facts"]), self.vocab) if "facts" in observation else ""
        return self.prompt.format(mission=self.vocab.decode(np.asarray(observation["mission"]).tolist()),
                                  facts=facts or "none", view=view)

    @torch.no_grad()
    def action_scores(self, observation: dict[str, Any], view: str | None = None) -> np.ndarray:
        """Log-likelihood of each action text after the prompt, ``[n_actions]``."""
        prompt_ids = list(self.tokenizer(self.prompt_text(observation, view))["input_ids"])
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
                deterministic: bool = True, env: Any = None) -> tuple[np.ndarray, None]:
        """The most likely action (batched observations give one action per row); the view is described by
        ``env`` (default: the agent's own), whose current state ``observation`` must be."""
        rows = _rows(observation)
        views = self.view_texts(observation, env)
        actions = [int(np.argmax(self.action_scores(row, view))) for row, view in zip(rows, views, strict=True)]
        if np.asarray(observation["mission"]).ndim == 2:
            return np.asarray(actions), None
        return np.asarray(actions[0]), None

    # --- the evaluation protocol's BatchPolicy (fusiongym.training.evaluation.evaluate) -----------------------
    def reset(self, num_envs: int) -> None:
        """Nothing to reset: the agent is memoryless."""

    def act(self, observations: dict[str, np.ndarray], vector_env: Any, episode_start: np.ndarray) -> np.ndarray:
        """One action per world of ``vector_env``, its views described by ``vector_env`` itself."""
        return self.predict(observations, env=vector_env)[0].reshape(len(episode_start))
