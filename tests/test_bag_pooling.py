"""Bags of multi-valued columns: batch cutting and pooling against plain references."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.nn import functional as F

from sklearn_mtl.nn import CategoricalInputs, MixedInputEmbedding


@st.composite
def bag_batches(draw, weighted=None):
    """Rows with 1-3 multi-valued columns of 0-6 items (any codes), optional weights."""
    n = draw(st.integers(1, 12))
    cardinalities = draw(st.lists(st.integers(1, 7), min_size=1, max_size=3))
    bags = [
        [draw(st.lists(st.integers(0, c - 1), max_size=6)) for _ in range(n)]
        for c in cardinalities
    ]
    if weighted is None:
        weighted = draw(st.booleans())
    weights = None
    if weighted:
        weight = st.sampled_from([0.0, 0.5, 1.0, 2.5])
        weights = [[[draw(weight) for _ in bag] for bag in column] for column in bags]
    seed = draw(st.integers(0, 2**16))
    return n, cardinalities, bags, weights, seed


def reference_pool(embedding, inputs):
    """Each column pooled by ``F.embedding_bag`` over the column's own bags."""
    n, n_bags = inputs.starts.shape
    out = []
    for j in range(n_bags):
        lengths = inputs.lengths[:, j]
        first = int(inputs.starts[0, j])
        items = inputs.items[first : first + int(lengths.sum())]
        offsets = inputs.starts[:, j] - first
        codes = items + embedding.bag_offsets[j]
        if inputs.weights is None:
            out.append(F.embedding_bag(codes, embedding.table.weight, offsets, mode=embedding.pooling))
            continue
        weights = inputs.weights[first : first + len(items)]
        total = F.embedding_bag(
            torch.zeros_like(codes), torch.ones(1, 1, dtype=weights.dtype), offsets,
            mode="sum", per_sample_weights=weights,
        )
        pooled = F.embedding_bag(
            codes, embedding.table.weight, offsets, mode="sum", per_sample_weights=weights
        )
        if embedding.pooling == "mean":
            pooled = pooled / torch.where(total > 0, total, torch.ones_like(total))
        out.append(pooled)
    return torch.cat(out, dim=1)


@settings(max_examples=30, deadline=None)
@given(batch=bag_batches(), pooling=st.sampled_from(["sum", "mean", "max"]))
def test_pooling_and_its_gradient_match_embedding_bag(batch, pooling):
    n, cardinalities, bags, weights, seed = batch
    if pooling == "max" and weights is not None:
        weights = None
    torch.manual_seed(seed)
    embedding = MixedInputEmbedding(
        [3], n_numeric=0, embedding_dim=4, bag_cardinalities=cardinalities, pooling=pooling
    ).double()
    inputs = CategoricalInputs.from_bags(torch.ones(n, 1, dtype=torch.int64), bags, weights)
    if inputs.weights is not None:
        inputs.weights = inputs.weights.double()
    cotangent = torch.randn(n, 4 * (1 + len(cardinalities)), dtype=torch.float64)

    def output_and_gradient(pool):
        embedding.zero_grad()
        out = pool(inputs)
        out.backward(cotangent[:, 4:])
        return out.detach(), embedding.table.weight.grad.clone()

    ours, ours_grad = output_and_gradient(embedding._pool)
    theirs, theirs_grad = output_and_gradient(lambda b: reference_pool(embedding, b))
    torch.testing.assert_close(ours, theirs, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(ours_grad, theirs_grad, rtol=1e-12, atol=1e-12)
    # The whole forward puts the single-valued embedding first.
    full = embedding(inputs, torch.zeros(n, 0, dtype=torch.float64))
    torch.testing.assert_close(full[:, 4:], ours)


@settings(max_examples=30, deadline=None)
@given(batch=bag_batches(), data=st.data())
def test_taking_rows_equals_building_from_those_rows(batch, data):
    n, _, bags, weights, _ = batch
    codes = torch.arange(n).unsqueeze(1)
    inputs = CategoricalInputs.from_bags(codes, bags, weights)
    if data.draw(st.booleans()):
        start = data.draw(st.integers(0, n))
        stop = data.draw(st.integers(start, n))
        index, rows = slice(start, stop), list(range(start, stop))
    else:
        rows = data.draw(st.lists(st.integers(0, n - 1), min_size=1, max_size=2 * n))
        index = torch.tensor(rows)
    taken = inputs.take(index)
    if not rows:
        assert len(taken) == 0 and taken.items.numel() == 0
        return
    expected = CategoricalInputs.from_bags(
        codes[rows],
        [[column[i] for i in rows] for column in bags],
        None if weights is None else [[column[i] for i in rows] for column in weights],
    )
    for got, want in zip(taken._tensors(), expected._tensors()):
        if want is None:
            assert got is None
        else:
            assert torch.equal(got, want.to(got.dtype))


def test_weighted_items_cannot_be_max_pooled():
    embedding = MixedInputEmbedding([], 0, 2, bag_cardinalities=[3], pooling="max")
    inputs = CategoricalInputs.from_bags(torch.zeros(1, 0, dtype=torch.int64), [[[1, 2]]],
                                         [[[1.0, 2.0]]])
    with pytest.raises(ValueError, match="Weighted items cannot be max-pooled"):
        embedding(inputs, torch.zeros(1, 0))


def test_pooling_keeps_float32_sums_of_embedding_bag():
    # Float32 as trained: the same sums in the same order as embedding_bag's.
    rng = np.random.RandomState(0)
    bags = [[list(rng.randint(0, 50, rng.randint(0, 6))) for _ in range(500)]]
    torch.manual_seed(0)
    for pooling in ("sum", "mean"):
        embedding = MixedInputEmbedding([], 0, 8, bag_cardinalities=[50], pooling=pooling)
        inputs = CategoricalInputs.from_bags(torch.zeros(500, 0, dtype=torch.int64), bags)
        torch.testing.assert_close(
            embedding._pool(inputs), reference_pool(embedding, inputs), rtol=1e-6, atol=1e-7
        )
