"""TaskCalibratedClassifier: per-task calibration on held-out rows, funnel order kept."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.base import BaseEstimator, clone
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline
from sklearn.utils.estimator_checks import parametrize_with_checks

from sklearn_mtl import (
    AITMClassifier,
    ESCM2Classifier,
    ESMMClassifier,
    MMoEClassifier,
    SharedBottomClassifier,
)
from sklearn_mtl.calibration import TaskCalibratedClassifier
from sklearn_mtl.datasets import make_funnel
from sklearn_mtl.inspection import predict_cvr, predict_proba_frame
from sklearn_mtl.metrics import (
    expected_calibration_error,
    predicted_observed_ratio,
    task_scorers,
)

from ._settings import FAST_PARAMS
from .test_inspection import _pipeline

METHODS = ("temperature", "sigmoid", "isotonic")


@pytest.fixture(scope="module")
def splits():
    """Train, calibration and test rows of one funnel."""
    X, Y = make_funnel(4000, random_state=0, return_X_y=True)
    parts = (slice(0, 2000), slice(2000, 3000), slice(3000, 4000))
    return [(X.iloc[part], Y.iloc[part]) for part in parts]


def _eces(proba, Y):
    return np.array(
        [expected_calibration_error(Y.iloc[:, t], p[:, 1]) for t, p in enumerate(proba)]
    )


def _aucs(proba, Y):
    return np.array([roc_auc_score(Y.iloc[:, t], p[:, 1]) for t, p in enumerate(proba)])


def test_temperature_cools_an_overconfident_model_and_keeps_its_ranking(splits):
    (X, Y), (X_cal, Y_cal), (X_test, Y_test) = splits
    # Many epochs at a high learning rate on few rows: an overfitted,
    # overconfident network.
    model = SharedBottomClassifier(max_epochs=20, lr=0.01, batch_size=128, random_state=0)
    model.fit(X[:1000], Y[:1000])
    calibrated = TaskCalibratedClassifier(FrozenEstimator(model)).fit(X_cal, Y_cal)
    before, after = model.predict_proba(X_test), calibrated.predict_proba(X_test)
    temperatures = [c.temperature_ for c in calibrated.calibrators_]
    assert min(temperatures) > 2, temperatures
    assert (_eces(after, Y_test) < 0.7 * _eces(before, Y_test)).all()
    np.testing.assert_array_equal(_aucs(after, Y_test), _aucs(before, Y_test))
    assert calibrated.funnel_ is False


@pytest.mark.parametrize("method", ["sigmoid", "isotonic"])
def test_up_weighted_positives_are_brought_back_to_the_observed_rate(splits, method):
    (X, Y), (X_cal, Y_cal), (X_test, Y_test) = splits
    weight = np.where(Y["click"] == 1, 5.0, 1.0)
    model = MMoEClassifier(num_experts=2, **FAST_PARAMS).fit(X, Y, sample_weight=weight)
    calibrated = TaskCalibratedClassifier(FrozenEstimator(model), method=method).fit(X_cal, Y_cal)
    before, after = model.predict_proba(X_test), calibrated.predict_proba(X_test)
    y_click = Y_test["click"]
    assert predicted_observed_ratio(y_click, before[0][:, 1]) > 2.0
    assert abs(np.log(predicted_observed_ratio(y_click, after[0][:, 1]))) < 0.25
    assert _eces(after, Y_test)[0] < _eces(before, Y_test)[0] / 3


@pytest.mark.parametrize(
    "model, n_steps",
    [
        (ESMMClassifier(**FAST_PARAMS), 2),
        (ESCM2Classifier(**FAST_PARAMS), 2),
        (AITMClassifier(**FAST_PARAMS), 3),
    ],
    ids=["ESMM", "ESCM2", "AITM"],
)
def test_funnel_order_is_kept_for_every_funnel_model(model, n_steps):
    X, Y = make_funnel(3000, n_steps=n_steps, random_state=1, return_X_y=True)
    fit_rows, cal_rows = slice(0, 2000), slice(2000, 3000)
    # Up-weighted positives: every step's end-to-end probability is too high.
    weight = np.where(Y["click"].iloc[fit_rows] == 1, 4.0, 1.0)
    model = clone(model).fit(X.iloc[fit_rows], Y.iloc[fit_rows], sample_weight=weight)
    for method in METHODS:
        calibrated = TaskCalibratedClassifier(FrozenEstimator(model), method=method)
        calibrated.fit(X.iloc[cal_rows], Y.iloc[cal_rows])
        assert calibrated.funnel_
        proba = np.column_stack([p[:, 1] for p in calibrated.predict_proba(X)])
        assert (np.diff(proba, axis=1) <= 0).all(), method
        assert ((proba >= 0) & (proba <= 1)).all()
        # predict_cvr is the ratio of consecutive calibrated steps.
        rates = calibrated.predict_cvr(X).reshape(len(X), -1)
        np.testing.assert_allclose(proba[:, 1:], proba[:, :-1] * rates, rtol=1e-12)
        frame = calibrated.predict_proba_frame(X)
        assert frame.columns[1] == "P(click & " + Y.columns[1] + ")"
        np.testing.assert_allclose(frame.to_numpy(), proba)
        if method == "temperature":
            # A monotone map of pCTR and of each rate, on the rows where it is observed.
            model_proba = model.predict_proba(X)
            assert roc_auc_score(Y["click"], proba[:, 0]) == roc_auc_score(
                Y["click"], model_proba[0][:, 1]
            )
            clicked = Y["click"].to_numpy() == 1
            model_rates = model.predict_cvr(X).reshape(len(X), -1)
            assert roc_auc_score(Y.iloc[clicked, 1], rates[clicked, 0]) == pytest.approx(
                roc_auc_score(Y.iloc[clicked, 1], model_rates[clicked, 0]), abs=1e-12
            )
    Y_test = Y.iloc[cal_rows]
    before = _eces(model.predict_proba(X.iloc[cal_rows]), Y_test)
    assert before.min() > 0.02


class _FixedFunnel(BaseEstimator):
    """A fitted funnel model stand-in: rows of ``X`` are indices into given
    end-to-end click probabilities and conversion rates."""

    def __init__(self, p_click, rate):
        self.p_click, self.rate = p_click, rate
        self.task_names_ = np.array(["click", "conversion"], dtype=object)
        self.task_types_ = ["binary", "binary"]
        self.classes_ = [np.array([0, 1]), np.array([0, 1])]
        self.n_tasks_ = 2

    def fit(self, X, y):
        return self

    def predict_proba(self, X):
        rows = np.asarray(X)[:, 0]
        p = [self.p_click[rows], self.p_click[rows] * self.rate[rows]]
        return [np.column_stack([1 - q, q]) for q in p]

    def predict_cvr(self, X):
        return self.rate[np.asarray(X)[:, 0]]

    def predict(self, X):
        return np.column_stack([p[:, 1] > 0.5 for p in self.predict_proba(X)]).astype(int)


_probabilities = st.floats(0.0, 1.0, allow_nan=False)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.tuples(_probabilities, _probabilities, st.booleans(), st.booleans()),
             min_size=8, max_size=80),
    st.sampled_from(METHODS),
)
def test_funnel_order_holds_for_any_probabilities_and_labels(rows, method):
    p_click, rate, click, convert = (np.array(column) for column in zip(*rows))
    # Both classes of each step where it is calibrated: clicks on all rows,
    # conversions on the clicked ones.
    click[:2], convert[:2] = True, [True, False]
    click[2] = False
    Y = pd.DataFrame({"click": click.astype(float), "conversion": (click & convert).astype(float)})
    X = np.arange(len(Y))[:, None]
    calibrated = TaskCalibratedClassifier(
        FrozenEstimator(_FixedFunnel(p_click, rate)), method=method
    ).fit(X, Y)
    proba = calibrated.predict_proba(X)
    assert (proba[1][:, 1] <= proba[0][:, 1]).all()
    assert all(((p >= 0) & (p <= 1)).all() for p in proba)


def test_nan_labels_are_left_out_of_their_task(splits):
    (X, Y), (X_cal, Y_cal), _ = splits
    model = SharedBottomClassifier(**FAST_PARAMS).fit(X, Y)
    unobserved = np.random.default_rng(0).random(len(Y_cal)) < 0.4
    with_nan = Y_cal.astype(float)
    with_nan.loc[unobserved, "conversion"] = np.nan
    calibrated = TaskCalibratedClassifier(FrozenEstimator(model)).fit(X_cal, with_nan)
    on_observed = TaskCalibratedClassifier(FrozenEstimator(model)).fit(
        X_cal[~unobserved], Y_cal[~unobserved]
    )
    on_all = TaskCalibratedClassifier(FrozenEstimator(model)).fit(X_cal, Y_cal)
    temperature = [
        [c.temperature_ for c in m.calibrators_] for m in (calibrated, on_observed, on_all)
    ]
    assert temperature[0][1] == pytest.approx(temperature[1][1], rel=1e-6)
    assert temperature[0][0] == pytest.approx(temperature[2][0], rel=1e-6)


def test_through_a_pipeline_with_a_column_transformer(splits):
    (X, Y), (X_cal, Y_cal), (X_test, Y_test) = splits
    X_test = X_test.set_axis(X_test.index + 10_000)
    pipe = _pipeline(ESMMClassifier(**FAST_PARAMS)).fit(X, Y)
    calibrated = TaskCalibratedClassifier(FrozenEstimator(pipe), method="sigmoid").fit(X_cal, Y_cal)
    frame = calibrated.predict_proba_frame(X_test)
    assert list(frame.columns) == ["P(click)", "P(click & conversion)"]
    assert frame.index.equals(X_test.index)
    proba = calibrated.predict_proba(X_test)
    np.testing.assert_allclose(frame.to_numpy(), np.column_stack([p[:, 1] for p in proba]))
    np.testing.assert_array_equal(
        calibrated.predict(X_test), (np.column_stack([p[:, 1] for p in proba]) > 0.5).astype(int)
    )
    assert list(calibrated.task_names_) == ["click", "conversion"]
    assert calibrated.feature_names_in_.tolist() == list(X.columns)
    # The calibrated model at the end of a Pipeline of its own: the inspection
    # helpers and the scorers reach its calibrated outputs.
    outer = Pipeline([("identity", "passthrough"), ("calibrated", calibrated)])
    pd.testing.assert_frame_equal(predict_proba_frame(outer, X_test), frame)
    np.testing.assert_allclose(predict_cvr(outer, X_test), calibrated.predict_cvr(X_test))
    scorer = task_scorers(["conversion"], metrics=("ece",))["neg_ece_conversion"]
    assert scorer(outer, X_test, Y_test) == pytest.approx(
        -expected_calibration_error(Y_test["conversion"], proba[1][:, 1])
    )
    # Unfrozen: the Pipeline is fitted on 70 % of the rows, the calibrators on the rest.
    fresh = TaskCalibratedClassifier(
        _pipeline(ESMMClassifier(**FAST_PARAMS)), calibration_size=0.3, random_state=0
    ).fit(X, Y)
    assert fresh.estimator_ is not fresh.estimator
    assert fresh.estimator_[-1].n_features_in_ == X.shape[1]
    assert fresh.score(X_test, Y_test) > 0.5


def test_grid_search_over_the_method_and_the_model(splits):
    (X, Y), (X_cal, Y_cal), _ = splits
    model = SharedBottomClassifier(**FAST_PARAMS).fit(X, Y)
    scoring = task_scorers(["click", "conversion"], metrics=("ece", "roc_auc"), mean=True)
    search = GridSearchCV(
        TaskCalibratedClassifier(FrozenEstimator(model)),
        {"method": list(METHODS)},
        scoring=scoring,
        refit="neg_ece_mean",
        cv=2,
        error_score="raise",
    ).fit(X_cal, Y_cal)
    # Every candidate calibrates the same frozen model.
    assert search.best_estimator_.estimator_.estimator is model
    assert search.best_index_ == int(np.argmax(search.cv_results_["mean_test_neg_ece_mean"]))
    unfrozen = GridSearchCV(
        TaskCalibratedClassifier(SharedBottomClassifier(**FAST_PARAMS), random_state=0),
        {"estimator__max_epochs": [1, 2]},
        scoring=scoring,
        refit="neg_ece_mean",
        cv=2,
        error_score="raise",
    ).fit(X, Y)
    assert unfrozen.best_estimator_.estimator_.max_epochs in (1, 2)


def test_clone_and_params():
    calibrated = TaskCalibratedClassifier(
        ESMMClassifier(max_epochs=2), method="isotonic", calibration_size=0.2
    )
    params = calibrated.get_params()
    assert params["method"] == "isotonic" and params["estimator__max_epochs"] == 2
    copy = clone(calibrated)
    assert copy.get_params()["estimator__max_epochs"] == 2
    assert copy.estimator is not calibrated.estimator
    copy.set_params(method="sigmoid", estimator__max_epochs=5)
    assert (copy.method, copy.estimator.max_epochs) == ("sigmoid", 5)
    assert calibrated.estimator.max_epochs == 2
    assert not hasattr(copy, "predict_cvr")  # unfitted: no step rates yet


def test_errors_name_the_problem(splits):
    (X, Y), (X_cal, Y_cal), _ = splits
    with pytest.raises(ValueError, match="method"):
        TaskCalibratedClassifier(SharedBottomClassifier(), method="beta").fit(X, Y)
    single = FrozenEstimator(LogisticRegression().fit(X.select_dtypes("number"), Y["click"]))
    with pytest.raises(TypeError, match="CalibratedClassifierCV"):
        TaskCalibratedClassifier(single).fit(X_cal.select_dtypes("number"), Y_cal["click"])
    model = ESMMClassifier(**FAST_PARAMS).fit(X, Y)
    no_conversion = Y_cal.assign(conversion=0)
    with pytest.raises(ValueError, match="'conversion' needs both classes.*'click' is positive"):
        TaskCalibratedClassifier(FrozenEstimator(model)).fit(X_cal, no_conversion)
    with pytest.raises(ValueError, match="Task 'click' has labels \\[7\\]"):
        TaskCalibratedClassifier(FrozenEstimator(model)).fit(X_cal, Y_cal.replace({1: 7}))
    regression = SharedBottomClassifier(task_types=["regression"], **FAST_PARAMS)
    regression.fit(X, X["num_0"].to_numpy())
    with pytest.raises(ValueError, match="calibrates binary tasks.*'regression'"):
        TaskCalibratedClassifier(FrozenEstimator(regression)).fit(X_cal, X_cal["num_0"])
    calibrated = TaskCalibratedClassifier(FrozenEstimator(model)).fit(X_cal, Y_cal)
    with pytest.raises(ValueError, match="not the tasks"):
        calibrated.score(X_cal, Y_cal.rename(columns={"click": "view"}))


# The checks' datasets are a few dozen rows: a quarter of them held out for
# the calibrators may hold one class only, which cannot be calibrated.
_TINY_HELD_OUT = "its held-out rows of the check's tiny data hold one class of a task"
CALIBRATION_EXPECTED_FAILURES = {
    "check_sample_weights_pandas_series": _TINY_HELD_OUT,
    "check_sample_weights_not_an_array": _TINY_HELD_OUT,
    "check_classifier_multioutput": _TINY_HELD_OUT,
    "check_fit2d_1feature": _TINY_HELD_OUT,
    "check_sample_weight_equivalence_on_dense_data": (
        "repeated rows change which rows the random split holds out"
    ),
}


@parametrize_with_checks(
    [
        TaskCalibratedClassifier(
            SharedBottomClassifier(max_epochs=2, random_state=0), random_state=0
        )
    ],
    expected_failed_checks=lambda estimator: CALIBRATION_EXPECTED_FAILURES,
)
def test_sklearn_compatible(estimator, check):
    check(estimator)


def test_regression_tasks_pass_through(splits):
    (X, Y), (X_cal, Y_cal), (X_test, _) = splits
    spend = np.random.default_rng(0).normal(size=len(X) + len(X_cal))
    model = SharedBottomClassifier(task_types=["binary", "binary", "regression"], **FAST_PARAMS)
    model.fit(X, Y.assign(spend=spend[: len(X)]))
    calibrated = TaskCalibratedClassifier(FrozenEstimator(model), method="sigmoid")
    calibrated.fit(X_cal, Y_cal.assign(spend=spend[len(X):]))
    assert calibrated.binary_tasks_ == [0, 1] and calibrated.calibrators_[2] is None
    proba = calibrated.predict_proba(X_test)
    assert proba[2] is None
    np.testing.assert_allclose(calibrated.predict(X_test)[:, 2], model.predict(X_test)[:, 2])
    assert list(calibrated.predict_proba_frame(X_test).columns) == ["click", "conversion"]
