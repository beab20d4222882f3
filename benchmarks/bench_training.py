"""Training throughput and test AUC: sklearn_mtl estimators vs a hand-written torch loop.

For every case, the estimator's ``fit`` (validation, encoding, tensor building
and skorch's loop included) is timed against a minimal hand-written loop that
trains the same torch module with the same loss, optimizer, batch size and
epochs on tensors it gets for free. Both run in this one process, alternating,
best of ``--repeats``; the table reports train samples/s, their ratio and the
per-task test ROC AUC of both.

    python benchmarks/bench_training.py --output benchmarks/results.txt
    python benchmarks/bench_training.py --device cuda --batch-size 1024 --output benchmarks/results_gpu.txt
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
from sklearn_mtl import (  # noqa: E402
    AITMClassifier,
    ESMMClassifier,
    MMoEClassifier,
    PLEClassifier,
    SharedBottomClassifier,
)
from sklearn_mtl.datasets import load_census_income  # noqa: E402
from sklearn_mtl.export import transform_inputs  # noqa: E402
from sklearn_mtl.metrics import per_task_scores  # noqa: E402
from sklearn_mtl.nn import MixedInputEmbedding  # noqa: E402

DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "census_income_kdd"


def census_tasks(data_home):
    """The MMoE paper's census pair: income > 50K and never married."""
    train = load_census_income(subset="train", data_home=data_home)
    test = load_census_income(subset="test", data_home=data_home)
    return train.data, train.target, test.data, test.target


def census_funnel(data_home):
    """A click -> conversion funnel on real data: click = never married,
    conversion = never married and income > 50K (a subset of the clicks)."""
    X, Y, X_test, Y_test = census_tasks(data_home)

    def funnel(Y):
        click = Y["never_married"]
        return pd.DataFrame({"click": click, "conversion": click & Y["income"]})

    return X, funnel(Y), X_test, funnel(Y_test)


#: name -> (estimator factory taking common keyword arguments, data loader)
CASES = {
    "MMoE": (lambda **kw: MMoEClassifier(num_experts=8, **kw), census_tasks),
    "SharedBottom": (lambda **kw: SharedBottomClassifier(**kw), census_tasks),
    "PLE": (
        lambda **kw: PLEClassifier(num_levels=2, num_specific_experts=1, num_shared_experts=2, **kw),
        census_tasks,
    ),
    "ESMM": (lambda **kw: ESMMClassifier(**kw), census_funnel),
    "AITM": (lambda **kw: AITMClassifier(**kw), census_funnel),
}


def reference_loop(estimator, X, Y, *, epochs, seed, device="cpu"):
    """Train a fresh copy of the estimator's architecture by hand; return (seconds, module).

    Only the fitted estimator's settings and feature encoder are used, to
    build a fresh module and the input tensors (all on ``device`` before the
    clock starts).
    """
    encoder = estimator._feature_encoder
    inputs = {name: t.to(device) for name, t in transform_inputs(estimator, X).items()}
    targets = torch.as_tensor(np.asarray(Y, dtype=np.float32), device=device)
    torch.manual_seed(seed)
    embedding = MixedInputEmbedding(
        encoder.cardinalities, encoder.n_numeric, estimator.embedding_dim,
        init_std=estimator.embedding_init_std_,
    )
    module = estimator._build_module(embedding, targets.shape[1]).to(device)
    criterion = estimator._build_criterion(targets.shape[1]).to(device)
    optimizer = torch.optim.Adam(module.parameters(), lr=estimator.lr)
    n, batch_size = len(targets), estimator.batch_size
    start = time.perf_counter()
    module.train()
    for _ in range(epochs):
        order = torch.randperm(n, device=device)
        for begin in range(0, n, batch_size):
            index = order[begin : begin + batch_size]
            loss = criterion(module(inputs["categorical"][index], inputs["numeric"][index]), targets[index])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start, module


def reference_proba(estimator, module, X):
    device = next(module.parameters()).device
    inputs = {name: t.to(device) for name, t in transform_inputs(estimator, X).items()}
    module.eval()
    with torch.inference_mode():
        return estimator._proba_from_logits(module(**inputs).double().cpu().numpy())


def run_case(name, factory, loader, args):
    X, Y, X_test, Y_test = loader(args.data_home)
    common = dict(
        max_epochs=args.epochs, batch_size=args.batch_size, lr=1e-3,
        early_stopping=False, random_state=0, device=args.device,
    )
    # One-time costs (torch imports its compiler stack on the first optimizer) stay out of the timings.
    warm = factory(**{**common, "max_epochs": 1}).fit(X[:2000], Y[:2000])
    reference_loop(warm, X[:2000], Y[:2000], epochs=1, seed=0, device=args.device)
    best_ours = best_ref = np.inf
    for repeat in range(args.repeats):
        # Alternating who goes first keeps any drift of the machine out of the ratio.
        for side in ("ours", "ref") if repeat % 2 == 0 else ("ref", "ours"):
            if side == "ours":
                estimator = factory(**common)
                start = time.perf_counter()
                estimator.fit(X, Y)
                best_ours = min(best_ours, time.perf_counter() - start)
            else:
                # The estimator fitted on the full data (repeat 0 runs it first) lends its encoder.
                seconds, module = reference_loop(
                    estimator, X, Y, epochs=args.epochs, seed=0, device=args.device
                )
                best_ref = min(best_ref, seconds)
    samples = len(X) * args.epochs
    truth = Y_test.to_numpy(dtype=float)
    ours_auc = per_task_scores("roc_auc", truth, estimator.predict_proba_frame(X_test).to_numpy())
    ref_auc = per_task_scores("roc_auc", truth, reference_proba(estimator, module, X_test))
    return {
        "case": name,
        "ours_sps": samples / best_ours,
        "ref_sps": samples / best_ref,
        "ours_auc": ours_auc,
        "ref_auc": ref_auc,
        "tasks": list(Y.columns),
    }


def format_table(rows, args):
    device = (
        torch.cuda.get_device_name(args.device)
        if torch.device(args.device).type == "cuda"
        else f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} torch thread(s)"
    )
    lines = [
        f"sklearn_mtl {sklearn_mtl.__version__}, torch {torch.__version__}, {device}",
        f"{args.epochs} epochs, batch {args.batch_size}, best of {args.repeats}; "
        "samples/s counts training rows x epochs; ours includes input validation and encoding",
        "",
        f"{'case':<14}{'ours samples/s':>16}{'hand loop samples/s':>21}{'ratio':>8}   test AUC ours | hand loop",
    ]
    for row in rows:
        aucs = ", ".join(
            f"{task} {o:.4f} | {r:.4f}"
            for task, o, r in zip(row["tasks"], row["ours_auc"], row["ref_auc"])
        )
        lines.append(
            f"{row['case']:<14}{row['ours_sps']:>16,.0f}{row['ref_sps']:>21,.0f}"
            f"{row['ours_sps'] / row['ref_sps']:>8.2f}   {aucs}"
        )
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-home", default=str(DEFAULT_DATA), help="folder with the full UCI census files")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu", help='e.g. "cuda": both sides train there')
    parser.add_argument("--cases", nargs="*", default=list(CASES), choices=list(CASES))
    parser.add_argument("--output", help="also write the table to this file")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    rows = []
    for name in args.cases:
        rows.append(run_case(name, *CASES[name], args))
        print(f"done: {name}", flush=True)
    table = format_table(rows, args)
    print(table)
    if args.output:
        Path(args.output).write_text(table + "\n")


if __name__ == "__main__":
    main()
