"""GridSearchCV spreads its fits over a dask cluster through joblib."""

import joblib
import numpy as np
import pytest
from sklearn.model_selection import GridSearchCV

from sklearn_mtl import MMoEClassifier
from sklearn_mtl.datasets import load_census_income
from sklearn_mtl.metrics import task_scorers

distributed = pytest.importorskip("dask.distributed")


def test_grid_search_on_a_dask_cluster_matches_a_sequential_one():
    X, Y = load_census_income(return_X_y=True)
    X, Y = X[:600], Y[:600]

    def search(n_jobs):
        return GridSearchCV(
            MMoEClassifier(max_epochs=2, batch_size=128, early_stopping=False, random_state=0),
            {"num_experts": [2, 3]},
            scoring=task_scorers(Y.columns, mean=True),
            refit="roc_auc_mean",
            cv=2,
            n_jobs=n_jobs,
        )

    sequential = search(None).fit(X, Y)
    # Worker processes with one thread each: every fit is seeded by random_state alone.
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, dashboard_address=None
    ) as cluster, distributed.Client(cluster) as client:
        with joblib.parallel_backend("dask"):
            on_cluster = search(-1).fit(X, Y)
        # The fits ran on the workers, not in this process.
        assert any(client.run(lambda: "sklearn_mtl" in __import__("sys").modules).values())
    for key in ("mean_test_roc_auc_mean", "split0_test_roc_auc_income"):
        np.testing.assert_allclose(on_cluster.cv_results_[key], sequential.cv_results_[key])
    assert on_cluster.best_params_ == sequential.best_params_
