import numpy as np
import pandas as pd
import pytest
from scipy.special import logit

from sklearn_mtl.datasets import make_funnel


@pytest.fixture(scope="module")
def funnel():
    return make_funnel(n_samples=200_000, n_steps=3, random_state=0)


def test_bunch_layout(funnel):
    X, Y, P = funnel.data, funnel.target, funnel.true_proba
    assert X.shape == (200_000, 8)
    assert funnel.feature_names == list(X.columns)
    assert funnel.categorical_features == ["cat_0", "cat_1", "cat_2", "cat_3"]
    for name in funnel.categorical_features:
        assert isinstance(X[name].dtype, pd.CategoricalDtype)
        assert X[name].cat.categories.size == 20
    assert (X.dtypes[4:] == np.float64).all()
    assert funnel.target_names == list(Y.columns) == ["click", "step_2", "conversion"]
    assert list(P.columns) == funnel.target_names
    assert ((P > 0) & (P < 1)).all().all()


def test_each_step_is_a_subset_of_the_previous(funnel):
    Y = funnel.target.to_numpy()
    assert set(np.unique(Y)) == {0, 1}
    assert (np.diff(Y, axis=1) <= 0).all()


def test_labels_follow_the_true_conditional_probabilities(funnel):
    Y, P = funnel.target.to_numpy(), funnel.true_proba.to_numpy()
    assert Y[:, 0].mean() == pytest.approx(P[:, 0].mean(), abs=0.005)
    for step in (1, 2):
        reached = Y[:, step - 1] == 1
        # Among the rows that reached the previous step, the step happens at
        # its true conditional rate, which is defined on every row.
        assert Y[reached, step].mean() == pytest.approx(P[reached, step].mean(), abs=0.01)
        assert P[reached, step].mean() != pytest.approx(P[:, step].mean(), abs=0.01)


def test_selection_bias_couples_click_and_conversion():
    def correlation(bias):
        P = make_funnel(50_000, selection_bias=bias, random_state=0).true_proba
        return np.corrcoef(logit(P["click"]), logit(P["conversion"]))[0, 1]

    for bias in (0.0, 0.6, 0.9):
        assert correlation(bias) == pytest.approx(bias, abs=0.02)


def test_seeded_and_return_x_y():
    X, Y = make_funnel(500, random_state=3, return_X_y=True)
    again = make_funnel(500, random_state=3)
    pd.testing.assert_frame_equal(X, again.data)
    pd.testing.assert_frame_equal(Y, again.target)
    other = make_funnel(500, random_state=4)
    assert not Y.equals(other.target)


def test_base_rates_are_medians_of_the_probabilities():
    P = make_funnel(50_000, base_rates=(0.3, 0.05), random_state=0).true_proba
    assert P["click"].median() == pytest.approx(0.3, abs=0.03)
    assert P["conversion"].median() == pytest.approx(0.05, abs=0.01)


@pytest.mark.parametrize(
    "params, match",
    [
        (dict(base_rates=(0.1, 0.2, 0.3)), "base_rates must hold 2 probabilities"),
        (dict(base_rates=(0.1, 1.0)), "base_rates must hold 2 probabilities"),
        (dict(n_steps=1), "n_steps"),
        (dict(selection_bias=1.5), "selection_bias"),
        (dict(n_categorical=0, n_numeric=0), "at least one feature"),
    ],
)
def test_invalid_parameters(params, match):
    with pytest.raises(ValueError, match=match):
        make_funnel(10, **params)


def test_numeric_only_and_categorical_only():
    X, _ = make_funnel(100, n_categorical=0, random_state=0, return_X_y=True)
    assert list(X.columns) == ["num_0", "num_1", "num_2", "num_3"]
    X, _ = make_funnel(100, n_numeric=0, random_state=0, return_X_y=True)
    assert all(isinstance(d, pd.CategoricalDtype) for d in X.dtypes)
