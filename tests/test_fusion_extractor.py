"""FusionExtractor: every vision × knowledge × fusion combination, each backbone family in the fusion blocks,
image layouts, gradients, the real MiniLM default, and SB3's ortho-init kept off pretrained weights."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest
import torch
from stable_baselines3.common.preprocessing import preprocess_obs

from fusion_testing import TINY_BERT, TINY_LANGUAGE_CONFIGS, fusion_space, obs_batch, save_tiny_tokenizer, suite_vocab
from fusiongym.fusion.blocks import LLMPrefixFusion
from fusiongym.fusion.config import FusionConfig
from fusiongym.fusion.extractor import FusionExtractor

torch.set_num_threads(1)

SMALL = {"vision": {"cnn_channels": (8, 8, 8), "vit_config": dict(hidden_size=32, num_hidden_layers=1,
                                                                  num_attention_heads=2, intermediate_size=32)},
         "knowledge": {"dim": 16}, "block": {"features_dim": 48, "hidden_dim": 32}}
TINY_LANGUAGE = {"config": TINY_BERT, "tokenizer": "minilm"}


def small(**sections: dict[str, Any]) -> FusionConfig:
    """A small config: SMALL with ``sections``' fields over it."""
    return FusionConfig.from_dict(SMALL).replace(**sections)


def _batch(vocab: Any, batch: int = 5, channels_first: bool = True, seed: int = 0) -> dict[str, torch.Tensor]:
    raw = obs_batch(vocab, batch, seed=seed)
    if channels_first:
        raw["image"] = raw["image"].transpose(0, 3, 1, 2)
    space = fusion_space(vocab.size, (3, 56, 56) if channels_first else (56, 56, 3))
    obs = {k: torch.as_tensor(v) for k, v in raw.items()}
    return preprocess_obs(obs, space)  # what SB3 hands the extractor: images / 255, ids as floats


@pytest.mark.parametrize("vision, knowledge, fusion", list(itertools.product(
    ["tiles", "cnn", "vit"], ["none", "transe", "rotate", "verbalised"],
    ["concat", "film", "cross_attention", "llm_prefix"])))
def test_every_combination_gives_features_of_the_right_shape(vision: str, knowledge: str, fusion: str) -> None:
    vocab = suite_vocab()
    config = small(vision={"encoder": vision}, knowledge={"encoder": knowledge}, block={"kind": fusion},
                   language=TINY_LANGUAGE)
    torch.manual_seed(0)
    extractor = FusionExtractor(fusion_space(vocab.size, (3, 56, 56)), config, vocab=vocab)
    obs = _batch(vocab)
    features = extractor(obs)
    assert features.shape == (5, 48)
    assert torch.isfinite(features).all()
    features.sum().backward()
    vision_grads = [p.grad for p in extractor.vision.parameters() if p.requires_grad]
    assert any(g is not None and g.abs().sum() > 0 for g in vision_grads)
    if knowledge in ("transe", "rotate"):
        assert extractor.knowledge.entity.weight.grad is not None  # type: ignore[union-attr]


@pytest.mark.parametrize("fusion", ["concat", "film", "cross_attention", "llm_prefix"])
def test_text_entity_embeddings_come_from_the_backbone_and_train_their_map(fusion: str) -> None:
    vocab = suite_vocab()
    config = small(block={"kind": fusion}, language=TINY_LANGUAGE,
                   knowledge={"entity_embeddings": "text", "text_retrieval": fusion != "llm_prefix",
                              "fact_grouping": "entities"})
    torch.manual_seed(0)
    extractor = FusionExtractor(fusion_space(vocab.size, (3, 56, 56)), config, vocab=vocab)
    words = extractor.language.encode_words()  # type: ignore[union-attr]
    table = extractor.knowledge.entity.text  # type: ignore[union-attr]
    assert torch.allclose(table[1:], torch.nn.functional.normalize(words[1:] - words[1:].mean(0), dim=-1))
    features = extractor(_batch(vocab))
    assert features.shape == (5, 48) and torch.isfinite(features).all()
    features.sum().backward()
    assert extractor.knowledge.entity.proj.weight.grad.abs().sum() > 0  # type: ignore[union-attr]
    if config.knowledge.text_retrieval:
        assert extractor.knowledge.retrieval_log_scale.grad is not None  # type: ignore[union-attr]


