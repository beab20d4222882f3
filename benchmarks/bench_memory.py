"""Peak memory of fit and predict, in bytes per row, against the input DataFrame's size.

Each case runs in a fresh subprocess. It builds a click log of ``n`` rows x 30
columns (20 numerics, float64 by default, 9 categorical columns with 10 to 1,000
categories, one user-ID column with ``n / 10`` categories), then measures
the peak resident memory (VmHWM, reset before each step) of

- ``fit``: MMoE, one epoch, with early stopping (so a validation split);
- ``predict_proba`` on all rows;

above the memory held just before the step (the DataFrame included). The
table gives the input's bytes per row (``DataFrame.memory_usage(deep=True)``),
each step's extra peak in bytes per row, and its ratio to the input.

    python benchmarks/bench_memory.py --rows 1000000 10000000 --output benchmarks/results_memory.txt

``--numeric-dtype float32`` makes the numeric columns float32, a more compact input
(the encoded data then weighs more against it).
"""

import argparse
import gc
import json
import os
import platform
import subprocess
import sys
import time

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def _rss(field):
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"{field} not in /proc/self/status")


def _reset_peak():
    # Writing 5 to clear_refs resets VmHWM (Linux >= 4.0) to the current RSS.
    with open("/proc/self/clear_refs", "w") as clear_refs:
        clear_refs.write("5")


def _measure(step):
    gc.collect()
    before = _rss("VmRSS")
    _reset_peak()
    start = time.perf_counter()
    result = step()
    return result, _rss("VmHWM") - before, time.perf_counter() - start


def click_log(n, seed=0, numeric_dtype="float64"):
    import numpy as np
    import pandas as pd

    rng = np.random.RandomState(seed)
    columns = {f"num_{k}": rng.normal(size=n).astype(numeric_dtype) for k in range(20)}
    for k in range(9):
        size = [10, 30, 100, 300, 1000][k % 5]
        names = [f"c{i}" for i in range(size)]
        columns[f"cat_{k}"] = pd.Categorical.from_codes(rng.randint(0, size, n), names)
    users = max(n // 10, 1)
    columns["user_id"] = pd.Categorical.from_codes(rng.randint(0, users, n), np.arange(users))
    X = pd.DataFrame(columns)
    signal = X["num_0"] + (X["cat_0"].cat.codes.to_numpy() < 5)
    Y = pd.DataFrame({"click": signal + rng.normal(size=n) > 0.5})
    Y["buy"] = Y["click"] & (X["num_1"].to_numpy() > 0.5)
    return X, Y.astype("int8")


def run_case(n, numeric_dtype):
    from sklearn_mtl import MMoEClassifier

    X, Y = click_log(n, numeric_dtype=numeric_dtype)
    input_bytes = int(X.memory_usage(deep=True).sum())
    model = MMoEClassifier(max_epochs=1, batch_size=4096, early_stopping=True, random_state=0)
    _, fit_peak, fit_seconds = _measure(lambda: model.fit(X, Y))
    _, predict_peak, predict_seconds = _measure(lambda: model.predict_proba(X))
    return dict(
        rows=n,
        input_bytes=input_bytes,
        fit_peak=fit_peak,
        fit_seconds=fit_seconds,
        predict_peak=predict_peak,
        predict_seconds=predict_seconds,
    )


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument(
        "--numeric-dtype", default="float64", help="dtype of the 20 numeric columns"
    )
    parser.add_argument("--output", help="also write the table to this file")
    parser.add_argument("--case", type=int, help=argparse.SUPPRESS)  # one case, in the subprocess
    args = parser.parse_args()
    if args.case:
        print(json.dumps(run_case(args.case, args.numeric_dtype)))
        return

    import torch

    import sklearn_mtl

    lines = [
        f"sklearn_mtl {sklearn_mtl.__version__}, torch {torch.__version__}, {platform.machine()}, "
        "MMoE, 1 epoch, batch 4096, early stopping (validation split), "
        f"{args.numeric_dtype} numerics",
        "extra peak RSS above the memory held before the step (the input DataFrame included), "
        "fresh process per case",
        "",
        f"{'rows':>12} {'input B/row':>12} {'fit B/row':>10} {'fit/input':>10} "
        f"{'fit s':>7} {'predict B/row':>14} {'predict/input':>14} {'predict s':>10}",
    ]
    for line in lines:
        print(line, flush=True)
    for n in args.rows:
        out = subprocess.run(
            [sys.executable, __file__, "--case", str(n), "--numeric-dtype", args.numeric_dtype],
            check=True,
            capture_output=True,
            text=True,
        )
        r = json.loads(out.stdout.strip().splitlines()[-1])
        per_row = r["input_bytes"] / n
        line = (
            f"{n:>12,} {per_row:>12.1f} {r['fit_peak'] / n:>10.1f} "
            f"{r['fit_peak'] / r['input_bytes']:>10.2f} {r['fit_seconds']:>7.1f} "
            f"{r['predict_peak'] / n:>14.1f} {r['predict_peak'] / r['input_bytes']:>14.2f} "
            f"{r['predict_seconds']:>10.1f}"
        )
        lines.append(line)
        print(line, flush=True)
    if args.output:
        with open(args.output, "w") as f:
            f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
