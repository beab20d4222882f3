import math

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from sklearn_mtl import (
    AITMClassifier,
    ESMMClassifier,
    MMoEClassifier,
    PLEClassifier,
    SharedBottomClassifier,
)
from sklearn_mtl.loss_weighting import DWA, Fixed, GradNorm, PCGrad, Progressive, Uncertainty


class _Tiny(nn.Module):
    """Shared weights ``theta`` (a 1x2 matrix) with task losses ``L_t = theta . a_t``,
    so that task t's gradient on theta is exactly ``a_t``."""

    def __init__(self, theta):
        super().__init__()
        self.theta = nn.Parameter(torch.tensor([theta], dtype=torch.float64))
        self.head = nn.Parameter(torch.tensor(1.0, dtype=torch.float64))

    def shared_parameters(self):
        return [self.theta]

    def task_losses(self, directions):
        rows = [torch.tensor(a, dtype=torch.float64) for a in directions]
        return torch.stack([(self.theta[0] * a).sum() for a in rows]) * self.head


def test_fixed_update():
    tiny = _Tiny([2.0, 1.0])
    strategy = Fixed().setup(2, tiny, task_weights=np.array([2.0, 0.5])).double()
    loss = strategy.backward(tiny.task_losses([(1, 0), (-1, 3)]), 0.0, tiny)
    # 2 * 2 + 0.5 * 1 = 4.5; grad = 2 a_1 + 0.5 a_2.
    assert loss.item() == pytest.approx(4.5)
    np.testing.assert_allclose(tiny.theta.grad.numpy(), [[1.5, 1.5]])


def test_uncertainty_update():
    tiny = _Tiny([2.0, 1.0])
    strategy = Uncertainty().setup(2, tiny).double()
    with torch.no_grad():
        strategy.log_vars.copy_(torch.tensor([0.0, math.log(2.0)], dtype=torch.float64))
    loss = strategy.backward(tiny.task_losses([(1, 0), (-1, 3)]), 0.0, tiny)
    # exp(-s) L + s / 2 with L = (2, 1): 2 + 0.5 + ln(2) / 2.
    assert loss.item() == pytest.approx(2.5 + math.log(2) / 2)
    # d/ds = -exp(-s) L + 1/2 = (-1.5, 0); the network sees weights (1, 0.5).
    np.testing.assert_allclose(strategy.log_vars.grad.numpy(), [-1.5, 0.0], atol=1e-12)
    np.testing.assert_allclose(tiny.theta.grad.numpy(), [[0.5, 1.5]])
    np.testing.assert_allclose(strategy.weights().detach().numpy(), [1.0, 0.5])


def test_gradnorm_update():
    tiny = _Tiny([2.0, 1.0])
    strategy = GradNorm(alpha=1.5).setup(2, tiny).double()
    a, b = (1, 0), (-1, 3)  # L = (2, 1), ||grad|| = (1, sqrt(10))
    strategy.backward(tiny.task_losses([a, b]), 0.0, tiny)
    # First step: L/L(0) = 1 for both, so the target is mean(G) for both and
    # d sum|G_t - target| / dw_t = sign(G_t - mean G) ||grad_t|| (target constant).
    np.testing.assert_allclose(strategy.task_weight.grad.numpy(), [-1.0, math.sqrt(10)])
    np.testing.assert_allclose(tiny.theta.grad.numpy(), [[0.0, 3.0]])
    # Second step at theta (2, 1) but halved task-1 directions: L = (2, 0.5),
    # weights set by hand to (1.5, 0.5) (already summing to n_tasks).
    tiny.theta.grad = None
    with torch.no_grad():
        strategy.task_weight.copy_(torch.tensor([1.5, 0.5]))
    strategy.backward(tiny.task_losses([a, (-0.5, 1.5)]), 0.0, tiny)
    ratio = np.array([2 / 2, 0.5 / 1])
    r = ratio / ratio.mean()
    G = np.array([1.5 * 1.0, 0.5 * math.sqrt(0.25 + 2.25)])
    target = G.mean() * r**1.5
    norms = np.array([1.0, math.sqrt(2.5)])
    np.testing.assert_allclose(strategy.task_weight.grad.numpy(), np.sign(G - target) * norms)
    np.testing.assert_allclose(tiny.theta.grad.numpy(), [[1.5 - 0.25, 0.75]])


