"""pos_weight: per-task weights of positive labels in the binary cross-entropy."""

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from sklearn.base import clone
from sklearn.compose import make_column_transformer
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_mtl import ESCM2Classifier, ESMMClassifier, MMoEClassifier, SharedBottomClassifier
from sklearn_mtl.losses import MultiTaskLoss
from sklearn_mtl.metrics import task_scorers
from sklearn_mtl.preprocessing import CategoricalPassthrough

from ._settings import FAST_PARAMS

PARAMS = {**FAST_PARAMS, "max_epochs": 1, "batch_size": 64}


def _funnel(n=240, seed=0):
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(
        {"age": rng.normal(40, 10, n), "city": pd.Categorical(rng.choice(list("abcd"), n))}
    )
    click = (rng.random(n) < 0.4).astype(int)
    buy = click * (rng.random(n) < 0.25)
    return X, pd.DataFrame({"click": click, "buy": buy})


def _pipeline(model):
    columns = make_column_transformer(
        (StandardScaler(), ["age"]),
        (CategoricalPassthrough(), ["city"]),
        verbose_feature_names_out=False,
    ).set_output(transform="pandas")
    return make_pipeline(columns, model)


def _reference_bce(logits, targets, pos_weight, sample_weight):
    """Hand-written weighted BCE, each task's mean over its labelled rows, summed."""
    p = torch.sigmoid(logits)
    observed = ~torch.isnan(targets)
    y = torch.nan_to_num(targets)
    per_element = -(pos_weight * y * torch.log(p) + (1 - y) * torch.log(1 - p))
    w = sample_weight[:, None] * observed
    return ((per_element * w).sum(0) / w.sum(0)).sum()


@pytest.mark.parametrize("seed", range(3))
def test_gradient_equals_the_reference_weighted_bce(seed):
    generator = torch.Generator().manual_seed(seed)
    logits = torch.randn(7, 3, generator=generator, dtype=torch.float64)
    targets = torch.tensor(
        [[1, 0, 1], [0, 0, 1], [1, 1, 0], [0, float("nan"), 1], [1, 0, 0], [0, 1, 1], [1, 0, 0]],
        dtype=torch.float64,
    )
    sample_weight = torch.rand(7, generator=generator, dtype=torch.float64) + 0.5
    pos_weight = torch.tensor([1.0, 4.0, 0.5], dtype=torch.float64)

    got = logits.clone().requires_grad_()
    loss = MultiTaskLoss(losses=["bce"] * 3).weigh_positives(pos_weight).to(torch.float64)
    loss(got, targets, sample_weight).backward()
    expected = logits.clone().requires_grad_()
    _reference_bce(expected, targets, pos_weight, sample_weight).backward()
    torch.testing.assert_close(got.grad, expected.grad)
    # torch's own weighted BCE agrees on the rows the mask keeps.
    plain = F.binary_cross_entropy_with_logits(
        logits[:, 1], targets[:, 0], pos_weight=pos_weight[1]
    )
    torch.testing.assert_close(
        MultiTaskLoss().weigh_positives([4.0]).to(torch.float64).task_losses(
            logits[:, 1:2], targets[:, :1]
        )[0],
        plain,
    )


def test_pos_weight_leaves_other_task_types_alone():
    logits = torch.tensor([[0.3, 1.0], [-0.2, 2.0]])
    targets = torch.tensor([[1.0, 0.5], [0.0, -1.0]])
    losses = MultiTaskLoss(losses=["bce", "mse"])
    weighted = MultiTaskLoss(losses=["bce", "mse"]).weigh_positives([3.0, 1.0])
    assert weighted.task_losses(logits, targets)[1] == losses.task_losses(logits, targets)[1]
    assert weighted.task_losses(logits, targets)[0] > losses.task_losses(logits, targets)[0]


@pytest.mark.parametrize("Model", [SharedBottomClassifier, ESMMClassifier])
@pytest.mark.parametrize("with_sample_weight", [False, True])
def test_balanced_equals_the_explicit_ratio(Model, with_sample_weight):
    X, Y = _funnel()
    sample_weight = np.linspace(0.5, 2.0, len(X)) if with_sample_weight else None
    weight = np.ones(len(X)) if sample_weight is None else sample_weight
    ratio = {
        task: weight[Y[task] == 0].sum() / weight[Y[task] == 1].sum() for task in Y.columns
    }
    balanced = _pipeline(Model(pos_weight={"buy": "balanced"}, **PARAMS))
    explicit = clone(balanced).set_params(
        **{f"{balanced.steps[-1][0]}__pos_weight": {"buy": ratio["buy"]}}
    )
    fit_params = {f"{balanced.steps[-1][0]}__sample_weight": sample_weight}
    balanced.fit(X, Y, **fit_params)
    explicit.fit(X, Y, **fit_params)
    np.testing.assert_allclose(
        balanced[-1].net_.criterion_.pos_weight, [1.0, ratio["buy"]], rtol=1e-6
    )
    for p_balanced, p_explicit in zip(balanced.predict_proba(X), explicit.predict_proba(X)):
        np.testing.assert_allclose(p_balanced, p_explicit, rtol=1e-6)
    every_task = Model(pos_weight="balanced", **PARAMS).fit(X, Y, sample_weight=sample_weight)
    np.testing.assert_allclose(
        every_task.net_.criterion_.pos_weight, [ratio["click"], ratio["buy"]], rtol=1e-6
    )


