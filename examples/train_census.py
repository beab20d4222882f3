"""
=====================================================================
Train MMoE on census-income inside a Pipeline, per-task test ROC AUC
=====================================================================

The MMoE paper's first census task pair: income > 50K and never married.
Runs on the sample bundled with the package; pass ``--data-home`` to a folder
with the full UCI files (census-income.data.gz / census-income.test.gz)::

    python examples/train_census.py [--data-home DIR] [--threads N]

``--train-rows`` and ``--max-epochs`` make the run smaller (the documentation
runs it so).
"""

import argparse
import os
import time

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch  # noqa: E402
from sklearn.compose import ColumnTransformer, make_column_selector  # noqa: E402
from sklearn.pipeline import Pipeline  # noqa: E402
from sklearn.preprocessing import OrdinalEncoder, StandardScaler  # noqa: E402

from sklearn_mtl import MMoEClassifier  # noqa: E402
from sklearn_mtl.datasets import load_census_income  # noqa: E402
from sklearn_mtl.metrics import task_scorers  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-home", default=None, help="folder with the full UCI files")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--train-rows", type=int, default=None, help="use the first rows only")
    parser.add_argument("--max-epochs", type=int, default=None, help="the model's default: 20")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    train = load_census_income(subset="train", data_home=args.data_home)
    test = load_census_income(subset="test", data_home=args.data_home)
    categorical = train.categorical_features
    X, Y = train.data[: args.train_rows], train.target[: args.train_rows]
    budget = {} if args.max_epochs is None else {"max_epochs": args.max_epochs}

    prep = ColumnTransformer(
        [
            (
                "categories",
                OrdinalEncoder(
                    handle_unknown="use_encoded_value",
                    unknown_value=-1,
                    encoded_missing_value=-1,
                ),
                make_column_selector(dtype_include="category"),
            ),
            ("numbers", StandardScaler(), make_column_selector(dtype_exclude="category")),
        ],
        verbose_feature_names_out=False,
    ).set_output(transform="pandas")
    model = Pipeline(
        [
            ("prep", prep),
            (
                "mtl",
                MMoEClassifier(
                    categorical_features=categorical, random_state=0, verbose=1, **budget
                ),
            ),
        ]
    )

    start = time.perf_counter()
    model.fit(X, Y)
    seconds = time.perf_counter() - start

    print(
        f"\ntrained on {len(X):,} rows in {seconds:.1f} s "
        f"({model[-1].n_iter_} epochs); test rows: {len(test.data):,}"
    )
    for name, scorer in task_scorers(model[-1].task_names_).items():
        print(f"test {name:<25} {scorer(model, test.data, test.target):.4f}")


if __name__ == "__main__":
    main()
