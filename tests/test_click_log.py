"""make_click_log / write_click_log: a click log with known true probabilities."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.compose import ColumnTransformer
from sklearn.pipeline import make_pipeline

from sklearn_mtl import ChunkedData, ESMMClassifier
from sklearn_mtl.datasets import _click_log, make_click_log, write_click_log

from ._settings import FAST_PARAMS

pq = pytest.importorskip("pyarrow.parquet")

SMALL = dict(n_users=500, n_items=300, n_tags=50)


def read_parts(folder):
    """Features, labels and truths written by write_click_log, as one table each."""
    source = ChunkedData(folder, target_columns=["click", "conversion"], chunk_rows=97)
    parts = list(source)
    X = pd.concat([p[0] for p in parts], ignore_index=True)
    Y = pd.concat([p[1] for p in parts], ignore_index=True)
    truth = pd.concat(
        [pq.read_table(p).to_pandas() for p in sorted((folder / "truth").glob("*.parquet"))],
        ignore_index=True,
    )
    return X, Y, truth


def test_columns_dtypes_and_truths():
    log = make_click_log(2000, n_categories=(3, 7), n_numeric=2, random_state=0, **SMALL)
    X, Y = log.data, log.target
    assert list(X.columns) == log.feature_names == [
        "user_id", "item_id", "cat_0", "cat_1", "num_0", "num_1", "tags", "timestamp",
    ]
    assert X["user_id"].dtype == X["item_id"].dtype == np.int64
    assert X["user_id"].between(0, 499).all() and X["item_id"].between(0, 299).all()
    assert [len(X[c].cat.categories) for c in ("cat_0", "cat_1")] == [3, 7]
    assert X["num_0"].dtype == np.float64 and X["timestamp"].dtype == "datetime64[s]"
    assert X["tags"].dtype == object and all(isinstance(t, list) for t in X["tags"])
    lengths = X["tags"].map(len)
    assert lengths.min() == 0 and lengths.max() == 5
    assert all(0 <= tag < 50 for tags in X["tags"] for tag in tags)
    assert X["timestamp"].is_monotonic_increasing
    assert X["timestamp"].iloc[-1] < pd.Timestamp("2024-01-31")
    assert list(Y.columns) == log.target_names == ["click", "conversion"]
    assert log.true_proba.shape == (2000, 2) and log.confounder.shape == (2000,)
    assert ((log.true_proba > 0) & (log.true_proba < 1)).all().all()
    assert log.categorical_features == ["user_id", "item_id", "cat_0", "cat_1", "tags"]
    X2, Y2 = make_click_log(2000, n_categories=(3, 7), n_numeric=2, random_state=0,
                            return_X_y=True, **SMALL)
    pd.testing.assert_frame_equal(X2, X)
    pd.testing.assert_frame_equal(Y2, Y)


@settings(max_examples=15, deadline=None)
@given(
    n=st.integers(1, 300),
    seed=st.integers(0, 2**16),
    selection_bias=st.floats(0, 1),
    confounding=st.floats(0, 3),
    max_tags=st.integers(0, 6),
    n_categories=st.lists(st.integers(1, 9), max_size=3),
    n_numeric=st.integers(0, 3),
)
def test_any_parameters_give_a_reproducible_ordered_funnel(
    n, seed, selection_bias, confounding, max_tags, n_categories, n_numeric
):
    params = dict(selection_bias=selection_bias, confounding=confounding, max_tags=max_tags,
                  n_categories=n_categories, n_numeric=n_numeric, random_state=seed, **SMALL)
    log = make_click_log(n, **params)
    again = make_click_log(n, **params)
    pd.testing.assert_frame_equal(log.data, again.data)
    pd.testing.assert_frame_equal(log.target, again.target)
    pd.testing.assert_frame_equal(log.true_proba, again.true_proba)
    assert (log.target["conversion"] <= log.target["click"]).all()
    assert log.data["timestamp"].is_monotonic_increasing
    assert log.data["tags"].map(len).max() <= max_tags
    assert log.data.shape == (n, 4 + len(n_categories) + n_numeric)


def test_seeds_differ():
    a = make_click_log(500, random_state=0, **SMALL)
    b = make_click_log(500, random_state=1, **SMALL)
    assert not a.data["user_id"].equals(b.data["user_id"])
    assert not np.allclose(a.true_proba, b.true_proba)


@pytest.mark.parametrize("exponent", [0.8, 1.2])
def test_id_frequencies_follow_zipf(exponent):
    log = make_click_log(100_000, n_users=2000, user_zipf=exponent, n_items=10,
                         n_tags=10, random_state=0)
    counts = np.bincount(log.data["user_id"], minlength=2000)
    ranks = np.arange(1, 31)
    slope = np.polyfit(np.log(ranks), np.log(counts[:30]), 1)[0]
    assert slope == pytest.approx(-exponent, abs=0.1)
    # ID k is the (k + 1)-th most frequent: counts fall with the ID.
    assert (np.diff(counts[:10]) < 0).all()


def test_selection_bias_shows_on_clicked_rows():
    def clicked_vs_all(**params):
        log = make_click_log(60_000, random_state=0, **SMALL, **params)
        clicked = log.target["click"].to_numpy() == 1
        observed = log.target["conversion"].to_numpy()[clicked].mean()
        return observed, log.true_proba["conversion"].mean()

    observed, population = clicked_vs_all(selection_bias=0.8)
    assert observed > population + 0.05  # the CVR a naive model sees is biased upwards
    observed, population = clicked_vs_all(selection_bias=0.0)
    assert observed == pytest.approx(population, abs=0.015)
    # Selection on the hidden confounder alone biases it too.
    observed, population = clicked_vs_all(selection_bias=0.0, confounding=1.5)
    assert observed > population + 0.05


def test_truths_are_calibrated():
    log = make_click_log(50_000, random_state=0, **SMALL)
    clicked = log.target["click"] == 1
    assert log.target["click"].mean() == pytest.approx(log.true_proba["click"].mean(), abs=0.01)
    assert log.target["conversion"][clicked].mean() == pytest.approx(
        log.true_proba["conversion"][clicked].mean(), abs=0.01
    )


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(n=st.integers(1, 400), rows_per_file=st.integers(1, 450), block=st.integers(16, 128))
def test_parquet_parts_hold_the_rows_make_click_log_returns(
    tmp_path_factory, monkeypatch, n, rows_per_file, block
):
    # A small block grid, so that files and blocks cut each other anywhere.
    monkeypatch.setattr(_click_log, "_BLOCK_ROWS", block)
    folder = tmp_path_factory.mktemp("log")
    paths = write_click_log(folder, n, rows_per_file=rows_per_file, random_state=3, **SMALL)
    assert len(paths) == -(-n // rows_per_file)
    assert [pq.ParquetFile(p).metadata.num_rows for p in paths] == [
        min(rows_per_file, n - start) for start in range(0, n, rows_per_file)
    ]
    log = make_click_log(n, random_state=3, **SMALL)
    X, Y, truth = read_parts(folder)
    pd.testing.assert_frame_equal(Y, log.target)
    np.testing.assert_array_equal(truth[["pctr", "pcvr"]], log.true_proba)
    np.testing.assert_array_equal(truth["confounder"], log.confounder)
    for name in log.data.columns:
        if name == "tags":
            assert [list(t) for t in X[name]] == list(log.data[name])
        elif name == "timestamp":
            assert (X[name].to_numpy() == log.data[name].to_numpy()).all()
        else:
            pd.testing.assert_series_equal(X[name], log.data[name])


def test_parquet_log_trains_as_the_same_rows_in_memory(tmp_path):
    params = dict(
        categorical_features=["user_id", "item_id", "cat_0", "cat_1", "cat_2", "tags"],
        hash_buckets={"user_id": 64, "item_id": 64}, **FAST_PARAMS,
    )
    write_click_log(tmp_path, 3000, rows_per_file=1000, random_state=0, **SMALL)
    from_files = ESMMClassifier(**params).fit(
        ChunkedData(tmp_path, target_columns=["click", "conversion"])
    )
    X, Y = make_click_log(3000, random_state=0, return_X_y=True, **SMALL)
    # The same three chunks (one per file), from memory.
    parts = [(X[k : k + 1000], Y[k : k + 1000]) for k in range(0, 3000, 1000)]
    from_memory = ESMMClassifier(**params).fit(ChunkedData(lambda: parts))
    for p, q in zip(from_files.predict_proba(X), from_memory.predict_proba(X)):
        np.testing.assert_array_equal(p, q)


def test_through_a_column_transformer():
    X, Y = make_click_log(2000, random_state=0, return_X_y=True, **SMALL)
    pre = ColumnTransformer(
        [("ids", "passthrough", ["user_id", "item_id", "tags"])], remainder="drop"
    ).set_output(transform="pandas")
    model = ESMMClassifier(
        categorical_features=["ids__user_id", "ids__item_id", "ids__tags"],
        hash_buckets=32, **FAST_PARAMS,
    )
    pipe = make_pipeline(pre, model).fit(X, Y)
    assert pipe[-1].is_categorical_.tolist() == [True, True, True]
    assert pipe.predict_proba(X)[0].shape == (2000, 2)


@pytest.mark.parametrize(
    "params, message",
    [
        (dict(base_rates=(0.1,)), "base_rates must hold 2 probabilities"),
        (dict(base_rates=(0.1, 1.0)), "base_rates must hold 2 probabilities"),
        (dict(n_categories=(3, 0)), "n_categories must be a list of positive integers"),
        (dict(n_categories=(2.5,)), "n_categories must be a list of positive integers"),
    ],
)
def test_bad_parameters_are_named(params, message):
    with pytest.raises(ValueError, match=message):
        make_click_log(10, **params)


def test_writer_checks_its_arguments(tmp_path):
    with pytest.raises(TypeError, match=r"unknown parameter\(s\) \['n_user'\]"):
        write_click_log(tmp_path, 10, n_user=5)
    with pytest.raises(ValueError, match="user_zipf"):
        write_click_log(tmp_path, 10, user_zipf=-1.0)
    write_click_log(tmp_path, 10, random_state=0, **SMALL)
    with pytest.raises(ValueError, match="already holds Parquet files"):
        write_click_log(tmp_path, 10, random_state=0, **SMALL)
