import copy

import numpy as np
import pytest
import torch
from sklearn.base import clone

from sklearn_mtl import MMoEClassifier, PLEClassifier
from sklearn_mtl.datasets import load_census_income
from sklearn_mtl.losses import GateBalancedLoss
from sklearn_mtl.models import MMoE
from sklearn_mtl.nn import MixedInputEmbedding, SoftmaxGate, importance_cv2

from ._settings import FAST_PARAMS


@pytest.fixture(scope="module")
def census():
    X, Y = load_census_income(return_X_y=True)
    return X[:3000], Y[:3000]


def test_importance_cv2_by_hand():
    gates = torch.tensor([[[0.5, 0.3, 0.2]], [[0.1, 0.1, 0.8]]], dtype=torch.float64)
    importance = np.array([0.6, 0.4, 1.0])
    expected = importance.var() / importance.mean() ** 2
    np.testing.assert_allclose(importance_cv2(gates).numpy(), [expected])
    weight = torch.tensor([2.0, 1.0], dtype=torch.float64)
    weighted = np.array([1.1, 0.7, 1.2])
    np.testing.assert_allclose(
        importance_cv2(gates, weight).numpy(), [weighted.var() / weighted.mean() ** 2]
    )


def test_balance_penalty_is_the_mean_cv2_of_the_training_pass_gates():
    torch.manual_seed(0)
    module = MMoE(MixedInputEmbedding([], 3, 2), 2, num_experts=4, expert_hidden_units=(8,),
                  tower_hidden_units=(4,), balance_gates=True).double()
    loss = GateBalancedLoss(balance_weight=0.5).bind(module)
    numeric = torch.randn(7, 3, dtype=torch.float64)
    categorical = torch.zeros(7, 0, dtype=torch.long)
    logits = module(categorical, numeric)
    expected = 0.5 * importance_cv2(module.gate_weights(categorical, numeric)).mean()
    torch.testing.assert_close(loss.penalty(logits), expected)
    # Read once: nothing is left on the network (a fitted model pickles clean).
    assert module._kept_gates is None
    with torch.no_grad():
        module(categorical, numeric)
    assert module._kept_gates is None
    assert loss.penalty(logits).item() == 0.0
    # The loss does not own the network's parameters.
    assert list(loss.parameters()) == []


@pytest.mark.parametrize("Model", [MMoEClassifier, PLEClassifier])
def test_history_records_gate_utilisation_of_the_fitted_gates(census, Model):
    X, Y = census
    model = Model(**dict(FAST_PARAMS, max_epochs=2)).fit(X, Y)
    weights = model.gate_weights(X)
    if Model is PLEClassifier:
        weights = weights[-1][:, :2]
    for t, task in enumerate(model.task_names_):
        shares = weights[:, t].mean(0)
        shares = shares[shares > 0]
        recorded = model.history_[-1, f"gate_shares_{task}"]
        np.testing.assert_allclose(recorded, shares, rtol=1e-5)
        assert model.history_[-1, f"gate_top_share_{task}"] == pytest.approx(shares.max(), rel=1e-5)
        entropy = -(shares * np.log(shares)).sum() / np.log(len(shares))
        assert model.history_[-1, f"gate_entropy_{task}"] == pytest.approx(entropy, rel=1e-4)


@pytest.mark.parametrize("Model", [MMoEClassifier, PLEClassifier])
def test_balance_penalty_spreads_the_load(census, Model):
    X, Y = census
    entropy = {}
    for weight in (0.0, 0.1):
        model = Model(gate_balance_weight=weight, **FAST_PARAMS).fit(X, Y)
        entropy[weight] = min(model.history_[-1, f"gate_entropy_{t}"] for t in model.task_names_)
        copied = copy.deepcopy(model)
        # The loss follows its network through copies (and pickles).
        if weight:
            assert copied.net_.criterion_._network[0] is copied.net_.module_
    # Measured on these 3,000 rows (lower task): MMoE 0.22 -> 0.97, PLE 0.02 -> 0.98.
    assert entropy[0.1] > entropy[0.0] + 0.3, entropy


@pytest.mark.parametrize("Model", [MMoEClassifier, PLEClassifier])
def test_gate_bias_gives_every_gate_a_trained_bias(census, Model):
    X, Y = census
    X, Y = X[:600], Y[:600]

    def gates(model):
        return [m for m in model.net_.module_.modules() if isinstance(m, SoftmaxGate)]

    paper = Model(**FAST_PARAMS).fit(X, Y)
    assert gates(paper) and all(g.linear.bias is None for g in gates(paper))
    biased = Model(**FAST_PARAMS, gate_bias=True).fit(X, Y)
    biases = [g.linear.bias for g in gates(biased)]
    assert len(biases) == len(gates(paper)) and all(b is not None for b in biases)

    def weights():
        out = biased.gate_weights(X)
        return np.concatenate([w.ravel() for w in out]) if isinstance(out, list) else out.ravel()

    before = weights()
    with torch.no_grad():
        for b in biases:
            b.add_(3.0)  # the same shift for every expert: softmax ignores it
    np.testing.assert_allclose(weights(), before, rtol=1e-5, atol=1e-7)
    with torch.no_grad():
        for b in biases:
            b.add_(torch.arange(b.shape[-1], dtype=b.dtype))  # favours the last experts
    assert not np.allclose(weights(), before, atol=1e-3)
    assert clone(biased).get_params()["gate_bias"] is True
