"""Knowledge encoders: fact triples ``[B, F, 3]`` of suite ids to one vector per fact and a pooled vector.

* :class:`TripleEncoder` embeds subject, relation and object and applies a relation operator — TransE
  (``h + r − t``) or RotatE (``h ∘ r − t``, ``r`` a unit-modulus rotation in complex space) — so each fact vector
  says how well and in which direction the relation links the two entities; facts are then attention-pooled with
  a query computed from the instruction embedding, padding rows masked.
* :class:`VerbalisedFactsEncoder` turns the facts into text ("apple is a fruit . banana is a fruit") and encodes
  it with the language backbone (cached per distinct fact set when the backbone is frozen).
* :func:`pretrain_link_prediction` trains a triple encoder's embeddings on triples (1-N scoring against every
  entity) and :func:`link_prediction_metrics` reports filtered MRR and Hits@k; :func:`ontology_triples` gives the
  shipped ontology's triples and :func:`hold_out_triples` a transductive train / held-out split of them.
  ``python benchmarks/link_prediction.py`` runs the three on the ontology's training kinds, before and after.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from fusiongym.fusion.config import FACT_GROUPINGS
from fusiongym.fusion.language import LanguageBackbone


@dataclass
class KnowledgeOutput:
    """``pooled [B, D]``, per-fact ``tokens [B, F, D]`` and ``mask [B, F]`` (True = a real fact); ``read_weights``:
    each attention read's weights ``[B, F]`` over the facts, by name (``first``, ``hop2``…, ``named``, ``follow``),
    where the encoder reads by attention: what each read looked at."""

    pooled: torch.Tensor
    tokens: torch.Tensor
    mask: torch.Tensor
    read_weights: dict[str, torch.Tensor] | None = None


def attention_weights(tokens: torch.Tensor, mask: torch.Tensor, query: torch.Tensor,
                      bias: torch.Tensor | None = None) -> torch.Tensor:
    """Softmax attention ``[B, N]`` of ``query [B, D]`` over ``tokens [B, N, D]`` (plus ``bias [B, N]`` on the
    scores); zeros where a token is not valid."""
    scores = torch.einsum("bnd,bd->bn", tokens, query) / math.sqrt(tokens.shape[-1])
    if bias is not None:
        scores = scores + bias
    scores = scores.masked_fill(~mask, -1e9)
    return torch.softmax(scores, dim=-1) * mask.to(tokens.dtype)


def attention_pool(tokens: torch.Tensor, mask: torch.Tensor, query: torch.Tensor,
                   bias: torch.Tensor | None = None) -> torch.Tensor:
    """Softmax-attention average of ``tokens [B, N, D]`` with ``query [B, D]`` (plus ``bias [B, N]`` on the
    scores); zeros where no token is valid."""
    return torch.einsum("bn,bnd->bd", attention_weights(tokens, mask, query, bias), tokens)


class TextEntityEmbedding(nn.Module):
    """Entity vectors as a learned linear map of fixed text encodings of the entities' names.

    ``text [vocab_size, text_dim]`` (e.g. :meth:`LanguageBackbone.encode_words`) is centred on its mean word and
    scaled to unit rows, then kept as a fixed buffer (saved with the weights, so a checkpoint does not depend on
    the backbone it was built from). Only the map is trained, so a word no training episode showed still lands
    where its name puts it. Used like an
    ``nn.Embedding`` (``embedding(ids)``, ``embedding.weight``, ``num_embeddings``); id 0 (padding) maps to zeros.
    """

    text: torch.Tensor  # buffers
    text_mean: torch.Tensor

    def __init__(self, text: torch.Tensor, dim: int) -> None:
        super().__init__()
        mean = text[1:].mean(dim=0)
        words = F.normalize(text[1:] - mean, dim=-1)
        self.register_buffer("text", torch.cat([torch.zeros_like(text[:1]), words]))
        self.register_buffer("text_mean", mean)
        self.proj = nn.Linear(text.shape[1], dim, bias=False)
        nn.init.normal_(self.proj.weight, std=6 / math.sqrt(3 * dim))  # coordinates spread as TransE initialises them

    @property
    def num_embeddings(self) -> int:
        return int(self.text.shape[0])

    @property
    def weight(self) -> torch.Tensor:
        """``[num_embeddings, dim]``: every entity's vector."""
        return self.proj(self.text)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.proj(self.text[ids])

    def similarity(self, sentences: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
        """Cosine ``[B, N]`` between encoded sentences ``[B, text_dim]`` (same backbone, same pooling) and the
        words ``ids [B, N]``, both centred on the mean word; 0 for padding."""
        centred = F.normalize(sentences - self.text_mean, dim=-1)
        # every word against every sentence in one matmul, then a gather: cheaper than gathering [B, N, text_dim]
        return torch.gather(centred @ self.text.T, 1, ids)


class TripleEncoder(nn.Module):
    """Relation-aware triple encoder (TransE or RotatE operator) with instruction-conditioned attention pooling.

    Args:
        vocab_size: suite vocabulary size (entities and relations share its id space).
        dim: embedding size (even for RotatE: half real, half imaginary parts).
        out_dim: size of each fact vector and of the pooled vector.
        operator: ``"transe"`` or ``"rotate"``.
        query_dim: size of the instruction embedding that conditions the pooling query (0: a learned query).
        grouping: ``"facts"``: the pooling attends over fact vectors; ``"entities"``: over entity records, each the
            sum of the fact vectors that share its subject (every fact of a subject carries the whole record);
            ``"records"``: as ``"entities"``, each fact vector plus a role-filler binding ``W (role(r) ⊗ t)``
            (a tensor-product representation: a record sums its attributes in separate, linearly readable slots).
        entity_text: ``[vocab_size, text_dim]`` encodings of every word's name: entity vectors become a learned
            map of them (:class:`TextEntityEmbedding`) instead of free ``nn.Embedding`` rows.
        text_retrieval: add ``τ · cos(instruction, fact's object word)`` to each fact's pooling score (the record's
            best fact when facts are grouped by subject), ``τ`` learned from ``retrieval_scale``: dense retrieval by
            the backbone, so "pick up a fruit" attends to the record saying "… is a fruit" before any training.
            Needs ``entity_text`` and a query from the same backbone (``query_dim == text_dim``).
        hops: attention reads over the records (a memory network's hops): read ``k + 1`` is queried by read ``k``'s
            query plus a learned map of what read ``k`` returned, and the pooled vector is a learned map of every
            read, so "goblin weak_to axe" can lead to the axe's own record (its look). With 1 hop (the default) the
            pooled vector is the one read, as before. Only the first read gets the ``text_retrieval`` bias.
        named_retrieval: one more read, with its own query, scored by ``τ' · cos(instruction, fact's subject
            word)``: the records of the things the instruction *names* ("... to the chest": the chest's look),
            where ``text_retrieval`` finds the records whose *attributes* it names ("the cure for fever": the
            medicine that cures fever). One read cannot hold both without blurring their looks together. The
            pooled vector is then a learned map of every read, starting as the first read alone. Needs
            ``text_retrieval``.
        follow_retrieval: one more read after the named one, keyed by entity: the records the named read's facts
            point to, whose subject is one of their objects (Defeat: the monster's record says ``weak_to axe``;
            this read returns the axe's record, its look) or which reach one of their objects through another
            relation (Unlock: ``gem lies_behind red_door`` → ``key opens red_door``). Needs ``named_retrieval``.
        strict_reads: the named and follow reads are retrieval only: the named read's weights come from the
            instruction's similarity to each fact's subject alone (sharpened by :attr:`STRICT_SCALE`), and the
            follow read attends only to the facts the named read's facts point to (its learned query chooses among
            those). Without it each read also has a learned query over every record, which training can grow
            until it outweighs the retrieval score: Unlock's trained reads drifted to other keys' records.
    """

    #: How sharply a strict named read picks the record whose subject is most like the instruction (MiniLM's cosine
    #: margins between subjects are a few tenths): with 50 the named read of Bring's strict agent puts 0.98 of its
    #: weight on the named container (benchmarks/where_reads_land.py).
    STRICT_SCALE = 50.0

    ROLE_DIM = 16  # size of the relation ("role") vectors of ``"records"`` bindings

    def __init__(self, vocab_size: int, dim: int, out_dim: int, operator: str = "transe",
                 query_dim: int = 0, grouping: str = "facts", entity_text: torch.Tensor | None = None,
                 text_retrieval: bool = False, retrieval_scale: float = 10.0, hops: int = 1,
                 named_retrieval: bool = False, follow_retrieval: bool = False, strict_reads: bool = False) -> None:
        super().__init__()
        if hops < 1:
            raise ValueError(f"hops must be at least 1, got {hops}")
        if operator not in ("transe", "rotate"):
            raise ValueError(f"unknown operator {operator!r}: choose one of transe, rotate")
        if grouping not in FACT_GROUPINGS:
            raise ValueError(f"unknown grouping {grouping!r}: choose one of {', '.join(FACT_GROUPINGS)}")
        self.grouping = grouping
        if operator == "rotate" and dim % 2:
            raise ValueError(f"RotatE needs an even dim, got {dim}")
        self.operator = operator
        self.dim = dim
        self.entity: nn.Embedding | TextEntityEmbedding
        if entity_text is not None:
            if entity_text.shape[0] != vocab_size:
                raise ValueError(f"entity_text has {entity_text.shape[0]} rows but the vocabulary {vocab_size} ids")
            self.entity = TextEntityEmbedding(entity_text, dim)
        else:
            self.entity = nn.Embedding(vocab_size, dim, padding_idx=0)
            nn.init.uniform_(self.entity.weight, -6 / math.sqrt(dim), 6 / math.sqrt(dim))
            with torch.no_grad():
                self.entity.weight[0].zero_()
        # TransE: a translation vector; RotatE: one phase per complex coordinate.
        self.relation = nn.Embedding(vocab_size, dim if operator == "transe" else dim // 2)
        if operator == "rotate":
            nn.init.uniform_(self.relation.weight, -math.pi, math.pi)
        self.fact_mlp = nn.Sequential(nn.Linear(3 * dim, out_dim), nn.ReLU(), nn.Linear(out_dim, out_dim))
        if grouping == "records":
            self.role = nn.Embedding(vocab_size, self.ROLE_DIM)
            self.binding = nn.Linear(self.ROLE_DIM * dim, out_dim)
        self.query = nn.Linear(query_dim, out_dim) if query_dim > 0 else None
        self.learned_query = nn.Parameter(torch.zeros(out_dim))
        self.out_dim = out_dim
        self.hops = hops
        if named_retrieval and not text_retrieval:
            raise ValueError("named_retrieval is a second text-retrieval read: it needs text_retrieval")
        if follow_retrieval and not named_retrieval:
            raise ValueError("follow_retrieval follows the named read's facts: it needs named_retrieval")
        if strict_reads and not named_retrieval:
            raise ValueError("strict_reads makes the named and follow reads retrieval only: it needs named_retrieval")
        self.strict_reads = strict_reads
        self.reads = hops + int(named_retrieval) + int(follow_retrieval)
        self.hop_query = nn.ModuleList(nn.Linear(out_dim, out_dim) for _ in range(hops - 1))
        self.named_query: nn.Linear | None = None
        if named_retrieval:
            self.named_query = nn.Linear(query_dim, out_dim)
            self.named_log_scale = nn.Parameter(torch.tensor(math.log(retrieval_scale)))
        self.follow_query: nn.Linear | None = None
        if follow_retrieval:
            self.follow_query = nn.Linear(query_dim, out_dim)
            self.follow_log_scale = nn.Parameter(torch.tensor(math.log(retrieval_scale)))
        if self.reads > 1:
            self.hop_out = nn.Linear(self.reads * out_dim, out_dim)
            self.restore_init()
        self.retrieval_log_scale: nn.Parameter | None = None
        if text_retrieval:
            if entity_text is None or query_dim != entity_text.shape[1]:
                raise ValueError("text_retrieval compares the instruction with the facts' words: it needs "
                                 "entity_text and a query_dim equal to the text encodings' size")
            self.retrieval_log_scale = nn.Parameter(torch.tensor(math.log(retrieval_scale)))

    def restore_init(self) -> None:
        """With several reads (hops, the named read), the pooled vector starts as the first read alone (one read's
        behaviour until training says more); rerun after SB3's orthogonal re-initialisation."""
        if self.reads > 1:
            with torch.no_grad():
                self.hop_out.weight.zero_()
                self.hop_out.weight[:, :self.out_dim].copy_(torch.eye(self.out_dim))
                self.hop_out.bias.zero_()

    def relation_operator(self, heads: torch.Tensor, relations: torch.Tensor, tails: torch.Tensor) -> torch.Tensor:
        """``h + r − t`` (TransE) or ``h ∘ r − t`` (RotatE) for id tensors of equal shape; ``[..., dim]``."""
        h, t = self.entity(heads), self.entity(tails)
        r = self.relation(relations)
        return self._operate(h, r, t)

    def _operate(self, h: torch.Tensor, r: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        if self.operator == "transe":
            return h + r - t
        h_re, h_im = h.chunk(2, dim=-1)
        t_re, t_im = t.chunk(2, dim=-1)
        cos, sin = torch.cos(r), torch.sin(r)
        return torch.cat([h_re * cos - h_im * sin - t_re, h_re * sin + h_im * cos - t_im], dim=-1)

    def score(self, heads: torch.Tensor, relations: torch.Tensor, tails: torch.Tensor) -> torch.Tensor:
        """Plausibility ``−‖op(h, r, t)‖`` (higher = more plausible)."""
        return -self.relation_operator(heads, relations, tails).norm(dim=-1)

    def score_all_tails(self, heads: torch.Tensor, relations: torch.Tensor) -> torch.Tensor:
        """``[B, vocab_size]`` plausibility of every entity as the tail of ``(head, relation, ?)``."""
        h, r = self.entity(heads), self.relation(relations)
        if self.operator == "transe":
            hr = h + r
        else:
            h_re, h_im = h.chunk(2, dim=-1)
            cos, sin = torch.cos(r), torch.sin(r)
            hr = torch.cat([h_re * cos - h_im * sin, h_re * sin + h_im * cos], dim=-1)
        return -torch.cdist(hr, self.entity.weight)

    def forward(self, facts: torch.Tensor, query: torch.Tensor | None = None) -> KnowledgeOutput:
        facts = facts.to(torch.long)
        mask = (facts != 0).any(dim=-1)
        # A batch repeats the same few triples (facts are fixed per episode and drawn from one ontology): each
        # distinct triple goes through the MLP once and its vector is gathered back to every place it occurs.
        size = self.entity.num_embeddings  # one int64 key per triple: a 1-d unique is ~50× faster than dim=0
        keys = (facts[..., 0] * size + facts[..., 1]) * size + facts[..., 2]
        distinct, where = torch.unique(keys.reshape(-1), return_inverse=True)
        heads, relations, tails = distinct // (size * size), distinct // size % size, distinct % size
        h, t = self.entity(heads), self.entity(tails)
        op = self._operate(h, self.relation(relations), t)
        distinct_tokens = self.fact_mlp(torch.cat([h, t, op], dim=-1))
        if self.grouping == "records":
            roles = self.role(relations)
            distinct_tokens = distinct_tokens + self.binding((roles[:, :, None] * t[:, None, :]).flatten(1))
        tokens = distinct_tokens[where].reshape(*facts.shape[:-1], -1)
        bias = None
        if self.retrieval_log_scale is not None and query is not None:
            assert isinstance(self.entity, TextEntityEmbedding)
            bias = self.entity.similarity(query, facts[..., 2]).masked_fill(~mask, -1.0)
        if self.grouping in ("entities", "records"):
            subjects = facts[..., 0]
            same = (subjects[:, :, None] == subjects[:, None, :]) & mask[:, None, :] & mask[:, :, None]
            tokens = torch.bmm(same.to(tokens.dtype), tokens)  # each fact's row: its subject's whole record
            if bias is not None:  # a record is as relevant as its most relevant fact
                bias = bias[:, None, :].expand_as(same).masked_fill(~same, -1.0).amax(-1)
        if bias is not None:
            assert self.retrieval_log_scale is not None  # a bias comes only with retrieval
            bias = bias * self.retrieval_log_scale.exp()
        if self.query is not None and query is not None:
            q = self.query(query)
        else:
            q = self.learned_query.expand(facts.shape[0], -1)
        weights = attention_weights(tokens, mask, q, bias)
        read = torch.einsum("bn,bnd->bd", weights, tokens)
        read_weights = {"first": weights}
        if self.reads == 1:
            return KnowledgeOutput(read, tokens, mask, read_weights)
        reads = [read]
        for hop, hop_query in enumerate(self.hop_query, start=2):
            q = q + hop_query(read)
            read_weights[f"hop{hop}"] = weights = attention_weights(tokens, mask, q)
            read = torch.einsum("bn,bnd->bd", weights, tokens)
            reads.append(read)
        if self.named_query is not None:
            if query is None:  # no instruction, nothing named (nor followed)
                reads += [torch.zeros_like(read)] * (1 + int(self.follow_query is not None))
            else:
                assert isinstance(self.entity, TextEntityEmbedding)
                named = self.entity.similarity(query, facts[..., 0]).masked_fill(~mask, -1.0)
                if self.strict_reads:  # the instruction's similarity to each subject alone
                    weights = attention_weights(tokens, mask, torch.zeros_like(q), named * self.STRICT_SCALE)
                else:
                    weights = attention_weights(tokens, mask, self.named_query(query),
                                                named * self.named_log_scale.exp())
                read_weights["named"] = weights
                reads.append(torch.einsum("bn,bnd->bd", weights, tokens))
                if self.follow_query is not None:
                    read_weights["follow"] = weights = self._follow(mask, facts, weights, self.follow_query(query),
                                                                    tokens)
                    reads.append(torch.einsum("bn,bnd->bd", weights, tokens))
        return KnowledgeOutput(self.hop_out(torch.cat(reads, dim=-1)), tokens, mask, read_weights)

    def _follow(self, mask: torch.Tensor, facts: torch.Tensor, weights: torch.Tensor, query: torch.Tensor,
                tokens: torch.Tensor) -> torch.Tensor:
        """The weights ``[B, F]`` of the read of the records the attended facts (``weights [B, F]``) point to: a
        fact's object is another record's subject (``goblin weak_to axe`` → the axe), or the object of another
        record's fact through another relation (``gem lies_behind red_door`` → ``key opens red_door``: a join;
        through the same relation it would be a shared look, ``has_colour red``, not a link)."""
        heads, relations, tails = facts.unbind(-1)
        joins = (tails[:, :, None] == tails[:, None, :]) & (relations[:, :, None] != relations[:, None, :])
        points_to = ((tails[:, :, None] == heads[:, None, :]) | joins) & mask[:, :, None] & mask[:, None, :]
        pointed = torch.einsum("bf,bfg->bg", weights, points_to.to(weights.dtype))  # how much each row is named
        pointed = pointed / pointed.amax(-1, keepdim=True).clamp_min(1e-6)  # 1 for the most pointed-to record
        if self.strict_reads:  # only what is pointed to, the query choosing among it; nothing pointed: a zero read
            return attention_weights(tokens, mask & (pointed > 0), query, pointed.clamp_min(1e-6).log())
        return attention_weights(tokens, mask, query, pointed * self.follow_log_scale.exp())


class VerbalisedFactsEncoder(nn.Module):
    """Facts as text through the language backbone, projected to ``out_dim``."""

    def __init__(self, backbone: LanguageBackbone, out_dim: int) -> None:
        super().__init__()
        self.backbone = [backbone]  # shared with the instruction encoder; not registered twice
        self.proj = nn.Linear(backbone.hidden_size, out_dim)
        self.out_dim = out_dim

    def forward(self, facts: torch.Tensor, query: torch.Tensor | None = None) -> KnowledgeOutput:
        text = self.backbone[0].encode_facts(facts)
        mask = text.mask.clone()
        # An empty fact set still gets its special tokens encoded; report it as "no facts".
        mask &= (facts.to(torch.long) != 0).any(dim=-1).any(dim=-1, keepdim=True)
        return KnowledgeOutput(self.proj(text.pooled) * mask.any(-1, keepdim=True), self.proj(text.tokens), mask)


# --------------------------------------------------------------------------------------------------------------
# Link-prediction pretraining
# --------------------------------------------------------------------------------------------------------------


#: What the ontology states about every kind, as relations of the suite vocabulary: category, look, material.
ONTOLOGY_RELATIONS = ("is_a", "has_shape", "has_colour", "made_of")


def ontology_triples(split: str | None = "train", vocab: Any = None) -> np.ndarray:
    """``[N, 3]`` suite ids of what the shipped ontology states about each kind: its category (``is_a``), shape,
    colour and material (:data:`ONTOLOGY_RELATIONS`), in file order. ``split="train"`` keeps the kinds training
    episodes use, ``"test"`` the held-out kinds, ``None`` all."""
    from fusiongym.envs.language import SPLITS
    from fusiongym.envs.ontology import load_ontology

    if split is not None and split not in SPLITS:
        raise ValueError(f"split={split!r} is not a split: choose one of {', '.join(SPLITS)} or None")
    if vocab is None:
        from fusiongym.envs.vocab import get_vocab

        vocab = get_vocab()
    rows = [(vocab.id(kind.name), vocab.id(relation), vocab.id(value))
            for kind in load_ontology().kinds if split is None or kind.split == split
            for relation, value in zip(ONTOLOGY_RELATIONS, (kind.category, kind.shape, kind.colour, kind.material),
                                       strict=True)]
    return np.asarray(rows, dtype=np.int64).reshape(-1, 3)


def hold_out_triples(triples: np.ndarray, fraction: float = 0.2, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``(train, held_out)``: about ``fraction`` of ``triples`` held out at random, each only while its head and its
    tail still occur in the training triples (the transductive protocol: every entity ranked has an embedding
    that training has moved)."""
    triples = np.asarray(triples, dtype=np.int64).reshape(-1, 3)
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"fraction={fraction} must be between 0 and 1 (exclusive)")
    entities, counts = np.unique(triples[:, [0, 2]], return_counts=True)
    left = dict(zip(entities.tolist(), counts.tolist(), strict=True))  # training triples that still mention each entity
    wanted = round(fraction * len(triples))
    held = np.zeros(len(triples), bool)
    for n in np.random.default_rng(seed).permutation(len(triples)).tolist():
        if held.sum() == wanted:
            break
        head, tail = int(triples[n, 0]), int(triples[n, 2])
        if left[head] > 1 and left[tail] > 1:
            held[n] = True
            left[head] -= 1
            left[tail] -= 1
    return triples[~held], triples[held]


def _known_tails(triples: np.ndarray) -> dict[tuple[int, int], set[int]]:
    known: dict[tuple[int, int], set[int]] = {}
    for h, r, t in triples:
        known.setdefault((int(h), int(r)), set()).add(int(t))
    return known


@torch.no_grad()
def link_prediction_metrics(encoder: TripleEncoder, triples: np.ndarray, candidates: Sequence[int],
                            known: np.ndarray | None = None, ks: Sequence[int] = (1, 10)) -> dict[str, float]:
    """Filtered tail-prediction MRR and Hits@k of ``triples`` ranked among ``candidates`` entity ids.

    Other true tails of the same (head, relation) — from ``known`` (default: ``triples``) — are filtered out of
    the ranking, the standard protocol of Bordes et al. (2013).
    """
    triples = np.asarray(triples, dtype=np.int64).reshape(-1, 3)
    cand = torch.as_tensor(np.asarray(candidates, dtype=np.int64))
    filt = _known_tails(np.asarray(known if known is not None else triples).reshape(-1, 3))
    scores = encoder.score_all_tails(torch.as_tensor(triples[:, 0]), torch.as_tensor(triples[:, 1]))[:, cand]
    ranks = []
    position = {int(c): n for n, c in enumerate(cand.tolist())}
    for n, (h, r, t) in enumerate(triples):
        row = scores[n].clone()
        target = row[position[int(t)]].item()
        for other in filt.get((int(h), int(r)), ()):
            if other != int(t) and other in position:
                row[position[other]] = -float("inf")
        ranks.append(1 + int((row > target).sum().item()))
    ranks_arr = np.asarray(ranks, dtype=np.float64)
    out = {"mrr": float(np.mean(1.0 / ranks_arr))}
    for k in ks:
        out[f"hits@{k}"] = float(np.mean(ranks_arr <= k))
    return out


def pretrain_link_prediction(encoder: TripleEncoder, triples: np.ndarray, candidates: Sequence[int],
                             epochs: int = 200, lr: float = 0.01, batch_size: int = 256,
                             seed: int = 0) -> dict[str, float]:
    """Train ``encoder``'s entity / relation embeddings to rank each triple's tail first among ``candidates``.

    1-N training: a softmax over the distances to every candidate tail (cross-entropy on the true one). Returns
    the filtered metrics of :func:`link_prediction_metrics` on the training triples after training.
    """
    generator = torch.Generator().manual_seed(seed)
    data = torch.as_tensor(np.asarray(triples, dtype=np.int64).reshape(-1, 3))
    cand = torch.as_tensor(np.asarray(candidates, dtype=np.int64))
    target_index = {int(c): n for n, c in enumerate(cand.tolist())}
    targets = torch.as_tensor([target_index[int(t)] for t in data[:, 2]])
    params = list(encoder.entity.parameters()) + list(encoder.relation.parameters())
    optimizer = torch.optim.Adam(params, lr=lr)
    for _ in range(epochs):
        order = torch.randperm(len(data), generator=generator)
        for start in range(0, len(data), batch_size):
            idx = order[start:start + batch_size]
            logits = encoder.score_all_tails(data[idx, 0], data[idx, 1])[:, cand]
            loss = F.cross_entropy(logits, targets[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return link_prediction_metrics(encoder, data.numpy(), candidates)
