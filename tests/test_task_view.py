"""TaskView: one task of a fitted model (through a Pipeline) in scikit-learn's binary tools."""

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone, is_classifier
from sklearn.calibration import CalibratedClassifierCV
from sklearn.compose import ColumnTransformer, make_column_selector
from sklearn.frozen import FrozenEstimator
from sklearn.metrics import RocCurveDisplay, roc_auc_score
from sklearn.model_selection import TunedThresholdClassifierCV, cross_val_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils import get_tags
from sklearn.utils.validation import check_is_fitted

from sklearn_mtl import ESMMClassifier, MMoEClassifier, SingleTaskClassifier, TaskView
from sklearn_mtl.datasets import make_funnel
from sklearn_mtl.metrics import make_task_scorer
from sklearn_mtl.preprocessing import CategoricalPassthrough

pytest.importorskip("matplotlib")

PARAMS = dict(max_epochs=2, random_state=0)


@pytest.fixture(scope="module")
def data():
    funnel = make_funnel(3000, random_state=0)
    X, Y = funnel.data, funnel.target.rename(columns={"conversion": "buy"})
    return X[:2000], Y[:2000], X[2000:], Y[2000:]


@pytest.fixture(scope="module")
def pipe(data):
    X, Y, _, _ = data
    prep = ColumnTransformer(
        [
            ("ids", CategoricalPassthrough(), make_column_selector(dtype_include="category")),
            ("num", StandardScaler(), make_column_selector(dtype_exclude="category")),
        ]
    ).set_output(transform="pandas")
    return Pipeline([("prep", prep), ("mtl", MMoEClassifier(**PARAMS))]).fit(X, Y)


@pytest.mark.parametrize("task, index", [("click", 0), ("buy", 1), (1, 1)])
def test_the_view_is_the_tasks_binary_classifier(pipe, data, task, index):
    _, _, X, _ = data
    view = TaskView(pipe, task)
    assert is_classifier(view) and check_is_fitted(view) is None
    tags = get_tags(view)
    assert tags.target_tags.single_output and not tags.target_tags.multi_output
    assert not tags.classifier_tags.multi_class
    np.testing.assert_array_equal(view.classes_, [0, 1])
    proba = view.predict_proba(X)
    np.testing.assert_array_equal(proba, pipe.predict_proba(X)[index])
    np.testing.assert_array_equal(view.predict(X), pipe.predict(X)[:, index])
    decision = view.decision_function(X)
    np.testing.assert_allclose(1 / (1 + np.exp(-decision)), proba[:, 1], rtol=1e-10)
    np.testing.assert_array_equal(view.fit().task_index_, index)
    assert list(view.feature_names_in_) == list(X.columns)


def test_calibrated_classifier_cv_on_the_frozen_view(pipe, data):
    X, Y, X_test, Y_test = data
    view = TaskView(pipe, "buy")
    calibrated = CalibratedClassifierCV(FrozenEstimator(view), method="sigmoid").fit(X_test, Y_test["buy"])
    proba = calibrated.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1)
    np.testing.assert_array_equal(calibrated.classes_, [0, 1])
    # A sigmoid of the view's log-odds: the ranking, hence the AUC, is the view's.
    assert roc_auc_score(Y["buy"], proba[:, 1]) == pytest.approx(
        roc_auc_score(Y["buy"], view.predict_proba(X)[:, 1])
    )
    # Calibrated on held-out rows, the mean probability meets the observed rate there.
    held_out = calibrated.predict_proba(X_test)[:, 1].mean()
    assert held_out == pytest.approx(Y_test["buy"].mean(), abs=0.02)


@pytest.mark.parametrize("frozen", [True, False], ids=["frozen", "prefit"])
def test_tuned_threshold_classifier_cv(pipe, data, frozen):
    X, Y, X_test, Y_test = data
    view = TaskView(pipe, "click")
    if frozen:
        tuned = TunedThresholdClassifierCV(FrozenEstimator(view), scoring="balanced_accuracy", cv=3)
    else:
        tuned = TunedThresholdClassifierCV(view, scoring="balanced_accuracy", cv="prefit", refit=False)
    tuned.fit(X_test, Y_test["click"])
    assert 0 < tuned.best_threshold_ < 1
    p_click = view.predict_proba(X)[:, 1]
    np.testing.assert_array_equal(tuned.predict(X), (p_click >= tuned.best_threshold_).astype(int))


def test_roc_curve_display_matches_the_task_scorer(pipe, data):
    import matplotlib

    matplotlib.use("Agg")
    _, _, X_test, Y_test = data
    display = RocCurveDisplay.from_estimator(TaskView(pipe, "buy"), X_test, Y_test["buy"])
    assert display.roc_auc == pytest.approx(make_task_scorer("roc_auc", "buy")(pipe, X_test, Y_test))


def test_funnel_task_is_the_end_to_end_event_and_single_task_models_work(data):
    X, Y, _, _ = data
    esmm = ESMMClassifier(**PARAMS).fit(X, Y)
    frame = esmm.predict_proba_frame(X)
    np.testing.assert_allclose(TaskView(esmm, "buy").predict_proba(X)[:, 1], frame["P(click & buy)"])
    single = SingleTaskClassifier(**PARAMS).fit(X, Y["click"])
    view = TaskView(single, "click")
    np.testing.assert_array_equal(view.predict_proba(X), single.predict_proba(X))
    # The view is a plain binary classifier: its score is scikit-learn's accuracy.
    assert view.score(X, Y["click"]) == pytest.approx(np.mean(single.predict(X) == Y["click"]))


def test_clear_errors(pipe, data):
    X, Y, _, _ = data
    with pytest.raises(ValueError, match=r"task='view' is not a task.*\['click', 'buy'\]"):
        TaskView(pipe, "view").fit()
    with pytest.raises(ValueError, match="task=2 is not a task position"):
        TaskView(pipe, 2).predict_proba(X)
    with pytest.raises(TypeError, match="needs a multi-task model"):
        TaskView(StandardScaler().fit(X[["num_0"]]), 0).fit()
    # A clone holds an unfitted model: refitting tools are told to freeze the view.
    with pytest.raises(ValueError, match="never trains one.*FrozenEstimator"):
        clone(TaskView(pipe, "click")).fit(X, Y["click"])
    with pytest.raises(ValueError, match="never trains one"):
        cross_val_score(TaskView(pipe, "click"), X, Y["click"], cv=2, error_score="raise")
    assert not hasattr(clone(TaskView(pipe, "click")), "classes_")
    regression = pd.DataFrame({"click": Y["click"], "spend": X["num_0"]})
    model = MMoEClassifier(task_types=["binary", "regression"], **PARAMS).fit(X.drop(columns="num_0"), regression)
    with pytest.raises(ValueError, match="'spend' is a regression task; TaskView gives binary"):
        TaskView(model, "spend").fit()