def test_positive_weights_raise_the_predicted_rate():
    X, Y = _funnel()
    params = {**PARAMS, "max_epochs": 5}
    plain = ESMMClassifier(**params).fit(X, Y)
    weighted = ESMMClassifier(pos_weight={"buy": 10.0}, **params).fit(X, Y)
    # The weighted conversion step is pCTCVR: its mean prediction rises.
    assert weighted.predict_proba(X)[1][:, 1].mean() > plain.predict_proba(X)[1][:, 1].mean()


@pytest.mark.parametrize(
    "pos_weight, match",
    [
        ({"purchase": 2.0}, r"unknown task\(s\) \['purchase'\]; the tasks are \['click', 'buy'\]"),
        ({"buy": -1.0}, r"pos_weight of task 'buy' must be a positive finite float"),
        ({"buy": "often"}, r"pos_weight of task 'buy'"),
        (-2.0, r"'pos_weight' parameter .* must be a float in the range \(0.0, inf\)"),
        ("auto", r"'pos_weight' parameter"),
    ],
)
def test_invalid_pos_weight_is_named(pos_weight, match):
    X, Y = _funnel(n=40)
    with pytest.raises(ValueError, match=match):
        MMoEClassifier(pos_weight=pos_weight, **PARAMS).fit(X, Y)


def test_pos_weight_of_a_regression_task_is_refused():
    X, Y = _funnel(n=40)
    Y = Y.assign(spend=X["age"] / 10)
    model = SharedBottomClassifier(
        task_types=["binary", "binary", "regression"], pos_weight={"spend": 2.0}, **PARAMS
    )
    with pytest.raises(ValueError, match=r"\['spend'\] are not binary"):
        model.fit(X, Y)
    # A float weighs the binary tasks only.
    model.set_params(pos_weight=2.0).fit(X, Y)
    np.testing.assert_array_equal(model.net_.criterion_.pos_weight, [2.0, 2.0, 1.0])


def test_balanced_needs_both_labels():
    # A first partial_fit batch without a conversion has no ratio to balance.
    X, Y = _funnel(n=40)
    Y["buy"] = 0
    model = ESCM2Classifier(pos_weight={"buy": "balanced"}, **PARAMS)
    with pytest.raises(ValueError, match=r"'balanced' for task 'buy' needs positive and negative"):
        model.partial_fit(X, Y, classes=[[0, 1], [0, 1]])


def test_grid_search_clones_and_refits_pos_weight():
    X, Y = _funnel()
    grid = [None, {"buy": "balanced"}, {"buy": 5.0}]
    search = GridSearchCV(
        _pipeline(ESMMClassifier(**PARAMS)),
        {"esmmclassifier__pos_weight": grid},
        scoring=task_scorers(["click", "buy"]),
        refit="roc_auc_buy",
        cv=2,
    ).fit(X, Y)
    assert list(search.cv_results_["param_esmmclassifier__pos_weight"]) == grid
    best = search.best_estimator_[-1]
    assert best.pos_weight == search.best_params_["esmmclassifier__pos_weight"]
    expected = 1.0 if best.pos_weight is None else best.net_.criterion_.pos_weight[1]
    assert float(expected) >= 1.0


def test_pos_weight_survives_save_and_load(tmp_path):
    from sklearn_mtl.persistence import load, save

    X, Y = _funnel(n=80)
    model = ESMMClassifier(pos_weight={"buy": "balanced"}, **PARAMS).fit(X, Y)
    save(model, tmp_path / "model.zip")
    loaded = load(tmp_path / "model.zip")
    torch.testing.assert_close(loaded.net_.criterion_.pos_weight, model.net_.criterion_.pos_weight)
    assert loaded.pos_weight == {"buy": "balanced"}


def test_warm_start_refuses_a_changed_pos_weight():
    X, Y = _funnel(n=80)
    model = ESMMClassifier(pos_weight=2.0, warm_start=True, **PARAMS).fit(X, Y)
    with pytest.raises(ValueError, match="pos_weight"):
        model.set_params(pos_weight=3.0).fit(X, Y)


def test_balanced_out_of_core_counts_the_labels_of_every_chunk():
    from sklearn_mtl import ChunkedData

    X, Y = _funnel(n=120)
    X = X.assign(city=X["city"].cat.codes)
    # The positives sit in the last chunk only: the ratio must come from all of them.
    order = np.argsort(Y["buy"].to_numpy(), kind="stable")
    X, Y = X.iloc[order].reset_index(drop=True), Y.iloc[order].reset_index(drop=True)
    parts = [(X[i : i + 40], Y[i : i + 40]) for i in range(0, 120, 40)]
    params = {**PARAMS, "early_stopping": False}
    chunked = ESMMClassifier(pos_weight={"buy": "balanced"}, **params).fit(
        ChunkedData(lambda: parts)
    )
    buy = Y["buy"].to_numpy()
    ratio = (buy == 0).sum() / (buy == 1).sum()
    np.testing.assert_allclose(chunked.net_.criterion_.pos_weight, [1.0, ratio], rtol=1e-6)
    in_memory = ESMMClassifier(pos_weight={"buy": "balanced"}, **params).fit(X, Y)
    np.testing.assert_allclose(
        chunked.net_.criterion_.pos_weight, in_memory.net_.criterion_.pos_weight, rtol=1e-6
    )
