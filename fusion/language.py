"""Language backbones: ``transformers`` models that encode instructions (and verbalised facts) given as suite ids.

Three pieces:

* :class:`TokenBridge` maps rows of suite-vocabulary ids to the backbone tokenizer's own ids, exactly as
  ``tokenizer(vocab.decode(row))`` would, without calling the tokenizer per step (every suite id is tokenized
  once, up front).
* :class:`EncodingCache` keeps the frozen backbone's output for each distinct id row (an LRU keyed by the row's
  bytes), so a frozen backbone runs once per distinct instruction / fact set, not once per step.
* :class:`LanguageBackbone` wraps the model (encoder, decoder, or the encoder side of an encoder-decoder),
  frozen, LoRA-adapted through ``peft`` or fully fine-tuned, and returns pooled and per-token outputs.

A frozen backbone loaded from a pretrained source is part of the policy's definition, not of what it learned: its
``state_dict`` holds ``source_sha256`` (the sha256 of its weights as loaded) in place of the weights, so checkpoints
(fusiongym's ``policy.safetensors``, SB3's zip) name it instead of copying it, and loading one checks that the
source still holds those weights (see :meth:`LanguageBackbone.saved_by_reference`).
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from fusiongym.fusion.backbones import VocabularyLike, backbone_kind, load_backbone
from fusiongym.fusion.config import FusionConfig, FusionConfigError

#: The word between two verbalised facts ("apple is a fruit . banana is a fruit").
FACT_SEPARATOR = "."
#: State-dict key (under the backbone's prefix) that stands for the weights of a backbone saved by reference.
SOURCE_SHA256_KEY = "source_sha256"


def verbalise_facts(facts: np.ndarray, vocab: VocabularyLike) -> str:
    """Fact id rows ``[F, 3]`` as text: ``"apple is a fruit . banana is a fruit"``.

    Padding rows are dropped and the rest are sorted by their ids, so the text (and a cached encoding of it) does
    not depend on the per-episode row order.
    """
    return " ".join(_fact_words(np.asarray(facts).reshape(-1, 3), vocab))


def _canonical_facts(facts: np.ndarray) -> np.ndarray:
    rows = facts[(facts != 0).any(axis=1)]
    if len(rows) == 0:
        return rows
    return rows[np.lexsort(rows.T[::-1])]


def _fact_words(facts: np.ndarray, vocab: VocabularyLike) -> list[str]:
    words: list[str] = []
    for s, r, o in _canonical_facts(facts):
        if words:
            words.append(FACT_SEPARATOR)
        words += [vocab.surface(int(i)) for i in (s, r, o) if int(i) != 0]
    return words


def sort_fact_rows(facts: torch.Tensor) -> torch.Tensor:
    """``[B, F, 3]`` fact ids with each set's rows sorted by (subject, relation, object), padding rows last."""
    facts = facts.to(torch.long)
    big = int(facts.max().item()) + 1 if facts.numel() else 1
    key = (facts[..., 0] * big + facts[..., 1]) * big + facts[..., 2]
    key = torch.where(key == 0, torch.full_like(key, big ** 3), key)
    order = key.argsort(dim=-1, stable=True)
    return torch.gather(facts, 1, order.unsqueeze(-1).expand_as(facts))


