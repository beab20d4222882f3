"""The models' outputs equal their papers' equations computed by hand."""

import numpy as np
import pandas as pd
import pytest
import torch

from sklearn_mtl import MMoEClassifier
from sklearn_mtl.models import MMoE, SharedBottom
from sklearn_mtl.nn import MixedInputEmbedding


def relu(z):
    return np.maximum(z, 0.0)


def softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def set_(parameter, value):
    with torch.no_grad():
        parameter.copy_(torch.as_tensor(value, dtype=parameter.dtype))


@pytest.fixture
def hand_mmoe():
    """A 2-task, 3-expert MMoE over one categorical and two numeric columns,
    every weight set from a seeded generator."""
    rng = np.random.RandomState(0)
    embedding = MixedInputEmbedding([3], n_numeric=2, embedding_dim=2)
    module = MMoE(embedding, 2, num_experts=3, expert_hidden_units=(4,), tower_hidden_units=(2,))
    weights = {
        "table": rng.normal(size=(3, 2)),
        "W_e": rng.normal(size=(3, 4, 4)), "b_e": rng.normal(size=(3, 4)),
        "W_g": rng.normal(size=(2, 4, 3)),
        "W_t": rng.normal(size=(2, 4, 2)), "b_t": rng.normal(size=(2, 2)),
        "w_o": rng.normal(size=(2, 2, 1)), "b_o": rng.normal(size=(2, 1)),
    }
    set_(embedding.table.weight, weights["table"])
    set_(module.experts[0].weight, weights["W_e"])
    set_(module.experts[0].bias, weights["b_e"])
    set_(module.gates.linear.weight, weights["W_g"])
    set_(module.towers.hidden[0].weight, weights["W_t"])
    set_(module.towers.hidden[0].bias, weights["b_t"])
    set_(module.towers.output.weight, weights["w_o"])
    set_(module.towers.output.bias, weights["b_o"])
    return module, weights


def mmoe_by_hand(weights, codes, numeric):
    x = np.hstack([weights["table"][codes[:, 0]], numeric])
    experts = np.stack([relu(x @ weights["W_e"][i] + weights["b_e"][i]) for i in range(3)], 1)
    logits = []
    for k in range(2):
        gate = softmax(x @ weights["W_g"][k])  # g_k(x) = softmax(W_gk x), eq. 5
        f_k = (gate[:, :, None] * experts).sum(1)  # f^k(x) = sum_i g_k(x)_i f_i(x), eq. 4
        hidden = relu(f_k @ weights["W_t"][k] + weights["b_t"][k])
        logits.append(hidden @ weights["w_o"][k][:, 0] + weights["b_o"][k][0])
    return np.stack(logits, 1), gate


def test_mmoe_module_matches_paper_equations(hand_mmoe):
    module, weights = hand_mmoe
    codes = np.array([[0], [1], [2], [1], [0]])
    numeric = np.random.RandomState(1).normal(size=(5, 2))
    expected, _ = mmoe_by_hand(weights, codes, numeric)
    out = module(torch.as_tensor(codes), torch.as_tensor(numeric, dtype=torch.float32))
    np.testing.assert_allclose(out.detach().numpy(), expected, rtol=1e-5, atol=1e-5)


def test_mmoe_gate_is_linear_softmax_without_normalisation(hand_mmoe):
    module, weights = hand_mmoe
    kinds = {type(m).__name__ for m in module.gates.modules()}
    assert not any("Norm" in kind for kind in kinds)
    codes = np.array([[2], [0]])
    numeric = np.array([[0.5, -1.0], [2.0, 0.0]])
    x = np.hstack([weights["table"][codes[:, 0]], numeric])
    expected = np.stack([softmax(x @ weights["W_g"][k]) for k in range(2)], 1)
    got = module.gate_weights(torch.as_tensor(codes), torch.as_tensor(numeric, dtype=torch.float32))
    np.testing.assert_allclose(got.detach().numpy(), expected, rtol=1e-5)


def test_mmoe_estimator_predicts_the_equations(hand_mmoe):
    """Through the estimator: standardized numerics, category codes (unknown -> 0)."""
    rng = np.random.RandomState(2)
    X = pd.DataFrame(
        {
            "colour": pd.Categorical(rng.choice(["blue", "red"], 40)),
            "a": rng.normal(3.0, 2.0, 40),
            "b": rng.normal(-1.0, 0.5, 40),
        }
    )
    Y = np.column_stack([rng.randint(0, 2, 40), rng.randint(0, 2, 40)])
    model = MMoEClassifier(
        num_experts=3, expert_hidden_units=(4,), tower_hidden_units=(2,), embedding_dim=2,
        max_epochs=1, random_state=0,
    ).fit(X, Y)
    module, weights = hand_mmoe
    model.net_.module_.load_state_dict(module.state_dict())

    X_new = pd.DataFrame(
        {"colour": pd.Categorical(["red", "green", None]), "a": [1.0, 3.0, 5.0], "b": [0.0, -1.0, 2.0]}
    )
    codes = np.array([[2], [0], [0]])  # sorted categories blue=1, red=2; unseen and missing -> 0
    numeric = (X_new[["a", "b"]].to_numpy() - X[["a", "b"]].mean().to_numpy()) / X[["a", "b"]].std(ddof=0).to_numpy()
    logits, _ = mmoe_by_hand(weights, codes, numeric)
    proba = model.predict_proba(X_new)
    for k in range(2):
        np.testing.assert_allclose(proba[k][:, 1], sigmoid(logits[:, k]), rtol=1e-5)
        np.testing.assert_allclose(proba[k].sum(1), 1.0)


def test_shared_bottom_matches_equations():
    rng = np.random.RandomState(3)
    embedding = MixedInputEmbedding([], n_numeric=3, embedding_dim=4)
    module = SharedBottom(embedding, 2, bottom_hidden_units=(5,), tower_hidden_units=())
    W, b = rng.normal(size=(5, 3)), rng.normal(size=5)
    w_o, b_o = rng.normal(size=(2, 5, 1)), rng.normal(size=(2, 1))
    set_(module.bottom[0].weight, W)
    set_(module.bottom[0].bias, b)
    set_(module.towers.output.weight, w_o)
    set_(module.towers.output.bias, b_o)
    x = rng.normal(size=(4, 3))
    shared = relu(x @ W.T + b)
    expected = np.stack([shared @ w_o[k][:, 0] + b_o[k][0] for k in range(2)], 1)
    out = module(torch.zeros(4, 0, dtype=torch.int64), torch.as_tensor(x, dtype=torch.float32))
    np.testing.assert_allclose(out.detach().numpy(), expected, rtol=1e-5, atol=1e-6)


def test_gate_weights_report_expert_utilisation():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(100, 4))
    Y = np.column_stack([X[:, 0] > 0, X[:, 1] > 0]).astype(int)
    model = MMoEClassifier(num_experts=5, max_epochs=2, random_state=0).fit(X, Y)
    weights = model.gate_weights(X)
    assert weights.shape == (100, 2, 5)
    np.testing.assert_allclose(weights.sum(-1), 1.0, rtol=1e-6)
