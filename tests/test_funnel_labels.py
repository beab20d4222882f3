"""NaN in funnel labels: known 0 after a 0, unobserved after a 1 or in the first step."""


import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from sklearn_mtl._targets import check_funnel
from sklearn_mtl.datasets import make_funnel
from sklearn_mtl.metrics import make_task_scorer

from ._settings import ESTIMATORS, is_funnel

#: Every public funnel model: a multi-task model that refuses a single-output y.
FUNNEL_MODELS = [Estimator for Estimator in ESTIMATORS if is_funnel(Estimator)]


def test_the_funnel_models_are_found():
    assert {cls.__name__ for cls in FUNNEL_MODELS} >= {
        "ESMMClassifier",
        "ESCM2Classifier",
        "AITMClassifier",
    }


@pytest.fixture(scope="module")
def funnel():
    return make_funnel(20_000, selection_bias=0.8, random_state=0)


@pytest.mark.parametrize("model_class", FUNNEL_MODELS, ids=lambda c: c.__name__)
def test_nan_conversion_on_unclicked_rows_trains_as_zero(model_class, funnel):
    X, Y = funnel.data, funnel.target
    Y_nan = Y.astype(float)
    Y_nan.loc[Y_nan["click"] == 0, "conversion"] = np.nan
    params = dict(max_epochs=5, random_state=0)
    with_nan = model_class(**params).fit(X, Y_nan)
    with_zero = model_class(**params).fit(X, Y)

    np.testing.assert_allclose(with_nan.predict_cvr(X), with_zero.predict_cvr(X), rtol=1e-6)
    for p_nan, p_zero in zip(with_nan.predict_proba(X), with_zero.predict_proba(X)):
        np.testing.assert_allclose(p_nan, p_zero, rtol=1e-6)
    # Close to the truth, not the clicked-only rate that NaN as "unobserved" gave
    # (on this data a mean pCVR of 0.52 to 0.98 against a true 0.30).
    true_cvr = funnel.true_proba["conversion"]
    true_ctcvr = funnel.true_proba["click"] * true_cvr
    assert with_nan.predict_cvr(X).mean() == pytest.approx(true_cvr.mean(), abs=0.1)
    p_ctcvr = with_nan.predict_proba(X)[1][:, 1]
    assert p_ctcvr.mean() == pytest.approx(true_ctcvr.mean(), abs=0.03)


def _funnels(max_steps=4):
    """Encoded funnel label matrices: 0, 1 or NaN, no step 1 after a 0."""
    return st.integers(2, max_steps).flatmap(
        lambda n_steps: arrays(
            np.float32,
            st.tuples(st.integers(1, 30), st.just(n_steps)),
            elements=st.sampled_from([0.0, 1.0, np.nan]),
        )
    ).filter(_is_funnel)


def _is_funnel(Y):
    filled = np.nan_to_num(Y, nan=1.0)
    return not ((Y[:, 1:] == 1) & (np.minimum.accumulate(filled, axis=1)[:, :-1] == 0)).any()


@settings(max_examples=200, deadline=None)
@given(_funnels())
def test_nan_is_zero_after_a_zero_and_unobserved_otherwise(Y):
    names = [f"step_{t}" for t in range(Y.shape[1])]
    filled = Y.copy()
    check_funnel(filled, names, model="M")

    observed = ~np.isnan(Y)
    np.testing.assert_array_equal(filled[observed], Y[observed])
    # The first step is never filled: an unknown click stays unknown.
    np.testing.assert_array_equal(np.isnan(filled[:, 0]), np.isnan(Y[:, 0]))
    for t in range(1, Y.shape[1]):
        was_nan = np.isnan(Y[:, t])
        after_zero = filled[:, t - 1] == 0
        np.testing.assert_array_equal(filled[was_nan & after_zero, t], 0)
        assert np.isnan(filled[was_nan & ~after_zero, t]).all()


def test_a_later_step_reached_without_the_filled_one_is_an_error():
    Y = np.array([[0.0, np.nan, 1.0], [1.0, 1.0, 1.0]], dtype=np.float32)
    with pytest.raises(ValueError, match=r"1 row\(s\) have 'c'=1 but 'b'=0"):
        check_funnel(Y, ["a", "b", "c"], model="M")


@pytest.mark.parametrize("Model", FUNNEL_MODELS, ids=lambda cls: cls.__name__)
def test_scorers_and_score_read_nan_after_a_zero_as_a_known_zero(Model):
    X, Y = make_funnel(n_samples=2000, random_state=0, return_X_y=True)
    gaps = Y.astype(float)
    gaps.loc[Y.iloc[:, 0] == 0, Y.columns[1]] = np.nan  # unclicked rows: conversion unknown
    model = Model(max_epochs=2, random_state=0).fit(X, Y)
    last = Y.columns[-1]
    assert make_task_scorer("roc_auc", last)(model, X, gaps) == make_task_scorer(
        "roc_auc", last
    )(model, X, Y)
    assert model.score(X, gaps) == model.score(X, Y)
