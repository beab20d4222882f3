"""Calibration metrics: ECE, the predicted/observed ratio, and their task scorers."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from sklearn.model_selection import GridSearchCV

from sklearn_mtl import SharedBottomClassifier
from sklearn_mtl.datasets import make_funnel
from sklearn_mtl.metrics import (
    TASK_METRICS,
    calibration_bins,
    esmm_scorers,
    expected_calibration_error,
    make_task_scorer,
    predicted_observed_ratio,
    task_scorers,
)

from ._settings import FAST_PARAMS
from .test_inspection import _pipeline
from .test_metrics import _FixedProba

Y_TRUE = np.array([0, 1, 0, 1])
Y_PROB = np.array([0.1, 0.2, 0.3, 0.9])


def test_ece_by_hand_equal_mass_and_equal_width():
    # Equal mass, 2 bins split at the median 0.25: {0.1, 0.2} predicts 0.15
    # and observes 0.5, {0.3, 0.9} predicts 0.6 and observes 0.5.
    assert expected_calibration_error(Y_TRUE, Y_PROB, n_bins=2) == pytest.approx(
        0.5 * 0.35 + 0.5 * 0.1
    )
    # Equal width, split at 0.5: {0.1, 0.2, 0.3} predicts 0.2 and observes
    # 1/3; {0.9} predicts 0.9 and observes 1.
    assert expected_calibration_error(
        Y_TRUE, Y_PROB, n_bins=2, strategy="uniform"
    ) == pytest.approx(0.75 * (1 / 3 - 0.2) + 0.25 * 0.1)
    predicted, observed, counts, weights = calibration_bins(
        Y_TRUE, Y_PROB, n_bins=2, strategy="uniform"
    )
    np.testing.assert_allclose(predicted, [0.2, 0.9])
    np.testing.assert_allclose(observed, [1 / 3, 1.0])
    np.testing.assert_array_equal(counts, [3, 1])
    np.testing.assert_allclose(weights, [3, 1])


def test_ratio_and_its_scorer_form_by_hand():
    # Mean prediction 0.375 over an observed rate of 0.5.
    assert predicted_observed_ratio(Y_TRUE, Y_PROB) == pytest.approx(0.75)
    assert TASK_METRICS["abs_log_ratio"].function(Y_TRUE, Y_PROB) == pytest.approx(
        abs(np.log(0.75))
    )
    weight = np.array([1.0, 1.0, 1.0, 3.0])
    assert predicted_observed_ratio(Y_TRUE, Y_PROB, sample_weight=weight) == pytest.approx(
        (0.1 + 0.2 + 0.3 + 2.7) / 4
    )
    # No positives: undefined, not infinite.
    assert np.isnan(predicted_observed_ratio([0, 0], [0.1, 0.2]))


def test_nan_labels_are_left_out():
    y = np.array([0, 1, np.nan, 0, 1, np.nan])
    p = np.array([0.1, 0.7, 0.99, 0.3, 0.6, 0.0])
    kept = ~np.isnan(y)
    for strategy in ("quantile", "uniform"):
        assert expected_calibration_error(y, p, n_bins=3, strategy=strategy) == pytest.approx(
            expected_calibration_error(y[kept], p[kept], n_bins=3, strategy=strategy)
        )
    assert predicted_observed_ratio(y, p) == pytest.approx(
        predicted_observed_ratio(y[kept], p[kept])
    )
    assert np.isnan(expected_calibration_error([np.nan], [0.5]))


@pytest.mark.parametrize(
    "y_true, y_prob, match",
    [
        ([0, 1], [0.2, 1.5], "y_prob must hold probabilities"),
        ([0, 1], [0.2, np.nan], "y_prob must hold probabilities"),
        ([0, 2], [0.2, 0.5], "y_true must hold 0/1 labels"),
        ([0, 1, 1], [0.2, 0.5], "same length"),
    ],
)
def test_bad_input_is_named(y_true, y_prob, match):
    with pytest.raises(ValueError, match=match):
        expected_calibration_error(y_true, y_prob)
    with pytest.raises(ValueError, match=match):
        predicted_observed_ratio(y_true, y_prob)


def test_bad_parameters():
    with pytest.raises(ValueError, match="strategy"):
        expected_calibration_error(Y_TRUE, Y_PROB, strategy="kmeans")
    with pytest.raises(ValueError, match="n_bins"):
        expected_calibration_error(Y_TRUE, Y_PROB, n_bins=0)


def _labelled():
    n = st.integers(1, 60)
    return n.flatmap(
        lambda n: st.tuples(
            arrays(np.float64, n, elements=st.sampled_from([0.0, 1.0])),
            arrays(np.float64, n, elements=st.floats(0, 1)),
            arrays(np.int64, n, elements=st.integers(1, 4)),
        )
    )


@settings(max_examples=60, deadline=None)
@given(_labelled(), st.integers(1, 12), st.sampled_from(["quantile", "uniform"]))
def test_ece_properties(data, n_bins, strategy):
    y, p, repeats = data
    ece = expected_calibration_error(y, p, n_bins=n_bins, strategy=strategy)
    assert 0.0 <= ece <= 1.0
    # The row order does not matter.
    order = np.random.default_rng(0).permutation(len(y))
    assert expected_calibration_error(
        y[order], p[order], n_bins=n_bins, strategy=strategy
    ) == pytest.approx(ece, abs=1e-12)
    # One bin: the ECE is the gap between the mean prediction and the rate.
    assert expected_calibration_error(y, p, n_bins=1, strategy=strategy) == pytest.approx(
        abs(p.mean() - y.mean()), abs=1e-12
    )
    if strategy == "uniform":
        # Fixed edges: an integer weight is the row repeated.
        assert expected_calibration_error(
            y, p, n_bins=n_bins, strategy=strategy, sample_weight=repeats
        ) == pytest.approx(
            expected_calibration_error(
                np.repeat(y, repeats), np.repeat(p, repeats), n_bins=n_bins, strategy=strategy
            ),
            abs=1e-12,
        )


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 9), st.integers(1, 20)), min_size=1, max_size=10))
def test_ece_is_zero_when_every_bin_predicts_its_rate(groups):
    # Rows of a group share one prediction equal to their positive rate.
    y, p = [], []
    for positives, size in groups:
        positives = min(positives, size)
        y += [1.0] * positives + [0.0] * (size - positives)
        p += [positives / size] * size
    y, p = np.array(y), np.array(p)
    assert expected_calibration_error(y, p, n_bins=1000, strategy="uniform") < 1e-12
    assert expected_calibration_error(y, p, n_bins=len(y)) < 1e-12


def test_scorers_are_negated_and_named():
    Y = pd.DataFrame({"click": Y_TRUE, "conversion": [0, 0, np.nan, 1]})
    model = _FixedProba(np.column_stack([Y_PROB, [0.1, 0.2, 0.5, 0.4]]))
    assert make_task_scorer("ece", "click")(model, None, Y) == pytest.approx(
        -expected_calibration_error(Y_TRUE, Y_PROB)
    )
    assert make_task_scorer("ece_uniform", 0)(model, None, Y) == pytest.approx(
        -expected_calibration_error(Y_TRUE, Y_PROB, strategy="uniform")
    )
    # The NaN row of the conversion is left out.
    assert make_task_scorer("abs_log_ratio", "conversion")(model, None, Y) == pytest.approx(
        -abs(np.log((0.1 + 0.2 + 0.4) / 3 / (1 / 3)))
    )
    scorers = task_scorers(["click", "conversion"], metrics=("roc_auc", "ece"), mean=True)
    assert sorted(scorers) == [
        "neg_ece_click", "neg_ece_conversion", "neg_ece_mean",
        "roc_auc_click", "roc_auc_conversion", "roc_auc_mean",
    ]


def test_grid_search_over_a_pipeline_scores_ece_per_task():
    X, Y = make_funnel(1200, random_state=0, return_X_y=True)
    pipe = _pipeline(SharedBottomClassifier(**FAST_PARAMS))
    train, test = np.arange(800), np.arange(800, 1200)
    search = GridSearchCV(
        pipe,
        {"model__max_epochs": [1, 3]},
        scoring=task_scorers(["click", "conversion"], metrics=("roc_auc", "ece"), mean=True),
        refit="neg_ece_mean",
        cv=[(train, test)],
        error_score="raise",
    ).fit(X, Y)
    results = search.cv_results_
    for i, params in enumerate(results["params"]):
        fitted = pipe.set_params(**params).fit(X.iloc[train], Y.iloc[train])
        proba = fitted.predict_proba(X.iloc[test])
        eces = [
            expected_calibration_error(Y.iloc[test, t], proba[t][:, 1]) for t in range(2)
        ]
        assert results["split0_test_neg_ece_click"][i] == pytest.approx(-eces[0])
        assert results["split0_test_neg_ece_conversion"][i] == pytest.approx(-eces[1])
        assert results["split0_test_neg_ece_mean"][i] == pytest.approx(-np.mean(eces))
    # Greater is better: the refit candidate has the lowest mean ECE.
    assert search.best_index_ == int(np.argmax(results["mean_test_neg_ece_mean"]))


def test_esmm_scorers_score_the_cvr_calibration_on_clicked_rows(fitted_esmm, funnel):
    X, Y = funnel.data, funnel.target
    clicked = Y["click"].to_numpy() == 1
    expected = expected_calibration_error(
        Y["conversion"][clicked], fitted_esmm.predict_cvr(X)[clicked]
    )
    scorers = esmm_scorers(metrics=("ece",))
    assert sorted(scorers) == ["neg_ece_ctcvr", "neg_ece_ctr", "neg_ece_cvr"]
    assert scorers["neg_ece_cvr"](fitted_esmm, X, Y) == pytest.approx(-expected, abs=1e-5)