class TokenBridge:
    """Suite-vocabulary ids to backbone token ids, equal to ``tokenizer(vocab.decode(row))``.

    For each suite id ``i`` it stores the tokenization of ``vocab.surface(i)`` at the start of a text and after a
    space (BPE / SentencePiece tokenizers mark word starts differently there); a row becomes the concatenation of
    its words' pieces, framed by the special tokens the tokenizer adds (CLS/SEP, BOS, EOS) and truncated like
    ``tokenizer(text, truncation=True, max_length=max_tokens)``. With ``tokenizer=None`` suite ids pass through
    unchanged (for backbones built with the suite's vocabulary).
    """

    _PROBE = "a"

    def __init__(self, vocab: VocabularyLike, tokenizer: Any | None, max_tokens: int = 256) -> None:
        self.vocab = vocab
        self.tokenizer = tokenizer
        self.max_tokens = max_tokens
        self._pieces: dict[tuple[str, bool], tuple[int, ...]] = {}
        if tokenizer is None:
            self.prefix: tuple[int, ...] = ()
            self.suffix: tuple[int, ...] = ()
            self.pad_id = 0
            return
        self.pad_id = next(t for t in (tokenizer.pad_token_id, tokenizer.eos_token_id, 0) if t is not None)
        self._probe_ids = self._encode(self._PROBE)
        self.prefix, self.suffix = self._special_frame()
        surfaces = [vocab.surface(i) for i in range(vocab.size)]
        self.first = [self._piece(s, True) for s in surfaces]
        self.after_space = [self._piece(s, False) for s in surfaces]

    def _encode(self, text: str) -> list[int]:
        assert self.tokenizer is not None
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def _special_frame(self) -> tuple[tuple[int, ...], tuple[int, ...]]:
        assert self.tokenizer is not None
        full = list(self.tokenizer(self._PROBE)["input_ids"])
        body = self._probe_ids
        for start in range(len(full) - len(body) + 1):
            if full[start:start + len(body)] == body:
                return tuple(full[:start]), tuple(full[start + len(body):])
        raise ValueError("cannot find where the tokenizer puts its special tokens around the text")

    def _piece(self, word: str, first: bool) -> tuple[int, ...]:
        key = (word, first)
        if key not in self._pieces:
            if not word:
                ids: list[int] = []
            elif first:
                ids = self._encode(word)
            else:
                both = self._encode(f"{self._PROBE} {word}")
                if both[:len(self._probe_ids)] != self._probe_ids:
                    raise ValueError(f"tokenizer merges across a space in {self._PROBE + ' ' + word!r}; the "
                                     "token bridge needs a tokenizer that splits on whitespace first")
                ids = both[len(self._probe_ids):]
            self._pieces[key] = tuple(ids)
        return self._pieces[key]

    def _frame(self, body: list[int]) -> list[int]:
        room = self.max_tokens - len(self.prefix) - len(self.suffix)
        return [*self.prefix, *body[:max(room, 0)], *self.suffix]

    def mission_body(self, row: Sequence[int] | np.ndarray) -> list[int]:
        """Backbone ids of an instruction row of suite ids (0 = padding), without special tokens."""
        ids = [int(i) for i in np.asarray(row).reshape(-1) if int(i) != 0]
        if self.tokenizer is None:
            return ids
        body: list[int] = []
        for n, i in enumerate(ids):
            body += self.first[i] if n == 0 else self.after_space[i]
        return body

    def mission_ids(self, row: Sequence[int] | np.ndarray) -> list[int]:
        """Backbone ids (special tokens included, truncated to ``max_tokens``) of an instruction row."""
        return self._frame(self.mission_body(row))

    def facts_body(self, facts: np.ndarray) -> list[int]:
        """Backbone ids of verbalised facts (see :func:`verbalise_facts`), without special tokens."""
        if self.tokenizer is None:
            raise FusionConfigError("knowledge='verbalised' needs a backbone with a tokenizer: set language to a "
                                    "pretrained model or tokenizer= with language_config")
        body: list[int] = []
        for n, word in enumerate(_fact_words(np.asarray(facts).reshape(-1, 3), self.vocab)):
            body += self._piece(word, n == 0)
        return body

    def facts_ids(self, facts: np.ndarray) -> list[int]:
        """Backbone ids (special tokens included, truncated to ``max_tokens``) of verbalised facts."""
        return self._frame(self.facts_body(facts))


class EncodingCache:
    """LRU cache of per-text backbone outputs keyed by the bytes of the id row, with hit / miss counters."""

    def __init__(self, max_entries: int = 65536) -> None:
        self.max_entries = max_entries
        self._store: OrderedDict[bytes, tuple[torch.Tensor, torch.Tensor]] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._store)

    def get(self, key: bytes) -> tuple[torch.Tensor, torch.Tensor] | None:
        value = self._store.get(key)
        if value is None:
            self.misses += 1
            return None
        self.hits += 1
        self._store.move_to_end(key)
        return value

    def put(self, key: bytes, value: tuple[torch.Tensor, torch.Tensor]) -> None:
        self._store[key] = value
        self._store.move_to_end(key)
        while len(self._store) > self.max_entries:
            self._store.popitem(last=False)

    def clear(self) -> None:
        self._store.clear()


