"""Time to encode 1M categorical values, this checkout beside a git revision.

Each case is one column of 1,000,000 values encoded by ``FeatureEncoder``
(hashed into 2**20 buckets, or through a vocabulary learnt from the same
column); the time is ``transform`` only, best of ``--repeats``. Both sides run
in fresh processes on one thread, the revision's package extracted with
``git archive``.

    python benchmarks/bench_encoding.py --ref 3af294a --output benchmarks/results_encoding.txt
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import tarfile
import tempfile
import time
from io import BytesIO
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
N = 1_000_000


def columns():
    import numpy as np
    import pandas as pd

    rng = np.random.RandomState(0)
    ids = rng.randint(0, 200_000, N)
    words = np.array([f"user{i}" for i in range(200_000)], dtype=object)
    mixed = words[ids].copy()
    mixed[::2] = ids[::2]  # half ints, half strings: the neighbour-dependent case
    return {
        "int64 IDs": ids,
        "float64 IDs (whole, with NaN)": np.where(ids % 100 == 0, np.nan, ids.astype(float)),
        "float64 (fractional)": ids / 7.0,
        "object strings": words[ids],
        "object ints + strings": mixed,
        "category strings": pd.Categorical(words[ids]),
    }


def worker(repeats):
    import numpy as np
    import pandas as pd
    import torch

    torch.set_num_threads(1)
    from sklearn_mtl._data import FeatureEncoder

    times = {}
    for name, values in columns().items():
        X = pd.DataFrame({"c": values})
        for mode, params in (("hash", {"hash_buckets": 2**20}), ("vocabulary", {})):
            encoder = FeatureEncoder(np.array([True]), np.array(["c"], dtype=object), **params)
            encoder.fit(X)
            best = float("inf")
            for _ in range(repeats):
                start = time.perf_counter()
                encoder.transform(X)
                best = min(best, time.perf_counter() - start)
            times[f"{name} | {mode}"] = best
    print(json.dumps(times))


def run(path, repeats):
    env = {**os.environ, "PYTHONPATH": str(path), "OMP_NUM_THREADS": "1"}
    out = subprocess.run(
        [sys.executable, __file__, "--worker", "--repeats", str(repeats)],
        env=env, cwd=path, check=True, capture_output=True, text=True,
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ref", default="HEAD", help="git revision to compare with")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--output")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(args.repeats)
    with tempfile.TemporaryDirectory() as tmp:
        archive = subprocess.run(
            ["git", "archive", args.ref, "sklearn_mtl"], cwd=ROOT, check=True, capture_output=True
        ).stdout
        with tarfile.open(fileobj=BytesIO(archive)) as package:
            package.extractall(tmp, filter="data")
        before = run(Path(tmp), args.repeats)
    after = run(ROOT, args.repeats)
    lines = [
        f"FeatureEncoder.transform of {N:,} values, best of {args.repeats}, one thread",
        f"{platform.processor() or platform.machine()}, Python {platform.python_version()}",
        "",
        f"{'column | encoding':48} {args.ref:>10} {'this':>10} {'ratio':>7}",
    ]
    for key, then in before.items():
        now = after[key]
        lines.append(f"{key:48} {then:9.3f}s {now:9.3f}s {now / then:6.2f}x")
    text = "\n".join(lines)
    print(text)
    if args.output:
        Path(args.output).write_text(text + "\n")


if __name__ == "__main__":
    main()
