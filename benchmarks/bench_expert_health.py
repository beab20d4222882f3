"""Expert health of MMoE with and without gate dropout.

MMoE (8 experts) is trained for a fixed number of epochs (no early stopping)
on the first 8,000 rows of the bundled census-income sample's train split
(scored on its test split) and on 9,000 rows of ``make_funnel`` (6,000 to
train, 3,000 to score), for each
``gate_dropout`` and seed. Each row gives each task's test ROC AUC and the
experts' health that the model records in ``history_`` at its last epoch, on
the training rows: each task gate's entropy over the experts
(0 = one expert, 1 = even), the mean and the largest expert's share of zero
outputs, the mean share of dead output units (zero on every row), and the
mean exclusivity of the experts (the share of an expert's use from the task
that uses it most: 0.5 = both tasks alike, 1 = one task alone).

    python benchmarks/bench_expert_health.py --output benchmarks/results_expert_health.txt
"""

import argparse
import os
import platform
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402

import sklearn_mtl  # noqa: E402
from sklearn_mtl import MMoEClassifier  # noqa: E402
from sklearn_mtl.datasets import load_census_income, make_funnel  # noqa: E402
from sklearn_mtl.metrics import task_scorers  # noqa: E402


def census(n_train=8_000):
    train = load_census_income(subset="train")
    test = load_census_income(subset="test")
    return train.data[:n_train], train.target[:n_train], test.data, test.target


def funnel(n_samples=9_000):
    X, Y = make_funnel(n_samples, random_state=0, return_X_y=True)
    split = 2 * n_samples // 3
    return X[:split], Y[:split], X[split:], Y[split:]


DATASETS = {"census sample": census, "make_funnel": funnel}


def health(model):
    """The last epoch's expert health, as the history records it."""
    last = model.history_[-1]
    zero = np.asarray(last["expert_zero_share_experts"])
    row = {f"entropy {t}": last[f"gate_entropy_{t}"] for t in model.task_names_}
    row["zero mean"] = zero.mean()
    row["zero max"] = zero.max()
    row["dead mean"] = np.mean(last["expert_dead_share_experts"])
    row["exclusivity"] = np.mean(last["expert_exclusivity"])
    return row


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--gate-dropout", type=float, nargs="+", default=[0.0, 0.2, 0.5])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--output", default=None)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rows = []
    start = time.perf_counter()
    for data_name, load in DATASETS.items():
        X, Y, X_test, Y_test = load()
        tasks = list(Y.columns)
        for dropout in args.gate_dropout:
            for seed in args.seeds:
                model = MMoEClassifier(
                    num_experts=8, gate_dropout=dropout, max_epochs=args.epochs,
                    early_stopping=False, random_state=seed,
                ).fit(X, Y)
                row = {"data": data_name, "gate_dropout": dropout, "seed": seed}
                for task, scorer in task_scorers(tasks).items():
                    row[task.replace("roc_auc_", "auc ")] = scorer(model, X_test, Y_test)
                row.update(health(model))
                rows.append(row)
                print(row, flush=True)
    elapsed = time.perf_counter() - start
    frame = pd.DataFrame(rows)
    grouped = frame.drop(columns="seed").groupby(["data", "gate_dropout"], sort=False)
    mean, std = grouped.mean(), grouped.std()
    # mean +- std over the seeds; a dataset's tasks have their own columns.
    table = mean.round(4).astype(str) + " +- " + std.round(4).astype(str)
    table = table.where(mean.notna(), "")
    header = (
        f"sklearn_mtl {sklearn_mtl.__version__}, torch {torch.__version__}, "
        f"{platform.machine()}, {args.threads} thread(s); MMoE, 8 experts, "
        f"{args.epochs} epochs, no early stopping; mean +- std over seeds {args.seeds} "
        f"({elapsed:.0f} s in all)\n"
        "auc = test ROC AUC; entropy = task gate entropy / log(8); zero = expert's share "
        "of zero outputs; dead = share of output units zero on every row; exclusivity = "
        "share of an expert's use from its main task; health on the training rows (the "
        "history's first 10,000) at the last epoch; census: 8,000 train rows of the "
        "bundled sample, its 10,000 test rows; make_funnel: 6,000 train, 3,000 test\n\n"
    )
    text = header
    for data_name in DATASETS:
        part = table.loc[data_name].loc[:, mean.loc[data_name].notna().all()]
        # Scores first, then the gates, then the experts, whatever the task names.
        order = ("auc", "entropy", "zero", "dead", "exclusivity")
        part = part[sorted(part.columns, key=lambda c: order.index(c.split()[0]))]
        text += f"{data_name}\n{part.T.to_string()}\n\n"
    print(text)
    if args.output:
        Path(args.output).write_text(text)


if __name__ == "__main__":
    main()
