"""Feature encoding: vocabularies, infrequent and hashed categories, running
statistics over chunks, and the input traps caught before a column is read."""

import pickle

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.preprocessing import OrdinalEncoder, StandardScaler

from sklearn_mtl import MMoEClassifier
from sklearn_mtl._data import FeatureEncoder, _encoding

from ._settings import FAST_PARAMS


def encoder(X, **params):
    mask = np.array([not pd.api.types.is_float_dtype(X[c]) for c in X.columns])
    return FeatureEncoder(mask, np.asarray(X.columns, dtype=object), **params).fit(X)


def labels(n, seed=0):
    rng = np.random.RandomState(seed)
    click = rng.randint(0, 2, n)
    return pd.DataFrame({"click": click, "buy": click * rng.randint(0, 2, n)})


@pytest.mark.parametrize(
    "params",
    [
        dict(min_frequency=3),
        dict(min_frequency=0.1),
        dict(max_categories=3),
        dict(min_frequency=2, max_categories=2),
    ],
)
def test_infrequent_categories_share_one_code_as_in_ordinal_encoder(params):
    rng = np.random.RandomState(0)
    city = rng.choice(list("abcdefg"), p=[0.4, 0.25, 0.15, 0.1, 0.05, 0.03, 0.02], size=60)
    X = pd.DataFrame({"city": city.astype(object)})
    new = pd.DataFrame({"city": np.array(list("abcdefgz"), dtype=object)})
    ours = encoder(X, **params).transform(new).codes[:, 0]
    reference = OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1, **params)
    expected = reference.fit(X).transform(new)[:, 0] + 1  # our 0 is the unknown code
    np.testing.assert_array_equal(ours, expected)
    n_frequent = len(reference.categories_[0]) - len(reference.infrequent_categories_[0])
    assert ours.max() == n_frequent + 1


def test_hashing_has_fixed_buckets_and_a_stable_hash():
    ids = pd.DataFrame({"user": np.arange(100_000, dtype=np.int64)})
    enc = encoder(ids, hash_buckets=1000)
    codes = enc.transform(ids).codes[:, 0]
    assert enc.cardinalities == [1001] and codes.min() >= 1 and codes.max() <= 1000
    assert len(np.unique(codes)) == 1000
    # The same value in another container hashes the same; missing is the reserved code.
    same = pd.DataFrame({"user": np.array([7.0, np.nan, 12345.0])})
    as_objects = pd.DataFrame({"user": np.array([7, None, 12345], dtype=object)})
    expected = [codes[7], 0, codes[12345]]
    assert enc.transform(same).codes[:, 0].tolist() == expected
    assert enc.transform(as_objects).codes[:, 0].tolist() == expected
    # Not Python's per-process salted hash: these buckets are the same in every run.
    words = pd.DataFrame({"user": np.array(["alice", "bob"], dtype=object)})
    assert enc.transform(words).codes[:, 0].tolist() == [
        int(h) % 1000 + 1 for h in pd.util.hash_array(np.array(["alice", "bob"], dtype=object))
    ]


def test_hash_buckets_per_column_and_errors():
    X = pd.DataFrame({"user": [1, 2, 3] * 10, "city": list("abc") * 10})
    enc = encoder(X, hash_buckets={"user": 50})
    assert enc.cardinalities == [51, 4]
    with pytest.raises(ValueError, match="hash_buckets names 'age', which is not a categorical"):
        encoder(X, hash_buckets={"age": 50})


def test_declared_categories_are_the_vocabulary():
    dtype = pd.CategoricalDtype(["low", "mid", "high", "never seen"])
    X = pd.DataFrame({"level": pd.Series(["low", "mid"] * 10, dtype=dtype)})
    enc = encoder(X)
    assert enc.cardinalities == [5]
    late = pd.DataFrame({"level": pd.Series(["high", "never seen", None], dtype=dtype)})
    # Codes follow the sorted categories: high, low, mid, never seen.
    assert enc.transform(late).codes[:, 0].tolist() == [1, 4, 0]


def test_partial_fit_follows_numerics_and_knows_declared_or_hashed_categories():
    rng = np.random.RandomState(0)
    dtype = pd.CategoricalDtype(["a", "b", "c"])
    chunks = [
        pd.DataFrame(
            {
                "shifted": rng.normal(loc=10.0 * k, scale=1.0 + k, size=200),
                "declared": pd.Series(["a", "b", "c"][: k + 1] * 200, dtype=dtype)[:200],
                "user": rng.randint(1000 * k, 1000 * (k + 1), size=200),
            }
        )
        for k in range(3)
    ]
    Y = labels(200)
    model = MMoEClassifier(
        hash_buckets={"user": 64}, categorical_features=["declared", "user"], **FAST_PARAMS
    )
    scaler = StandardScaler()
    for chunk in chunks:
        model.partial_fit(chunk, Y)
        scaler.partial_fit(chunk[["shifted"]])
    stats = model._feature_encoder._stats
    np.testing.assert_allclose(stats.mean, scaler.mean_)
    np.testing.assert_allclose(stats.scale, scaler.scale_)
    codes = model._feature_encoder.transform(chunks[2]).codes
    assert set(codes[:, 0]) == {1, 2, 3}  # "c" first came in the last chunk
    assert codes[:, 1].min() >= 1


