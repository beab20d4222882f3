"""The Display objects of sklearn_mtl.inspection, drawn with the Agg backend."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.exceptions import NotFittedError
from sklearn.frozen import FrozenEstimator
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_mtl import (
    AITMClassifier,
    ESMMClassifier,
    MMoEClassifier,
    PLEClassifier,
    SharedBottomClassifier,
)
from sklearn_mtl.calibration import TaskCalibratedClassifier
from sklearn_mtl.datasets import make_funnel
from sklearn_mtl.inspection import (
    AttentionDisplay,
    GateWeightsDisplay,
    ReliabilityDisplay,
    TrainingHistoryDisplay,
)
from sklearn_mtl.metrics import calibration_bins, expected_calibration_error

from ._settings import FAST_PARAMS
from .test_inspection import _pipeline

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
plt = pytest.importorskip("matplotlib.pyplot")


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def data():
    return make_funnel(600, n_categorical=2, n_numeric=3, random_state=0, return_X_y=True)


@pytest.fixture(scope="module")
def mmoe(data):
    X, Y = data
    params = {**FAST_PARAMS, "early_stopping": True, "validation_fraction": 0.25}
    return MMoEClassifier(num_experts=3, loss_weighting="uncertainty", **params).fit(X, Y)


def test_import_does_not_import_matplotlib():
    # Every public module, as found at run time, in a fresh interpreter.
    code = (
        "import importlib, sys\n"
        "from sklearn_mtl._discovery import public_modules\n"
        "for name in public_modules():\n"
        "    importlib.import_module(name)\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'matplotlib'))"
    )
    root = Path(__file__).resolve().parents[1]
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=root
    )
    assert out.stdout.strip() == "[]"


def test_training_history_draws_recorded_curves(mmoe):
    display = TrainingHistoryDisplay.from_estimator(mmoe)
    history = mmoe.history_
    assert list(display.lines_) == ["loss", "metric", "loss_weight"]
    assert len(display.axes_) == 3
    lines = display.lines_
    np.testing.assert_allclose(
        lines["loss"]["train click"].get_ydata(), history[:, "train_loss_click"]
    )
    np.testing.assert_allclose(
        lines["loss"]["valid conversion"].get_ydata(), history[:, "valid_loss_conversion"]
    )
    np.testing.assert_allclose(
        lines["metric"]["conversion"].get_ydata(), history[:, "valid_roc_auc_conversion"]
    )
    np.testing.assert_allclose(
        lines["loss_weight"]["click"].get_ydata(), history[:, "loss_weight_click"]
    )
    np.testing.assert_array_equal(lines["metric"]["click"].get_xdata(), [1, 2, 3])
    # A task's train and validation loss share a colour.
    assert lines["loss"]["train click"].get_color() == lines["loss"]["valid click"].get_color()


def test_training_history_leaves_out_unrecorded_panels(data):
    X, Y = data
    model = SharedBottomClassifier(**FAST_PARAMS).fit(X, Y)
    display = TrainingHistoryDisplay.from_estimator(model)
    assert list(display.lines_) == ["loss", "loss_weight"]
    assert sorted(display.lines_["loss"]) == ["train click", "train conversion"]


def test_training_history_through_pipeline_and_given_axes(data, mmoe):
    X, Y = data
    pipe = Pipeline([("scale", StandardScaler()), ("mtl", MMoEClassifier(**FAST_PARAMS))])
    pipe.fit(X.select_dtypes("number"), Y)
    fig, axes = plt.subplots(1, 2)
    # Without a validation set there is no metric panel: one Axes is enough.
    display = TrainingHistoryDisplay.from_estimator(pipe, panels=["metric", "loss"], ax=axes[1])
    assert display.figure_ is fig and display.axes_[0] is axes[1]
    assert list(display.lines_) == ["loss"]
    with pytest.raises(ValueError, match="draws 3 panel"):
        TrainingHistoryDisplay.from_estimator(mmoe, ax=axes)
    with pytest.raises(ValueError, match="Unknown panels"):
        TrainingHistoryDisplay.from_estimator(mmoe, panels=["accuracy"])


def test_gate_weights_mmoe_heatmap_is_mean_utilisation(data, mmoe):
    X, _ = data
    display = GateWeightsDisplay.from_estimator(mmoe, X)
    expected = mmoe.gate_weights(X).mean(axis=0)
    np.testing.assert_allclose(display.images_[0].get_array(), expected)
    assert display.gate_names == [["click", "conversion"]]
    assert display.expert_names == [["expert 0", "expert 1", "expert 2"]]
    assert display.texts_[0][1, 2].get_text() == format(expected[1, 2], ".2f")


def test_gate_weights_ple_levels_through_pipeline(data):
    X, Y = data
    numeric = X.select_dtypes("number").columns
    prep = ColumnTransformer([("num", StandardScaler(), numeric)], remainder="passthrough")
    prep.set_output(transform="pandas")
    ple = PLEClassifier(num_levels=2, num_specific_experts=1, num_shared_experts=2, **FAST_PARAMS)
    pipe = Pipeline([("prep", prep), ("mtl", ple)]).fit(X, Y)
    display = GateWeightsDisplay.from_estimator(pipe, X, values_format=None)
    levels = pipe[-1].gate_weights(prep.transform(X))
    assert len(display.images_) == len(display.axes_) == 2
    for image, level in zip(display.images_, levels):
        np.testing.assert_allclose(image.get_array(), level.mean(axis=0))
    assert display.gate_names[0] == ["click", "conversion", "shared"]
    assert display.gate_names[1] == ["click", "conversion"]
    assert display.expert_names[1] == ["click 0", "conversion 1", "shared 2", "shared 3"]
    # The click gate cannot see the conversion expert: exactly zero there.
    assert display.utilisation[0][0, 1] == 0.0
    assert all(t is None for t in display.texts_[0].ravel())


def test_displays_need_a_fitted_model_of_the_right_kind(data):
    X, Y = data
    model = SharedBottomClassifier(**FAST_PARAMS).fit(X, Y)
    with pytest.raises(TypeError, match="gate_weights.*SharedBottomClassifier"):
        GateWeightsDisplay.from_estimator(model, X)
    with pytest.raises(TypeError, match="attention_weights.*SharedBottomClassifier"):
        AttentionDisplay.from_estimator(model, X)
    with pytest.raises(NotFittedError):
        TrainingHistoryDisplay.from_estimator(MMoEClassifier())
    with pytest.raises(NotFittedError):
        GateWeightsDisplay.from_estimator(Pipeline([("mtl", MMoEClassifier())]), X)


def test_attention_display_histograms_the_transfer_weight(data):
    X, Y = data
    model = AITMClassifier(**FAST_PARAMS).fit(X, Y)
    display = AttentionDisplay.from_estimator(model, X, bins=10)
    transferred = model.attention_weights(X)[:, 0, 0]
    np.testing.assert_allclose(display.transfer_weights[:, 0], transferred)
    expected, _ = np.histogram(transferred, bins=10, range=(0, 1))
    np.testing.assert_array_equal(display.counts_[0], expected)
    assert display.step_names == ["click -> conversion"]
    assert f"mean {transferred.mean():.2f}" in display.ax_.get_legend().get_texts()[0].get_text()


@pytest.fixture(scope="module")
def funnel_2000():
    return make_funnel(2000, random_state=0, return_X_y=True)


@pytest.fixture(scope="module")
def esmm_pipe(funnel_2000):
    X, Y = funnel_2000
    # Up-weighted clicks: a visibly miscalibrated model.
    weight = np.where(Y["click"].iloc[:1000] == 1, 4.0, 1.0)
    return _pipeline(ESMMClassifier(**FAST_PARAMS)).fit(
        X.iloc[:1000], Y.iloc[:1000], model__sample_weight=weight
    )


def test_reliability_from_predictions_draws_the_bins_of_each_task():
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


def test_reliability_before_and_after_calibration_on_the_same_axes(funnel_2000, esmm_pipe):
    X, Y = funnel_2000
    pipe = esmm_pipe
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


def test_reliability_only_binary_tasks_get_a_panel():
    X, Y = make_funnel(400, random_state=0, return_X_y=True)
    Y = Y.assign(spend=np.random.default_rng(0).normal(size=len(Y)))
    model = SharedBottomClassifier(
        task_types=["binary", "binary", "regression"], **FAST_PARAMS
    ).fit(X, Y)
    display = ReliabilityDisplay.from_estimator(model, X, Y, strategy="uniform")
    assert list(display.lines_) == ["click", "conversion"]
    assert len(display.axes_) == 2


def test_reliability_errors(funnel_2000, esmm_pipe):
    X, Y = funnel_2000
    pipe = esmm_pipe
    with pytest.raises(ValueError, match="draws 2 panel\\(s\\) but ax holds 1"):
        ReliabilityDisplay.from_estimator(pipe, X, Y, ax=plt.subplots()[1])
    with pytest.raises(NotFittedError):
        ReliabilityDisplay.from_estimator(ESMMClassifier(), X, Y)
    with pytest.raises(TypeError, match="ReliabilityDisplay needs a fitted multi-task"):
        ReliabilityDisplay.from_estimator(StandardScaler().fit(X.select_dtypes("number")), X, Y)
    with pytest.raises(ValueError, match="one column per task"):
        ReliabilityDisplay.from_predictions(Y, np.zeros((len(Y), 3)))
    with pytest.raises(ValueError, match="one column per task"):
        ReliabilityDisplay.from_predictions(Y, np.zeros(7))
    with pytest.raises(ValueError, match="Y must hold 0/1 labels.*'click'"):
        ReliabilityDisplay.from_predictions(Y.replace({0: "no", 1: "yes"}), np.zeros(Y.shape))
    with pytest.raises(ValueError, match="y_prob must hold probabilities"):
        ReliabilityDisplay.from_predictions(Y, np.full((len(Y), 2), 2.0))
