"""
=====================================================
GridSearchCV on a dask cluster
=====================================================

A hyperparameter search runs many independent fits. scikit-learn sends them
through joblib, and joblib's dask backend sends them to the workers of a dask
cluster: the search and the estimator are unchanged, only the joblib backend
differs. Install the ``distributed`` extra (in the source checkout, ``pip
install -e ".[distributed]"``). Here a ``LocalCluster`` of two worker
processes stands in for a cluster; on a real one, connect the
``Client`` to its scheduler (``Client("tcp://scheduler:8786")``)::

    python examples/grid_search_dask.py

The documentation does not run this script: the worker processes each
import torch and the package, half a minute before the first fit. A run on
two CPU cores printed::

    $ python examples/grid_search_dask.py
    4 candidates, 2 folds, 4,000 rows
    best on the mean over tasks: {'lr': 0.005, 'num_experts': 6}
    its cross-validated mean AUC: 0.9566

``--rows`` makes the search smaller or larger.

Give each worker one thread: fits that run in threads of one process share
torch's global random generator, so their results would not be reproducible;
in separate processes each fit is seeded by ``random_state`` alone, and the
search gives the same scores as a sequential one.
"""

import argparse
import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import joblib  # noqa: E402
from dask.distributed import Client, LocalCluster  # noqa: E402
from sklearn.model_selection import GridSearchCV  # noqa: E402

from sklearn_mtl import MMoEClassifier  # noqa: E402
from sklearn_mtl.datasets import load_census_income  # noqa: E402
from sklearn_mtl.metrics import task_scorers  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=4000, help="use the first rows only")
    args = parser.parse_args()
    X, Y = load_census_income(return_X_y=True)
    X, Y = X[: args.rows], Y[: args.rows]
    search = GridSearchCV(
        MMoEClassifier(max_epochs=4, early_stopping=False, random_state=0),
        {"num_experts": [2, 6], "lr": [1e-3, 5e-3]},
        scoring=task_scorers(Y.columns, mean=True),
        refit="roc_auc_mean",
        cv=2,
        n_jobs=-1,
    )
    with LocalCluster(n_workers=2, threads_per_worker=1) as cluster, Client(cluster):
        with joblib.parallel_backend("dask"):
            search.fit(X, Y)
    print(f"{len(search.cv_results_['params'])} candidates, 2 folds, {len(X):,} rows")
    print("best on the mean over tasks:", search.best_params_)
    print("its cross-validated mean AUC:", round(search.best_score_, 4))


if __name__ == "__main__":
    main()
