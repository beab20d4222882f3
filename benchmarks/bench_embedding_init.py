"""Held-out AUC of the embedding table's initialisation: torch's N(0, 1) against a small normal.

MMoE, SharedBottom and PLE at their default settings (``max_epochs`` and no
early stopping aside) on the full census-income training file, several
seeds each. The UCI test file is split 1:1 at random as in the MMoE paper
(the same split as ``bench_peers.py``): the choice is made on the
validation half, the test half is reported beside it.

    python benchmarks/bench_embedding_init.py --output benchmarks/results_embedding_init.txt

With ``--sizes``, the training file is first subsampled at random (seeded by
the fit's seed, so that the initialisations compare on the same rows) to
each size in turn (``0`` = all rows), to find where the small
initialisation starts to pay; each line also gives the batch size
``batch_size="auto"`` picked and the optimizer steps the fit took.

    python benchmarks/bench_embedding_init.py --sizes 5000 10000 20000 50000 100000 0 \\
        --stds 1 1e-2 1e-4 --epochs 5
    python benchmarks/bench_embedding_init.py --sizes 2000 5000 10000 --epochs 20

(``results_embedding_init.txt`` holds these runs after the full-data table.)
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


def fit_estimator(model, init_std, seed, X, Y, epochs):
    return MODELS[model](
        max_epochs=epochs, early_stopping=False, embedding_init_std=init_std, random_state=seed
    ).fit(X, Y)


def held_out_scores(estimator, parts):
    return [
        per_task_scores("roc_auc", y.to_numpy(dtype=float), estimator.predict_proba_frame(x).to_numpy())
        for x, y in parts
    ]


def fit_scores(model, init_std, seed, X, Y, parts, epochs):
    return held_out_scores(fit_estimator(model, init_std, seed, X, Y, epochs), parts)


def subsample(X, Y, size, seed):
    """``size`` rows of the training file drawn at random (all rows for 0)."""
    if not size or size >= len(X):
        return X, Y
    rows = np.sort(np.random.default_rng(seed).choice(len(X), size, replace=False))
    return X.iloc[rows], Y.iloc[rows]


def std_label(std):
    return "N(0, 1)" if std is None else f"N(0, {std:g})"


def size_study(args, X, Y, parts):
    """Validation-half AUC of every initialisation at every training size."""
    stds = [None if std == 1 else std for std in args.stds]
    header = [
        f"sklearn_mtl {sklearn_mtl.__version__}, torch {torch.__version__}, "
        f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} torch thread(s)",
        f"default estimators (batch_size='auto'), {args.epochs} epochs, early_stopping=False, "
        f"seeds 0..{args.seeds - 1}, training rows drawn at random per seed; ROC AUC on the "
        f"validation | test half ({len(parts[0][0]):,} | {len(parts[1][0]):,} rows)",
        "diff: mean of the per-seed differences to N(0, 1) on the validation half +- its "
        "standard error (std ddof=1 / sqrt(seeds))",
        "",
    ]
    rows, per_seed = [], []
    for size in args.sizes:
        for model in args.models:
            scores, steps, batch = {}, None, None
            for seed in range(args.seeds):
                X_fit, Y_fit = subsample(X, Y, size, seed)
                for std in stds:
                    estimator = fit_estimator(model, std, seed, X_fit, Y_fit, args.epochs)
                    history = estimator.net_.history
                    steps = sum(len(epoch["batches"]) for epoch in history)
                    batch = estimator.net_.batch_size
                    scores.setdefault(std, []).append(held_out_scores(estimator, parts))
                    per_seed.append(
                        f"  {len(X_fit):>7,} {model:<13}{std_label(std):<14}seed {seed}  "
                        + "  ".join(f"{s:.4f}" for half in scores[std][-1] for s in half)
                    )
                    print(per_seed[-1], flush=True)
            base = np.array(scores[None])  # (seed, half, task)
            for std in stds:
                values = np.array(scores[std])
                diff = values[:, 0, :] - base[:, 0, :]
                cells = []
                for t, task in enumerate(Y.columns):
                    cell = f"{task} {values[:, 0, t].mean():.4f} | {values[:, 1, t].mean():.4f}"
                    if std is not None:
                        err = diff[:, t].std(ddof=1) / np.sqrt(len(diff)) if len(diff) > 1 else np.nan
                        cell += f" diff {diff[:, t].mean():+.4f} +- {err:.4f}"
                    cells.append(f"{cell:<50}")
                rows.append(
                    f"{len(X_fit):>7,} {batch:>5} {steps:>6,}  {model:<13}{std_label(std):<14}"
                    + "".join(cells).rstrip()
                )
            rows.append("")
    columns = f"{'rows':>7} {'batch':>5} {'steps':>6}  {'model':<13}{'init':<14}AUC validation | test"
    return "\n".join(
        header + [columns, *rows, "per seed (validation tasks, then test tasks):", *per_seed]
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-home", default=str(DEFAULT_DATA), help="folder with the full UCI census files")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--small-std", type=float, default=1e-4)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--models", nargs="*", default=list(MODELS), choices=list(MODELS))
    parser.add_argument(
        "--sizes", nargs="*", type=int, help="training rows to subsample to (0: all); the size study"
    )
    parser.add_argument(
        "--stds", nargs="*", type=float, default=[1, 1e-2, 1e-4],
        help="initial standard deviations compared by the size study (1: torch's N(0, 1))",
    )
    parser.add_argument("--output", help="also write the table to this file")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    X, Y, X_test, Y_test = census_tasks(args.data_home)
    parts = halves(X_test, Y_test)
    if args.sizes:
        table = size_study(args, X, Y, parts)
        print(table)
        if args.output:
            Path(args.output).write_text(table + "\n")
        return
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
