import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.metrics import r2_score, roc_auc_score

from sklearn_mtl import MMoEClassifier, PLEClassifier, SharedBottomClassifier
from sklearn_mtl._data import module_inputs
from sklearn_mtl.datasets import load_census_income
from sklearn_mtl.metrics import make_task_scorer, task_scorers


def _mixed(n=300, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.normal(size=(n, 4))
    Y = pd.DataFrame(
        {
            "value": 50.0 + 10.0 * (X[:, 0] + 0.5 * X[:, 1]) + rng.normal(scale=1.0, size=n),
            "label": np.where(X[:, 0] > 0, "yes", "no"),
        }
    )
    return X, Y


@pytest.fixture(scope="module")
def mixed_model():
    X, Y = _mixed()
    model = MMoEClassifier(
        task_types=["regression", "binary"], max_epochs=40, lr=1e-2, random_state=0
    ).fit(X, Y)
    return model, X, Y


def test_mixed_predict_proba_score_and_scorers(mixed_model):
    model, X, Y = mixed_model
    assert model.task_types_ == ["regression", "binary"]
    assert model.classes_[0] is None and list(model.classes_[1]) == ["no", "yes"]
    Y_pred = model.predict(X)
    # String classes and float values have no common NumPy type.
    assert Y_pred.dtype == object and Y_pred.shape == (300, 2)
    r2 = r2_score(Y["value"], Y_pred[:, 0].astype(float))
    accuracy = np.mean(Y_pred[:, 1] == Y["label"])
    assert r2 > 0.8 and accuracy > 0.9
    proba = model.predict_proba(X)
    assert proba[0] is None and proba[1].shape == (300, 2)
    # score ranks: R2 of the regression task, ROC AUC of the binary one.
    auc = roc_auc_score(Y["label"] == "yes", proba[1][:, 1])
    assert model.score(X, Y) == pytest.approx((r2 + auc) / 2)
    assert list(model.predict_proba_frame(X).columns) == ["label"]
    assert make_task_scorer("r2", "value")(model, X, Y) == pytest.approx(r2)
    mse = np.mean((Y["value"] - Y_pred[:, 0].astype(float)) ** 2)
    assert task_scorers(["value"], ("mean_squared_error",))["neg_mean_squared_error_value"](
        model, X, Y
    ) == pytest.approx(-mse)
    with pytest.raises(ValueError, match="regression task"):
        make_task_scorer("roc_auc", "value")(model, X, Y)
    with pytest.raises(ValueError, match="binary task"):
        make_task_scorer("r2", "label")(model, X, Y)


def test_numeric_classes_and_values_predict_float():
    X, Y = _mixed()
    Y["label"] = (Y["label"] == "yes").astype(int)
    model = SharedBottomClassifier(
        task_types=["regression", "binary"], regression_loss="huber", max_epochs=3, random_state=0
    ).fit(X, Y)
    assert model.predict(X).dtype == np.float64


def test_regression_only_model():
    X, Y = _mixed()
    model = PLEClassifier(task_types=["regression"], max_epochs=30, lr=1e-2, random_state=0)
    model.fit(X, Y["value"])
    assert model.predict(X).shape == (300,)
    assert model.score(X, Y["value"]) > 0.8
    with pytest.raises(ValueError, match="regression task"):
        model.predict_proba(X)


def test_validation_history_records_regression_metrics():
    X, Y = _mixed(400)
    Y.loc[::4, "value"] = np.nan
    model = MMoEClassifier(
        task_types=["regression", "binary"], early_stopping=True, early_stopping_monitor="value",
        max_epochs=3, random_state=0,
    ).fit(X, Y)
    last = model.history_[-1]
    keys = ["valid_r2_value", "valid_mean_squared_error_value", "valid_r2", "valid_roc_auc_label"]
    for key in keys:
        assert np.isfinite(last[key])
    assert "valid_roc_auc_value" not in last


def _permute_masked_rows(X, masked, seed=0):
    """Shuffle the features among the masked rows: every column's mean and
    standard deviation (hence the input scaling) stay the same."""
    rows = np.flatnonzero(masked)
    X = X.copy()
    X[rows] = X[np.random.RandomState(seed).permutation(rows)]
    return X


@pytest.mark.parametrize("kind", ["binary", "regression"])
def test_masked_rows_do_not_change_training(kind):
    """A task fitted on its observed rows only: what the NaN rows hold in X
    does not change the training result."""
    rng = np.random.RandomState(0)
    X = rng.normal(size=(200, 3))
    clicked = X[:, 0] > 0
    target = (X[:, 1] > 0).astype(float) if kind == "binary" else X[:, 1] * 3.0 + 1.0
    y = np.where(clicked, target, np.nan)
    params = dict(task_types=[kind], optimizer="sgd", lr=0.1, batch_size=32, max_epochs=3,
                  dtype="float64", random_state=0)
    a = PLEClassifier(**params).fit(X, y)
    b = PLEClassifier(**params).fit(_permute_masked_rows(X, ~clicked), y)
    for p, q in zip(a.net_.module_.parameters(), b.net_.module_.parameters()):
        np.testing.assert_allclose(p.detach().numpy(), q.detach().numpy(), rtol=1e-9, atol=1e-12)


def test_conversion_gradient_ignores_unclicked_rows():
    """The PLE paper's per-task sample spaces: click is trained on all rows,
    conversion on clicked rows only (NaN elsewhere). The conversion loss's
    gradient does not depend on the unclicked rows' features."""
    rng = np.random.RandomState(0)
    X = rng.normal(size=(200, 3))
    click = (X[:, 0] > 0).astype(float)
    conversion = np.where(click == 1, (X[:, 1] > 0).astype(float), np.nan)
    Y = np.column_stack([click, conversion])
    model = PLEClassifier(max_epochs=1, dtype="float64", random_state=0).fit(X, Y)
    net = model.net_

    def conversion_gradient(features):
        net.module_.zero_grad()
        inputs = module_inputs(model._feature_encoder.transform(features), torch.float64)
        logits = net.module_(**inputs)
        net.criterion_.task_losses(logits, torch.from_numpy(Y))[1].backward()
        return [p.grad.clone() for p in net.module_.parameters() if p.grad is not None]

    changed = X.copy()
    changed[click == 0] = rng.normal(scale=5.0, size=((click == 0).sum(), 3))
    for g, h in zip(conversion_gradient(X), conversion_gradient(changed)):
        torch.testing.assert_close(g, h)


@pytest.mark.parametrize(
    "task_types, error, match",
    [
        (["binary"], ValueError, "task_types has 1 entries"),
        (["binary", "ordinal"], ValueError, "ordinal"),
        ("regression", TypeError, "task_types"),
    ],
)
def test_task_types_errors(task_types, error, match):
    X, Y = _mixed(50)
    with pytest.raises(error, match=match):
        MMoEClassifier(task_types=task_types, max_epochs=1).fit(X, Y)


def test_regression_targets_must_be_numeric():
    X, Y = _mixed(50)
    with pytest.raises(ValueError, match="'label' is a regression task"):
        MMoEClassifier(task_types=["regression", "regression"], max_epochs=1).fit(X, Y)


def test_census_weeks_worked_and_never_married():
    """Mixed tasks end to end: weeks worked (regression, taken out of X) and
    never married (binary) on the embedded census-income sample."""
    X, Y = load_census_income(return_X_y=True)
    X_test, Y_test = load_census_income(subset="test", return_X_y=True)

    def tasks(X, Y):
        T = pd.DataFrame({"weeks_worked": X["weeks_worked"], "never_married": Y["never_married"]})
        return X.drop(columns="weeks_worked"), T

    X, T = tasks(X[:8000], Y[:8000])
    X_test, T_test = tasks(X_test[:5000], Y_test[:5000])
    model = PLEClassifier(
        task_types=["regression", "binary"], max_epochs=8, early_stopping=False, random_state=0
    ).fit(X, T)
    r2 = make_task_scorer("r2", "weeks_worked")(model, X_test, T_test)
    auc = roc_auc_score(T_test["never_married"], model.predict_proba(X_test)[1][:, 1])
    assert r2 > 0.75 and auc > 0.95


def test_model_whose_loss_is_binary_only_rejects_regression():
    class BinaryOnly(SharedBottomClassifier):
        def _build_criterion(self, n_tasks):
            from sklearn_mtl.losses import MultiTaskLoss

            return MultiTaskLoss()

    X, Y = _mixed(50)
    with pytest.raises(ValueError, match="binary tasks only"):
        BinaryOnly(task_types=["regression", "binary"], max_epochs=1).fit(X, Y)