def test_partial_fit_warns_about_categories_its_vocabulary_cannot_hold():
    X = pd.DataFrame({"city": ["a", "b"] * 20, "x": np.linspace(0, 1, 40)})
    Y = labels(40)
    model = MMoEClassifier(categorical_features=["city"], **FAST_PARAMS).partial_fit(X, Y)
    with pytest.warns(UserWarning, match="'city' has 20 value.*did not see.*'c'.*hash_buckets"):
        model.partial_fit(X.assign(city=["a", "c"] * 20), Y)


def test_weighted_running_statistics_equal_repeated_rows(monkeypatch):
    # Statistics are accumulated block by block: make blocks of 2 rows, one all zero-weight.
    monkeypatch.setattr(_encoding, "_BLOCK_ROWS", 2)
    X = pd.DataFrame({"x": [1.0, 2.0, 4.0, 8.0, 16.0, 32.0]})
    weights = np.array([1.0, 3.0, 0.0, 0.0, 1.0, 2.0])
    weighted = FeatureEncoder(np.array([False])).fit(X[:2], weights[:2])
    weighted.partial_fit(X[2:], weights[2:])
    repeated = FeatureEncoder(np.array([False])).fit(X.loc[np.repeat(X.index, weights.astype(int))])
    np.testing.assert_allclose(weighted._stats.mean, repeated._stats.mean)
    np.testing.assert_allclose(weighted._stats.scale, repeated._stats.scale)


def test_datetimes_are_seconds_whatever_their_resolution():
    Y = labels(50)
    when = pd.Series(pd.date_range("2024-01-01", periods=50, freq="h"))
    X = pd.DataFrame({"when": when.astype("datetime64[ns]"), "x": np.linspace(0, 1, 50)})
    model = MMoEClassifier(**FAST_PARAMS).fit(X, Y)
    encoded = model._feature_encoder.transform(X).numeric[:, 0]
    seconds = (when - pd.Timestamp("1970-01-01")).dt.total_seconds()
    np.testing.assert_allclose(encoded, (seconds - seconds.mean()) / seconds.std(ddof=0), rtol=1e-5)
    coarse = X.assign(when=when.astype("datetime64[s]"))
    np.testing.assert_array_equal(model.predict_proba(coarse)[0], model.predict_proba(X)[0])
    utc = X.assign(when=when.dt.tz_localize("UTC").dt.tz_convert("Asia/Tokyo"))
    np.testing.assert_array_equal(model.predict_proba(utc)[0], model.predict_proba(X)[0])


def test_a_column_of_another_type_at_predict_is_named():
    X = pd.DataFrame({"store": np.tile([1, 2, 3], 20), "x": np.linspace(0, 1, 60)})
    Y = labels(60)
    model = MMoEClassifier(categorical_features=["store"], **FAST_PARAMS).fit(X, Y)
    as_strings = X.assign(store=X["store"].astype(str).astype(object))
    with pytest.warns(UserWarning, match="'store' holds string values but its categories at"):
        model.predict_proba(as_strings)


@pytest.mark.parametrize(
    "X, error, message",
    [
        ([{"a": 1.0, "b": 2.0}] * 10, TypeError, r"list of dicts.*pd.DataFrame\(records\)"),
        (
            pd.DataFrame(np.ones((10, 3)), columns=["a", "b", "a"]),
            ValueError,
            r"duplicate column names \['a'\]",
        ),
    ],
)
def test_containers_that_would_be_misread_are_rejected(X, error, message):
    with pytest.raises(error, match=message):
        MMoEClassifier(**FAST_PARAMS).fit(X, labels(10))


