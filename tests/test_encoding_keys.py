"""A category's code is a function of the value alone: never of the other
values in the batch, their order, the column's dtype or the column order."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from sklearn.compose import ColumnTransformer
from sklearn.pipeline import Pipeline

from sklearn_mtl import SharedBottomClassifier
from sklearn_mtl._data import FeatureEncoder

from ._settings import FAST_PARAMS

# Values of an ID column as they come from real data: ints, integral and
# fractional floats, NumPy scalars, strings (also digit strings), booleans, missing.
values = st.one_of(
    st.integers(-(2**70), 2**70),
    st.integers(2**63 - 3, 2**63 + 3),
    st.integers(-5, 5),
    st.floats(allow_nan=True, allow_infinity=True, width=64),
    st.integers(-5, 5).map(float),
    st.integers(-5, 5).map(np.int64),
    st.integers(-5, 5).map(np.float32),
    st.sampled_from([7, 7.0, 7.5, "7", "07", "a", "b", "", True, False, None, np.nan, pd.NA]),
    st.text(max_size=4),
)
columns = st.lists(values, min_size=1, max_size=25)
ENCODINGS = [{"hash_buckets": 97}, {}, {"min_frequency": 2}]


def frame(*cols):
    return pd.DataFrame({f"c{k}": pd.Series(c, dtype=object) for k, c in enumerate(cols)})


def fitted(X, **params):
    mask = np.ones(X.shape[1], dtype=bool)
    return FeatureEncoder(mask, np.asarray(X.columns, dtype=object), **params).fit(X)


@pytest.mark.parametrize("params", ENCODINGS)
@settings(max_examples=60, deadline=None)
@given(fit_values=columns, batch=columns, data=st.data())
def test_a_row_encodes_the_same_alone_and_in_any_batch(params, fit_values, batch, data):
    encoder = fitted(frame(fit_values), **params)
    X = frame(batch)
    codes = encoder.transform(X).codes[:, 0]
    alone = [encoder.transform(X.iloc[[i]]).codes[0, 0] for i in range(len(X))]
    np.testing.assert_array_equal(codes, alone)
    order = data.draw(st.permutations(range(len(X))))
    np.testing.assert_array_equal(encoder.transform(X.iloc[order]).codes[:, 0], codes[order])


@pytest.mark.parametrize("params", ENCODINGS)
@settings(max_examples=40, deadline=None)
@given(batch=columns)
def test_the_column_dtype_does_not_change_a_code(params, batch):
    encoder = fitted(frame(batch), **params)
    codes = encoder.transform(frame(batch)).codes[:, 0]
    try:
        categorical = pd.DataFrame({"c0": pd.Categorical(pd.Series(batch, dtype=object))})
    except ValueError:  # pandas refuses some mixes of tiny floats as categories
        assume(False)
    np.testing.assert_array_equal(encoder.transform(categorical).codes[:, 0], codes)
    present = [v for v in batch if not pd.isna(v)]
    if all(isinstance(v, str) for v in present):  # pandas' string dtype, with <NA>
        strings = pd.DataFrame({"c0": pd.array(batch, dtype="string")})
        np.testing.assert_array_equal(encoder.transform(strings).codes[:, 0], codes)
    if all(isinstance(v, (int, np.integer)) and abs(v) < 2**63 for v in present):
        nullable = pd.DataFrame({"c0": pd.array(batch, dtype="Int64")})  # with <NA>
        np.testing.assert_array_equal(encoder.transform(nullable).codes[:, 0], codes)
    numbers = pd.to_numeric(pd.Series(batch, dtype=object), errors="coerce")
    if not numbers.isna().any() and not any(isinstance(v, str) for v in batch):
        # A numeric column (int64 or float64) encodes as the same values in an object column.
        as_numeric = pd.DataFrame({"c0": np.array(batch)})
        # Only where NumPy holds the values exactly (it turns 2**63 + 1 among ints into a float).
        exact = all(a == b for a, b in zip(as_numeric["c0"].tolist(), batch))
        if as_numeric["c0"].dtype.kind in "biuf" and exact:
            np.testing.assert_array_equal(encoder.transform(as_numeric).codes[:, 0], codes)


@pytest.mark.parametrize("params", ENCODINGS)
@settings(max_examples=40, deadline=None)
@given(number=st.integers(-(2**62), 2**62) | st.integers(-3, 3), fit_values=columns)
def test_values_equal_by_python_equality_share_a_code(params, number, fit_values):
    encoder = fitted(frame(fit_values + [number]), **params)
    same = [number, np.int64(number)]
    if float(number) == number:
        same += [float(number), np.float64(number)]
    if number in (0, 1):
        same += [bool(number), np.bool_(number)]
    codes = encoder.transform(frame(same)).codes[:, 0]
    assert len(set(codes.tolist())) == 1 and codes[0] != 0


@pytest.mark.parametrize("params", ENCODINGS)
@settings(max_examples=40, deadline=None)
@given(cols=st.lists(columns, min_size=2, max_size=4), data=st.data())
def test_column_order_does_not_change_a_column_codes(params, cols, data):
    n = min(map(len, cols))
    X = frame(*(c[:n] for c in cols))
    order = data.draw(st.permutations(list(X.columns)))
    codes = fitted(X, **params).transform(X).codes
    permuted = fitted(X[order], **params).transform(X[order]).codes
    for k, name in enumerate(order):
        np.testing.assert_array_equal(permuted[:, k], codes[:, list(X.columns).index(name)])


def test_missing_values_take_the_reserved_code_and_strings_are_not_numbers():
    encoder = fitted(frame([7, "7", "a"]), hash_buckets=1 << 20)
    codes = encoder.transform(frame([None, np.nan, pd.NA, 7, "7", 7.0])).codes[:, 0]
    assert codes[:3].tolist() == [0, 0, 0]
    assert codes[3] == codes[5] != codes[4]  # "7" is not 7 (with 2**20 buckets, no collision)


def test_a_hashed_id_predicts_the_same_alone_and_among_strings_through_a_pipeline():
    rng = np.random.RandomState(0)
    n = 300
    X = pd.DataFrame(
        {"user": pd.Series(rng.randint(0, 50, n), dtype=object), "x": rng.normal(size=n)}
    )
    Y = pd.DataFrame({"click": rng.randint(0, 2, n), "buy": rng.randint(0, 2, n)})
    pipe = Pipeline(
        [
            (
                "columns",
                ColumnTransformer(
                    [("ids", "passthrough", ["user"]), ("num", "passthrough", ["x"])]
                ).set_output(transform="pandas"),
            ),
            (
                "model",
                SharedBottomClassifier(
                    categorical_features=["user"], hash_buckets=1000, **FAST_PARAMS
                ),
            ),
        ]
    ).fit(X, Y)
    row = pd.DataFrame({"user": pd.Series([7], dtype=object), "x": [0.5]})
    mixed = pd.DataFrame({"user": pd.Series(["u1", 7, 7.0, "7"], dtype=object), "x": 0.5})
    alone = pipe.predict_proba(row)
    among = pipe.predict_proba(mixed)
    for a, b in zip(alone, among):
        np.testing.assert_allclose(b[1:3], np.vstack([a, a]))


@settings(max_examples=10, deadline=None)
@given(order=st.permutations(["user", "city", "x"]))
def test_a_model_fitted_with_names_refuses_reordered_columns_rather_than_misread_them(order):
    rng = np.random.RandomState(0)
    X = pd.DataFrame(
        {
            "user": pd.Series(rng.randint(0, 9, 80), dtype=object),
            "city": rng.choice(["a", "b"], 80),
            "x": rng.normal(size=80),
        }
    )
    Y = pd.DataFrame({"click": rng.randint(0, 2, 80), "buy": rng.randint(0, 2, 80)})
    model = SharedBottomClassifier(
        categorical_features=["user", "city"], hash_buckets={"user": 64}, **FAST_PARAMS
    ).fit(X, Y)
    if order == list(X.columns):
        assert np.isfinite(model.predict_proba(X[order])[0]).all()
    else:
        with pytest.raises(ValueError, match="same order"):
            model.predict_proba(X[order])


@pytest.mark.parametrize("params", ENCODINGS)
@settings(max_examples=40, deadline=None)
@given(rows=st.lists(st.lists(values, max_size=4), min_size=1, max_size=12))
def test_the_items_of_a_bag_encode_the_same_alone_and_in_any_batch(params, rows):
    X = pd.DataFrame({"tags": pd.Series([list(r) for r in rows] + [[7, "a"]], dtype=object)})
    encoder = fitted(X, **params)

    def bags(frame):
        encoded = encoder.transform(frame)
        return [
            encoded.items[start : start + length].tolist()
            for start, length in zip(encoded.starts[:, 0], encoded.lengths[:, 0])
        ]

    together = bags(X)
    assert together == [bags(X.iloc[[i]])[0] for i in range(len(X))]
