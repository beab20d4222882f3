import numpy as np
import pytest
import torch
import torch.nn.functional as F

from ._funnel_helpers import (
    load_aliexpress,
    load_paddlerec_aitm,
)
from sklearn_mtl import AITMClassifier
from sklearn_mtl.datasets import make_funnel
from sklearn_mtl.metrics import esmm_scorers
from sklearn_mtl.models import AITM
from sklearn_mtl.models._aitm import CalibratedFunnelLoss
from sklearn_mtl.nn import MixedInputEmbedding, TransferAttention


@pytest.fixture(scope="module")
def funnel3():
    return make_funnel(n_samples=2000, n_steps=3, random_state=0)


# ------------------------------------------------------- reference equations


def test_transfer_attention_matches_the_paper_formula():
    rng = np.random.default_rng(0)
    K = 3
    h1, h2, h3 = rng.normal(size=(3, K, K))
    p, q = rng.normal(size=(2, 4, K))
    ait = TransferAttention(K).double()
    with torch.no_grad():
        for layer, matrix in zip([ait.h1, ait.h2, ait.h3], [h1, h2, h3]):
            layer.weight.copy_(torch.tensor(matrix))
    z, weights = ait(torch.tensor(p), torch.tensor(q))

    def score(u):
        return np.einsum("nk,nk->n", u @ h1.T, u @ h2.T) / np.sqrt(K)

    scores = np.column_stack([score(p), score(q)])
    w = np.exp(scores) / np.exp(scores).sum(1, keepdims=True)
    expected = w[:, :1] * (p @ h3.T) + w[:, 1:] * (q @ h3.T)
    np.testing.assert_allclose(weights.detach().numpy(), w)
    np.testing.assert_allclose(z.detach().numpy(), expected)
    assert all(layer.bias is None for layer in [ait.h1, ait.h2, ait.h3])


def test_aitm_module_wires_transfer_from_the_previous_step():
    embedding = MixedInputEmbedding([], n_numeric=3, embedding_dim=2)
    module = AITM(embedding, 3, tower_hidden_units=(4,), shared_attention=False).double()
    assert len(module.attentions) == 2
    categorical, numeric = torch.zeros(5, 0, dtype=torch.int64), torch.randn(5, 3).double()
    towers = module.towers(numeric)
    z1 = towers[:, 0]
    z2, w2 = module.attentions[0](module.transfers[0](z1), towers[:, 1])
    z3, w3 = module.attentions[1](module.transfers[1](z2), towers[:, 2])
    head = module.output
    expected = torch.stack(
        [z @ head.weight[t, :, 0] + head.bias[t, 0] for t, z in enumerate([z1, z2, z3])], dim=1
    )
    torch.testing.assert_close(module(categorical, numeric), expected)
    torch.testing.assert_close(
        module.attention_weights(categorical, numeric), torch.stack([w2, w3], dim=1)
    )


def _authors_aitm(x, tower_layers, transfers, attention, heads):
    """NumPy port of the authors' N-step AITM forward pass (``AITM_standard.py``):
    one ReLU MLP tower per step, a Dense+ReLU transfer per later step, and one
    attention (``w1, w2, w3``, applied as ``inputs @ w``) shared by every step,
    over ``[tower, transfer]``."""
    relu = lambda a: np.maximum(a, 0.0)
    w1, w2, w3 = attention
    K = w1.shape[0]
    outputs = []
    ait = None
    for t, layers in enumerate(tower_layers):
        tower = x
        for w, b in layers:
            tower = relu(tower @ w + b)
        if t == 0:
            ait = tower
        else:
            w, b = transfers[t - 1]
            transfer = relu(ait @ w + b)
            inputs = np.stack([tower, transfer], axis=1)  # (N, 2, K)
            Q, Kmat, V = inputs @ w1, inputs @ w2, inputs @ w3
            a = (Q * Kmat).sum(-1) / np.sqrt(K)
            a = np.exp(a - a.max(1, keepdims=True))
            a /= a.sum(1, keepdims=True)
            ait = (a[:, :, None] * V).sum(1)
        w, b = heads[t]
        outputs.append(1.0 / (1.0 + np.exp(-(ait @ w + b))))
    return np.column_stack(outputs)


