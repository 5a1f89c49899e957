"""Knowledge encoders: TransE / RotatE operators, masking, instruction-conditioned pooling, verbalised facts,
link-prediction pretraining."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch

from fusion_testing import FACTS, TINY_BERT, facts_block, suite_vocab
from fusiongym.fusion.config import FusionConfig
from fusiongym.fusion.knowledge import (
    ONTOLOGY_RELATIONS,
    TextEntityEmbedding,
    TripleEncoder,
    VerbalisedFactsEncoder,
    attention_pool,
    hold_out_triples,
    link_prediction_metrics,
    ontology_triples,
    pretrain_link_prediction,
)
from fusiongym.fusion.language import LanguageBackbone

torch.set_num_threads(1)


def _facts(vocab, triples, batch: int = 1) -> torch.Tensor:
    return torch.as_tensor(np.stack([facts_block(vocab, triples)] * batch))


def test_transe_operator_is_h_plus_r_minus_t() -> None:
    encoder = TripleEncoder(50, 8, 16, "transe")
    h, r, t = torch.tensor([3]), torch.tensor([7]), torch.tensor([9])
    expected = encoder.entity.weight[3] + encoder.relation.weight[7] - encoder.entity.weight[9]
    assert torch.allclose(encoder.relation_operator(h, r, t)[0], expected)
    assert torch.allclose(encoder.score(h, r, t), -expected.norm().unsqueeze(0))


def test_rotate_operator_is_a_rotation_in_complex_space() -> None:
    encoder = TripleEncoder(50, 8, 16, "rotate")
    h, r, t = torch.tensor([3]), torch.tensor([7]), torch.tensor([9])
    hc = torch.complex(*encoder.entity.weight[3].chunk(2))
    tc = torch.complex(*encoder.entity.weight[9].chunk(2))
    rc = torch.polar(torch.ones(4), encoder.relation.weight[7])
    expected = hc * rc - tc
    assert torch.allclose(encoder.relation_operator(h, r, t)[0], torch.cat([expected.real, expected.imag]), atol=1e-6)
    # the relation only rotates: |h ∘ r| == |h|
    assert torch.allclose((hc * rc).abs(), hc.abs(), atol=1e-6)
    all_tails = encoder.score_all_tails(h, r)
    assert torch.allclose(all_tails[0, 9], encoder.score(h, r, t)[0], atol=1e-5)


@pytest.mark.parametrize("operator", ["transe", "rotate"])
def test_triple_encoder_masks_padding_and_ignores_row_order(operator: str) -> None:
    vocab = suite_vocab()
    encoder = TripleEncoder(vocab.size, 8, 16, operator, query_dim=6)
    facts = _facts(vocab, FACTS[:3], batch=2)
    facts[1] = facts[1][[2, 0, 1] + list(range(3, facts.shape[1]))]  # same facts, other rows
    query = torch.randn(1, 6).expand(2, -1)
    out = encoder(facts, query)
    assert out.tokens.shape == (2, 32, 16) and out.pooled.shape == (2, 16)
    assert out.mask.sum(1).tolist() == [3, 3]
    assert torch.allclose(out.pooled[0], out.pooled[1], atol=1e-6)
    empty = encoder(torch.zeros(1, 32, 3, dtype=torch.long), query[:1])
    assert torch.equal(empty.pooled, torch.zeros(1, 16)) and not empty.mask.any()


@pytest.mark.parametrize("operator", ["transe", "rotate"])
def test_each_distinct_triple_is_encoded_once_and_gives_what_a_per_fact_pass_gives(operator: str) -> None:
    vocab = suite_vocab()
    encoder = TripleEncoder(vocab.size, 8, 16, operator)
    facts = _facts(vocab, FACTS[:4], batch=3)
    facts[2] = torch.as_tensor(facts_block(vocab, FACTS[2:]))  # shares two facts with the other rows
    out = encoder(facts)
    flat = facts.reshape(-1, 3)
    h, t = encoder.entity(flat[:, 0]), encoder.entity(flat[:, 2])
    op = encoder._operate(h, encoder.relation(flat[:, 1]), t)
    expected = encoder.fact_mlp(torch.cat([h, t, op], -1)).reshape(3, 32, 16)
    assert torch.allclose(out.tokens, expected, atol=1e-6)
    calls = []
    encoder.fact_mlp.register_forward_hook(lambda module, args, output: calls.append(args[0].shape[0]))
    encoder(facts)
    assert calls == [len({tuple(row) for row in flat.tolist()})] == [5 + 1]  # 5 facts and the padding row
    # gradients reach the embeddings of every fact, as in the per-fact pass
    out.pooled.sum().backward()
    assert encoder.entity.weight.grad[facts[..., 0].unique()[1:]].abs().sum(-1).gt(0).all()


def test_pooling_query_is_conditioned_on_the_instruction() -> None:
    vocab = suite_vocab()
    torch.manual_seed(0)
    encoder = TripleEncoder(vocab.size, 8, 16, "transe", query_dim=6)
    facts = _facts(vocab, FACTS, batch=2)
    out = encoder(facts, torch.randn(2, 6) * 5)
    assert not torch.allclose(out.pooled[0], out.pooled[1])


def test_a_second_hop_starts_as_one_read_and_is_queried_by_what_the_first_read_returned() -> None:
    vocab = suite_vocab()
    torch.manual_seed(0)
    one = TripleEncoder(vocab.size, 8, 16, "transe", query_dim=6, grouping="records")
    torch.manual_seed(0)
    two = TripleEncoder(vocab.size, 8, 16, "transe", query_dim=6, grouping="records", hops=2)
    facts, query = _facts(vocab, FACTS, batch=2), torch.randn(2, 6) * 5
    for module in two.modules():  # what SB3's ortho_init does to every Linear; FusionExtractor then restores
        if isinstance(module, torch.nn.Linear):
            torch.nn.init.orthogonal_(module.weight)
    two.load_state_dict({**two.state_dict(), **one.state_dict()})
    two.restore_init()
    assert torch.allclose(two(facts, query).pooled, one(facts, query).pooled, atol=1e-6)  # one hop's behaviour
    out = two(facts, query).pooled.sum()
    out.backward()
    assert two.hop_out.weight.grad[:, 16:].abs().sum() > 0  # the second read reaches the output once trained
    with torch.no_grad():
        two.hop_out.weight[:, 16:].normal_()
    before = two(facts, query).pooled
    with torch.no_grad():
        two.hop_query[0].weight.normal_()  # the second query follows the first read
    assert not torch.allclose(two(facts, query).pooled, before)
    with pytest.raises(ValueError, match="hops"):
        TripleEncoder(vocab.size, 8, 16, hops=0)
    with pytest.raises(Exception, match=r"knowledge\.hops"):
        FusionConfig(knowledge={"hops": 0})


def test_attention_pool_weights_only_valid_tokens() -> None:
    tokens = torch.tensor([[[1.0, 0.0], [0.0, 1.0], [100.0, 100.0]]])
    mask = torch.tensor([[True, True, False]])
    pooled = attention_pool(tokens, mask, torch.zeros(1, 2))
    assert torch.allclose(pooled, torch.tensor([[0.5, 0.5]]))


def test_verbalised_facts_encoder_uses_the_backbone_cache() -> None:
    vocab = suite_vocab()
    backbone = LanguageBackbone.from_config(FusionConfig(language={"config": TINY_BERT, "tokenizer": "minilm"}), vocab)
    encoder = VerbalisedFactsEncoder(backbone, 16)
    facts = torch.cat([_facts(vocab, FACTS, 2), torch.zeros(1, 32, 3, dtype=torch.long)])
    out = encoder(facts)
    assert out.pooled.shape == (3, 16)
    assert out.mask[0].sum() == len(backbone.bridge.facts_ids(facts[0].numpy()))
    assert not out.mask[2].any() and torch.equal(out.pooled[2], torch.zeros(16))  # no facts -> nothing
    encoder(facts)
    assert backbone.cache.hits == 2 and backbone.backbone_calls == 1


@pytest.mark.parametrize("operator", ["transe", "rotate"])
def test_link_prediction_pretraining_learns_a_toy_graph(operator: str) -> None:
    # 24 items, each is_a one of 4 categories and has_colour one of 3 colours (N-to-1 relations)
    items, categories, colours = np.arange(2, 26), np.arange(26, 30), np.arange(30, 33)
    is_a, has_colour = 40, 41
    triples = np.array([(h, is_a, categories[n % 4]) for n, h in enumerate(items)]
                       + [(h, has_colour, colours[n % 3]) for n, h in enumerate(items)])
    candidates = np.arange(2, 33)
    torch.manual_seed(0)
    encoder = TripleEncoder(50, 16, 16, operator)
    before = link_prediction_metrics(encoder, triples, candidates)
    after = pretrain_link_prediction(encoder, triples, candidates, epochs=200, lr=0.05, batch_size=16)
    assert before["mrr"] < 0.5
    assert after["mrr"] > 0.9 and after["hits@10"] == 1.0


def test_ontology_triples_state_each_kinds_category_and_look_per_split() -> None:
    from fusiongym.envs.ontology import load_ontology

    vocab, kinds = suite_vocab(), load_ontology().kinds
    train, test = ontology_triples("train"), ontology_triples("test")
    assert len(train) == 4 * sum(k.split == "train" for k in kinds)
    assert len(test) == 4 * sum(k.split == "test" for k in kinds)
    assert not set(train[:, 0]) & set(test[:, 0])  # held-out kinds stay out of the train split's triples
    apple = {vocab.token(int(r)): vocab.token(int(t)) for h, r, t in train if vocab.token(int(h)) == "apple"}
    kind = next(k for k in kinds if k.name == "apple")
    assert apple == dict(zip(ONTOLOGY_RELATIONS, (kind.category, kind.shape, kind.colour, kind.material), strict=True))
    assert len(ontology_triples(None)) == len(train) + len(test)
    with pytest.raises(ValueError, match="choose one of train, test"):
        ontology_triples("validation")


def test_held_out_triples_only_rank_entities_training_saw() -> None:
    triples = ontology_triples("train")
    train, held = hold_out_triples(triples, 0.2, seed=0)
    assert len(held) == round(0.2 * len(triples)) and len(train) + len(held) == len(triples)
    assert sorted(map(tuple, np.concatenate([train, held]).tolist())) == sorted(map(tuple, triples.tolist()))
    seen = set(train[:, [0, 2]].ravel().tolist())
    assert set(held[:, [0, 2]].ravel().tolist()) <= seen
    assert np.array_equal(hold_out_triples(triples, 0.2, seed=0)[1], held)
    assert not np.array_equal(hold_out_triples(triples, 0.2, seed=1)[1], held)
    # entity 5 is the only one in two triples of which either may go: never both, nor any other
    small = np.array([(1, 10, 5), (1, 11, 7), (2, 10, 5), (2, 11, 8)])
    for seed in range(10):
        small_train, small_held = hold_out_triples(small, 0.5, seed=seed)
        assert small_held.tolist() in ([[1, 10, 5]], [[2, 10, 5]])
        assert set(small_train[:, [0, 2]].ravel().tolist()) == {1, 2, 5, 7, 8}


def test_link_prediction_script_ranks_held_out_triples_better_after_pretraining(capsys) -> None:
    script = Path(__file__).resolve().parents[1] / "benchmarks" / "link_prediction.py"
    spec = importlib.util.spec_from_file_location("link_prediction", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    results = module.main(["--epochs", "30"])
    out = capsys.readouterr().out
    torch.set_num_threads(1)
    before, after = results["untrained"]["held_out"], results["pretrained"]["held_out"]
    assert results["held_out_triples"] == 35 and results["candidates"] == 78
    assert after["mrr"] > 2 * before["mrr"] and after["hits@10"] > before["hits@10"] + 0.3, (before, after)
    assert results["pretrained"]["train"]["mrr"] > results["untrained"]["train"]["mrr"] + 0.3
    assert set(results["held_out_by_relation"]) == set(ONTOLOGY_RELATIONS)
    assert "held out   pretrained" in out and "python benchmarks/link_prediction.py" in out


def test_entity_grouping_gives_every_fact_its_subjects_whole_record() -> None:
    vocab = suite_vocab()
    triples = [("apple", "is_a", "fruit"), ("axe", "made_of", "metal"), ("apple", "has_colour", "red")]
    facts = _facts(vocab, triples)
    by_fact = TripleEncoder(vocab.size, 8, 16, "transe")
    by_entity = TripleEncoder(vocab.size, 8, 16, "transe", grouping="entities")
    by_entity.load_state_dict(by_fact.state_dict())
    single, grouped = by_fact(facts).tokens[0], by_entity(facts).tokens[0]
    apple = single[0] + single[2]
    assert torch.allclose(grouped[0], apple, atol=1e-6) and torch.allclose(grouped[2], apple, atol=1e-6)
    assert torch.allclose(grouped[1], single[1], atol=1e-6)
    assert torch.equal(grouped[3:], torch.zeros_like(grouped[3:]))  # padding rows stay empty
    with pytest.raises(ValueError, match="choose one of facts, entities, records"):
        TripleEncoder(vocab.size, 8, 16, grouping="subjects")


def test_records_add_each_facts_relation_object_binding_to_its_subjects_record() -> None:
    vocab = suite_vocab()
    triples = [("apple", "is_a", "fruit"), ("axe", "made_of", "metal"), ("apple", "has_colour", "red")]
    facts = _facts(vocab, triples)
    by_entity = TripleEncoder(vocab.size, 8, 16, "transe", grouping="entities")
    by_record = TripleEncoder(vocab.size, 8, 16, "transe", grouping="records")
    missing = by_record.load_state_dict(by_entity.state_dict(), strict=False).missing_keys
    assert sorted(missing) == ["binding.bias", "binding.weight", "role.weight"]

    def binding(relation: str, tail: str) -> torch.Tensor:
        role = by_record.role(torch.tensor(vocab.id(relation)))
        filler = by_record.entity(torch.tensor(vocab.id(tail)))
        return by_record.binding(torch.outer(role, filler).flatten())

    plain, bound = by_entity(facts).tokens[0], by_record(facts).tokens[0]
    apple = plain[0] + binding("is_a", "fruit") + binding("has_colour", "red")
    assert torch.allclose(bound[0], apple, atol=1e-5) and torch.allclose(bound[2], apple, atol=1e-5)
    assert torch.allclose(bound[1], plain[1] + binding("made_of", "metal"), atol=1e-5)
    assert torch.equal(bound[3:], torch.zeros_like(bound[3:]))


def test_backbone_word_encodings_are_each_word_encoded_alone() -> None:
    vocab = suite_vocab()
    backbone = LanguageBackbone.from_config(FusionConfig(language={"config": TINY_BERT, "tokenizer": "minilm"}), vocab)
    words = backbone.encode_words()
    assert words.shape == (vocab.size, backbone.hidden_size) and torch.equal(words[0], torch.zeros_like(words[0]))
    apple = vocab.id("apple")
    alone = backbone.encode_missions(torch.tensor([[apple] + [0] * 7])).pooled[0]
    assert torch.allclose(words[apple], alone, atol=1e-5)
    assert backbone.backbone_calls == 1 and backbone.cache.misses == 1  # the table is not a per-step encoding


@pytest.mark.parametrize("operator", ["transe", "rotate"])
def test_text_entity_embeddings_give_unseen_entities_trained_vectors(operator: str) -> None:
    vocab = suite_vocab()
    torch.manual_seed(0)
    text = torch.randn(vocab.size, 12)
    encoder = TripleEncoder(vocab.size, 8, 16, operator, entity_text=text)
    assert isinstance(encoder.entity, TextEntityEmbedding) and encoder.entity.num_embeddings == vocab.size
    assert torch.equal(encoder.entity(torch.tensor([0])), torch.zeros(1, 8))  # padding stays empty
    assert [name for name, _ in encoder.entity.named_parameters()] == ["proj.weight"]
    centred = torch.nn.functional.normalize(text[1:] - text[1:].mean(0), dim=-1)
    assert torch.allclose(encoder.entity.weight[1:], encoder.entity.proj(centred), atol=1e-6)
    h, r = torch.tensor([vocab.id("apple")]), torch.tensor([vocab.id("is_a")])
    assert torch.allclose(encoder.score_all_tails(h, r)[0, vocab.id("fruit")],
                          encoder.score(h, r, torch.tensor([vocab.id("fruit")]))[0], atol=1e-5)
    # a step on apple's fact moves the vector of a kind that appears in no fact; a learned row stays where it was
    banana = torch.tensor([vocab.id("banana")])
    for entity_text, moves in ((text, True), (None, False)):
        model = TripleEncoder(vocab.size, 8, 16, operator, entity_text=entity_text)
        before = model.entity(banana).detach().clone()
        model(_facts(vocab, [("apple", "is_a", "fruit")])).pooled.sum().backward()
        torch.optim.SGD(model.parameters(), lr=0.1).step()
        assert torch.allclose(model.entity(banana), before) != moves
    with pytest.raises(ValueError, match="rows but the vocabulary"):
        TripleEncoder(vocab.size, 8, 16, operator, entity_text=text[:-1])


def test_text_retrieval_attends_to_the_record_whose_words_match_the_instruction() -> None:
    vocab = suite_vocab()
    torch.manual_seed(0)
    text = torch.randn(vocab.size, 12)
    fruit, tool = text[vocab.id("fruit")], text[vocab.id("tool")]
    triples = [("apple", "is_a", "fruit"), ("apple", "has_colour", "red"),
               ("axe", "is_a", "tool"), ("axe", "has_colour", "blue")]
    facts = _facts(vocab, triples, batch=2)
    encoder = TripleEncoder(vocab.size, 8, 16, "transe", query_dim=12, grouping="entities", entity_text=text,
                            text_retrieval=True, retrieval_scale=1000.0)
    out = encoder(facts, torch.stack([fruit, tool]))  # "instructions" that encode as the words themselves
    assert torch.allclose(out.pooled[0], out.tokens[0, 0], atol=1e-4)  # apple's record
    assert torch.allclose(out.pooled[1], out.tokens[0, 2], atol=1e-4)  # axe's record
    plain = TripleEncoder(vocab.size, 8, 16, "transe", query_dim=12, grouping="entities", entity_text=text)
    plain.load_state_dict(encoder.state_dict(), strict=False)
    assert not torch.allclose(plain(facts, torch.stack([fruit, tool])).pooled[0], out.tokens[0, 0], atol=1e-2)
    assert encoder.retrieval_log_scale is not None and encoder.retrieval_log_scale.requires_grad
    with pytest.raises(ValueError, match="needs entity_text"):
        TripleEncoder(vocab.size, 8, 16, query_dim=12, text_retrieval=True)


def test_the_named_read_attends_to_the_record_of_the_thing_the_instruction_names() -> None:
    """"bring the cure for fever to the chest": text retrieval finds the record that says "cures fever", the named
    read the chest's own record (its look), and the pooled vector starts as the first read alone."""
    vocab = suite_vocab()
    torch.manual_seed(0)
    text = torch.randn(vocab.size, 12)
    triples = [("chest", "is_a", "container"), ("chest", "has_colour", "red"),
               ("herb", "cures", "fever"), ("herb", "has_colour", "blue")]
    facts = _facts(vocab, triples)
    instruction = (text[vocab.id("chest")] + text[vocab.id("fever")])[None]
    encoder = TripleEncoder(vocab.size, 8, 16, "transe", query_dim=12, grouping="records", entity_text=text,
                            text_retrieval=True, retrieval_scale=1000.0, named_retrieval=True)
    out = encoder(facts, instruction)
    assert torch.allclose(out.pooled[0], out.tokens[0, 2], atol=1e-4)  # at first the one read: the herb's record
    with torch.no_grad():  # the pooled vector as the named read alone
        encoder.hop_out.weight.zero_()
        encoder.hop_out.weight[:, 16:].copy_(torch.eye(16))
    assert torch.allclose(encoder(facts, instruction).pooled[0], out.tokens[0, 0], atol=1e-4)  # the chest's record
    assert encoder.named_log_scale.requires_grad
    with pytest.raises(ValueError, match="needs text_retrieval"):
        TripleEncoder(vocab.size, 8, 16, query_dim=12, entity_text=text, named_retrieval=True)


