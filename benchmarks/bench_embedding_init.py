"""Held-out AUC of the embedding table's initialisation: torch's N(0, 1) against a small normal.

MMoE, SharedBottom and PLE at their default settings (``max_epochs`` and no
early stopping aside) on the full census-income training file, several
seeds each. The UCI test file is split 1:1 at random as in the MMoE paper
(the same split as ``bench_peers.py``): the choice is made on the
validation half, the test half is reported beside it.

    python benchmarks/bench_embedding_init.py --output benchmarks/results_embedding_init.txt
"""

import argparse
import os
import platform
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
import torch  # noqa: E402

import sklearn_mtl  # noqa: E402
from sklearn_mtl import MMoEClassifier, PLEClassifier, SharedBottomClassifier  # noqa: E402
from sklearn_mtl.metrics import per_task_scores  # noqa: E402

from bench_training import DEFAULT_DATA, census_tasks  # noqa: E402

MODELS = {"MMoE": MMoEClassifier, "SharedBottom": SharedBottomClassifier, "PLE": PLEClassifier}


def halves(X_test, Y_test):
    """(validation, test) halves of the UCI test file, the test half being ``bench_peers``'s."""
    order = np.random.default_rng(0).permutation(len(X_test))
    cut = len(X_test) // 2
    return [
        (X_test.iloc[np.sort(part)], Y_test.iloc[np.sort(part)]) for part in (order[:cut], order[cut:])
    ]


def fit_scores(model, init_std, seed, X, Y, parts, epochs):
    estimator = MODELS[model](
        max_epochs=epochs, early_stopping=False, embedding_init_std=init_std, random_state=seed
    ).fit(X, Y)
    return [
        per_task_scores("roc_auc", y.to_numpy(dtype=float), estimator.predict_proba_frame(x).to_numpy())
        for x, y in parts
    ]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-home", default=str(DEFAULT_DATA), help="folder with the full UCI census files")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--small-std", type=float, default=1e-4)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--models", nargs="*", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--output", help="also write the table to this file")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    X, Y, X_test, Y_test = census_tasks(args.data_home)
    parts = halves(X_test, Y_test)
    variants = {"N(0, 1)": None, f"N(0, {args.small_std:g})": args.small_std}
    lines = [
        f"sklearn_mtl {sklearn_mtl.__version__}, torch {torch.__version__}, "
        f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} torch thread(s)",
        f"default estimators, {args.epochs} epochs, early_stopping=False, seeds 0..{args.seeds - 1}; "
        f"ROC AUC mean +- std (ddof=1) on the validation | test half ({len(parts[0][0]):,} | "
        f"{len(parts[1][0]):,} rows)",
        "",
    ]
    per_seed = []
    for model in args.models:
        for label, std in variants.items():
            scores = []
            for seed in range(args.seeds):
                scores.append(fit_scores(model, std, seed, X, Y, parts, args.epochs))
                per_seed.append(
                    f"  {model:<13}{label:<14}seed {seed}  "
                    + "  ".join(f"{s:.4f}" for half in scores[-1] for s in half)
                )
                print(per_seed[-1], flush=True)
            scores = np.array(scores)  # (seed, half, task)
            cells = [
                f"{task} {scores[:, h, t].mean():.4f} +- {scores[:, h, t].std(ddof=1):.4f}"
                for t, task in enumerate(Y.columns)
                for h in (0, 1)
            ]
            lines.append(f"{model:<13}{label:<14}" + "  ".join(cells))
    lines += ["", "per seed (validation tasks, then test tasks):", *per_seed]
    table = "\n".join(lines)
    print(table)
    if args.output:
        Path(args.output).write_text(table + "\n")


if __name__ == "__main__":
    main()
