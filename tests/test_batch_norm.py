"""batch_norm=True: BatchNorm after the hidden linear layers of experts, bottoms and towers."""

import warnings

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from sklearn_mtl import ChunkedData, MMoEClassifier, PLEClassifier, SharedBottomClassifier
from sklearn_mtl._data import BatchIterator, TensorData
from sklearn_mtl.nn import (
    MLP,
    CGCLevel,
    ParallelBatchNorm,
    ParallelMLP,
    SoftmaxGate,
    TaskTowers,
)

from ._settings import ESTIMATORS

EPS = 1e-5
MOMENTUM = 0.1


#: One epoch in batches of 16 on 40 rows: small, several steps, a short last batch.
PARAMS = dict(max_epochs=1, batch_size=16, random_state=0, early_stopping=False)


def _data(n=40, seed=0):
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(
        {
            "city": pd.Categorical(rng.choice(["a", "b", "c"], n)),
            "age": rng.normal(40, 10, n),
        }
    )
    click = np.arange(n) % 2
    Y = np.column_stack([click, click * (np.arange(n) % 4 == 1)])
    return X, Y


def _batch_norms(module):
    return [m for m in module.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]


def _reference(h, gamma, beta, mean=None, var=None):
    """ReLU of the batch-normalised pre-activations ``h`` (batch statistics when
    ``mean`` is None, as in train mode; the given running ones otherwise)."""
    if mean is None:
        mean, var = h.mean(0), h.var(0, unbiased=False)
    return torch.relu(gamma * (h - mean) / torch.sqrt(var + EPS) + beta)


def test_mlp_with_batch_norm_follows_its_equation_in_train_and_eval_mode():
    mlp = MLP(3, (2,), batch_norm=True)
    W = torch.tensor([[1.0, -2.0, 0.5], [0.0, 1.0, 3.0]])
    b = torch.tensor([0.1, -0.3])
    gamma, beta = torch.tensor([2.0, 0.5]), torch.tensor([-0.2, 0.4])
    with torch.no_grad():
        mlp[0].weight.copy_(W)
        mlp[0].bias.copy_(b)
        mlp[1].weight.copy_(gamma)
        mlp[1].bias.copy_(beta)
    assert [type(layer) for layer in mlp] == [nn.Linear, nn.BatchNorm1d, nn.ReLU]
    x = torch.tensor([[1.0, 0.0, 2.0], [-1.0, 3.0, 0.5], [0.5, 0.5, -1.0], [2.0, -1.0, 0.0]])
    h = x @ W.T + b

    torch.testing.assert_close(mlp.train()(x), _reference(h, gamma, beta))
    running_mean = MOMENTUM * h.mean(0)
    running_var = (1 - MOMENTUM) + MOMENTUM * h.var(0, unbiased=True)
    torch.testing.assert_close(mlp[1].running_mean, running_mean)
    torch.testing.assert_close(mlp[1].running_var, running_var)

    with torch.no_grad():
        out = mlp.eval()(x[:1])
    torch.testing.assert_close(out, _reference(h[:1], gamma, beta, running_mean, running_var))


def test_parallel_mlp_with_batch_norm_follows_its_equation_in_train_and_eval_mode():
    torch.manual_seed(0)
    mlp = ParallelMLP(3, 4, (2,), batch_norm=True)
    assert isinstance(mlp[1], ParallelBatchNorm)
    gamma, beta = torch.randn(3, 2), torch.randn(3, 2)
    with torch.no_grad():
        mlp[1].norm.weight.copy_(gamma.flatten())
        mlp[1].norm.bias.copy_(beta.flatten())
    x = torch.randn(6, 4)
    # Member g's pre-activations, (n, n_parallel, units).
    h = torch.einsum("ni,gio->ngo", x, mlp[0].weight) + mlp[0].bias

    torch.testing.assert_close(mlp.train()(x), _reference(h, gamma, beta))
    mean, var = MOMENTUM * h.mean(0), (1 - MOMENTUM) + MOMENTUM * h.var(0, unbiased=True)
    with torch.no_grad():
        out = mlp.eval()(x[:2])
    torch.testing.assert_close(out, _reference(h[:2], gamma, beta, mean, var))


