"""Optimizers for embedding tables with sparse gradients, against dense references."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from sklearn_mtl.models import ESMM
from sklearn_mtl.nn import CategoricalInputs, LazyAdam, MixedInputEmbedding, RowWiseAdagrad

N_ROWS, DIM = 12, 3

#: Batches of lookups: any rows, repeats allowed, 1-4 steps.
lookups = st.lists(st.lists(st.integers(0, N_ROWS - 1), min_size=1, max_size=8),
                   min_size=1, max_size=4)


def sparse_step(table, optimizer, rows, seed):
    """One step on the loss sum(table(rows) * c) for a random c (float64)."""
    generator = torch.Generator().manual_seed(seed)
    c = torch.randn(len(rows), DIM, dtype=torch.float64, generator=generator)
    optimizer.zero_grad()
    (table(torch.tensor(rows)) * c).sum().backward()
    optimizer.step()
    dense = torch.zeros(N_ROWS, DIM, dtype=torch.float64).index_add_(0, torch.tensor(rows), c)
    return dense


def new_table(seed=0):
    torch.manual_seed(seed)
    return torch.nn.Embedding(N_ROWS, DIM, sparse=True).double()


@settings(max_examples=20, deadline=None)
@given(steps=lookups, lr=st.floats(0.01, 1.0), weight_decay=st.sampled_from([0.0, 0.1]),
       initial=st.sampled_from([0.0, 0.5]))
def test_rowwise_adagrad_matches_a_dense_reference(steps, lr, weight_decay, initial):
    table = new_table()
    optimizer = RowWiseAdagrad(table.parameters(), lr=lr, eps=1e-10, weight_decay=weight_decay,
                               initial_accumulator_value=initial)
    weights = table.weight.detach().clone()
    state = torch.full((N_ROWS,), initial, dtype=torch.float64)
    for k, rows in enumerate(steps):
        before = table.weight.detach().clone()
        grad = sparse_step(table, optimizer, rows, k)
        touched = torch.zeros(N_ROWS, dtype=torch.bool)
        touched[rows] = True
        grad = grad + weight_decay * weights
        state[touched] += grad[touched].square().mean(1)
        step = lr * grad / (state.sqrt() + 1e-10).unsqueeze(1)
        weights[touched] -= step[touched]
        torch.testing.assert_close(table.weight.detach(), weights, rtol=1e-12, atol=1e-12)
        assert torch.equal(table.weight.detach()[~touched], before[~touched])
    torch.testing.assert_close(optimizer.state[table.weight]["sum"], state, rtol=1e-12, atol=1e-12)


@settings(max_examples=20, deadline=None)
@given(rows=st.lists(st.integers(0, N_ROWS - 1), min_size=1, max_size=8),
       n_steps=st.integers(1, 4), lr=st.floats(1e-3, 0.5),
       weight_decay=st.sampled_from([0.0, 0.05]))
def test_lazy_adam_is_adamw_on_the_touched_rows(rows, n_steps, lr, weight_decay):
    # The same rows every step (in any multiplicity): their moments are then
    # the dense AdamW's, and every other row must stay as it was, undecayed.
    table, reference = new_table(), new_table()
    reference.sparse = False
    # SparseAdam adds eps before the bias correction, Adam after: with an eps
    # that small the two differ only where a gradient is tiny too, and there
    # by eps / sqrt(v) (about 1e-8 relative for gradients near 1e-5).
    lazy = LazyAdam(table.parameters(), lr=lr, eps=1e-14, weight_decay=weight_decay)
    dense = torch.optim.AdamW(reference.parameters(), lr=lr, eps=1e-14, weight_decay=weight_decay)
    start = table.weight.detach().clone()
    touched = torch.zeros(N_ROWS, dtype=torch.bool)
    touched[rows] = True
    for k in range(n_steps):
        sparse_step(table, lazy, rows, k)
        sparse_step(reference, dense, rows, k)
    torch.testing.assert_close(
        table.weight[touched], reference.weight[touched], rtol=1e-6, atol=1e-12
    )
    assert torch.equal(table.weight.detach()[~touched], start[~touched])


@settings(max_examples=25, deadline=None)
@given(steps=lookups, lr=st.floats(1e-3, 0.5), empty_step=st.integers(0, 4))
def test_lazy_adam_without_decay_is_torch_sparse_adam(steps, lr, empty_step):
    # Any rows in any multiplicity, and a step whose gradient touches no row:
    # LazyAdam's row-wise update is SparseAdam's arithmetic, to the bit.
    table, reference = new_table(), new_table()
    lazy = LazyAdam(table.parameters(), lr=lr)
    sparse = torch.optim.SparseAdam(reference.parameters(), lr=lr)
    steps = steps[:empty_step] + [[]] + steps[empty_step:]
    for k, rows in enumerate(steps):
        for embedding, optimizer in ((table, lazy), (reference, sparse)):
            optimizer.zero_grad()
            if rows:
                sparse_step(embedding, optimizer, rows, k)
            else:
                embedding.weight.grad = torch.sparse_coo_tensor(
                    torch.zeros(1, 0, dtype=torch.long), torch.zeros(0, DIM, dtype=torch.float64),
                    (N_ROWS, DIM), check_invariants=True,
                )
                optimizer.step()
    assert torch.equal(table.weight, reference.weight)
    for name in ("step", "exp_avg", "exp_avg_sq"):
        assert torch.equal(torch.as_tensor(lazy.state[table.weight][name]),
                           torch.as_tensor(sparse.state[reference.weight][name]))


def test_state_bytes_per_id_are_as_documented():
    def bytes_per_id(make_optimizer):
        table = torch.nn.Embedding(1000, 16, sparse=True)
        optimizer = make_optimizer(table.parameters())
        table(torch.tensor([1, 2, 2])).sum().backward()
        optimizer.step()
        tensors = [t for state in optimizer.state.values() for t in state.values()
                   if isinstance(t, torch.Tensor) and t.dim() > 0]
        return sum(t.numel() * t.element_size() for t in tensors) / 1000

    assert bytes_per_id(RowWiseAdagrad) == 4  # one float32 per ID
    assert bytes_per_id(LazyAdam) == 8 * 16  # two float32 moments per dimension


def test_clear_errors():
    with pytest.raises(ValueError, match=r"2-D parameters.*shape \(5,\)"):
        RowWiseAdagrad([torch.nn.Parameter(torch.zeros(5))])
    with pytest.raises(ValueError, match="lr must be non-negative"):
        RowWiseAdagrad(torch.nn.Embedding(3, 2).parameters(), lr=-1.0)
    dense_table = torch.nn.Embedding(3, 2)
    optimizer = LazyAdam(dense_table.parameters(), weight_decay=0.1)
    dense_table(torch.tensor([1])).sum().backward()
    with pytest.raises(ValueError, match="LazyAdam takes sparse gradients"):
        optimizer.step()
    with pytest.raises(ValueError, match="pooling='max' has no sparse gradient"):
        MixedInputEmbedding([], 0, 2, bag_cardinalities=[3], pooling="max", sparse=True)


@pytest.mark.parametrize("pooling", ["sum", "mean"])
def test_sparse_embedding_gives_the_dense_gradient_as_a_sparse_tensor(pooling):
    rng = np.random.RandomState(0)
    bags = [[list(rng.randint(0, 6, rng.randint(0, 4))) for _ in range(20)]]
    inputs = CategoricalInputs.from_bags(torch.from_numpy(rng.randint(0, 4, (20, 2))), bags)
    grads = {}
    for sparse in (False, True):
        torch.manual_seed(0)
        embedding = MixedInputEmbedding([4, 4], 1, 3, bag_cardinalities=[6], pooling=pooling,
                                        sparse=sparse)
        out = embedding(inputs, torch.ones(20, 1))
        (out * torch.arange(out.numel()).reshape(out.shape)).sum().backward()
        grads[sparse] = embedding.table.weight.grad
    assert grads[True].is_sparse and not grads[False].is_sparse
    torch.testing.assert_close(grads[True].to_dense(), grads[False])


@pytest.mark.parametrize("make_table_optimizer", [
    lambda p: LazyAdam(p, lr=0.01, weight_decay=1e-4),
    lambda p: RowWiseAdagrad(p, lr=0.1),
])
def test_esmm_trains_with_a_sparse_table(make_table_optimizer):
    rng = np.random.RandomState(0)
    n = 2000
    codes = torch.from_numpy(rng.randint(0, 50, (n, 2)))
    numeric = torch.randn(n, 2, generator=torch.Generator().manual_seed(0))
    click = ((codes[:, 0] % 2 == 0) | (numeric[:, 0] > 1)).double()
    targets = torch.stack([click, click * (codes[:, 1] < 10)], 1)
    torch.manual_seed(0)
    module = ESMM(MixedInputEmbedding([50, 50], 2, 8, sparse=True),
                  ctr_hidden_units=(16,), cvr_hidden_units=(16,)).double()
    table = module.embedding.table.weight
    optimizers = [
        make_table_optimizer([table]),
        torch.optim.Adam([p for p in module.parameters() if p is not table], lr=0.01),
    ]
    losses = []
    for _ in range(30):
        loss = torch.nn.functional.binary_cross_entropy_with_logits(
            module(codes, numeric), targets
        )
        for optimizer in optimizers:
            optimizer.zero_grad()
        loss.backward()
        assert table.grad.is_sparse
        for optimizer in optimizers:
            optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.7 * losses[0]