def test_three_steps_match_the_authors_code_with_one_shared_attention():
    rng = np.random.default_rng(0)
    n_steps, n_in, hidden, K = 3, 5, 6, 4
    embedding = MixedInputEmbedding([], n_numeric=n_in, embedding_dim=2)
    module = AITM(embedding, n_steps, tower_hidden_units=(hidden, K)).double()
    assert len(module.attentions) == 1
    tower_layers = [
        [(rng.normal(size=(n_in, hidden)), rng.normal(size=hidden)),
         (rng.normal(size=(hidden, K)), rng.normal(size=K))]
        for _ in range(n_steps)
    ]
    transfers = [(rng.normal(size=(K, K)), rng.normal(size=K)) for _ in range(n_steps - 1)]
    attention = rng.normal(size=(3, K, K)) * 0.5
    heads = [(rng.normal(size=K), rng.normal()) for _ in range(n_steps)]
    with torch.no_grad():
        for j, linear in enumerate([module.towers[0], module.towers[2]]):
            linear.weight.copy_(torch.tensor(np.stack([layers[j][0] for layers in tower_layers])))
            linear.bias.copy_(torch.tensor(np.stack([layers[j][1] for layers in tower_layers])))
        for mlp, (w, b) in zip(module.transfers, transfers):
            mlp[0].weight.copy_(torch.tensor(w.T))
            mlp[0].bias.copy_(torch.tensor(b))
        ait = module.attentions[0]
        for layer, w in zip([ait.h1, ait.h2, ait.h3], attention):
            layer.weight.copy_(torch.tensor(w.T))
        module.output.weight.copy_(torch.tensor(np.stack([w for w, _ in heads])[:, :, None]))
        module.output.bias.copy_(torch.tensor([[b] for _, b in heads]))
    x = rng.normal(size=(16, n_in))
    categorical = torch.zeros(16, 0, dtype=torch.int64)
    ours = torch.sigmoid(module(categorical, torch.tensor(x))).detach().numpy()
    expected = _authors_aitm(x, tower_layers, transfers, attention, heads)
    np.testing.assert_allclose(ours, expected, rtol=0, atol=1e-6)


def test_calibrator_is_the_batch_mean_of_positive_excess():
    proba = np.array([[0.5, 0.6, 0.1], [0.2, 0.1, 0.3], [0.9, 0.8, 0.7], [0.3, 0.3, 0.3]])
    logits = torch.logit(torch.tensor(proba))
    targets = torch.tensor([[1.0, 1, 0], [0, 0, 0], [1, 1, 1], [1, 0, 0]], dtype=torch.float64)
    excess = np.maximum(proba[:, 1:] - proba[:, :-1], 0).sum(1)  # [0.1, 0.2, 0, 0]
    loss = CalibratedFunnelLoss(calibration_weight=0.6)
    assert loss.penalty(logits).item() == pytest.approx(0.6 * excess.mean())
    assert loss.penalty(logits).item() == pytest.approx(0.6 * 0.3 / 4)
    bce = F.binary_cross_entropy(torch.tensor(proba), targets, reduction="none").mean(0).sum()
    assert loss(logits, targets).item() == pytest.approx(bce.item() + 0.6 * excess.mean())
    assert CalibratedFunnelLoss(calibration_weight=0.0).penalty(logits).item() == 0.0
    weight = torch.tensor([2.0, 1.0, 0.0, 1.0], dtype=torch.float64)
    weighted = (2 * 0.1 + 0.2) / 4  # row 1 counted twice, row 3 dropped
    assert loss.penalty(logits, weight).item() == pytest.approx(0.6 * weighted)


