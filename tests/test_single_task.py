import numpy as np
import pandas as pd
import pytest

from sklearn_mtl import SharedBottomClassifier, SingleTaskClassifier
from sklearn_mtl.datasets import make_funnel

from ._settings import FAST_PARAMS


def _data(n=400, seed=0):
    rng = np.random.RandomState(seed)
    X = pd.DataFrame(
        {"a": rng.normal(size=n), "b": rng.normal(size=n),
         "city": pd.Categorical(rng.choice(list("abcd"), n))}
    )
    Y = np.column_stack([X["a"] > 0, (X["a"] + X["b"] > 0) ^ (X["city"] == "a")]).astype(float)
    return X, Y


def test_one_task_labels_never_reach_another_task():
    X, Y = _data()
    flipped = Y.copy()
    flipped[:, 1] = 1 - flipped[:, 1]
    flipped[::4, 1] = np.nan
    params = dict(FAST_PARAMS, batch_size=64)
    single = [SingleTaskClassifier(**params).fit(X, y) for y in (Y, flipped)]
    np.testing.assert_array_equal(single[0].predict_proba(X)[0], single[1].predict_proba(X)[0])
    assert not np.allclose(single[0].predict_proba(X)[1], single[1].predict_proba(X)[1])
    # The same change moves a shared-bottom model's first task.
    shared = [SharedBottomClassifier(**params).fit(X, y) for y in (Y, flipped)]
    assert not np.allclose(shared[0].predict_proba(X)[0], shared[1].predict_proba(X)[0])


def test_no_parameter_is_shared_between_tasks():
    X, Y = _data(100)
    module = SingleTaskClassifier(**FAST_PARAMS).fit(X, Y).net_.module_
    first, second = module.embeddings
    assert first.table.weight.data_ptr() != second.table.weight.data_ptr()
    assert not np.allclose(first.table.weight.detach(), second.table.weight.detach())
    with pytest.raises(ValueError, match="shared_parameters"):
        SingleTaskClassifier(loss_weighting="pcgrad", **FAST_PARAMS).fit(X, Y)


def test_regression_and_binary_tasks():
    X, Y = _data(200)
    Y[:, 1] = X["a"] * 3.0 + 10.0
    model = SingleTaskClassifier(task_types=["binary", "regression"], **FAST_PARAMS).fit(X, Y)
    proba, value = model.predict_proba(X)
    assert proba.shape == (200, 2) and value is None


def test_every_task_table_starts_at_embedding_init_std():
    X, Y = make_funnel(n_samples=300, random_state=0, return_X_y=True)
    model = SingleTaskClassifier(embedding_init_std=1e-4, max_epochs=1, lr=1e-9, random_state=0)
    model.fit(X, Y)
    # lr 1e-9 leaves the tables where they started: every task's at N(0, 1e-4).
    stds = [float(e.table.weight.std()) for e in model.net_.module_.embeddings]
    assert len(stds) == 2 and all(0.5e-4 < std < 2e-4 for std in stds), stds
