"""ESCM² against ESMM on funnels with a known true pCVR.

``make_funnel`` gives every impression's true conversion probability given a
click, clicked or not. Each model's ``predict_cvr`` over all impressions is
compared with it: Spearman rank correlation, ROC AUC against conversions drawn
from the true pCVR for every impression (the counterfactual labels of the
non-clicked rows included), and the bias, mean predicted minus mean true pCVR.

    python benchmarks/bench_escm2.py --output benchmarks/escm2.txt
"""

import argparse
import os
import platform
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402
from scipy.stats import spearmanr  # noqa: E402
from sklearn.metrics import roc_auc_score  # noqa: E402

import sklearn_mtl  # noqa: E402
from sklearn_mtl import ESCM2Classifier, ESMMClassifier  # noqa: E402
from sklearn_mtl.datasets import make_funnel  # noqa: E402

MODELS = {
    "ESMM": lambda **kw: ESMMClassifier(**kw),
    "ESCM2-IPS": lambda **kw: ESCM2Classifier(counterfactual="ips", **kw),
    "ESCM2-DR": lambda **kw: ESCM2Classifier(counterfactual="dr", **kw),
}


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n-samples", type=int, default=30_000)
    parser.add_argument("--selection-bias", type=float, default=0.8)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--output", default=None)
    args = parser.parse_args()
    torch.set_num_threads(1)
    rows = []
    for seed in args.seeds:
        funnel = make_funnel(
            args.n_samples, n_categories=50, selection_bias=args.selection_bias, random_state=seed
        )
        X, Y = funnel.data, funnel.target
        true_cvr = funnel.true_proba["conversion"].to_numpy()
        drawn = np.random.default_rng(seed).random(len(true_cvr)) < true_cvr
        for name, make in MODELS.items():
            model = make(max_epochs=args.epochs, early_stopping=False, random_state=seed).fit(X, Y)
            cvr = model.predict_cvr(X)
            rows.append(
                {
                    "model": name,
                    "seed": seed,
                    "spearman": spearmanr(cvr, true_cvr)[0],
                    "auc vs drawn": roc_auc_score(drawn, cvr),
                    "bias": cvr.mean() - true_cvr.mean(),
                }
            )
            print(rows[-1], flush=True)
    frame = pd.DataFrame(rows)
    per_seed = frame.pivot(index="seed", columns="model", values="spearman")[list(MODELS)]
    summary = frame.groupby("model")[["spearman", "auc vs drawn", "bias"]].agg(["mean", "std"])
    text = (
        f"sklearn_mtl {sklearn_mtl.__version__}, torch {torch.__version__}, {platform.machine()}; "
        f"make_funnel({args.n_samples:,}, n_categories=50, selection_bias={args.selection_bias}), "
        f"{args.epochs} epochs, no early stopping, seeds {args.seeds}; pCVR over all impressions "
        "against the true pCVR\n\n"
        + summary.loc[list(MODELS)].round(4).to_string()
        + "\n\nSpearman per seed\n"
        + per_seed.round(4).to_string()
        + "\n"
    )
    print(text)
    if args.output:
        Path(args.output).write_text(text)


if __name__ == "__main__":
    main()
