"""Training out of core (ChunkedData): chunks read twice, then epochs over their cache."""

import gc
import weakref

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.metrics import roc_auc_score

from sklearn_mtl import ChunkedData, MMoEClassifier
from sklearn_mtl._data import ChunkTensors, TensorData
from sklearn_mtl._data._cache import ChunkCache

from ._settings import FAST_PARAMS


def make_chunk(seed, n=400):
    rng = np.random.RandomState(seed)
    x = rng.normal(size=n)
    city = rng.choice(["paris", "rome", "oslo"], size=n)
    X = pd.DataFrame({"x": x, "city": pd.Categorical(city, categories=["oslo", "paris", "rome"])})
    Y = pd.DataFrame({"click": (x + (city == "rome") > 0.5), "like": x > 1.0}).astype(int)
    return X, Y


class CountingChunks:
    """A chunk factory that counts the passes over it and the chunks alive at once."""

    def __init__(self, n_chunks):
        self.n_chunks = n_chunks
        self.passes = 0
        self.alive = []
        self.most_alive = 0

    def __call__(self):
        self.passes += 1
        for k in range(self.n_chunks):
            if self.passes <= 2:  # the encoding pass and one epoch (collecting is slow)
                gc.collect()
            self.alive = [ref for ref in self.alive if ref() is not None]
            self.most_alive = max(self.most_alive, len(self.alive) + 1)
            chunk = make_chunk(k, n=200)
            self.alive.append(weakref.ref(chunk[0]))
            yield chunk
            del chunk


def test_one_chunk_trains_as_the_same_data_in_memory():
    X, Y = make_chunk(0)
    in_memory = MMoEClassifier(**FAST_PARAMS).fit(X, Y)
    chunked = MMoEClassifier(**FAST_PARAMS).fit(ChunkedData(lambda: [(X, Y)]))
    for p, q in zip(chunked.predict_proba(X), in_memory.predict_proba(X)):
        np.testing.assert_array_equal(p, q)


def test_chunks_are_read_twice_one_at_a_time_whatever_the_epochs():
    chunks = CountingChunks(n_chunks=4)
    model = MMoEClassifier(
        max_epochs=20,
        n_iter_no_change=1,
        lr=0.02,
        early_stopping=True,
        batch_size=64,
        random_state=0,
    ).fit(ChunkedData(chunks))
    assert model.n_iter_ < 20  # early stopping ended the training
    assert np.isfinite(model.history_[:, "valid_roc_auc_click"]).all()
    # One pass to learn the encoding and the tasks, one to encode into the cache
    # that every epoch reads.
    assert chunks.passes == 2
    # The chunk being read, the one before, and during the encoding pass the first.
    assert chunks.most_alive <= 3
    X, Y = make_chunk(99)
    proba = model.predict_proba(X)
    assert roc_auc_score(Y["click"], proba[0][:, 1]) > 0.8


def _cache_of_x(folder, n_chunks=3, n=400):
    """A cache whose numeric column is each row's global position."""
    parts = [
        TensorData(
            {
                "categorical": torch.zeros((n, 1), dtype=torch.int32),
                "numeric": torch.arange(k * n, (k + 1) * n, dtype=torch.float32)[:, None],
            },
            torch.zeros((n, 1)),
        )
        for k in range(n_chunks)
    ]
    return ChunkCache.open_or_write(folder, "key", parts)


def test_validation_rows_are_the_same_each_epoch_and_apart_from_training(tmp_path):
    cache = _cache_of_x(tmp_path)

    def rows(part, shuffle=False):
        data = ChunkTensors(cache, 0.2, part, seed=3, shuffle_buffer=2)
        return torch.cat([chunk.inputs["numeric"][:, 0] for chunk in data.chunks(shuffle)])

    valid, train = rows("valid"), rows("train")
    torch.testing.assert_close(rows("valid"), valid)
    assert len(valid) + len(train) == 1200 and 180 < len(valid) < 300
    assert not set(valid.tolist()) & set(train.tolist())
    assert set(rows("train", shuffle=True).tolist()) == set(train.tolist())


def test_parquet_directory_with_multi_valued_and_late_categories(tmp_path):
    pytest.importorskip("pyarrow")
    rng = np.random.RandomState(0)
    for k in range(3):
        X, Y = make_chunk(k, n=200)
        X["city"] = X["city"].astype(str)
        if k == 2:
            X.loc[:9, "city"] = "lima"  # a city first seen in the last file
        X["tags"] = [list(rng.choice(["a", "b", "c"], size=rng.randint(0, 3))) for _ in range(200)]
        pd.concat([X, Y], axis=1).to_parquet(tmp_path / f"part-{k}.parquet")
    source = ChunkedData(tmp_path, target_columns=["click", "like"], chunk_rows=150)
    model = MMoEClassifier(categorical_features=["city", "tags"], **FAST_PARAMS).fit(source)
    assert list(model._feature_encoder.categories_[0]) == ["lima", "oslo", "paris", "rome"]
    assert list(model._feature_encoder.categories_[1]) == ["a", "b", "c"]
    frame = pd.read_parquet(tmp_path / "part-2.parquet").drop(columns=["click", "like"])
    assert model.predict(frame).shape == (200, 2)


def test_chunk_errors_are_clear(tmp_path):
    X, Y = make_chunk(0)
    with pytest.raises(TypeError, match=r"or \(X, Y, sample_weight\) tuple, got DataFrame"):
        MMoEClassifier(**FAST_PARAMS).fit(ChunkedData(lambda: [X]))
    with pytest.raises(ValueError, match="labels and weights come with each chunk"):
        MMoEClassifier(**FAST_PARAMS).fit(ChunkedData(lambda: [(X, Y)]), Y)
    with pytest.raises(ValueError, match="no chunk"):
        MMoEClassifier(**FAST_PARAMS).fit(ChunkedData(lambda: []))
    with pytest.raises(ValueError, match="needs target_columns"):
        MMoEClassifier(**FAST_PARAMS).fit(ChunkedData(tmp_path))
    model = MMoEClassifier(**FAST_PARAMS).fit(X, Y)
    with pytest.raises(TypeError, match="ChunkedData is for fit only"):
        model.predict(ChunkedData(lambda: [(X, Y)]))
    with pytest.raises(ValueError, match="Y has 3 task"):
        MMoEClassifier(**FAST_PARAMS).fit(ChunkedData(lambda: [(X, Y), (X, Y.assign(buy=0))]))


def test_parquet_weight_column_weights_the_rows(tmp_path):
    pytest.importorskip("pyarrow")
    X, Y = make_chunk(0)
    weight = np.where(X["x"] > 0, 3.0, 1.0)
    pd.concat([X, Y], axis=1).assign(w=weight).to_parquet(tmp_path / "log.parquet")
    source = ChunkedData(
        tmp_path / "log.parquet", target_columns=["click", "like"], weight_column="w"
    )
    model = MMoEClassifier(**FAST_PARAMS).fit(source)
    assert model.n_features_in_ == 2  # the weight is not a feature
    expected = np.average(X["x"], weights=weight)
    np.testing.assert_allclose(model._feature_encoder._stats.mean, [expected])
