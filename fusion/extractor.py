"""`FusionExtractor`: the SB3 features extractor assembled from a vision encoder, a language backbone, a knowledge
encoder and a fusion block, as a :class:`~fusiongym.fusion.config.FusionConfig` says.

Use it with any SB3 / sb3-contrib algorithm that takes a Dict observation::

    PPO("MultiInputPolicy", env, policy_kwargs=dict(
        features_extractor_class=FusionExtractor,
        features_extractor_kwargs=dict(config=FusionConfig(fusion="film"))))
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from torch import nn

from fusiongym.fusion.backbones import VocabularyLike
from fusiongym.fusion.blocks import ConcatFusion, CrossAttentionFusion, FiLMFusion, LLMPrefixFusion
from fusiongym.fusion.config import FusionConfig, FusionConfigError
from fusiongym.fusion.knowledge import KnowledgeOutput, TripleEncoder, VerbalisedFactsEncoder
from fusiongym.fusion.language import LanguageBackbone, TextOutput
from fusiongym.fusion.vision import build_vision_encoder


def default_vocab() -> VocabularyLike:
    """The suite vocabulary (``fusiongym.envs.vocab.get_vocab()``)."""
    from fusiongym.envs.vocab import get_vocab

    return get_vocab()


def image_layout(space: spaces.Box) -> tuple[bool, int, int, int]:
    """``(channels_first, channels, height, width)`` of an image Box, channel-last (env) or channel-first (SB3)."""
    if len(space.shape) != 3:
        raise FusionConfigError(f"observation 'image' must be a 3-d Box (H, W, C) or (C, H, W), got {space.shape}")
    first, last = space.shape[0], space.shape[-1]
    channels_first = first in (1, 3, 4) and last not in (1, 3, 4)
    if not channels_first and last not in (1, 3, 4):
        raise FusionConfigError(f"cannot tell the channel axis of image shape {space.shape}: expected 1, 3 or 4 "
                                "channels first (SB3, after VecTransposeImage) or last (the env)")
    if channels_first:
        return True, first, space.shape[1], space.shape[2]
    return False, last, space.shape[0], space.shape[1]


def _is_transformers_model(module: nn.Module) -> bool:
    from transformers import PreTrainedModel

    if isinstance(module, PreTrainedModel):
        return True
    try:
        from peft import PeftModel
    except ImportError:  # pragma: no cover
        return False
    return isinstance(module, PeftModel)


class FusionExtractor(BaseFeaturesExtractor):
    """Features ``[B, config.block.features_dim]`` from a Dict observation with ``image``, ``mission`` and ``facts``.

    Args:
        observation_space: the Dict space SB3 hands over (``image`` channel-first after ``VecTransposeImage``
            or channel-last; ``mission`` ``[L]`` and ``facts`` ``[F, 3]`` suite ids).
        config: a :class:`FusionConfig` (or its dict form).
        vocab: the suite vocabulary; default ``fusiongym.envs.vocab.get_vocab()``.

    Images are expected in ``[0, 1]`` (SB3's ``normalize_images=True``, the default). SB3's orthogonal
    re-initialisation (``ortho_init`` in PPO / A2C) is kept out of ``transformers`` submodules so pretrained
    weights survive policy construction (see :meth:`apply`).
    """

    def __init__(self, observation_space: gym.spaces.Dict, config: FusionConfig | dict[str, Any] | None = None,
                 vocab: VocabularyLike | None = None) -> None:
        if config is None:
            config = FusionConfig()
        elif isinstance(config, dict):
            config = FusionConfig.from_dict(config)
        elif not isinstance(config, FusionConfig):
            raise FusionConfigError(f"config must be a FusionConfig or a dict, got {type(config).__name__}")
        config.validate()
        super().__init__(observation_space, features_dim=config.block.features_dim)
        self.config = config
        self._check_space(observation_space, config)
        mission_space, image_space = observation_space["mission"], observation_space["image"]
        assert isinstance(mission_space, spaces.Box) and isinstance(image_space, spaces.Box)  # _check_space's
        self.vocab = vocab if vocab is not None else default_vocab()
        high = int(np.max(mission_space.high))
        if high + 1 > self.vocab.size:
            raise FusionConfigError(f"observation 'mission' ids go up to {high} but the vocabulary has "
                                    f"{self.vocab.size} ids: pass the vocab the env was built with (vocab=...)")
        self.channels_first, channels, height, width = image_layout(image_space)

        self.vision = build_vision_encoder(config, image_size=height, in_channels=channels)
        vision_dim = self.vision.dim
        self.language = LanguageBackbone.from_config(config, self.vocab) if config.has_language else None
        language_dim = self.language.hidden_size if self.language is not None else 0

        self.knowledge: nn.Module | None
        if config.knowledge.encoder in ("transe", "rotate"):
            entity_text = None
            if config.knowledge.entity_embeddings == "text":
                assert self.language is not None
                entity_text = self.language.encode_words()
            self.knowledge = TripleEncoder(self.vocab.size, config.knowledge.dim, config.block.hidden_dim,
                                           operator=config.knowledge.encoder, query_dim=language_dim,
                                           grouping=config.knowledge.fact_grouping, entity_text=entity_text,
                                           text_retrieval=config.knowledge.text_retrieval,
                                           hops=config.knowledge.hops,
                                           named_retrieval=config.knowledge.named_retrieval,
                                           follow_retrieval=config.knowledge.follow_retrieval,
                                           strict_reads=config.knowledge.strict_reads)
        elif config.knowledge.encoder == "verbalised":
            assert self.language is not None
            self.knowledge = VerbalisedFactsEncoder(self.language, config.block.hidden_dim)
        else:
            self.knowledge = None
        knowledge_dim = config.block.hidden_dim if self.knowledge is not None else 0

        self.fusion: nn.Module
        block = config.block
        if block.kind == "concat":
            self.fusion = ConcatFusion(vision_dim, language_dim, knowledge_dim, block.hidden_dim,
                                       block.features_dim, grid=config.vision.grid)
        elif block.kind == "film":
            self.fusion = FiLMFusion(vision_dim, language_dim + knowledge_dim, block.hidden_dim,
                                     block.features_dim, grid=config.vision.grid, layers=block.film_layers,
                                     kernel=block.film_kernel, goal_maps=block.goal_maps)
        elif block.kind == "cross_attention":
            self.fusion = CrossAttentionFusion(vision_dim, config.vision.grid ** 2, language_dim, knowledge_dim,
                                               block.hidden_dim, block.num_heads, block.features_dim)
        else:
            assert self.language is not None
            self.fusion = LLMPrefixFusion(self.language, vision_dim, knowledge_dim, block.prefix_grid,
                                          block.features_dim, pooling=config.language.pooling,
                                          verbalised_facts=config.knowledge.encoder == "verbalised")

    @staticmethod
    def _check_space(space: gym.Space, config: FusionConfig) -> None:
        if not isinstance(space, spaces.Dict):
            raise FusionConfigError(f"FusionExtractor needs a Dict observation space, got {type(space).__name__}: "
                                    "use policy 'MultiInputPolicy' on a fusiongym env")
        needed = ["image", "mission"] + (["facts"] if config.knowledge.encoder != "none" else [])
        missing = [k for k in needed if k not in space.spaces]
        if missing:
            raise FusionConfigError(f"observation space lacks {missing} (has {list(space.spaces)}); for MiniGrid / "
                                    "BabyAI envs wrap them in fusiongym.agents.minigrid.MiniGridFusionWrapper")
        for key in ("image", "mission"):
            if not isinstance(space[key], spaces.Box):
                raise FusionConfigError(f"observation {key!r} must be a Box, got {type(space[key]).__name__}")
        if "facts" in space.spaces:
            shape = space["facts"].shape
            if shape is None or len(shape) != 2 or shape[1] != 3:
                raise FusionConfigError(f"observation 'facts' must have shape (F, 3), got {shape}")

    def apply(self, fn: Callable[[nn.Module], None]) -> FusionExtractor:
        """``nn.Module.apply`` that leaves ``transformers`` / ``peft`` models alone.

        SB3's ``ActorCriticPolicy`` calls ``features_extractor.apply(init_weights)`` (orthogonal init of every
        Linear / Conv2d) when ``ortho_init=True``; letting it reach a pretrained backbone would erase it.
        """
        for module in self.children():
            _apply_skipping_transformers(module, fn)
        fn(self)
        if getattr(getattr(fn, "func", fn), "__name__", "") == "init_weights":
            # SB3's orthogonal init also overwrote the deliberate inits of the fusion blocks (FiLM starting as the
            # identity, the instruction and knowledge paths starting almost silent): put them back
            for module in self.modules():
                restore_init = getattr(module, "restore_init", None)
                if module is not self and restore_init is not None and not _is_transformers_model(module):
                    restore_init()
        return self

    def forward(self, observations: dict[str, torch.Tensor]) -> torch.Tensor:
        image = observations["image"]
        if not self.channels_first:
            image = image.permute(0, 3, 1, 2)
        vision = self.vision(image.float())
        missions = observations["mission"]
        facts = observations.get("facts")
        language: TextOutput | None = None
        if self.language is not None and self.config.block.kind != "llm_prefix":
            language = self.language.encode_missions(missions)
        elif self.language is not None and isinstance(self.knowledge, TripleEncoder):
            # the triple encoder's pooling query still wants an instruction embedding
            language = self.language.encode_missions(missions)
        knowledge: KnowledgeOutput | None = None
        if self.knowledge is not None and not (self.config.block.kind == "llm_prefix"
                                               and self.config.knowledge.encoder == "verbalised"):
            assert facts is not None
            knowledge = self.knowledge(facts, language.pooled if language is not None else None)
        if isinstance(self.fusion, LLMPrefixFusion):
            return self.fusion(vision, missions, knowledge, facts)
        return self.fusion(vision, language, knowledge)


def _apply_skipping_transformers(module: nn.Module, fn: Callable[[nn.Module], None]) -> None:
    if _is_transformers_model(module):
        return
    for child in module.children():
        _apply_skipping_transformers(child, fn)
    fn(module)
