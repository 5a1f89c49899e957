"""Language backbones: the exact vocabulary bridge, the frozen-encoding cache, backbone families, LoRA / full
fine-tuning, and the real packaged MiniLM loaded offline."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from fusion_testing import (
    FACTS,
    MISSIONS,
    TINY_LANGUAGE_CONFIGS,
    facts_block,
    mission_row,
    save_tiny_tokenizer,
    suite_vocab,
)
from fusiongym.envs.vocab import Vocabulary
from fusiongym.fusion.backbones import resolve_source
from fusiongym.fusion.config import FusionConfig, FusionConfigError
from fusiongym.fusion.language import (
    EncodingCache,
    LanguageBackbone,
    TokenBridge,
    sort_fact_rows,
    verbalise_facts,
)

torch.set_num_threads(1)

TOKENIZER_STYLES = ("minilm", "gpt2", "llama", "t5")


@pytest.fixture(scope="module")
def tokenizer_sources(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    vocab = suite_vocab()
    root = tmp_path_factory.mktemp("tokenizers")
    out = {"minilm": "minilm"}
    for style in ("gpt2", "llama", "t5"):
        out[style] = save_tiny_tokenizer(root / style, style, vocab)
    return out


def _tokenizer(source: str) -> Any:
    from transformers import AutoTokenizer

    path, local = resolve_source(source)
    return AutoTokenizer.from_pretrained(path, local_files_only=local)


def _random_rows(vocab: Any, count: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(count):
        row = np.zeros(16, np.int64)
        n = int(rng.integers(0, 17))
        row[:n] = rng.integers(1, vocab.size, size=n)
        rows.append(row)
    return rows


@pytest.mark.parametrize("style", TOKENIZER_STYLES)
def test_bridge_equals_the_tokenizer_on_decoded_missions(style: str, tokenizer_sources: dict[str, str]) -> None:
    vocab = suite_vocab()
    tokenizer = _tokenizer(tokenizer_sources[style])
    bridge = TokenBridge(vocab, tokenizer, max_tokens=256)
    rows = _random_rows(vocab, 200) + [mission_row(vocab, m) for m in MISSIONS] + [np.zeros(16, np.int64)]
    for row in rows:
        assert bridge.mission_ids(row) == tokenizer(vocab.decode(row))["input_ids"], vocab.decode(row)


@pytest.mark.parametrize("style", TOKENIZER_STYLES)
def test_bridge_equals_the_tokenizer_on_verbalised_facts(style: str, tokenizer_sources: dict[str, str]) -> None:
    vocab = suite_vocab()
    tokenizer = _tokenizer(tokenizer_sources[style])
    bridge = TokenBridge(vocab, tokenizer, max_tokens=512)
    block = facts_block(vocab, FACTS)
    text = verbalise_facts(block, vocab)
    assert text.startswith("apple is a fruit . banana is a fruit . ")
    assert bridge.facts_ids(block) == tokenizer(text)["input_ids"]


def test_bridge_truncates_like_the_tokenizer() -> None:
    vocab = suite_vocab()
    tokenizer = _tokenizer("minilm")
    bridge = TokenBridge(vocab, tokenizer, max_tokens=9)
    block = facts_block(vocab, FACTS)
    expected = tokenizer(verbalise_facts(block, vocab), truncation=True, max_length=9)["input_ids"]
    assert bridge.facts_ids(block) == expected and len(expected) == 9


def test_bridge_handles_a_standin_vocabulary_with_punctuation_and_phrases() -> None:
    vocab = Vocabulary([("is_a", "is a"), ("ice_cream", "ice-cream"), ("dont", "don't"), ("x", "x"), ("dot", ".")])
    tokenizer = _tokenizer("minilm")
    bridge = TokenBridge(vocab, tokenizer)
    for row in ([2, 3, 4, 5, 6, 1], [6, 6, 3], [1]):
        assert bridge.mission_ids(np.array(row)) == tokenizer(vocab.decode(row))["input_ids"]


def test_identity_bridge_passes_suite_ids_through() -> None:
    vocab = suite_vocab()
    bridge = TokenBridge(vocab, None)
    row = mission_row(vocab, "go to the apple")
    assert bridge.mission_ids(row) == [int(i) for i in row if i]
    with pytest.raises(FusionConfigError, match="needs a backbone with a tokenizer"):
        bridge.facts_ids(facts_block(vocab, FACTS))


def test_verbalised_facts_ignore_row_order_and_padding() -> None:
    vocab = suite_vocab()
    block = facts_block(vocab, FACTS)
    shuffled = np.zeros_like(block)
    shuffled[[5, 9, 0, 30, 12]] = block[:5]
    assert verbalise_facts(shuffled, vocab) == verbalise_facts(block, vocab)
    sorted_rows = sort_fact_rows(torch.as_tensor(np.stack([shuffled, block])))
    assert torch.equal(sorted_rows[0], sorted_rows[1])
    assert (sorted_rows[0, 5:] == 0).all()


def test_encoding_cache_is_an_lru_with_counters() -> None:
    cache = EncodingCache(max_entries=2)
    value = (torch.zeros(1), torch.zeros(1))
    assert cache.get(b"a") is None
    cache.put(b"a", value)
    cache.put(b"b", value)
    assert cache.get(b"a") is value  # a is now most recent
    cache.put(b"c", value)  # evicts b
    assert cache.get(b"b") is None and cache.get(b"c") is value
    assert (cache.hits, cache.misses, len(cache)) == (2, 2, 2)


def _backbone(family: str, sources: dict[str, str], mode: str = "frozen", **kwargs: Any) -> LanguageBackbone:
    tokenizer = {"bert": "minilm", "gpt2": "gpt2", "llama": "llama", "qwen2": "gpt2", "t5": "t5"}[family]
    config = FusionConfig(language={"config": TINY_LANGUAGE_CONFIGS[family], "tokenizer": sources[tokenizer],
                                    "mode": mode, **kwargs})
    torch.manual_seed(0)
    return LanguageBackbone.from_config(config, suite_vocab())


def _missions(vocab: Any, texts: list[str]) -> torch.Tensor:
    return torch.as_tensor(np.stack([mission_row(vocab, t) for t in texts]))


@pytest.mark.parametrize("family, kind", [("bert", "encoder"), ("gpt2", "decoder"), ("llama", "decoder"),
                                          ("qwen2", "decoder"), ("t5", "encoder_decoder")])
def test_backbone_families_give_pooled_and_token_outputs(family: str, kind: str,
                                                         tokenizer_sources: dict[str, str]) -> None:
    vocab = suite_vocab()
    backbone = _backbone(family, tokenizer_sources)
    assert backbone.kind == kind
    if family == "t5":
        assert type(backbone.model).__name__ == "T5EncoderModel"  # the encoder side only
    missions = _missions(vocab, ["go to the apple", "pick up the bronze key", "go to the apple"])
    out = backbone.encode_missions(missions)
    lengths = [len(backbone.bridge.mission_ids(r)) for r in missions.numpy()]
    assert out.pooled.shape == (3, 32)
    assert out.tokens.shape == (3, max(lengths), 32)
    assert out.mask.sum(1).tolist() == lengths
    # pooled = mean over the non-padding tokens
    for n in range(3):
        assert torch.allclose(out.pooled[n], out.tokens[n, :lengths[n]].mean(0), atol=1e-5)
    assert torch.equal(out.pooled[0], out.pooled[2])


@pytest.mark.parametrize("family", ["bert", "gpt2", "t5"])
def test_cached_encodings_equal_uncached_ones(family: str, tokenizer_sources: dict[str, str]) -> None:
    vocab = suite_vocab()
    cached = _backbone(family, tokenizer_sources)
    uncached = _backbone(family, tokenizer_sources, text_cache=False)
    missions = _missions(vocab, MISSIONS + MISSIONS[:2])
    cached.encode_missions(missions[:1])  # a cache entry computed in another batch (other padding)
    a, b = cached.encode_missions(missions), uncached.encode_missions(missions)
    assert torch.allclose(a.pooled, b.pooled, atol=1e-5)
    assert torch.allclose(a.tokens[a.mask], b.tokens[b.mask], atol=1e-5)


def test_frozen_cache_runs_the_backbone_once_per_distinct_mission(tokenizer_sources: dict[str, str]) -> None:
    vocab = suite_vocab()
    backbone = _backbone("bert", tokenizer_sources)
    missions = _missions(vocab, ["go to the apple", "defeat the troll", "go to the apple", "go to the apple"])
    backbone.encode_missions(missions)
    assert (backbone.cache.misses, backbone.cache.hits, backbone.backbone_calls, len(backbone.cache)) == (2, 0, 1, 2)
    for _ in range(3):
        backbone.encode_missions(missions)
    assert backbone.backbone_calls == 1  # no new forward pass
    assert backbone.cache.hits == 6 and backbone.cache.misses == 2
    backbone.encode_missions(_missions(vocab, ["open the red door", "defeat the troll"]))
    assert backbone.backbone_calls == 2 and backbone.cache.misses == 3 and backbone.cache.hits == 7


def test_frozen_backbone_stays_in_eval_mode_and_has_no_gradients(tokenizer_sources: dict[str, str]) -> None:
    backbone = _backbone("bert", tokenizer_sources)
    backbone.train()
    assert backbone.training and not backbone.model.training
    assert not any(p.requires_grad for p in backbone.parameters())


def test_verbalised_fact_cache_hits_for_shuffled_rows(tokenizer_sources: dict[str, str]) -> None:
    vocab = suite_vocab()
    backbone = _backbone("bert", tokenizer_sources)
    block = facts_block(vocab, FACTS)
    shuffled = block.copy()
    shuffled[[0, 1, 2, 3, 4]] = block[[4, 2, 0, 1, 3]]
    out = backbone.encode_facts(torch.as_tensor(np.stack([block, shuffled])))
    assert backbone.cache.misses == 1 and backbone.backbone_calls == 1
    assert torch.equal(out.pooled[0], out.pooled[1])


@pytest.mark.parametrize("family", ["bert", "gpt2", "llama", "t5"])
def test_lora_trains_only_adapters_and_encodes_each_distinct_row_once(family: str,
                                                                      tokenizer_sources: dict[str, str]) -> None:
    vocab = suite_vocab()
    backbone = _backbone(family, tokenizer_sources, mode="lora", lora={"rank": 2})
    trainable = [n for n, p in backbone.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n for n in trainable)
    seen: list[int] = []
    run = backbone.run
    backbone.run = lambda ids, mask, inputs_embeds=None: (seen.append(len(ids)), run(ids, mask))[1]  # type: ignore
    missions = _missions(vocab, ["go to the apple", "defeat the troll", "go to the apple", "defeat the troll"])
    out = backbone.encode_missions(missions)
    assert seen == [2]  # 4 rows, 2 distinct
    assert torch.equal(out.pooled[0], out.pooled[2])
    out.pooled.sum().backward()
    grads = [p.grad for n, p in backbone.named_parameters() if "lora_B" in n]
    assert grads and all(g is not None for g in grads)
    assert backbone.cache.hits == 0  # no cross-step cache while weights change


def test_full_fine_tuning_trains_every_weight(tokenizer_sources: dict[str, str]) -> None:
    vocab = suite_vocab()
    backbone = _backbone("gpt2", tokenizer_sources, mode="full")
    assert all(p.requires_grad for p in backbone.parameters())
    out = backbone.encode_missions(_missions(vocab, ["go to the apple"]))
    out.pooled.sum().backward()
    assert backbone.model.get_input_embeddings().weight.grad is not None


def test_identity_bridge_backbone_uses_the_suite_vocabulary_size() -> None:
    vocab = suite_vocab()
    config = FusionConfig(language={"config": TINY_LANGUAGE_CONFIGS["llama"]})
    backbone = LanguageBackbone.from_config(config, vocab)
    assert backbone.model.config.vocab_size == vocab.size
    assert backbone.encode_missions(_missions(vocab, ["go to the apple"])).tokens.shape == (1, 4, 32)
    with pytest.raises(FusionConfigError, match="smaller than the suite vocabulary"):
        LanguageBackbone.from_config(FusionConfig(language={"config": {**TINY_LANGUAGE_CONFIGS["llama"],
                                                                       "vocab_size": 10}}), vocab)


@pytest.fixture(scope="module")
def minilm() -> LanguageBackbone:
    return LanguageBackbone.from_config(FusionConfig(), suite_vocab())


def test_packaged_minilm_loads_offline_and_understands_paraphrases(minilm: LanguageBackbone) -> None:
    vocab = suite_vocab()
    assert minilm.pretrained and minilm.kind == "encoder" and minilm.hidden_size == 384
    assert Path(resolve_source("minilm")[0], "model.safetensors").is_file()
    out = minilm.encode_missions(_missions(vocab, ["go to the apple", "walk to the apple", "defeat the troll"]))
    sims = torch.nn.functional.cosine_similarity(out.pooled[0:1], out.pooled[1:], dim=-1)
    assert sims[0] > sims[1] + 0.2  # a paraphrase is much closer than another task


def test_packaged_minilm_bridge_matches_its_tokenizer(minilm: LanguageBackbone) -> None:
    vocab = suite_vocab()
    for row in _random_rows(vocab, 50, seed=1):
        assert minilm.bridge.mission_ids(row) == minilm.bridge.tokenizer(vocab.decode(row))["input_ids"]


def test_a_frozen_pretrained_backbone_is_named_not_copied_in_its_state_dict(minilm: LanguageBackbone) -> None:
    state = minilm.state_dict()
    assert list(state) == ["source_sha256"] and minilm.source == "minilm"
    assert bytes(state["source_sha256"].tolist()).hex() == minilm.source_sha256 == minilm.weights_sha256()
    weight = next(minilm.model.parameters())
    before = weight.data[0, 0].item()
    try:  # weights that no longer are the source's are copied, never named
        weight.data[0, 0] += 1.0
        assert not minilm.saved_by_reference() and "source_sha256" not in minilm.state_dict()
        assert len(minilm.state_dict()) == len(minilm.model.state_dict())
    finally:
        weight.data[0, 0] = before
    assert minilm.saved_by_reference()
    config = FusionConfig(language={"config": TINY_LANGUAGE_CONFIGS["bert"]})
    built = LanguageBackbone.from_config(config, suite_vocab())
    assert built.source is None and not built.saved_by_reference() and "source_sha256" not in built.state_dict()


def test_a_state_dict_with_part_of_a_named_backbone_is_still_incomplete(minilm: LanguageBackbone) -> None:
    full = {f"model.{k}": v for k, v in minilm.model.state_dict().items()}
    assert not minilm.load_state_dict(full).missing_keys  # a copy of the weights loads as before
    assert not minilm.load_state_dict(minilm.state_dict()).missing_keys  # so does the reference
    part = dict(list(full.items())[:5])
    missing = minilm.load_state_dict(part, strict=False).missing_keys
    assert len(missing) == len(full) - 5