@pytest.mark.parametrize(
    "model, layer",
    [
        (MMoEClassifier, "experts.0.weight"),
        (PLEClassifier, "levels.1.shared_experts.0.weight"),
        (SharedBottomClassifier, "bottom.2.weight"),
    ],
)
def test_gradnorm_balances_the_last_shared_weight_matrix(model, layer):
    # Stacked experts hold their biases as matrices too: GradNorm's W is the weight.
    X, Y, _ = _data()
    est = model(loss_weighting="gradnorm", max_epochs=1, random_state=0).fit(X, Y)
    network = est.net_.module_
    chosen = GradNorm._last_shared_weight(network)
    assert chosen is dict(network.named_parameters())[layer]


def test_gradnorm_renormalises_weights():
    tiny = _Tiny([2.0, 1.0])
    strategy = GradNorm().setup(2, tiny).double()
    with torch.no_grad():
        strategy.task_weight.copy_(torch.tensor([3.0, 1.0]))
    strategy.backward(tiny.task_losses([(1, 0), (-1, 3)]), 0.0, tiny)
    np.testing.assert_allclose(strategy.weights().numpy(), [1.5, 0.5])


def test_dwa_update():
    strategy = DWA(temperature=2.0).setup(2, None).double()
    strategy.epoch_end(torch.tensor([1.0, 1.0]))
    np.testing.assert_allclose(strategy.weights().numpy(), [1.0, 1.0])
    strategy.epoch_end(torch.tensor([0.5, 1.0]))
    # r = (0.5, 1); w = 2 softmax(r / 2).
    e = np.exp([0.25, 0.5])
    np.testing.assert_allclose(strategy.weights().numpy(), 2 * e / e.sum())


def test_dwa_counts_a_task_unobserved_in_an_epoch_as_unchanged():
    strategy = DWA(temperature=1.0).setup(3, None).double()
    strategy.epoch_end(torch.tensor([1.0, 1.0, 1.0]))
    strategy.epoch_end(torch.tensor([0.5, float("nan"), 2.0]))
    e = np.exp(np.array([0.5, 1.0, 2.0]) - 2.0)
    np.testing.assert_allclose(strategy.weights().numpy(), 3 * e / e.sum())
    assert all(torch.isfinite(buffer).all() for buffer in strategy.buffers() if buffer.is_floating_point())


def test_progressive_weights_decay_per_epoch():
    strategy = Progressive(decay=[0.5, 1.1]).setup(2, None, task_weights=[2.0, 1.0]).double()
    np.testing.assert_allclose(strategy.combine(torch.tensor([1.0, 3.0])).item(), 2.0 + 3.0)
    for _ in range(3):
        strategy.epoch_end(torch.tensor([1.0, 1.0]))
    # epoch 3: (2 * 0.5^3, 1 * 1.1^3) = (0.25, 1.331)
    np.testing.assert_allclose(strategy.weights().numpy(), [0.25, 1.331])
    assert strategy.combine(torch.tensor([4.0, 1.0])).item() == pytest.approx(1.0 + 1.331)
    with pytest.raises(ValueError, match="one positive rate, or one per task"):
        Progressive(decay=[0.5, 0.9, 0.9]).setup(2, None)


def test_progressive_weights_are_recorded_per_epoch():
    X, Y, _ = _data()
    est = MMoEClassifier(
        loss_weighting=Progressive(decay=[0.5, 1.0]), task_weights=[4.0, 1.0], max_epochs=3,
        random_state=0,
    ).fit(X, Y)
    np.testing.assert_allclose(est.history_[:, "loss_weight_task_0"], [4.0, 2.0, 1.0])
    np.testing.assert_allclose(est.history_[:, "loss_weight_task_1"], [1.0, 1.0, 1.0])


def test_pcgrad_update():
    tiny = _Tiny([2.0, 1.0])
    strategy = PCGrad().setup(2, tiny).double()
    loss = strategy.backward(tiny.task_losses([(1, 0), (-1, 1)]), 0.0, tiny)
    # a.b = -1 < 0: a' = a + b/2 = (0.5, 0.5), b' = b + a = (0, 1).
    np.testing.assert_allclose(tiny.theta.grad.numpy(), [[0.5, 1.5]])
    # Non-shared parameters keep the plain gradient of sum_t L_t.
    assert tiny.head.grad.item() == pytest.approx(loss.item())


