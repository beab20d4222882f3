"""Expert collapse on census-income: gate utilisation and test AUC with and
without the load-balancing penalty (``gate_balance_weight``).

MMoE (8 experts) and PLE (2 levels, 1 specific + 2 shared experts per level)
are trained with their default settings (early stopping on a 10% split) on the
full UCI training file, for each penalty weight and seed, and scored on the
full test file: each task's ROC AUC and its gate's use of the experts (the mean
weight on its most used expert, and the entropy of its shares over its
maximum; for PLE the last level's task gates over the experts they see).

    python benchmarks/bench_gate_balance.py --output benchmarks/gate_balance.txt
"""

import argparse
import os
import platform
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402

import sklearn_mtl  # noqa: E402
from sklearn_mtl import MMoEClassifier, PLEClassifier  # noqa: E402
from sklearn_mtl._training import normalized_entropy  # noqa: E402
from sklearn_mtl.datasets import load_census_income  # noqa: E402
from sklearn_mtl.metrics import task_scorers  # noqa: E402

DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "census_income_kdd"

MODELS = {
    "MMoE": lambda **kw: MMoEClassifier(num_experts=8, **kw),
    "PLE": lambda **kw: PLEClassifier(
        num_levels=2, num_specific_experts=1, num_shared_experts=2, **kw
    ),
}


def task_shares(model, X):
    """Each task gate's mean weight per expert it sees, on X."""
    weights = model.gate_weights(X)
    if isinstance(weights, list):  # PLE: per level; the last feeds the towers
        weights = weights[-1][:, : model.n_tasks_]
    shares = weights.mean(0)
    # A PLE task gate is exactly zero on the other tasks' experts.
    return [row[row > 0] for row in shares]


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-home", default=DEFAULT_DATA)
    parser.add_argument("--weights", type=float, nargs="+", default=[0.0, 0.01, 0.1])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--output", default=None)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    data_home = args.data_home if Path(args.data_home).exists() else None
    train = load_census_income(subset="train", data_home=data_home)
    test = load_census_income(subset="test", data_home=data_home)
    tasks = list(train.target.columns)
    rows = []
    for name, make in MODELS.items():
        for weight in args.weights:
            for seed in args.seeds:
                model = make(gate_balance_weight=weight, random_state=seed)
                model.fit(train.data, train.target)
                row = {"model": name, "gate_balance_weight": weight, "seed": seed}
                row["epochs"] = model.n_iter_
                for task, scorer in task_scorers(tasks).items():
                    row[task.replace("roc_auc_", "auc ")] = scorer(model, test.data, test.target)
                for task, shares in zip(tasks, task_shares(model, test.data)):
                    row[f"top {task}"] = shares.max()
                    row[f"entropy {task}"] = normalized_entropy(shares)
                rows.append(row)
                print(row, flush=True)
    table = pd.DataFrame(rows).groupby(["model", "gate_balance_weight"]).mean().drop(columns="seed")
    header = (
        f"sklearn_mtl {sklearn_mtl.__version__}, torch {torch.__version__}, {platform.machine()}; "
        f"census-income {len(train.data):,} train / {len(test.data):,} test rows; "
        f"mean over seeds {args.seeds}; defaults otherwise (early stopping on a 10% split)\n"
        "top = mean gate weight on the task's most used expert; entropy = entropy of the "
        "task gate's expert shares / log(n experts it sees); both on the test rows\n\n"
    )
    text = header + table.round(4).to_string() + "\n"
    print(text)
    if args.output:
        Path(args.output).write_text(text)


if __name__ == "__main__":
    main()