@dataclass
class TextOutput:
    """Encoded texts: ``pooled [B, D]`` (mean over valid tokens), ``tokens [B, T, D]``, ``mask [B, T]`` (True =
    a real token)."""

    pooled: torch.Tensor
    tokens: torch.Tensor
    mask: torch.Tensor


class LanguageBackbone(nn.Module):
    """A ``transformers`` text model that encodes rows of suite ids (instructions or fact sets).

    ``mode="frozen"``: no gradients, the model stays in eval mode whatever SB3 asks, and each distinct row is
    encoded once and cached. ``"lora"``: peft LoRA adapters are trained; ``"full"``: every weight is trained. In
    both trainable modes the distinct rows of a batch are encoded once and scattered back.
    """

    model: Any  # a transformers model, or its peft wrapper under LoRA: their methods vary by architecture

    def __init__(self, model: nn.Module, tokenizer: Any | None, vocab: VocabularyLike, mode: str = "frozen",
                 use_cache: bool = True, cache_size: int = 65536, max_tokens: int = 256,
                 lora: dict[str, Any] | None = None, pretrained: bool = False, source: str | None = None) -> None:
        super().__init__()
        if mode not in ("frozen", "lora", "full"):
            raise FusionConfigError(f"unknown language_mode {mode!r}: choose one of frozen, lora, full")
        self.kind = backbone_kind(model.config)
        self.mode = mode
        self.pretrained = pretrained
        limit = getattr(model.config, "max_position_embeddings", None) or getattr(model.config, "n_positions", None)
        self.max_tokens = min(max_tokens, limit) if limit else max_tokens
        self.bridge = TokenBridge(vocab, tokenizer, self.max_tokens)
        config: Any = model.config  # a transformers config: its fields vary by architecture
        self.hidden_size = int(config.hidden_size if hasattr(config, "hidden_size") else config.d_model)
        if mode == "lora":
            model = self._add_lora(model, lora or {})
        elif mode == "frozen":
            model.requires_grad_(False)
        self.model = model
        self.use_cache = use_cache and mode == "frozen"
        self.cache = EncodingCache(cache_size)
        self.backbone_calls = 0  # forward passes through the model (cache misses when frozen)
        if mode == "frozen":
            self.model.eval()
        #: where the pretrained weights came from (the ``language`` value), None when built from a config
        self.source = source if pretrained else None
        #: sha256 of the weights as loaded from the source (frozen pretrained backbones only)
        self.source_sha256 = self.weights_sha256() if mode == "frozen" and self.source is not None else None
        self._absent_at: set[str] = set()
        self.register_state_dict_post_hook(_replace_weights_by_reference)
        self.register_load_state_dict_post_hook(_allow_weights_by_reference)

    @classmethod
    def from_config(cls, config: FusionConfig, vocab: VocabularyLike) -> LanguageBackbone:
        """Load or build the backbone ``config`` describes."""
        model, tokenizer, pretrained = load_backbone(config, vocab)
        settings = config.language
        lora = dict(r=settings.lora.rank, lora_alpha=settings.lora.alpha, lora_dropout=settings.lora.dropout,
                    target_modules=settings.lora.target_modules)
        return cls(model, tokenizer, vocab, mode=settings.mode, use_cache=settings.text_cache,
                   cache_size=settings.text_cache_size, max_tokens=settings.max_text_tokens, lora=lora,
                   pretrained=pretrained, source=settings.backbone if pretrained else None)

    # --- saving by reference ---------------------------------------------------------------------------------
    def weights_sha256(self) -> str:
        """sha256 (hex) of the model's weights: every state-dict entry's name, dtype, shape and bytes, by name."""
        digest = hashlib.sha256()
        weights = self.model.state_dict()
        for name in sorted(weights):
            tensor = weights[name].detach().to("cpu").contiguous()
            digest.update(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}|".encode())
            digest.update(tensor.reshape(-1).view(torch.uint8).numpy())
        return digest.hexdigest()

    def saved_by_reference(self) -> bool:
        """Whether ``state_dict`` names this backbone (``source_sha256``) instead of copying its weights: it is
        frozen, was loaded from a pretrained source, and still holds the weights it was loaded with. LoRA and full
        fine-tuning change the weights, so those backbones are always copied."""
        return self.source_sha256 is not None and self.weights_sha256() == self.source_sha256

    def _load_from_state_dict(self, state_dict: dict[str, Any], prefix: str, local_metadata: dict[str, Any],
                              strict: bool, missing_keys: list[str], unexpected_keys: list[str],
                              error_msgs: list[str]) -> None:
        saved = state_dict.pop(prefix + SOURCE_SHA256_KEY, None)
        has_weights = any(k.startswith(prefix + "model.") for k in state_dict)
        if saved is not None:
            saved_hash = bytes(saved.to("cpu", torch.uint8).tolist()).hex()
            if self.source_sha256 is None:
                error_msgs.append(
                    f"{prefix}{SOURCE_SHA256_KEY}: the weights name a frozen pretrained language backbone (sha256 "
                    f"{saved_hash}), but this policy's backbone is {self.mode!r} and "
                    f"{'pretrained' if self.pretrained else 'built from a config'}: build the policy with the "
                    "fusion config it was saved with")
            elif saved_hash != (actual := self.weights_sha256()):
                error_msgs.append(
                    f"{prefix}{SOURCE_SHA256_KEY}: the language backbone loaded from {self.source!r} (sha256 "
                    f"{actual}) is not the one these weights were trained with (sha256 {saved_hash}): "
                    "install the version of that model (or of the package that ships it) the agent was trained "
                    "with, or set fusion.language.backbone to a folder holding those weights")
        if not has_weights and self.source_sha256 is not None:
            self._absent_at.add(prefix)  # the source's weights stay: see _allow_weights_by_reference
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys,
                                      error_msgs)

    @staticmethod
    def _add_lora(model: nn.Module, lora: dict[str, Any]) -> nn.Module:
        from peft import LoraConfig, get_peft_model

        try:
            return get_peft_model(model, LoraConfig(**lora))
        except ValueError as err:
            raise FusionConfigError(f"peft could not add LoRA adapters to {type(model).__name__} ({err}): set "
                                    "lora_target_modules to names of its attention Linear layers") from err

    def train(self, mode: bool = True) -> LanguageBackbone:
        super().train(mode)
        if self.mode == "frozen":
            self.model.eval()  # a frozen backbone never samples dropout: its cached encodings stay valid
        return self

    def _apply(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> LanguageBackbone:
        self.cache.clear()  # cached tensors live on the old device / dtype
        return super()._apply(fn, *args, **kwargs)

    def input_embeddings(self) -> nn.Module:
        """The backbone's token embedding table (for soft-token inputs)."""
        return self.model.get_input_embeddings()

    def run(self, input_ids: torch.Tensor | None, attention_mask: torch.Tensor,
            inputs_embeds: torch.Tensor | None = None) -> torch.Tensor:
        """Last hidden states ``[B, T, D]`` of the backbone."""
        self.backbone_calls += 1
        kwargs: dict[str, Any] = dict(attention_mask=attention_mask)
        if inputs_embeds is not None:
            kwargs["inputs_embeds"] = inputs_embeds
        else:
            kwargs["input_ids"] = input_ids
        return self.model(**kwargs).last_hidden_state

    def _pad(self, sequences: list[list[int]], device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        length = max(1, max(len(s) for s in sequences))
        ids = torch.full((len(sequences), length), self.bridge.pad_id, dtype=torch.long)
        mask = torch.zeros((len(sequences), length), dtype=torch.long)
        for n, seq in enumerate(sequences):
            ids[n, :len(seq)] = torch.tensor(seq, dtype=torch.long)
            mask[n, :len(seq)] = 1
        return ids.to(device), mask.to(device)

    def _encode_sequences(self, sequences: list[list[int]], device: torch.device) -> tuple[torch.Tensor, ...]:
        ids, mask = self._pad(sequences, device)
        hidden = self.run(ids, mask)
        weights = mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * weights).sum(1) / weights.sum(1).clamp(min=1.0)
        return hidden, mask.bool(), pooled

    def encode(self, rows: torch.Tensor, to_ids: Callable[[np.ndarray], list[int]]) -> TextOutput:
        """Encode a batch of id rows ``[B, ...]``; ``to_ids`` turns one row into backbone ids."""
        device = self.device
        batch = rows.shape[0]
        flat = rows.reshape(batch, -1).to(torch.long).cpu().numpy()
        unique, unique_inverse = np.unique(flat, axis=0, return_inverse=True)
        inverse = torch.as_tensor(unique_inverse.reshape(-1), device=device)
        if not self.use_cache:
            with torch.set_grad_enabled(torch.is_grad_enabled() and self.mode != "frozen"):
                hidden, mask, pooled = self._encode_sequences([to_ids(r) for r in unique], device)
            return TextOutput(pooled[inverse], hidden[inverse], mask[inverse])
        keys = [r.tobytes() for r in unique]
        entries: list[tuple[torch.Tensor, torch.Tensor] | None] = [self.cache.get(k) for k in keys]
        missing = [n for n, e in enumerate(entries) if e is None]
        if missing:
            with torch.no_grad():
                hidden, mask, pooled = self._encode_sequences([to_ids(unique[n]) for n in missing], device)
            for j, n in enumerate(missing):
                encoded = (hidden[j, :int(mask[j].sum())].clone(), pooled[j].clone())
                self.cache.put(keys[n], encoded)
                entries[n] = encoded
        length = max(e[0].shape[0] for e in entries if e is not None)
        tokens = torch.zeros((len(entries), length, self.hidden_size), device=device)
        token_mask = torch.zeros((len(entries), length), dtype=torch.bool, device=device)
        for n, entry in enumerate(entries):
            assert entry is not None
            tokens[n, :entry[0].shape[0]] = entry[0]
            token_mask[n, :entry[0].shape[0]] = True
        pooled = torch.stack([e[1] for e in entries if e is not None])
        return TextOutput(pooled[inverse], tokens[inverse], token_mask[inverse])

    @torch.no_grad()
    def encode_words(self, batch_size: int = 256) -> torch.Tensor:
        """``[vocab.size, hidden]``: every suite word encoded on its own (mean over its tokens, special tokens
        included, as instructions are pooled); row 0 (padding) is zeros. Runs the model in eval mode, outside the
        cache and the ``backbone_calls`` count (it is a one-off table, not a per-step encoding)."""
        device = self.device
        words = [self.bridge.mission_ids([i]) for i in range(1, self.bridge.vocab.size)]
        was_training = self.model.training
        self.model.eval()
        calls = self.backbone_calls
        try:
            pooled = [self._encode_sequences(words[n:n + batch_size], device)[2]
                      for n in range(0, len(words), batch_size)]
        finally:
            self.model.train(was_training)
            self.backbone_calls = calls
        return torch.cat([torch.zeros(1, self.hidden_size, device=device), *pooled]).float()

    def encode_missions(self, missions: torch.Tensor) -> TextOutput:
        """Encode instruction rows ``[B, L]`` of suite ids."""
        return self.encode(missions, self.bridge.mission_ids)

    def encode_facts(self, facts: torch.Tensor) -> TextOutput:
        """Encode fact sets ``[B, F, 3]`` verbalised as text (row order does not matter: rows are sorted first,
        so one fact set shuffled differently in two episodes is one cache entry)."""
        return self.encode(sort_fact_rows(facts), self.bridge.facts_ids)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device


def _replace_weights_by_reference(module: LanguageBackbone, state_dict: dict[str, Any], prefix: str,
                                  local_metadata: dict[str, Any]) -> None:
    """State-dict hook: a frozen backbone that still holds its source's weights is written as their sha256."""
    if not module.saved_by_reference():
        return
    for key in [k for k in state_dict if k.startswith(prefix + "model.")]:
        del state_dict[key]
    assert module.source_sha256 is not None
    state_dict[prefix + SOURCE_SHA256_KEY] = torch.tensor(list(bytes.fromhex(module.source_sha256)),
                                                          dtype=torch.uint8)


def _allow_weights_by_reference(module: LanguageBackbone, incompatible_keys: Any) -> None:
    """Load-state-dict hook: a frozen pretrained backbone whose weights a state dict leaves out entirely keeps the
    ones it was loaded with (checked against ``source_sha256`` when the state dict gives it); a state dict that holds
    only some of them is still reported."""
    for prefix in module._absent_at:
        incompatible_keys.missing_keys[:] = [k for k in incompatible_keys.missing_keys
                                             if not k.startswith(prefix + "model.")]
    module._absent_at.clear()