def test_pcgrad_leaves_agreeing_gradients():
    tiny = _Tiny([2.0, 1.0])
    PCGrad().setup(2, tiny).double().backward(tiny.task_losses([(1, 0), (1, 1)]), 0.0, tiny)
    np.testing.assert_allclose(tiny.theta.grad.numpy(), [[2.0, 1.0]])


def _data(n=240, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.normal(size=(n, 4))
    Y = np.column_stack([X[:, 0] > 0, X[:, 0] + X[:, 1] > 0]).astype(float)
    Y[::3, 1] = np.nan
    return X, Y, rng.uniform(0.5, 2.0, size=n)


@pytest.mark.parametrize(
    "strategy", ["fixed", "uncertainty", "gradnorm", "dwa", "pcgrad", "progressive"]
)
@pytest.mark.parametrize("model", [PLEClassifier, MMoEClassifier, SharedBottomClassifier])
def test_every_strategy_trains_every_model(model, strategy):
    X, Y, w = _data()
    est = model(loss_weighting=strategy, max_epochs=4, lr=1e-2, dtype="float64", random_state=0)
    est.fit(X, Y, sample_weight=w)
    weights = [est.history_[:, f"loss_weight_task_{t}"] for t in range(2)]
    assert np.isfinite(weights).all()
    assert np.isfinite(est.predict_proba(X)[1]).all()


@pytest.mark.parametrize(
    "strategy", ["fixed", "uncertainty", "gradnorm", "dwa", "pcgrad", "progressive"]
)
def test_every_strategy_trains_a_single_epoch(strategy):
    # A strategy's state before its first update (DWA's loss history) must
    # not read as a diverged network.
    X, Y, _ = _data()
    est = MMoEClassifier(loss_weighting=strategy, max_epochs=1, random_state=0).fit(X, Y)
    assert np.isfinite(est.predict_proba(X)[1]).all()


def test_learnable_weights_are_trained_by_the_optimizer():
    X, Y, _ = _data()
    est = MMoEClassifier(loss_weighting="uncertainty", max_epochs=3, random_state=0).fit(X, Y)
    names = [name for name, _ in est.net_.get_all_learnable_params()]
    assert "log_vars" in names
    first = est.history_[0, "loss_weight_task_0"]
    assert first != pytest.approx(1.0, abs=1e-4)


def test_strategy_instance_is_not_changed_by_fit():
    X, Y, _ = _data()
    strategy = GradNorm(alpha=0.5)
    est = SharedBottomClassifier(loss_weighting=strategy, max_epochs=2, random_state=0).fit(X, Y)
    assert est.loss_weighting is strategy and not hasattr(strategy, "task_weight")
    assert est.net_.loss_weighting_.alpha == 0.5


def test_errors_name_the_parameter():
    X, Y, _ = _data(60)
    with pytest.raises(ValueError, match="loss_weighting"):
        MMoEClassifier(loss_weighting="equal").fit(X, Y)
    with pytest.raises(ValueError, match="task_weights"):
        MMoEClassifier(loss_weighting="dwa", task_weights=[1, 2], max_epochs=1).fit(X, Y)


def test_gradient_strategies_need_shared_parameters():
    class NoShared(SharedBottomClassifier):
        def _build_module(self, embedding, n_tasks):
            module = super()._build_module(embedding, n_tasks)
            module.shared_parameters = None
            return module

    X, Y, _ = _data(60)
    with pytest.raises(ValueError, match="shared_parameters"):
        NoShared(loss_weighting="pcgrad", max_epochs=1).fit(X, Y)


def test_funnel_models_balance_through_their_shared_embeddings():
    rng = np.random.RandomState(0)
    X = pd.DataFrame({"a": rng.normal(size=80), "city": pd.Categorical(rng.choice(list("abc"), 80))})
    click = rng.randint(0, 2, 80)
    Y = pd.DataFrame({"click": click, "buy": click * rng.randint(0, 2, 80)})
    for Model in (ESMMClassifier, AITMClassifier):
        for strategy in ("gradnorm", "pcgrad"):
            model = Model(loss_weighting=strategy, max_epochs=2, random_state=0).fit(X, Y)
            assert np.isfinite(model.history_[-1, "loss_weight_buy"])
        # numeric features only: nothing is shared, which is said plainly
        with pytest.raises(ValueError, match="shares no trainable parameter"):
            Model(loss_weighting="pcgrad", max_epochs=1).fit(X[["a"]], Y)
