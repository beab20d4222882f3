"""ReliabilityDisplay: per-task reliability diagrams, drawn with the Agg backend."""

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer, make_column_selector
from sklearn.exceptions import NotFittedError
from sklearn.frozen import FrozenEstimator
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_mtl import ESMMClassifier, SharedBottomClassifier
from sklearn_mtl.calibration import TaskCalibratedClassifier
from sklearn_mtl.datasets import make_funnel
from sklearn_mtl.inspection import ReliabilityDisplay
from sklearn_mtl.metrics import calibration_bins, expected_calibration_error
from sklearn_mtl.preprocessing import CategoricalPassthrough

from ._settings import FAST_PARAMS

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
plt = pytest.importorskip("matplotlib.pyplot")


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def data():
    return make_funnel(2000, random_state=0, return_X_y=True)


@pytest.fixture(scope="module")
def pipe(data):
    X, Y = data
    prep = ColumnTransformer(
        [
            ("cat", CategoricalPassthrough(), make_column_selector(dtype_include="category")),
            ("num", StandardScaler(), make_column_selector(dtype_exclude="category")),
        ]
    ).set_output(transform="pandas")
    # Up-weighted clicks: a visibly miscalibrated model.
    weight = np.where(Y["click"].iloc[:1000] == 1, 4.0, 1.0)
    return Pipeline([("prep", prep), ("model", ESMMClassifier(**FAST_PARAMS))]).fit(
        X.iloc[:1000], Y.iloc[:1000], model__sample_weight=weight
    )


def test_from_predictions_draws_the_bins_of_each_task():
    Y = pd.DataFrame({"click": [0, 1, 0, 1, 1, 0], "buy": [0, 1, np.nan, 0, 1, np.nan]})
    proba = np.array(
        [[0.1, 0.05], [0.8, 0.7], [0.3, 0.9], [0.6, 0.2], [0.9, 0.6], [0.2, 0.0]]
    )
    display = ReliabilityDisplay.from_predictions(Y, proba, n_bins=2, name="model")
    assert list(display.lines_) == ["click", "buy"]
    for t, task in enumerate(Y.columns):
        predicted, observed, counts, _ = calibration_bins(Y[task], proba[:, t], n_bins=2)
        np.testing.assert_allclose(display.lines_[task].get_xdata(), predicted)
        np.testing.assert_allclose(display.lines_[task].get_ydata(), observed)
        assert [text.get_text() for text in display.texts_[task]] == [str(c) for c in counts]
        ece = expected_calibration_error(Y[task], proba[:, t], n_bins=2)
        assert display.ece[task] == pytest.approx(ece)
        legend = [text.get_text() for text in display.axes_[t].get_legend().get_texts()]
        assert legend == ["perfectly calibrated", f"model (ECE {ece:.3f})"]
        assert display.axes_[t].get_title() == task
    # NaN labels are left out: 4 observed rows of "buy".
    assert display.counts["buy"].sum() == 4
    # By hand: click's bins {0.1, 0.2, 0.3} (rate 0) and {0.6, 0.8, 0.9} (rate 1).
    np.testing.assert_allclose(display.mean_predicted["click"], [0.2, 2.3 / 3])
    np.testing.assert_allclose(display.observed_rate["click"], [0.0, 1.0])


def test_before_and_after_calibration_on_the_same_axes(data, pipe):
    X, Y = data
    X_cal, Y_cal = X.iloc[1000:], Y.iloc[1000:]
    before = ReliabilityDisplay.from_estimator(pipe, X_cal, Y_cal, n_bins=5)
    assert list(before.lines_) == ["P(click)", "P(click & conversion)"]
    assert before.estimator_name == "ESMMClassifier"  # the final step names it
    assert before.counts["P(click)"].sum() == len(X_cal)
    calibrated = TaskCalibratedClassifier(FrozenEstimator(pipe), method="sigmoid").fit(X_cal, Y_cal)
    after = ReliabilityDisplay.from_estimator(
        calibrated, X_cal, Y_cal, n_bins=5, name="calibrated", ax=before.axes_, ref_line=False
    )
    assert after.figure_ is before.figure_
    for axis in before.axes_:
        assert len(axis.get_lines()) == 3  # the diagonal and two models
    assert after.ece["P(click)"] < before.ece["P(click)"] / 2
    proba = pipe.predict_proba(X_cal)[1][:, 1]
    assert before.ece["P(click & conversion)"] == pytest.approx(
        expected_calibration_error(Y_cal["conversion"], proba, n_bins=5)
    )


def test_only_binary_tasks_get_a_panel():
    X, Y = make_funnel(400, random_state=0, return_X_y=True)
    Y = Y.assign(spend=np.random.default_rng(0).normal(size=len(Y)))
    model = SharedBottomClassifier(
        task_types=["binary", "binary", "regression"], **FAST_PARAMS
    ).fit(X, Y)
    display = ReliabilityDisplay.from_estimator(model, X, Y, strategy="uniform")
    assert list(display.lines_) == ["click", "conversion"]
    assert len(display.axes_) == 2


def test_errors(data, pipe):
    X, Y = data
    with pytest.raises(ValueError, match="draws 2 panel\\(s\\) but ax holds 1"):
        ReliabilityDisplay.from_estimator(pipe, X, Y, ax=plt.subplots()[1])
    with pytest.raises(NotFittedError):
        ReliabilityDisplay.from_estimator(ESMMClassifier(), X, Y)
    with pytest.raises(TypeError, match="ReliabilityDisplay needs a fitted multi-task"):
        ReliabilityDisplay.from_estimator(StandardScaler().fit(X.select_dtypes("number")), X, Y)
    with pytest.raises(ValueError, match="one column per task"):
        ReliabilityDisplay.from_predictions(Y, np.zeros((len(Y), 3)))
    with pytest.raises(ValueError, match="y_prob must hold probabilities"):
        ReliabilityDisplay.from_predictions(Y, np.full((len(Y), 2), 2.0))
