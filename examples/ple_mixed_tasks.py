"""
================================================================================
PLE on census-income with a regression task, a masked task and loss balancing
================================================================================

Three tasks: weeks worked (regression, taken out of X), never married
(binary, every row) and income > 50K observed only for people who worked
(NaN elsewhere): the PLE paper's per-task sample spaces, where a conversion
task is trained on clicked rows only. Prints per-task test scores::

    python examples/ple_mixed_tasks.py [--threads N]

``--train-rows`` and ``--max-epochs`` make the run smaller (the documentation
runs it so).
"""

import argparse
import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402

from sklearn_mtl import PLEClassifier  # noqa: E402
from sklearn_mtl.datasets import load_census_income  # noqa: E402
from sklearn_mtl.loss_weighting import GradNorm  # noqa: E402
from sklearn_mtl.metrics import task_scorers  # noqa: E402


def tasks(X, Y):
    worked = X["weeks_worked"] > 0
    T = pd.DataFrame(
        {
            "weeks_worked": X["weeks_worked"],
            "never_married": Y["never_married"],
            # NaN = unobserved: these rows are left out of this task's loss.
            "income_if_worked": Y["income"].where(worked, np.nan),
        }
    )
    return X.drop(columns="weeks_worked"), T


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--train-rows", type=int, default=None, help="use the first rows only")
    parser.add_argument("--max-epochs", type=int, default=None, help="the model's default: 20")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    X, T = tasks(*load_census_income(return_X_y=True))
    X, T = X[: args.train_rows], T[: args.train_rows]
    budget = {} if args.max_epochs is None else {"max_epochs": args.max_epochs}
    X_test, T_test = tasks(*load_census_income(subset="test", return_X_y=True))
    model = PLEClassifier(
        num_levels=2,
        num_specific_experts=1,
        num_shared_experts=2,
        task_types=["regression", "binary", "binary"],
        loss_weighting=GradNorm(alpha=1.5),
        random_state=0,
        **budget,
    ).fit(X, T)
    print(f"trained on {len(X):,} rows for {model.n_iter_} epochs")
    scorers = {
        **task_scorers(["weeks_worked"], metrics=("r2",)),
        **task_scorers(["never_married", "income_if_worked"]),
    }
    for name, scorer in scorers.items():
        print(f"{name}: {scorer(model, X_test, T_test):.4f}")
    weights = {t: model.history_[-1, f"loss_weight_{t}"] for t in model.task_names_}
    print("final GradNorm weights:", {t: round(w, 3) for t, w in weights.items()})


if __name__ == "__main__":
    main()
