"""FusionConfig validation (errors that name the fix) and the extractor's observation-space checks."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from gymnasium import spaces

from fusion_testing import TINY_BERT, fusion_space, suite_vocab
from fusiongym.fusion.config import (
    BlockConfig,
    FusionConfig,
    FusionConfigError,
    KnowledgeConfig,
    LanguageConfig,
    LoraSettings,
    VisionConfig,
)
from fusiongym.fusion.extractor import FusionExtractor

torch.set_num_threads(1)


def test_unknown_fusion_names_the_choices() -> None:
    with pytest.raises(FusionConfigError) as err:
        FusionConfig(block=BlockConfig(kind="flim"))
    assert str(err.value) == "unknown block.kind 'flim': choose one of concat, film, cross_attention, llm_prefix"


@pytest.mark.parametrize("sections, fragment", [
    (dict(vision={"encoder": "resnet"}), "unknown vision.encoder 'resnet': choose one of cnn, tiles, vit, pretrained"),
    (dict(knowledge={"encoder": "complex"}), "choose one of none, transe, rotate, verbalised"),
    (dict(language={"mode": "adapters"}), "choose one of frozen, lora, full"),
    (dict(language={"backbone": "none"}, block={"kind": "llm_prefix"}), "set language.backbone"),
    (dict(language={"backbone": "none"}, knowledge={"encoder": "verbalised"}),
     "choose knowledge.encoder transe, rotate or none"),
    (dict(language={"backbone": "none", "mode": "lora"}), "set a backbone or language.mode='frozen'"),
    (dict(knowledge={"encoder": "rotate", "dim": 33}), "even knowledge.dim"),
    (dict(block={"hidden_dim": 100, "num_heads": 3}), "divisible by block.num_heads"),
    (dict(vision={"encoder": "pretrained"}), "needs vision.path"),
    (dict(vision={"grid": 0}), "vision.grid must be a positive int"),
    (dict(vision={"encoder": "cnn", "shape_channel": True}), "set vision.encoder='tiles' or vision.shape_channel"),
    (dict(language={"config": {"hidden_size": 8}}), "needs a 'model_type' key"),
    (dict(language={"tokenizer": "minilm"}), "language.tokenizer is only used with language.config"),
    (dict(language={"lora": {"dropout": 1.0}}), "language.lora.dropout must be in [0, 1)"),
    (dict(block={"features_dim": 0}), "block.features_dim must be a positive int"),
    (dict(block={"film_kernel": 5}), "block.film_kernel must be 0, 1 or 3"),
    (dict(block={"goal_maps": -1}), "block.goal_maps must be an int >= 0"),
    (dict(block={"goal_maps": 2, "kind": "concat"}), "set block.kind='film' or block.goal_maps=0"),
    (dict(knowledge={"entity_embeddings": "glove"}),
     "unknown knowledge.entity_embeddings 'glove': choose one of learned, text"),
    (dict(knowledge={"entity_embeddings": "text", "encoder": "verbalised"}), "set it to transe or rotate"),
    (dict(knowledge={"entity_embeddings": "text"}, language={"backbone": "none"}),
     "set language.backbone (e.g. 'minilm') or knowledge.entity_embeddings='learned'"),
    (dict(knowledge={"text_retrieval": True}), "set knowledge.entity_embeddings='text' or knowledge.text_retrieval"),
    (dict(knowledge={"text_retrieval": True, "entity_embeddings": "text"}, block={"kind": "llm_prefix"}),
     "llm_prefix fusion does not use"),
    (dict(knowledge={"named_retrieval": True}), "set knowledge.text_retrieval=true"),
    (dict(knowledge={"follow_retrieval": True}), "set knowledge.named_retrieval=true"),
    (dict(knowledge={"strict_reads": True}), "set knowledge.named_retrieval=true or knowledge.strict_reads=false"),
    (dict(knowledge={"strict_reads": "yes"}), "knowledge.strict_reads must be true or false"),
    (dict(knowledge={"hop": 2}), "unknown knowledge field(s) ['hop']"),
    (dict(vision="tiles"), "vision must be a mapping of VisionConfig fields"),
])
def test_invalid_configs_say_how_to_fix(sections: dict, fragment: str) -> None:
    with pytest.raises(FusionConfigError) as err:
        FusionConfig(**sections)
    assert fragment in str(err.value)


def test_validate_catches_edits_after_construction() -> None:
    config = FusionConfig()
    config.block.kind = "crossattention"
    with pytest.raises(FusionConfigError, match="cross_attention"):
        config.validate()


def test_sections_are_dataclasses_or_dicts_alike() -> None:
    built = FusionConfig(vision=VisionConfig(encoder="cnn", cnn_channels=[4, 8]),
                         language=LanguageConfig(mode="lora", lora=LoraSettings(rank=4)),
                         knowledge=KnowledgeConfig(encoder="rotate", dim=32), block=BlockConfig(kind="concat"))
    given = FusionConfig(vision={"encoder": "cnn", "cnn_channels": (4, 8)},
                         language={"mode": "lora", "lora": {"rank": 4}}, knowledge={"encoder": "rotate", "dim": 32},
                         block={"kind": "concat"})
    assert built == given and built.vision.cnn_channels == (4, 8) and built.language.lora.rank == 4


def test_dict_round_trip_through_json() -> None:
    config = FusionConfig(vision={"encoder": "vit", "vit_config": {"patch_size": 4}, "cnn_channels": (4, 8)},
                          knowledge={"encoder": "rotate"}, block={"kind": "cross_attention"},
                          language={"config": TINY_BERT, "tokenizer": "minilm"})
    data = json.loads(json.dumps(config.to_dict()))
    assert sorted(data) == ["block", "knowledge", "language", "vision"] and data["language"]["lora"]["rank"] == 8
    assert FusionConfig.from_dict(data) == config


def test_the_flat_keys_of_0_1_0_still_load() -> None:
    """Run folders and agents saved by fusiongym 0.1.0 hold one flat mapping: each key lands in its section."""
    from fusiongym.fusion.config import FLAT_KEYS

    flat = {"vision": "cnn", "cnn_channels": [4, 8], "vision_grid": 5, "language": "none", "lora_rank": 4,
            "knowledge": "rotate", "knowledge_dim": 32, "knowledge_hops": 2, "fusion": "concat", "features_dim": 24}
    config = FusionConfig.from_dict(flat)
    assert (config.vision.encoder, config.vision.cnn_channels, config.vision.grid) == ("cnn", (4, 8), 5)
    assert (config.language.backbone, config.language.lora.rank) == ("none", 4)
    assert (config.knowledge.encoder, config.knowledge.dim, config.knowledge.hops) == ("rotate", 32, 2)
    assert (config.block.kind, config.block.features_dim) == ("concat", 24)
    # every 0.1.0 key has a home, and the homes are exactly the sections' fields
    homes = {path for path in FLAT_KEYS.values()}
    fields = {(section, name) for section, value in FusionConfig().to_dict().items() for name in value
              if name != "lora"} | {("language", "lora", name) for name in FusionConfig().to_dict()["language"]["lora"]}
    assert homes == fields


def test_from_dict_rejects_unknown_fields() -> None:
    with pytest.raises(FusionConfigError, match=r"unknown FusionConfig field\(s\) \['fuson'\]"):
        FusionConfig.from_dict({"block": {"kind": "film"}, "fuson": "film"})


def test_extractor_rejects_missing_keys_and_points_to_minigrid_wrapper() -> None:
    vocab = suite_vocab()
    space = spaces.Dict({"image": spaces.Box(0, 255, (56, 56, 3), np.uint8)})
    with pytest.raises(FusionConfigError, match="MiniGridFusionWrapper"):
        FusionExtractor(space, FusionConfig(language={"backbone": "none"}), vocab=vocab)


def test_extractor_rejects_a_vocabulary_smaller_than_the_space() -> None:
    vocab = suite_vocab()
    space = fusion_space(vocab.size + 50)
    with pytest.raises(FusionConfigError, match="pass the vocab the env was built with"):
        FusionExtractor(space, FusionConfig(language={"backbone": "none"}), vocab=vocab)


def test_extractor_rejects_non_dict_space() -> None:
    with pytest.raises(FusionConfigError, match="MultiInputPolicy"):
        FusionExtractor(spaces.Box(0, 1, (3,)), FusionConfig(language={"backbone": "none"}))  # type: ignore[arg-type]


def test_extractor_accepts_a_config_dict() -> None:
    vocab = suite_vocab()
    extractor = FusionExtractor(fusion_space(vocab.size), {"language": {"backbone": "none"},
                                                           "block": {"features_dim": 24}}, vocab=vocab)
    assert extractor.features_dim == 24 and extractor.config.language.backbone == "none"


def test_the_presets_and_their_overrides() -> None:
    reading = FusionConfig.preset("reading")
    knowledge = reading.knowledge
    assert (knowledge.fact_grouping, knowledge.entity_embeddings, knowledge.text_retrieval) == ("records", "text", True)
    # an override changes one field of a section and keeps the preset's others
    concat = FusionConfig.from_dict({"preset": "reading", "block": {"kind": "concat"},
                                     "knowledge": {"named_retrieval": True}})
    assert concat.block.kind == "concat" and concat.knowledge.named_retrieval
    assert concat.knowledge.fact_grouping == "records" and concat.block.hidden_dim == 128
    assert FusionConfig.from_dict({"preset": "reading"}).to_dict() == reading.to_dict()  # saved fully resolved
    assert FusionConfig.preset("default") == FusionConfig()
    following = FusionConfig.preset("following").knowledge
    assert following.named_retrieval and following.follow_retrieval and following.strict_reads
    named = FusionConfig.preset("named").knowledge
    assert named.named_retrieval and named.strict_reads and not named.follow_retrieval
    with pytest.raises(FusionConfigError, match="unknown FusionConfig preset 'nope'"):
        FusionConfig.preset("nope")


def test_training_merges_fusion_settings_field_by_field(tmp_path) -> None:
    """A level's entry changes single fields of the default's sections (in either spelling) and keeps the others."""
    import yaml

    from fusiongym.training.config import resolve_hyperparams

    path = tmp_path / "dagger.yml"
    path.write_text(yaml.safe_dump({
        "default": {"fusion": {"preset": "reading", "block": {"hidden_dim": 64}}},
        "fusiongym/Defeat-v1": {"fusion": {"preset": "reading", "knowledge": {"named_retrieval": True},
                                           "num_heads": 2}},
    }))
    hyperparams, _ = resolve_hyperparams("dagger", "fusion", "fusiongym/Defeat-v1", ["fusion.vision.grid=5"], path)
    config = FusionConfig.from_dict(hyperparams["fusion"])
    assert config.knowledge.named_retrieval and config.knowledge.text_retrieval  # the preset's, kept
    assert (config.block.hidden_dim, config.block.num_heads, config.vision.grid) == (64, 2, 5)
