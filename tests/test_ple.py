import numpy as np
import pytest
import torch

from sklearn_mtl import PLEClassifier
from sklearn_mtl.models import PLE
from sklearn_mtl.nn import CGCLevel, MixedInputEmbedding


def _relu(x):
    return np.maximum(x, 0.0)


def _softmax(z):
    z = np.exp(z - z.max(-1, keepdims=True))
    return z / z.sum(-1, keepdims=True)


def _set_by_hand(module, rng):
    """Give every parameter hand-chosen values, returned as NumPy arrays."""
    values = {}
    with torch.no_grad():
        for name, p in module.named_parameters():
            values[name] = rng.normal(size=tuple(p.shape))
            p.copy_(torch.from_numpy(values[name]))
    return values


def _reference_level(v, prefix, task_inputs, shared_input, n_tasks, n_specific, shared_gate):
    """The paper's eqs. 2-6 for one CGC level with single-layer experts.

    ``task_inputs[k]`` is task k's input; expert e of task k is
    ``relu(x W + b)`` with member ``k * n_specific + e`` of the specific group.
    """
    W, b = v[f"{prefix}specific_experts.0.weight"], v[f"{prefix}specific_experts.0.bias"]
    Ws, bs = v[f"{prefix}shared_experts.0.weight"], v[f"{prefix}shared_experts.0.bias"]
    Wg = v[f"{prefix}task_gates.linear.weight"]
    shared_experts = [_relu(shared_input @ Ws[e] + bs[e]) for e in range(len(Ws))]
    specific = [
        [
            _relu(task_inputs[k] @ W[k * n_specific + e] + b[k * n_specific + e])
            for e in range(n_specific)
        ]
        for k in range(n_tasks)
    ]
    outputs = []
    for k in range(n_tasks):
        experts = np.stack(specific[k] + shared_experts, axis=1)  # S_k(x), eq. 4
        gate = _softmax(task_inputs[k] @ Wg[k])  # eq. 3
        outputs.append(np.einsum("ne,ned->nd", gate, experts))  # eq. 2
    shared_out = None
    if shared_gate:
        every = np.stack([e for task in specific for e in task] + shared_experts, axis=1)
        gate = _softmax(shared_input @ v[f"{prefix}shared_gate.linear.weight"][0])
        shared_out = np.einsum("ne,ned->nd", gate, every)
    return outputs, shared_out


@pytest.mark.parametrize("n_specific, n_shared", [(1, 2), (2, 1)])
def test_cgc_level_matches_paper_equations(n_specific, n_shared):
    rng = np.random.RandomState(0)
    level = CGCLevel(
        4, 2, num_specific_experts=n_specific, num_shared_experts=n_shared,
        expert_hidden_units=(3,), shared_gate=True,
    ).double()
    v = _set_by_hand(level, rng)
    x = rng.normal(size=(5, 4))
    tasks, shared, weights = level(torch.from_numpy(x), torch.from_numpy(x))
    expected, expected_shared = _reference_level(v, "", [x, x], x, 2, n_specific, True)
    np.testing.assert_allclose(tasks.detach().numpy(), np.stack(expected, 1), rtol=1e-12)
    np.testing.assert_allclose(shared.detach().numpy(), expected_shared, rtol=1e-12)
    # Task 0's gate never weighs task 1's experts.
    assert weights.shape == (5, 3, 2 * n_specific + n_shared)
    assert torch.all(weights[:, 0, n_specific : 2 * n_specific] == 0)
    np.testing.assert_allclose(weights.sum(-1).detach().numpy(), 1.0)


def test_two_level_ple_matches_paper_equations():
    rng = np.random.RandomState(1)
    module = PLE(
        MixedInputEmbedding([], 4, 2), 2, num_levels=2, num_specific_experts=2,
        num_shared_experts=1, expert_hidden_units=(3,), tower_hidden_units=(),
    ).double()
    # The last level has no shared gate: nothing above it would read its output.
    assert module.levels[0].shared_gate is not None and module.levels[1].shared_gate is None
    v = _set_by_hand(module, rng)
    x = rng.normal(size=(6, 4))
    level1 = {k[len("levels.0."):]: a for k, a in v.items() if k.startswith("levels.0.")}
    level2 = {k[len("levels.1."):]: a for k, a in v.items() if k.startswith("levels.1.")}
    tasks, shared = _reference_level(level1, "", [x, x], x, 2, 2, True)
    tasks, shared = _reference_level(level2, "", tasks, shared, 2, 2, False)
    assert shared is None
    Wt, bt = v["towers.output.weight"], v["towers.output.bias"]
    expected = np.column_stack([tasks[k] @ Wt[k, :, 0] + bt[k, 0] for k in range(2)])
    empty = torch.zeros(6, 0, dtype=torch.long)
    logits = module(empty, torch.from_numpy(x)).detach().numpy()
    np.testing.assert_allclose(logits, expected, rtol=1e-12)
    weights = module.gate_weights(empty, torch.from_numpy(x))
    assert [tuple(w.shape) for w in weights] == [(6, 3, 5), (6, 2, 5)]


def _tiny_data(n=300, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.normal(size=(n, 4))
    Y = np.column_stack([X[:, 0] > 0, X[:, 0] + X[:, 1] > 0]).astype(int)
    return X, Y


@pytest.mark.parametrize("n_specific, n_shared", [(2, 1), (1, 2), (3, 3)])
@pytest.mark.parametrize("num_levels", [1, 2])
def test_expert_grid_fits_and_predicts(n_specific, n_shared, num_levels):
    X, Y = _tiny_data()
    model = PLEClassifier(
        num_levels=num_levels, num_specific_experts=n_specific,
        num_shared_experts=n_shared, expert_hidden_units=(8,), max_epochs=15,
        lr=1e-2, random_state=0,
    ).fit(X, Y)
    assert model.predict(X).shape == (300, 2)
    assert model.score(X, Y) > 0.8
    weights = model.gate_weights(X[:7])
    n_experts = 2 * n_specific + n_shared
    shapes = [(7, 3, n_experts)] * (num_levels - 1) + [(7, 2, n_experts)]
    assert [w.shape for w in weights] == shapes
    for w in weights:
        np.testing.assert_allclose(w.sum(-1), 1.0, rtol=1e-5)


def test_invalid_expert_count_names_parameter():
    X, Y = _tiny_data(50)
    with pytest.raises(ValueError, match="num_shared_experts"):
        PLEClassifier(num_shared_experts=0).fit(X, Y)

