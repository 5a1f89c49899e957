"""FusionConfig validation (errors that name the fix) and the extractor's observation-space checks."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from gymnasium import spaces

from fusion_testing import TINY_BERT, fusion_space, suite_vocab
from fusiongym.fusion.config import FusionConfig, FusionConfigError
from fusiongym.fusion.extractor import FusionExtractor

torch.set_num_threads(1)


def test_unknown_fusion_names_the_choices() -> None:
    with pytest.raises(FusionConfigError) as err:
        FusionConfig(fusion="flim")
    assert str(err.value) == "unknown fusion 'flim': choose one of concat, film, cross_attention, llm_prefix"


@pytest.mark.parametrize("kwargs, fragment", [
    (dict(vision="resnet"), "unknown vision 'resnet': choose one of cnn, tiles, vit, pretrained"),
    (dict(knowledge="complex"), "choose one of none, transe, rotate, verbalised"),
    (dict(language_mode="adapters"), "choose one of frozen, lora, full"),
    (dict(language="none", fusion="llm_prefix"), "set language"),
    (dict(language="none", knowledge="verbalised"), "choose knowledge transe, rotate or none"),
    (dict(knowledge="rotate", knowledge_dim=33), "even knowledge_dim"),
    (dict(hidden_dim=100, num_heads=3), "divisible by num_heads"),
    (dict(vision="pretrained"), "needs vision_path"),
    (dict(language_config={"hidden_size": 8}), "needs a 'model_type' key"),
    (dict(tokenizer="minilm"), "tokenizer is only used with language_config"),
    (dict(features_dim=0), "features_dim must be a positive int"),
    (dict(film_kernel=5), "film_kernel must be 0, 1 or 3"),
    (dict(goal_maps=-1), "goal_maps must be an int >= 0"),
    (dict(goal_maps=2, fusion="concat"), "set fusion='film' or goal_maps=0"),
    (dict(entity_embeddings="glove"), "unknown entity_embeddings 'glove': choose one of learned, text"),
    (dict(entity_embeddings="text", knowledge="verbalised"), "set knowledge to transe or rotate"),
    (dict(entity_embeddings="text", language="none"), "set language (e.g. 'minilm') or entity_embeddings='learned'"),
    (dict(text_retrieval=True), "set entity_embeddings='text' or text_retrieval=False"),
    (dict(text_retrieval=True, entity_embeddings="text", fusion="llm_prefix"), "llm_prefix fusion does not use"),
    (dict(named_retrieval=True), "set text_retrieval=True"),
    (dict(follow_retrieval=True), "set named_retrieval=True"),
    (dict(strict_reads=True), "set named_retrieval=True or strict_reads=False"),
])
def test_invalid_configs_say_how_to_fix(kwargs: dict, fragment: str) -> None:
    with pytest.raises(FusionConfigError, match=None) as err:
        FusionConfig(**kwargs)
    assert fragment in str(err.value)


def test_validate_catches_edits_after_construction() -> None:
    config = FusionConfig()
    config.fusion = "crossattention"
    with pytest.raises(FusionConfigError, match="cross_attention"):
        config.validate()


def test_dict_round_trip_through_json() -> None:
    config = FusionConfig(vision="vit", vit_config={"patch_size": 4}, knowledge="rotate", fusion="cross_attention",
                          language_config=TINY_BERT, tokenizer="minilm", cnn_channels=(4, 8))
    data = json.loads(json.dumps(config.to_dict()))
    assert FusionConfig.from_dict(data) == config


def test_from_dict_rejects_unknown_fields() -> None:
    with pytest.raises(FusionConfigError, match="unknown FusionConfig field"):
        FusionConfig.from_dict({"fusion": "film", "fuson": "film"})


def test_extractor_rejects_missing_keys_and_points_to_minigrid_wrapper() -> None:
    vocab = suite_vocab()
    space = spaces.Dict({"image": spaces.Box(0, 255, (56, 56, 3), np.uint8)})
    with pytest.raises(FusionConfigError, match="MiniGridFusionWrapper"):
        FusionExtractor(space, FusionConfig(language="none"), vocab=vocab)


def test_extractor_rejects_a_vocabulary_smaller_than_the_space() -> None:
    vocab = suite_vocab()
    space = fusion_space(vocab.size + 50)
    with pytest.raises(FusionConfigError, match="pass the vocab the env was built with"):
        FusionExtractor(space, FusionConfig(language="none"), vocab=vocab)


def test_extractor_rejects_non_dict_space() -> None:
    with pytest.raises(FusionConfigError, match="MultiInputPolicy"):
        FusionExtractor(spaces.Box(0, 1, (3,)), FusionConfig(language="none"))  # type: ignore[arg-type]


def test_extractor_accepts_a_config_dict() -> None:
    vocab = suite_vocab()
    extractor = FusionExtractor(fusion_space(vocab.size), {"language": "none", "features_dim": 24}, vocab=vocab)
    assert extractor.features_dim == 24 and extractor.config.language == "none"


def test_the_reading_preset_and_its_overrides() -> None:
    from fusiongym.fusion.config import FusionConfig, FusionConfigError

    reading = FusionConfig.preset("reading")
    assert (reading.fact_grouping, reading.entity_embeddings, reading.text_retrieval) == ("records", "text", True)
    assert FusionConfig.from_dict({"preset": "reading", "fusion": "concat"}).fusion == "concat"
    assert FusionConfig.from_dict({"preset": "reading"}).to_dict() == reading.to_dict()  # saved fully resolved
    assert FusionConfig.preset("default") == FusionConfig()
    import pytest

    with pytest.raises(FusionConfigError, match="unknown FusionConfig preset 'nope'"):
        FusionConfig.preset("nope")
