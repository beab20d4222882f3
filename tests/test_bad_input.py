"""Bad input is a clear error naming the column, task or parameter (or a
warning where the model can go on), never NaN probabilities or a torch error."""

import warnings

import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.compose import ColumnTransformer
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_mtl import ESMMClassifier, MMoEClassifier, PLEClassifier, SharedBottomClassifier
from sklearn_mtl.datasets import make_funnel
from sklearn_mtl._data import FeatureEncoder
from sklearn_mtl.loss_weighting import DWA, GradNorm, Progressive
from sklearn_mtl.metrics import make_task_scorer

from ._settings import FAST_PARAMS

PARAMS = {**FAST_PARAMS, "max_epochs": 1}


def data(n=60, seed=0, **columns):
    rng = np.random.RandomState(seed)
    X = pd.DataFrame({"x": rng.normal(size=n), **columns})
    Y = pd.DataFrame({"click": rng.randint(0, 2, n), "buy": rng.randint(0, 2, n)})
    return X, Y


@pytest.mark.parametrize("buckets", [True, False, np.bool_(True), {"city": True}])
def test_hash_buckets_refuses_booleans(buckets):
    X, Y = data(city=["a", "b"] * 30)
    model = SharedBottomClassifier(hash_buckets=buckets, categorical_features=["city"], **PARAMS)
    with pytest.raises(ValueError, match=r"hash_buckets.*(not a bool|must be an int)"):
        model.fit(X, Y)


@pytest.mark.parametrize("buckets", [2**62, 2**31, {"city": 2**40}])
def test_hash_buckets_beyond_the_largest_table_is_a_clear_error(buckets):
    X, Y = data(city=["a", "b"] * 30)
    model = SharedBottomClassifier(hash_buckets=buckets, categorical_features=["city"], **PARAMS)
    with pytest.raises(ValueError, match=r"hash_buckets.* too large: at most 2\*\*31 - 1"):
        model.fit(X, Y)


def test_new_categories_declared_by_a_later_chunk_dtype_warn():
    X, Y = data(city=pd.Categorical(["a", "b"] * 30, categories=["a", "b"]))
    model = SharedBottomClassifier(**PARAMS).partial_fit(X, Y)
    later = X.assign(city=pd.Categorical(["a", "b"] * 30, categories=["a", "b", "c"]))
    with pytest.warns(UserWarning, match=r"'city' declares 1 category .* \(e.g. 'c'\)"):
        model.partial_fit(later, Y)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the same categories again: nothing to say
        model.partial_fit(X, Y)


@pytest.mark.parametrize(
    "zip_codes",
    [
        pd.Series(["06000", "75001"] * 30, dtype=object),
        pd.Series(["06000", "75001"] * 30, dtype="string"),
        pd.Series(["06000", None] * 30, dtype=object),
        pd.Series([6000, "75001"] * 30, dtype=object),
    ],
)
def test_digit_strings_are_not_read_as_numbers(zip_codes):
    X, Y = data(zip=zip_codes)
    with pytest.raises(TypeError, match=r"Column 'zip' is neither numeric nor declared"):
        SharedBottomClassifier(**PARAMS).fit(X, Y)
    # At predict too, for a column that was numeric at fit.
    model = SharedBottomClassifier(**PARAMS).fit(X.assign(zip=1.0), Y)
    with pytest.raises(TypeError, match=r"Column 'zip' is neither numeric"):
        model.predict_proba(X)
    # Declared categorical, the strings are categories, "06000" apart from 6000.
    declared = SharedBottomClassifier(categorical_features=["zip"], **PARAMS).fit(X, Y)
    assert np.isfinite(declared.predict_proba(X)[0]).all()


def test_item_weights_at_predict_on_a_model_fitted_on_lists_are_an_error():
    X, Y = data(tags=[["a", "b"], ["b"]] * 30)
    model = SharedBottomClassifier(**PARAMS).fit(X, Y)
    weighted = X.assign(tags=[{"a": 5.0, "b": 1.0}, {"b": 2.0}] * 30)
    with pytest.raises(ValueError, match=r"'tags' holds \{item: weight\} dicts.*plain lists"):
        model.predict_proba(weighted)


@pytest.mark.parametrize("value", [1e39, -1e39, np.finfo(np.float64).max])
def test_numeric_values_beyond_float32_are_an_error_at_fit_and_predict(value):
    X, Y = data(other=np.zeros(60))
    pipe = Pipeline(
        [
            ("columns", ColumnTransformer([("keep", "passthrough", ["x", "other"])],
                                          verbose_feature_names_out=False)
             .set_output(transform="pandas")),
            ("model", SharedBottomClassifier(**PARAMS)),
        ]
    )
    bad = X.assign(other=np.r_[value, np.zeros(59)])
    with pytest.raises(ValueError, match=r"beyond float32's range in numeric column\(s\) 'other'"):
        pipe.fit(bad, Y)
    pipe.fit(X.assign(other=np.linspace(0, 1, 60)), Y)
    with pytest.raises(ValueError, match=r"column\(s\) 'other'"):
        pipe.predict_proba(bad)


def test_values_that_overflow_once_standardized_are_an_error():
    X, Y = data(other=np.r_[1.0, np.zeros(59)])
    model = SharedBottomClassifier(**PARAMS).fit(X, Y)
    with pytest.raises(ValueError, match=r"'other' after standardizing"):
        model.predict_proba(X.assign(other=3e38))


