"""Fusion policies: vision encoders, language backbones, knowledge encoders, fusion blocks and the SB3 features
extractor that assembles them from a :class:`FusionConfig`.

Names are re-exported lazily, so ``import fusiongym.fusion`` does not import torch until one is used.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "FusionConfig": "config",
    "FusionConfigError": "config",
    "VisionConfig": "config",
    "LanguageConfig": "config",
    "LoraSettings": "config",
    "KnowledgeConfig": "config",
    "BlockConfig": "config",
    "FusionExtractor": "extractor",
    "CNNEncoder": "vision",
    "HFVisionEncoder": "vision",
    "LanguageBackbone": "language",
    "TokenBridge": "language",
    "EncodingCache": "language",
    "verbalise_facts": "language",
    "TripleEncoder": "knowledge",
    "VerbalisedFactsEncoder": "knowledge",
    "pretrain_link_prediction": "knowledge",
    "link_prediction_metrics": "knowledge",
    "ontology_triples": "knowledge",
    "hold_out_triples": "knowledge",
    "ConcatFusion": "blocks",
    "FiLMFusion": "blocks",
    "CrossAttentionFusion": "blocks",
    "LLMPrefixFusion": "blocks",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"fusiongym.fusion.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'fusiongym.fusion' has no attribute {name!r}")