def test_parallel_batch_norm_equals_one_batch_norm_per_member():
    torch.manual_seed(0)
    norm = ParallelBatchNorm(3, 4)
    singles = [nn.BatchNorm1d(4) for _ in range(3)]
    with torch.no_grad():
        for g, single in enumerate(singles):
            single.weight.copy_(torch.randn(4))
            single.bias.copy_(torch.randn(4))
        norm.norm.weight.copy_(torch.cat([s.weight for s in singles]))
        norm.norm.bias.copy_(torch.cat([s.bias for s in singles]))
    for _ in range(2):  # two steps: the running statistics accumulate alike
        x = torch.randn(7, 3, 4, requires_grad=True)
        out = norm(x)
        expected = torch.stack([s(x[:, g]) for g, s in enumerate(singles)], 1)
        torch.testing.assert_close(out, expected)
        upstream = torch.randn_like(out)
        grads = torch.autograd.grad((out * upstream).sum(), [x, norm.norm.weight])
        single_grads = torch.autograd.grad(
            (expected * upstream).sum(), [x, *(s.weight for s in singles)]
        )
        torch.testing.assert_close(grads[0], single_grads[0])
        torch.testing.assert_close(grads[1], torch.cat(single_grads[1:]))
    torch.testing.assert_close(norm.norm.running_mean, torch.cat([s.running_mean for s in singles]))
    torch.testing.assert_close(norm.norm.running_var, torch.cat([s.running_var for s in singles]))
    norm.eval()
    for single in singles:
        single.eval()
    x = torch.randn(2, 3, 4)
    torch.testing.assert_close(
        norm(x), torch.stack([s(x[:, g]) for g, s in enumerate(singles)], 1)
    )


def test_towers_norm_their_hidden_layers_never_their_logits():
    towers = TaskTowers(2, 5, (4, 3), batch_norm=True)
    assert len(_batch_norms(towers.hidden)) == 2
    assert not _batch_norms(towers.output)
    # The logits are the output layer's affine map of the last hidden layer.
    x = torch.randn(6, 5)
    hidden = towers.hidden(x)
    torch.testing.assert_close(towers(x), towers.output(hidden).squeeze(-1))


def test_gates_never_get_batch_norm():
    level = CGCLevel(6, 2, num_specific_experts=1, num_shared_experts=1,
                     expert_hidden_units=(4,), gate_hidden_units=(5,), shared_gate=True,
                     batch_norm=True)
    assert len(_batch_norms(level)) == 2  # one per expert group
    for gate in (level.task_gates, level.shared_gate):
        assert isinstance(gate, SoftmaxGate) and not _batch_norms(gate)


@pytest.mark.parametrize("gate_hidden_units", [(), (5,)])
def test_cgc_level_with_batch_norm_reading_one_input_equals_the_general_path(gate_hidden_units):
    # The first PLE level's fused first-layer GEMM must norm what the general path norms.
    torch.manual_seed(0)
    level = CGCLevel(6, 2, num_specific_experts=2, num_shared_experts=1,
                     expert_hidden_units=(4, 3), gate_hidden_units=gate_hidden_units,
                     shared_gate=True, batch_norm=True)
    x = torch.randn(9, 6)
    for a, b in zip(level(x, x), level(x, x.clone())):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize("Estimator", ESTIMATORS, ids=lambda c: c.__name__)
def test_every_estimator_fits_and_predicts_with_batch_norm(Estimator):
    X, Y = _data()
    model = Estimator(batch_norm=True, **PARAMS).fit(X, Y)
    module = model.net_.module_
    assert _batch_norms(module)
    # Statistics came from training batches, and no gate or attention has a norm.
    assert all(norm.num_batches_tracked > 0 for norm in _batch_norms(module))
    for name, child in module.named_modules():
        if name.split(".")[-1] in {"gates", "task_gates", "shared_gate", "transfers", "attentions"}:
            assert not _batch_norms(child), name
    proba = [p for p in model.predict_proba(X) if p is not None]
    assert all(np.isfinite(p).all() for p in proba)
    # Running statistics at prediction: a row's probability does not depend on its batch.
    for p, p_one in zip(proba, model.predict_proba(X[3:4])):
        np.testing.assert_allclose(p[3:4], p_one, rtol=1e-5, atol=1e-6)
    assert not _batch_norms(Estimator(**PARAMS).fit(X, Y).net_.module_)