def test_category_dtype_lookup_follows_the_dtype_of_each_input():
    # The lookup of a CategoricalDtype's categories is kept for the dtype last
    # seen: another dtype (other order, other categories) must map afresh.
    X = pd.DataFrame({"c": pd.Categorical(["a", "b", "c", "a"]), "x": [0.0, 1.0, 2.0, 3.0]})
    enc = encoder(X)
    expected = enc.transform(X).codes[:, 0]
    rows = [enc.transform(X.iloc[[i]]).codes[0, 0] for i in range(len(X))]
    np.testing.assert_array_equal(rows, expected)
    reordered = X.assign(c=pd.Categorical(["a", "b", "c", "a"], categories=["c", "z", "b", "a"]))
    np.testing.assert_array_equal(enc.transform(reordered).codes[:, 0], expected)
    strings = X.assign(c=pd.Categorical(["1", "2", "1", "2"]))
    assert enc.transform(strings).codes[:, 0].tolist() == [0, 0, 0, 0]
    numbers = X.assign(c=pd.Categorical([1, 2, 1, 2]))
    with pytest.warns(UserWarning, match="holds number values"):
        enc.warn_unknown_kinds(numbers)
    # The kept dtype refers to prediction data: it does not travel with the encoder.
    assert "_last_dtype" not in pickle.loads(pickle.dumps(enc))._books[0].__dict__


# ------------------------------------------------- fits read in parts and merged


def _chunks_of(n_chunks, seed=0):
    """Chunks of a mixed table: categories (one declared by a dtype, one
    multi-valued), numerics, some zero weights."""
    rng = np.random.RandomState(seed)
    chunks = []
    for k in range(n_chunks):
        n = rng.randint(5, 40)
        X = pd.DataFrame(
            {
                # 7 and 7.0 are one category: the first one seen names it.
                "city": rng.choice(np.array(["paris", "rome", "oslo", 7, 7.0], object), n),
                "size": pd.Categorical(rng.choice(list("sml"), n), categories=list("smlx")),
                "tags": [list(rng.choice(list("abcde"), rng.randint(0, 3))) for _ in range(n)],
                "age": rng.normal(40 + k, 10, n),
                "income": rng.lognormal(10, 1, n),
            }
        )
        weight = rng.randint(0, 3, n).astype(float)
        weight[0] = 1.0
        chunks.append((X, weight))
    return chunks


def _new_encoder(**params):
    mask = np.array([True, True, True, False, False])
    names = np.array(["city", "size", "tags", "age", "income"], dtype=object)
    return FeatureEncoder(mask, names, **params)


def _assert_same_encoding(merged, whole):
    got, expected = merged.encoding(), whole.encoding()
    assert got.keys() == expected.keys()
    for key in ("categorical_features", "multi_valued_features", "numeric_features"):
        assert got[key] == expected[key]
    for name, codes in expected.vocabularies.items():
        pd.testing.assert_series_equal(got.vocabularies[name], codes)
        assert got.infrequent_categories[name].tolist() == (
            expected.infrequent_categories[name].tolist()
        )
    np.testing.assert_allclose(got.numeric_mean, expected.numeric_mean, rtol=1e-12)
    np.testing.assert_allclose(got.numeric_scale, expected.numeric_scale, rtol=1e-12)
    X = pd.concat([X for X, _ in _chunks_of(3, seed=1)], ignore_index=True)
    for a, b in zip(vars(merged.transform(X)).values(), vars(whole.transform(X)).values()):
        if a is None:
            assert b is None
        elif a.dtype.kind == "f":
            np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)
        else:
            np.testing.assert_array_equal(a, b)


@given(
    n_chunks=st.integers(2, 6),
    cuts=st.lists(st.integers(1, 5), min_size=1, max_size=3),
    seed=st.integers(0, 2**16),
)
@settings(max_examples=25, deadline=None)
def test_parts_read_apart_and_merged_encode_as_one_fit_over_all(n_chunks, cuts, seed):
    chunks = _chunks_of(n_chunks, seed)
    bounds = sorted({0, n_chunks, *(c for c in cuts if c < n_chunks)})
    parts = [chunks[a:b] for a, b in zip(bounds[:-1], bounds[1:])]
    params = dict(min_frequency=0.05, max_categories=4)
    fits = [_new_encoder(**params).read_chunks(part) for part in parts]
    merged = fits[0]
    for fit in fits[1:]:
        merged.merge(fit)
    assert merged.n_samples == sum(len(X) for X, _ in chunks)
    _assert_same_encoding(
        _new_encoder(**params).finish_fit(merged), _new_encoder(**params).fit_chunks(chunks)
    )


def test_reading_no_chunk_gives_nothing_to_merge():
    assert _new_encoder().read_chunks([]) is None


def test_merged_statistics_are_chans_pairwise_update():
    rng = np.random.RandomState(0)
    values = rng.normal(size=(50, 2))
    weight = rng.rand(50)
    first, second = _encoding._NumericStats(2), _encoding._NumericStats(2)
    first.update(values[:20], weight[:20])
    second.update(values[20:], weight[20:])
    first.merge(second).merge(_encoding._NumericStats(2))  # no rows change nothing
    np.testing.assert_allclose(first.mean, np.average(values, axis=0, weights=weight))
    var = np.average((values - first.mean) ** 2, axis=0, weights=weight)
    np.testing.assert_allclose(first.var, var)
    assert first.n_seen == pytest.approx(weight.sum())