def test_weighting_a_row_equals_repeating_it(funnel3):
    X, Y = funnel3.data[:300], funnel3.target[:300]
    weight = np.random.RandomState(0).randint(0, 3, len(X))
    params = dict(max_epochs=5, optimizer="sgd", lr=0.1, batch_size=10_000, dtype="float64", random_state=0)
    weighted = AITMClassifier(**params).fit(X, Y, sample_weight=weight)
    repeated = AITMClassifier(**params).fit(X.loc[X.index.repeat(weight)], Y.loc[Y.index.repeat(weight)])
    for p, q in zip(weighted.predict_proba(X), repeated.predict_proba(X)):
        np.testing.assert_allclose(p, q, rtol=1e-9)


# ---------------------------------------------------------------- behaviour


def test_funnel_violation_names_the_columns(funnel3):
    Y = funnel3.target.copy()
    rows = np.flatnonzero((Y["click"] == 1) & (Y["step_2"] == 0))[:4]
    Y.loc[rows, "conversion"] = 1
    with pytest.raises(ValueError, match=r"4 row\(s\) have 'conversion'=1 but 'step_2'=0"):
        AITMClassifier(max_epochs=1).fit(funnel3.data, Y)
    with pytest.raises(ValueError, match=r"at least 2 funnel steps.*got 1 task"):
        AITMClassifier(max_epochs=1).fit(funnel3.data, funnel3.target["click"])


def test_attention_weights_and_three_step_fit(funnel3):
    model = AITMClassifier(max_epochs=2, random_state=0).fit(funnel3.data, funnel3.target)
    weights = model.attention_weights(funnel3.data)
    assert weights.shape == (2000, 2, 2)
    np.testing.assert_allclose(weights.sum(-1), 1.0, rtol=1e-6)
    assert len(model.predict_proba(funnel3.data)) == 3
    assert np.isfinite(model.history_[-1, "train_loss_conversion"])


def test_calibrator_reduces_funnel_inversions():
    # The true pCTCVR never exceeds the true pCTR; a fitted model's
    # inversions are errors that the calibrator penalises. Measured with
    # 20 epochs on 10,000 rows (400 steps: embeddings start at 1e-4),
    # inversions at alpha=0 / alpha=0.6 for model seeds 0, 1, 2: 1313 / 1082,
    # 241 / 130, 720 / 501 (18-46% fewer; one seed alone moves a lot with the
    # random stream). At the default signal=2.0 there are too few inversions
    # to show the calibrator; the accuracy suite measures it on its funnel
    # worlds (benchmarks/results_accuracy.txt).
    X, Y = make_funnel(10_000, selection_bias=0.0, signal=4.0, random_state=2, return_X_y=True)
    inversions = {0.0: [], 0.6: []}
    for seed in (0, 1):
        for alpha in inversions:
            model = AITMClassifier(calibration_weight=alpha, max_epochs=20, early_stopping=False,
                                   random_state=seed).fit(X, Y)
            proba = model.predict_proba_frame(X).to_numpy()
            inversions[alpha].append(int((proba[:, 1] > proba[:, 0]).sum()))
    assert all(np.less(inversions[0.6], inversions[0.0])), inversions
    assert sum(inversions[0.6]) < 0.85 * sum(inversions[0.0]), inversions


# -------------------------------------------------------- real data samples


def test_aliexpress_sample_smoke():
    X, Y = load_aliexpress("train")
    X_test, Y_test = load_aliexpress("test")
    model = AITMClassifier(max_epochs=2, batch_size=32, random_state=0).fit(X, Y)
    p_click, p_conversion = model.predict_proba(X_test)
    assert p_click.shape == p_conversion.shape == (20, 2)
    assert model.attention_weights(X_test).shape == (20, 1, 2)
    scores = {name: s(model, X_test, Y_test) for name, s in esmm_scorers().items()}
    assert all(0 <= s <= 1 for s in scores.values()), scores


def test_paddlerec_sample_violates_the_funnel():
    X, Y = load_paddlerec_aitm()
    with pytest.raises(ValueError, match=r"2 row\(s\) have 'purchase'=1 but 'click'=0"):
        AITMClassifier(max_epochs=1).fit(X, Y)