def test_a_fit_too_short_for_the_running_statistics_warns():
    X, Y = _data()
    # Four steps leave the running statistics 0.9 ** 4 = 66% their starting values.
    def model(epochs):  # two steps an epoch
        params = dict(PARAMS, max_epochs=epochs, batch_size=len(X) // 2)
        return MMoEClassifier(batch_norm=True, num_experts=2, **params)

    with pytest.warns(UserWarning, match=r"trained for only 4 optimizer step\(s\).*running"):
        model(2).fit(X, Y)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        model(15).fit(X, Y)


def _batch_sizes(n, batch_size, fold):
    data = TensorData({"numeric": torch.arange(n, dtype=torch.float32).view(-1, 1)})
    iterator = BatchIterator(data, batch_size, shuffle=True, fold_single_row=fold)
    sizes = [len(inputs["numeric"]) for inputs, _ in iterator]
    assert len(sizes) == len(iterator)
    return sizes


def test_a_trailing_batch_of_one_row_is_folded_only_when_asked():
    assert _batch_sizes(33, 16, fold=True) == [16, 17]
    assert _batch_sizes(17, 16, fold=True) == [17]
    assert _batch_sizes(33, 16, fold=False) == [16, 16, 1]
    assert _batch_sizes(34, 16, fold=True) == [16, 16, 2]
    assert _batch_sizes(32, 16, fold=True) == [16, 16]


def test_fit_with_batch_norm_folds_a_last_batch_of_one_row():
    X, Y = _data(n=33)  # 33 = 2 * 16 + 1
    model = MMoEClassifier(batch_norm=True, num_experts=2, **PARAMS).fit(X, Y)
    assert model.history_[-1, "batches", -1, "train_batch_size"] == 17


@pytest.mark.parametrize("n, batch_size", [(1, 16), (10, 1)])
def test_batch_norm_refuses_single_row_batches_it_cannot_avoid(n, batch_size):
    X, Y = _data(n=max(n, 2))
    X, Y = X[:n], Y[:n]
    model = SharedBottomClassifier(
        batch_norm=True, **{**PARAMS, "batch_size": batch_size}
    )
    with pytest.raises(ValueError, match="batch_norm=True.*at least 2"):
        model.partial_fit(X, Y, classes=[[0, 1], [0, 1]])


def test_partial_fit_of_one_row_with_batch_norm_is_refused_and_changes_nothing():
    X, Y = _data()
    model = SharedBottomClassifier(batch_norm=True, **PARAMS).fit(X, Y)
    before = {k: v.clone() for k, v in model.net_.module_.state_dict().items()}
    n_iter = model.n_iter_
    with pytest.raises(ValueError, match="at least 2"):
        model.partial_fit(X[:1], Y[:1])
    assert model.n_iter_ == n_iter
    for key, value in model.net_.module_.state_dict().items():
        assert torch.equal(value, before[key]), key
    model.partial_fit(X[:2], Y[:2])
    assert model.n_iter_ == n_iter + 1


@pytest.mark.parametrize("continue_with", ["warm_start", "partial_fit"])
def test_batch_norm_is_structural(continue_with):
    X, Y = _data()
    model = PLEClassifier(**PARAMS).fit(X, Y)
    model.set_params(batch_norm=True)
    with pytest.raises(ValueError, match="batch_norm"):
        if continue_with == "warm_start":
            model.set_params(warm_start=True).fit(X, Y)
        else:
            model.partial_fit(X, Y)


@pytest.mark.parametrize("shuffle_buffer, sizes", [(1, [17, 17]), (2, [16, 16, 2])])
def test_out_of_core_parts_fold_their_own_last_row(shuffle_buffer, sizes):
    # Batches never span two parts: with unmixed chunks each chunk of 17 rows
    # is one batch of 17 (its last row folded in); mixed, the two chunks are
    # one part of 34 rows, cut into batches of 16.
    X, Y = _data(n=34)

    def chunks():
        for start in range(0, len(X), 17):
            yield X[start : start + 17], Y[start : start + 17]

    model = SharedBottomClassifier(batch_norm=True, **PARAMS).fit(
        ChunkedData(chunks, shuffle_buffer=shuffle_buffer)
    )
    assert [b["train_batch_size"] for b in model.history_[-1, "batches"]] == sizes
