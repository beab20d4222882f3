"""Held-out AUC of ``batch_norm=True`` (BatchNorm in experts, bottoms and towers) against off.

MMoE, SharedBottom and PLE at their default settings (``max_epochs`` and no
early stopping aside), with ``embedding_init_std=1e-4`` (torch-rechub's
embedding initialisation, whose MLPs have BatchNorm in every layer), on the
full census-income training file, several seeds each. The UCI test file is
split 1:1 at random as in ``bench_embedding_init.py``: the choice is made on
the validation half, the test half is reported beside it. The last table is
the paired difference (on minus off, same seed) with its standard error.

    python benchmarks/bench_batch_norm.py --output benchmarks/results_batch_norm.txt
"""

import argparse
import os
import platform
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
import torch  # noqa: E402

import sklearn_mtl  # noqa: E402
from sklearn_mtl.metrics import per_task_scores  # noqa: E402

from bench_embedding_init import MODELS, halves  # noqa: E402
from bench_training import DEFAULT_DATA, census_tasks  # noqa: E402


def fit_scores(model, batch_norm, init_std, seed, X, Y, parts, epochs):
    estimator = MODELS[model](
        max_epochs=epochs,
        early_stopping=False,
        embedding_init_std=init_std,
        batch_norm=batch_norm,
        random_state=seed,
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
    parser.add_argument("--embedding-init-std", type=float, default=1e-4)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--models", nargs="*", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--output", help="also write the table to this file")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    X, Y, X_test, Y_test = census_tasks(args.data_home)
    parts = halves(X_test, Y_test)
    variants = {"batch_norm=False": False, "batch_norm=True": True}
    lines = [
        f"sklearn_mtl {sklearn_mtl.__version__}, torch {torch.__version__}, "
        f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} torch thread(s)",
        f"default estimators, embedding_init_std={args.embedding_init_std:g}, {args.epochs} epochs, "
        f"early_stopping=False, seeds 0..{args.seeds - 1}; ROC AUC mean +- std (ddof=1) on the "
        f"validation | test half ({len(parts[0][0]):,} | {len(parts[1][0]):,} rows)",
        "",
    ]
    per_seed, differences = [], []
    for model in args.models:
        scores = {}
        for label, batch_norm in variants.items():
            runs = []
            for seed in range(args.seeds):
                start = time.perf_counter()
                runs.append(
                    fit_scores(model, batch_norm, args.embedding_init_std, seed, X, Y, parts, args.epochs)
                )
                per_seed.append(
                    f"  {model:<13}{label:<18}seed {seed}  "
                    + "  ".join(f"{s:.4f}" for half in runs[-1] for s in half)
                    + f"  ({time.perf_counter() - start:.0f} s)"
                )
                print(per_seed[-1], flush=True)
            scores[label] = runs = np.array(runs)  # (seed, half, task)
            cells = [
                f"{task} {runs[:, h, t].mean():.4f} +- {runs[:, h, t].std(ddof=1):.4f}"
                for t, task in enumerate(Y.columns)
                for h in (0, 1)
            ]
            lines.append(f"{model:<13}{label:<18}" + "  ".join(cells))
        gain = scores["batch_norm=True"] - scores["batch_norm=False"]
        cells = [
            f"{task} {gain[:, h, t].mean():+.4f} +- {gain[:, h, t].std(ddof=1) / np.sqrt(len(gain)):.4f}"
            for t, task in enumerate(Y.columns)
            for h in (0, 1)
        ]
        differences.append(f"{model:<13}{'on - off':<18}" + "  ".join(cells))
    lines += [
        "",
        "paired difference, batch_norm=True minus False (same seed): mean +- standard error",
        *differences,
        "",
        "per seed (validation tasks, then test tasks; fit + predict time):",
        *per_seed,
    ]
    table = "\n".join(lines)
    print(table)
    if args.output:
        Path(args.output).write_text(table + "\n")


if __name__ == "__main__":
    main()
