"""Predictions pinned across refactors of the training path.

``tests/data/pinned_predictions.npz`` holds ``predict_proba`` of every
estimator after fixed fits (census sample, ``make_funnel``, out-of-core
chunks, a ``partial_fit`` sequence, a ``warm_start`` continuation, with and
without early stopping), recorded by ``python -m tests.test_identical_predictions``.
A change of the fit path must leave them as they are; a change that means to
alter them (a new default, a new order of random draws) re-records the file and
says why in its commit.
"""

import sys
from pathlib import Path

import numpy as np
import pytest

import sklearn_mtl
from sklearn_mtl import ChunkedData
from sklearn_mtl.datasets import load_census_income, make_funnel

from ._settings import ESTIMATORS, is_funnel

PINNED = Path(__file__).parent / "data" / "pinned_predictions.npz"

PARAMS = dict(max_epochs=2, batch_size=128, random_state=0)


def _census():
    X, Y = load_census_income(return_X_y=True)
    return X.iloc[:1500], Y.iloc[:1500]


def _funnel():
    data = make_funnel(n_samples=1500, random_state=0)
    return data.data, data.target


def _chunks(X, Y, n_chunks=3):
    bounds = np.linspace(0, len(X), n_chunks + 1).astype(int)

    def chunks():
        for start, stop in zip(bounds[:-1], bounds[1:]):
            yield X.iloc[start:stop], Y.iloc[start:stop]

    return ChunkedData(chunks)


def _probabilities(model, X):
    # 300 rows pin a fit as well as all of them, in a smaller file.
    proba = model.predict_proba(X.iloc[:300])
    proba = proba if isinstance(proba, list) else [proba]
    return np.column_stack([p for p in proba if p is not None])


def _scenarios():
    """``(key, thunk)`` pairs; each thunk fits and returns the predictions."""
    census, funnel = _census(), _funnel()
    for Model in ESTIMATORS:
        name = Model.__name__
        X, Y = funnel if is_funnel(Model) else census

        def fit(Model=Model, X=X, Y=Y):
            return _probabilities(Model(**PARAMS).fit(X, Y), X)

        def early_stopping(Model=Model, X=X, Y=Y):
            model = Model(**PARAMS, early_stopping=True, n_iter_no_change=1)
            return _probabilities(model.fit(X, Y), X)

        def chunked(Model=Model, X=X, Y=Y):
            model = Model(**PARAMS, early_stopping=True)
            return _probabilities(model.fit(_chunks(X, Y)), X)

        def partial(Model=Model, X=X, Y=Y):
            model = Model(**PARAMS)
            for start in range(0, len(X), 500):
                model.partial_fit(X.iloc[start : start + 500], Y.iloc[start : start + 500])
            return _probabilities(model, X)

        def warm(Model=Model, X=X, Y=Y):
            model = Model(**PARAMS, warm_start=True).fit(X, Y)
            model.set_params(max_epochs=1, lr=0.0005).fit(X, Y)
            return _probabilities(model, X)

        def warm_chunked(Model=Model, X=X, Y=Y):
            model = Model(**PARAMS, warm_start=True).fit(_chunks(X, Y))
            model.set_params(max_epochs=1).fit(_chunks(X, Y))
            return _probabilities(model, X)

        yield f"{name}/fit", fit
        yield f"{name}/early_stopping", early_stopping
        yield f"{name}/chunked", chunked
        yield f"{name}/partial_fit", partial
        yield f"{name}/warm_start", warm
        yield f"{name}/warm_start_chunked", warm_chunked
    if not is_funnel(sklearn_mtl.MMoEClassifier):
        # A non-funnel model on funnel data too: selection-biased labels, NaN-free.
        X, Y = funnel
        yield "MMoEClassifier/funnel", lambda: _probabilities(
            sklearn_mtl.MMoEClassifier(**PARAMS).fit(X, Y), X
        )


def _record():
    values = {key: thunk() for key, thunk in _scenarios()}
    PINNED.parent.mkdir(exist_ok=True)
    np.savez_compressed(PINNED, **values)
    print(f"recorded {len(values)} predictions in {PINNED}")


@pytest.fixture(scope="module")
def pinned():
    if not PINNED.exists():
        pytest.fail(f"{PINNED} is missing: run python -m tests.test_identical_predictions")
    with np.load(PINNED) as stored:
        return dict(stored)


@pytest.mark.parametrize("key, thunk", list(_scenarios()), ids=lambda v: v if isinstance(v, str) else "")
def test_predictions_unchanged(pinned, key, thunk):
    assert key in pinned, f"no pinned predictions for {key}: re-record them"
    # Float32 training on the recording machine; another BLAS may round the last bits.
    np.testing.assert_allclose(thunk(), pinned[key], rtol=1e-5, atol=1e-6, err_msg=key)


if __name__ == "__main__":
    import torch

    torch.set_num_threads(1)
    _record()
    sys.exit(0)