@pytest.mark.parametrize("weight", [1e39, np.inf])
def test_sample_weight_beyond_float32_is_an_error_naming_it(weight):
    X, Y = data()
    weights = np.r_[weight, np.ones(59)]
    with pytest.raises(ValueError, match="sample_weight|Sample weights"):
        SharedBottomClassifier(**PARAMS).fit(X, Y, sample_weight=weights)


@pytest.mark.parametrize(
    "targets", [np.r_[1e300, -1e300, np.zeros(58)], np.r_[1e200, np.zeros(59)]]
)
def test_regression_targets_too_large_to_standardize_are_an_error(targets):
    X, Y = data()
    model = SharedBottomClassifier(task_types=["regression", "binary"], **PARAMS)
    with pytest.raises(ValueError, match="Regression task 'click' has targets"):
        model.fit(X, Y.assign(click=targets))


def test_regression_targets_that_overflow_after_standardization_in_a_later_chunk():
    X, Y = data()
    model = SharedBottomClassifier(task_types=["regression", "binary"], **PARAMS)
    model.partial_fit(X, Y.assign(click=np.linspace(0, 1e-30, 60)))
    with pytest.raises(ValueError, match="'click' has targets that overflow float32"):
        model.partial_fit(X, Y.assign(click=np.r_[1e10, np.zeros(59)]))


@settings(max_examples=50, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.floats(allow_nan=False, allow_infinity=False),
            st.integers(-(10**6), 10**6),
        ),
        min_size=2,
        max_size=20,
    )
)
def test_any_finite_numeric_column_encodes_finite_or_is_refused(values):
    X = pd.DataFrame({"x": pd.Series(values, dtype=object)})
    try:
        encoded = FeatureEncoder(np.array([False]), np.array(["x"], dtype=object)).fit(X)
        numeric = encoded.transform(X).numeric
    except ValueError as error:
        assert "'x'" in str(error)
    else:
        assert np.isfinite(numeric).all()


# ------------------------------------------------ loss weighting and scorers


@pytest.mark.parametrize(
    "strategy, name",
    [
        (GradNorm(alpha=np.nan), "alpha"),
        (GradNorm(alpha=np.inf), "alpha"),
        (GradNorm(alpha=-1.0), "alpha"),
        (GradNorm(alpha="1.5"), "alpha"),
        (DWA(temperature=0), "temperature"),
        (DWA(temperature=-2.0), "temperature"),
        (DWA(temperature=np.nan), "temperature"),
        (DWA(temperature=np.inf), "temperature"),
        (Progressive(decay=np.inf), "decay"),
        (Progressive(decay=[0.9, np.nan]), "decay"),
        (Progressive(decay=1e39), "decay"),
    ],
)
def test_loss_weighting_parameters_that_cannot_train_are_named(strategy, name):
    X, Y = data()
    model = PLEClassifier(loss_weighting=strategy, **PARAMS)
    with pytest.raises(ValueError, match=rf"{type(strategy).__name__}\({name}=.*"):
        model.fit(X, Y)


def test_a_tiny_dwa_temperature_gives_one_hot_weights_not_nan():
    strategy = DWA(temperature=1e-45).setup(2, module=None)
    for losses in ([1.0, 1.0], [1.0, 1.0], [0.5, 0.9]):
        strategy.epoch_end(torch.tensor(losses))
    assert strategy.weights().tolist() == [0.0, 2.0]


@pytest.mark.parametrize("task, given", [("click", "click"), (0, 0), (1, np.int64(1))])
def test_a_scorer_given_its_own_task_is_refused_at_construction(task, given):
    with pytest.raises(ValueError, match="given names the scored task itself"):
        make_task_scorer("roc_auc", task, given=given)


def test_a_scorer_given_its_own_task_by_index_and_name_is_refused_when_scoring():
    X, Y = data()
    model = SharedBottomClassifier(**PARAMS).fit(X, Y)
    with pytest.raises(ValueError, match=r"given names the scored task itself, 'buy' \(given=1\)"):
        make_task_scorer("roc_auc", "buy", given=1)(model, X, Y)


def test_a_device_that_holds_no_data_is_refused(frame):
    X, Y = frame
    with pytest.raises(ValueError, match="device='meta' is not a device"):
        MMoEClassifier(device="meta", max_epochs=1).fit(X, Y)


def test_exporting_a_pipeline_that_does_not_end_in_a_model_names_it(frame):
    from sklearn.linear_model import LogisticRegression

    from sklearn_mtl.export import to_torchscript, transform_inputs

    X, Y = frame
    pipe = make_pipeline(StandardScaler(), LogisticRegression()).fit(X[["age", "income"]], Y["click"])
    for export in (to_torchscript, lambda p: transform_inputs(p, X[["age", "income"]])):
        with pytest.raises(TypeError, match="final estimator is LogisticRegression"):
            export(pipe)


def test_a_funnel_of_string_labels_names_the_labels_taken_as_positive():
    X, Y = make_funnel(n_samples=400, random_state=0, return_X_y=True)
    flipped = Y.replace({0: "yes", 1: "no"})  # "yes" sorts last: taken as positive
    with pytest.raises(ValueError, match=r"taken as positive .*'click': 'yes'"):
        ESMMClassifier(max_epochs=1).fit(X, flipped)
