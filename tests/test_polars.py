"""polars X and Y behave as the same pandas ones: names, categories, lists, outputs."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn import config_context
from sklearn.compose import ColumnTransformer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_mtl import ESMMClassifier, MMoEClassifier
from sklearn_mtl._frames import as_pandas
from sklearn_mtl.datasets import make_funnel
from sklearn_mtl.metrics import task_scorers
from sklearn_mtl.preprocessing import CategoricalPassthrough

pl = pytest.importorskip("polars")

PARAMS = dict(max_epochs=1, batch_size=32, random_state=0)
CITIES = ["lima", "oslo", "paris", "rome"]

#: Column kinds: (pandas column, polars column) from a row count and a random state.
KINDS = {
    "categorical": lambda n, rng: _strings(rng.choice(CITIES[:3], n), pl.Categorical),
    "enum": lambda n, rng: _strings(rng.choice(CITIES[1:], n), pl.Enum(CITIES)),
    "float": lambda n, rng: _same(rng.normal(size=n)),
    "int": lambda n, rng: _same(rng.randint(0, 100, n)),
    "list": lambda n, rng: _lists([list(rng.choice(["a", "b", "c"], rng.randint(0, 3))) for _ in range(n)]),
}


def _strings(values, dtype):
    categories = dtype.categories.to_list() if isinstance(dtype, pl.Enum) else None
    return pd.Categorical(values, categories=categories), pl.Series(values.tolist(), dtype=dtype)


def _same(values):
    return values, pl.Series(values)


def _lists(rows):
    return pd.Series(rows, dtype=object).to_numpy(), pl.Series(rows, dtype=pl.List(pl.String))


def _frames(kinds, n, seed):
    rng = np.random.RandomState(seed)
    pairs = {f"{kind}_{j}": KINDS[kind](n, rng) for j, kind in enumerate(kinds)}
    X = pd.DataFrame({name: pair[0] for name, pair in pairs.items()})
    return X, pl.DataFrame([pair[1].alias(name) for name, pair in pairs.items()])


def _labels(n, seed):
    rng = np.random.RandomState(seed)
    Y = pd.DataFrame({"click": rng.randint(0, 2, n), "buy": rng.randint(0, 2, n)})
    return Y, pl.from_pandas(Y)


@settings(max_examples=50, deadline=None)
@given(
    kinds=st.lists(st.sampled_from(sorted(KINDS)), min_size=1, max_size=6),
    n=st.integers(1, 40),
    seed=st.integers(0, 1000),
)
def test_as_pandas_keeps_names_order_categories_and_lists(kinds, n, seed):
    expected, X = _frames(kinds, n, seed)
    converted = as_pandas(X)
    assert list(converted.columns) == list(expected.columns)
    for name in expected.columns:
        left, right = converted[name], expected[name]
        if isinstance(right.dtype, pd.CategoricalDtype):
            assert isinstance(left.dtype, pd.CategoricalDtype)
            assert list(left.astype(object)) == list(right.astype(object))
            if name.startswith("enum"):  # declared categories, present or not
                assert list(left.cat.categories) == CITIES
        else:
            assert left.tolist() == right.tolist()


@settings(max_examples=8, deadline=None)
@given(
    kinds=st.permutations(["categorical", "enum", "float", "int", "list"]),
    seed=st.integers(0, 1000),
)
def test_any_column_order_and_mix_fits_and_predicts_as_pandas(kinds, seed):
    X, X_polars = _frames(kinds, 80, seed)
    Y, Y_polars = _labels(80, seed)
    pandas_model = MMoEClassifier(**PARAMS).fit(X, Y)
    polars_model = MMoEClassifier(**PARAMS).fit(X_polars, Y_polars)
    assert list(polars_model.task_names_) == ["click", "buy"]
    assert list(polars_model.feature_names_in_) == list(X.columns)
    np.testing.assert_array_equal(polars_model.is_categorical_, pandas_model.is_categorical_)
    assert polars_model.is_categorical_.sum() == 3  # both categoricals and the list
    for p_polars, p_pandas in zip(polars_model.predict_proba(X_polars), pandas_model.predict_proba(X)):
        np.testing.assert_array_equal(p_polars, p_pandas)
    # Fitted on polars, predicting on the pandas frame (and back) changes nothing.
    for p_polars, p_pandas in zip(polars_model.predict_proba(X), pandas_model.predict_proba(X_polars)):
        np.testing.assert_array_equal(p_polars, p_pandas)


def test_names_select_columns_and_match_tasks():
    X, X_polars = _frames(["float", "int"], 100, 0)
    X_polars = X_polars.with_columns(city=pl.Series(np.resize(CITIES, 100)))
    Y, Y_polars = _labels(100, 0)
    model = MMoEClassifier(categorical_features=["city"], **PARAMS).fit(X_polars, Y_polars)
    assert list(model.feature_names_in_[model.is_categorical_]) == ["city"]
    # Tasks matched by name, not position; a polars Series names a single task.
    swapped = Y_polars.select("buy", "click")
    assert model.score(X_polars, swapped) == model.score(X_polars, Y_polars)
    single = MMoEClassifier(**PARAMS).fit(X_polars.drop("city"), Y_polars["click"])
    assert list(single.task_names_) == ["click"]
    scores = {k: s(model, X_polars, Y_polars) for k, s in task_scorers(["click", "buy"]).items()}
    assert set(scores) == {"roc_auc_click", "roc_auc_buy"}


def test_null_labels_are_unobserved_and_funnel_names_kept():
    funnel = make_funnel(600, random_state=0)
    Y = funnel.target.astype(float)
    Y.loc[Y["click"] == 0, "conversion"] = np.nan
    Y_polars = pl.from_pandas(Y).with_columns(pl.col("conversion").fill_nan(None))
    assert Y_polars["conversion"].null_count() > 0
    X = funnel.data.drop(columns=funnel.categorical_features)
    params = dict(max_epochs=1, random_state=0)
    from_polars = ESMMClassifier(**params).fit(pl.from_pandas(X), Y_polars)
    from_pandas = ESMMClassifier(**params).fit(X, Y)
    assert list(from_polars.task_names_) == ["click", "conversion"]
    np.testing.assert_array_equal(from_polars.predict_cvr(X), from_pandas.predict_cvr(X))


def test_lazy_frame_is_a_clear_error():
    X, X_polars = _frames(["float"], 10, 0)
    with pytest.raises(TypeError, match=r"LazyFrame.*collect\(\)"):
        MMoEClassifier(**PARAMS).fit(X_polars.lazy(), np.arange(10) % 2)


@pytest.mark.parametrize("input_kind", ["pandas", "polars"])
def test_column_transformer_with_polars_output_predicts_as_with_pandas_output(input_kind):
    X, X_polars = _frames(["categorical", "float", "enum", "int"], 200, 1)
    Y, _ = _labels(200, 1)
    X_in = X if input_kind == "pandas" else X_polars

    def fitted(output):
        prep = ColumnTransformer(
            [
                # By name: scikit-learn's make_column_selector reads pandas frames only.
                ("ids", CategoricalPassthrough(), ["categorical_0", "enum_2"]),
                ("num", StandardScaler(), ["float_1", "int_3"]),
            ]
        )
        with config_context(transform_output=output):
            pipe = Pipeline([("prep", prep), ("mtl", MMoEClassifier(**PARAMS))]).fit(X_in, Y)
            return pipe, pipe.predict_proba(X_in), prep.transform(X_in)

    pandas_pipe, pandas_proba, _ = fitted("pandas")
    polars_pipe, polars_proba, polars_out = fitted("polars")
    assert isinstance(polars_out, pl.DataFrame)
    assert [type(dtype) for dtype in polars_out.dtypes[:2]] == [pl.Enum, pl.Enum]
    model = polars_pipe[-1]
    assert list(model.feature_names_in_) == list(pandas_pipe[-1].feature_names_in_)
    assert list(model.feature_names_in_[model.is_categorical_]) == ["ids__categorical_0", "ids__enum_2"]
    for p_polars, p_pandas in zip(polars_proba, pandas_proba):
        np.testing.assert_array_equal(p_polars, p_pandas)