def test_the_follow_read_returns_the_record_the_named_one_points_to() -> None:
    """"defeat the goblin": the named read finds the goblin's record, which says ``weak_to axe``; the follow read
    returns the axe's record (its look), not the other weapon's."""
    vocab = suite_vocab()
    torch.manual_seed(0)
    text = torch.randn(vocab.size, 12)
    triples = [("goblin", "weak_to", "axe"), ("goblin", "has_colour", "red"), ("axe", "has_colour", "blue"),
               ("axe", "is_a", "weapon"), ("sword", "has_colour", "green"), ("sword", "is_a", "weapon")]
    facts = _facts(vocab, triples)
    encoder = TripleEncoder(vocab.size, 8, 16, "transe", query_dim=12, grouping="records", entity_text=text,
                            text_retrieval=True, retrieval_scale=1000.0, named_retrieval=True,
                            follow_retrieval=True)
    with torch.no_grad():  # the pooled vector as the follow read alone
        encoder.hop_out.weight.zero_()
        encoder.hop_out.weight[:, 32:].copy_(torch.eye(16))
    out = encoder(facts, text[vocab.id("goblin")][None])
    assert torch.allclose(out.pooled[0], out.tokens[0, 2], atol=1e-4)  # the axe's record
    # a join through another relation: the door the ruby lies behind leads to the key that opens it, while a
    # shared look (has_colour red, the same relation) leads nowhere
    unlock = _facts(vocab, [("ruby", "lies_behind", "red_door"), ("ruby", "has_colour", "red"),
                            ("bronze_key", "opens", "blue_door"), ("bronze_key", "has_colour", "red"),
                            ("iron_key", "opens", "red_door"), ("iron_key", "has_colour", "green")])
    out = encoder(unlock, text[vocab.id("ruby")][None])
    assert torch.allclose(out.pooled[0], out.tokens[0, 4], atol=1e-4)  # the iron key's record
    with pytest.raises(ValueError, match="needs named_retrieval"):
        TripleEncoder(vocab.size, 8, 16, query_dim=12, entity_text=text, text_retrieval=True, follow_retrieval=True)