@pytest.fixture(scope="module")
def tokenizers(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    vocab = suite_vocab()
    root = tmp_path_factory.mktemp("tok")
    return {"bert": "minilm", "gpt2": save_tiny_tokenizer(root / "gpt2", "gpt2", vocab),
            "llama": save_tiny_tokenizer(root / "llama", "llama", vocab),
            "qwen2": str(root / "gpt2"), "t5": save_tiny_tokenizer(root / "t5", "t5", vocab)}


@pytest.mark.parametrize("family, fusion", list(itertools.product(
    ["gpt2", "llama", "qwen2", "t5"], ["cross_attention", "llm_prefix"])))
def test_backbone_families_drive_the_fusion_blocks(family: str, fusion: str, tokenizers: dict[str, str]) -> None:
    vocab = suite_vocab()
    config = small(block={"kind": fusion}, knowledge={"encoder": "verbalised" if fusion == "llm_prefix" else "transe"},
                   language={"config": TINY_LANGUAGE_CONFIGS[family], "tokenizer": tokenizers[family], "mode": "lora",
                             "lora": {"rank": 2}})
    torch.manual_seed(0)
    extractor = FusionExtractor(fusion_space(vocab.size, (3, 56, 56)), config, vocab=vocab)
    features = extractor(_batch(vocab, 3))
    assert features.shape == (3, 48)
    features.sum().backward()
    lora = [p for n, p in extractor.language.named_parameters() if "lora_B" in n]  # type: ignore[union-attr]
    assert lora and all(p.grad is not None for p in lora)
    if fusion == "llm_prefix":
        assert extractor.fusion.pooling == ("mean" if family == "t5" else "last")  # type: ignore[union-attr]


def test_llm_prefix_puts_soft_tokens_before_the_instruction() -> None:
    vocab = suite_vocab()
    config = small(block={"kind": "llm_prefix", "prefix_grid": 2}, knowledge={"encoder": "transe"},
                   language=TINY_LANGUAGE)
    extractor = FusionExtractor(fusion_space(vocab.size, (3, 56, 56)), config, vocab=vocab)
    seen: dict[str, torch.Tensor] = {}
    backbone = extractor.language
    assert backbone is not None and isinstance(extractor.fusion, LLMPrefixFusion)
    run = backbone.run

    def spy(ids: Any, mask: torch.Tensor, inputs_embeds: torch.Tensor | None = None) -> torch.Tensor:
        if inputs_embeds is not None:
            seen["embeds"], seen["mask"] = inputs_embeds, mask
        return run(ids, mask, inputs_embeds=inputs_embeds)

    backbone.run = spy  # type: ignore[method-assign]
    obs = _batch(vocab, 2)
    extractor(obs)
    embed = backbone.input_embeddings()
    row = obs["mission"][0].long().numpy()
    instruction = backbone.bridge.mission_ids(row)
    # [CLS] + 4 visual + 32 fact slots + instruction tokens (+ [SEP])
    assert torch.allclose(seen["embeds"][0, 0], embed.weight[instruction[0]])
    start = 1 + 4 + 32
    body = torch.tensor(instruction[1:])
    assert torch.allclose(seen["embeds"][0, start:start + len(body)], embed(body))
    assert seen["mask"][0, 5:37].sum() == (obs["facts"][0].abs().sum(-1) > 0).sum()


def test_channel_first_and_channel_last_images_give_the_same_features() -> None:
    vocab = suite_vocab()
    config = small(language={"backbone": "none"}, block={"kind": "cross_attention"})
    torch.manual_seed(0)
    first = FusionExtractor(fusion_space(vocab.size, (3, 56, 56)), config, vocab=vocab)
    last = FusionExtractor(fusion_space(vocab.size, (56, 56, 3)), config, vocab=vocab)
    last.load_state_dict(first.state_dict())
    assert torch.allclose(first(_batch(vocab, 3, True)), last(_batch(vocab, 3, False)), atol=1e-6)


def test_features_depend_on_instruction_facts_and_image() -> None:
    vocab = suite_vocab()
    torch.manual_seed(0)
    extractor = FusionExtractor(fusion_space(vocab.size, (3, 56, 56)),
                                small(language=TINY_LANGUAGE), vocab=vocab)
    obs = _batch(vocab, 1)
    base = extractor(obs)
    for key, change in [("mission", lambda x: torch.flip(x, (-1,))), ("facts", torch.zeros_like),
                        ("image", lambda x: 1 - x)]:
        other = dict(obs)
        other[key] = change(obs[key])
        assert not torch.allclose(extractor(other), base), key


def test_empty_missions_and_no_facts_stay_finite() -> None:
    vocab = suite_vocab()
    obs = _batch(vocab, 2)
    obs["mission"] = torch.zeros_like(obs["mission"])
    obs["facts"] = torch.zeros_like(obs["facts"])
    for fusion in ("concat", "film", "cross_attention", "llm_prefix"):
        config = small(block={"kind": fusion}, knowledge={"encoder": "verbalised"}, language=TINY_LANGUAGE)
        extractor = FusionExtractor(fusion_space(vocab.size, (3, 56, 56)), config, vocab=vocab)
        assert torch.isfinite(extractor(obs)).all(), fusion


def test_default_config_uses_the_packaged_minilm_and_survives_sb3_ortho_init() -> None:
    from stable_baselines3 import PPO

    from fusion_testing import SyntheticFusionEnv

    vocab = suite_vocab()
    env = SyntheticFusionEnv(vocab)
    model = PPO("MultiInputPolicy", env, n_steps=16, batch_size=16, seed=0,
                policy_kwargs=dict(features_extractor_class=FusionExtractor,
                                   features_extractor_kwargs=dict(config=FusionConfig(), vocab=vocab)))
    extractor = model.policy.features_extractor
    assert extractor.language.pretrained and extractor.language.hidden_size == 384
    from safetensors.torch import load_file

    from fusiongym.fusion.backbones import resolve_source

    original = load_file(str(Path(resolve_source("minilm")[0]) / "model.safetensors"))
    weights = extractor.language.model.state_dict()
    query = next(k for k in weights if k.endswith("layer.0.attention.self.query.weight"))
    assert torch.equal(weights[query], original[next(k for k in original if k.endswith(query))])
    # SB3 did re-initialise our own layers (ortho_init), just not the pretrained backbone
    assert extractor.fusion.out[0].bias.abs().sum() == 0
    obs, _ = env.reset(seed=0)
    action, _ = model.predict(obs, deterministic=True)
    assert env.action_space.contains(int(action))


@pytest.mark.parametrize("fusion", ["concat", "film", "cross_attention"])
def test_features_say_where_in_the_view_a_thing_is(fusion: str) -> None:
    """The same content at two places of the view gives two different features (a grid mean would not: an
    egocentric policy must tell "ahead" from "to the left")."""
    from fusiongym.fusion.blocks import ConcatFusion, CrossAttentionFusion, FiLMFusion
    from fusiongym.fusion.vision import VisionOutput

    torch.manual_seed(0)
    block = {"concat": lambda: ConcatFusion(4, 0, 0, 16, 8, grid=7),
             "film": lambda: FiLMFusion(4, 0, 16, 8, grid=7, layers=1, kernel=0),
             "cross_attention": lambda: CrossAttentionFusion(4, 49, 0, 0, 16, 2, 8)}[fusion]()
    maps = torch.zeros(2, 4, 7, 7)
    maps[0, :, 0, 0] = 1.0  # top-left of the view
    maps[1, :, 6, 3] = 1.0  # just ahead of the agent
    vision = VisionOutput(pooled=maps.mean((2, 3)), tokens=maps.flatten(2).transpose(1, 2), maps=maps)
    assert torch.equal(vision.pooled[0], vision.pooled[1])
    features = block(vision, None, None)
    assert not torch.allclose(features[0], features[1])


@pytest.mark.parametrize("fusion", ["concat", "film"])
def test_features_stay_bounded_however_large_the_maps_and_weights_grow(fusion: str) -> None:
    """Unbounded features saturate the policy MLP's tanh units, and PPO's policy collapses to one fixed action
    distribution (seen on GoTo: features past 100, the same action probabilities for every observation)."""
    from fusiongym.fusion.blocks import ConcatFusion, FiLMFusion
    from fusiongym.fusion.language import TextOutput
    from fusiongym.fusion.vision import VisionOutput

    torch.manual_seed(0)
    block = (ConcatFusion(8, 12, 0, 16, 32, grid=7) if fusion == "concat"
             else FiLMFusion(8, 12, 16, 32, grid=7, layers=2, kernel=1))
    with torch.no_grad():
        for parameter in block.parameters():
            if parameter.dim() > 1:
                parameter.mul_(50.0)
    maps = torch.rand(4, 8, 7, 7) * 100
    vision = VisionOutput(pooled=maps.mean((2, 3)), tokens=maps.flatten(2).transpose(1, 2), maps=maps)
    pooled = torch.randn(4, 12) * 10
    language = TextOutput(pooled, pooled[:, None], torch.ones(4, 1, dtype=torch.bool))
    features = block(vision, language, None)
    assert features.abs().max() <= 32 ** 0.5 + 1e-4  # LayerNorm then ReLU: at most sqrt(features_dim)


@pytest.mark.parametrize("kernel", [0, 1, 3])
def test_film_starts_as_the_identity_modulation_and_the_condition_then_changes_the_features(kernel: int) -> None:
    from fusiongym.fusion.blocks import FiLMFusion
    from fusiongym.fusion.language import TextOutput
    from fusiongym.fusion.vision import VisionOutput

    torch.manual_seed(0)
    block = FiLMFusion(8, 12, 16, 32, grid=7, layers=2, kernel=kernel)
    maps = torch.rand(2, 8, 7, 7)
    vision = VisionOutput(pooled=maps.mean((2, 3)), tokens=maps.flatten(2).transpose(1, 2), maps=maps)
    pooled = torch.randn(2, 12)
    language = TextOutput(pooled, pooled[:, None], torch.ones(2, 1, dtype=torch.bool))
    cond = block.cond(pooled)
    for layer in block.layers:  # scale 1, shift 0 at the start: the maps pass as with no condition
        assert torch.equal(layer.film(cond), torch.zeros(2, 16))
    with torch.no_grad():
        for layer in block.layers:
            layer.film.weight.normal_()
    swapped = TextOutput(pooled.flip(0), pooled.flip(0)[:, None], torch.ones(2, 1, dtype=torch.bool))
    features, other = block(vision, language, None), block(vision, swapped, None)
    assert features.shape == (2, 32) and not torch.allclose(features, other)


def test_goal_maps_mark_the_tiles_whose_vector_matches_the_conditioned_target() -> None:
    """A match channel is the dot product of each tile's vector with a target the condition predicts: it peaks
    where the view holds that target, and a different condition moves the peak."""
    from fusiongym.fusion.blocks import FiLMFusion
    from fusiongym.fusion.language import TextOutput
    from fusiongym.fusion.vision import VisionOutput

    torch.manual_seed(0)
    block = FiLMFusion(4, 2, 8, 16, grid=7, layers=1, kernel=0, goal_maps=1)
    with torch.no_grad():  # the condition is the identity on its 2 inputs; the target is [c0, c1, 0, 0]
        block.cond[0].weight.fill_(1.0), block.cond[0].bias.zero_()
        block.cond[1].weight.zero_(), block.cond[1].bias.zero_()
        block.cond[1].weight[0, 0], block.cond[1].weight[1, 1] = 1.0, 1.0
        block.goal.weight.zero_(), block.goal.bias.zero_()
        block.goal.weight[0, 0], block.goal.weight[1, 1] = 1.0, 1.0
    maps = torch.zeros(2, 4, 7, 7)
    maps[:, 0, 1, 2] = 1.0  # a thing of type 0 at (1, 2), one of type 1 at (5, 3)
    maps[:, 1, 5, 3] = 1.0
    vision = VisionOutput(pooled=maps.mean((2, 3)), tokens=maps.flatten(2).transpose(1, 2), maps=maps)
    seen: list[torch.Tensor] = []
    block.readout.register_forward_hook(lambda module, inputs, output: seen.append(inputs[0]))
    pooled = torch.tensor([[1.0, -1.0], [-1.0, 1.0]])  # asks for type 0, then for type 1
    block(vision, TextOutput(pooled, pooled[:, None], torch.ones(2, 1, dtype=torch.bool)), None)
    match = seen[0][:, -1]
    assert seen[0].shape == (2, 5, 7, 7)
    assert divmod(int(match[0].argmax()), 7) == (1, 2) and divmod(int(match[1].argmax()), 7) == (5, 3)


def test_the_deliberate_inits_survive_sb3s_orthogonal_reinitialisation() -> None:
    """SB3's PPO re-initialises every Linear of a features extractor (ortho_init); FiLM must still start as the
    identity and the instruction / knowledge paths almost silent (before the fix, SB3 overwrote both: on a level
    that needs no language the fusion policy learned far slower than the vision-only one)."""
    from fusiongym.agents import make_agent
    from fusiongym.agents.sb3_vec_env import FusionSB3VecEnv
    from fusiongym.fusion.blocks import CrossAttentionFusion, FiLMFusion

    venv = FusionSB3VecEnv("fusiongym/GoTo-v1", num_envs=2, seed=0)
    for block, kind in (("film", FiLMFusion), ("cross_attention", CrossAttentionFusion)):
        model = make_agent("ppo", venv, policy="fusion", fusion=FusionConfig(block={"kind": block},
                                                                                  language={"config": TINY_BERT}),
                           seed=0, device="cpu")
        fusion = model.policy.features_extractor.fusion
        assert isinstance(fusion, kind)
        if block == "film":
            assert all(float(layer.film.weight.abs().sum()) == 0.0 for layer in fusion.layers)
        weight = fusion.out[0].weight.detach()
        vision, rest = weight[:, :fusion.vision_columns].abs().mean(), weight[:, fusion.vision_columns:].abs().mean()
        assert float(rest) < 0.05 * float(vision)
        fusion.apply(lambda module: None)  # an ordinary apply leaves trained weights alone
        assert torch.equal(fusion.out[0].weight.detach(), weight)