def test_strict_reads_keep_to_the_named_record_and_what_it_points_to_however_loud_the_learned_queries() -> None:
    """Unlock: "go to the ruby" names the ruby's record, which lies behind the red door, which the iron key opens.
    Learned queries that grew loud in training (here: scaled up towards the bronze key's record) pull the plain
    named and follow reads off those records; strict reads stay on them."""
    vocab = suite_vocab()
    torch.manual_seed(0)
    text = torch.randn(vocab.size, 12)
    unlock = _facts(vocab, [("ruby", "lies_behind", "red_door"), ("ruby", "has_colour", "red"),
                            ("bronze_key", "opens", "blue_door"), ("bronze_key", "has_colour", "red"),
                            ("iron_key", "opens", "red_door"), ("iron_key", "has_colour", "green")])
    instruction = text[vocab.id("ruby")][None]
    reads = {}
    for strict in (False, True):
        encoder = TripleEncoder(vocab.size, 8, 16, "transe", query_dim=12, grouping="records", entity_text=text,
                                text_retrieval=True, named_retrieval=True, follow_retrieval=True,
                                strict_reads=strict)
        tokens = encoder(unlock, instruction).tokens[0]
        with torch.no_grad():  # both learned queries point hard at the bronze key's record
            for query in (encoder.named_query, encoder.follow_query):
                assert query is not None
                query.weight.zero_()
                query.bias.copy_(tokens[2] * 1000.0 / tokens[2].norm())
            encoder.hop_out.weight.zero_()
        named, follow = [], []
        for block, out in ((16, named), (32, follow)):
            with torch.no_grad():  # the pooled vector as one read alone
                encoder.hop_out.weight.zero_()
                encoder.hop_out.weight[:, block:block + 16].copy_(torch.eye(16))
            out.append(encoder(unlock, instruction).pooled[0])
        reads[strict] = (named[0], follow[0], tokens)
    named, follow, tokens = reads[True]
    assert torch.allclose(named, tokens[0], atol=1e-4)  # the ruby's record
    assert torch.allclose(follow, tokens[4], atol=1e-4)  # the iron key's record
    named, follow, tokens = reads[False]
    assert torch.allclose(named, tokens[2], atol=1e-3) and torch.allclose(follow, tokens[2], atol=1e-3)  # drifted
    with pytest.raises(ValueError, match="strict_reads .* needs named_retrieval"):
        TripleEncoder(vocab.size, 8, 16, query_dim=12, entity_text=text, text_retrieval=True, strict_reads=True)
