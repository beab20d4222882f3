"""Saving and loading a fitted estimator: sklearn_mtl.persistence against pickle.

Fits each model for one epoch on the bundled census-income sample (20,000
rows; the second task's labels made a subset of the first's so that the funnel
models fit), then times, on one torch thread, the best of ``--repeats`` runs of:

- ``save`` / ``load``: :func:`sklearn_mtl.persistence.save` and ``load`` (a zip
  of JSON and ``.npy`` members, checksums verified and the network rebuilt on load);
- ``pickle`` / ``unpickle``: ``pickle.dump`` and ``pickle.load`` of the estimator.

The table gives milliseconds, file sizes in KiB, and the ratios archive / pickle.

    python benchmarks/bench_persistence.py --output benchmarks/results_persistence.txt
"""

import argparse
import os
import pickle
import platform
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
import torch  # noqa: E402

import sklearn_mtl  # noqa: E402
from sklearn_mtl.datasets import load_census_income  # noqa: E402
from sklearn_mtl.persistence import load, save  # noqa: E402

#: Every estimator of the package, by its short name.
MODELS = {
    name.removesuffix("Classifier"): getattr(sklearn_mtl, name)
    for name in sklearn_mtl.__all__
    if name.endswith("Classifier")
}


def _best_ms(call, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return min(times) * 1e3


def _pickle_dump(model, path):
    with open(path, "wb") as file:
        pickle.dump(model, file, protocol=pickle.HIGHEST_PROTOCOL)


def _pickle_load(path):
    with open(path, "rb") as file:
        return pickle.load(file)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--output", type=Path)
    args = parser.parse_args()
    torch.set_num_threads(1)

    X, Y = load_census_income(return_X_y=True)
    Y = Y.assign(never_married=Y["never_married"] * Y["income"])  # a funnel: step 2 within step 1
    header = (
        f"sklearn_mtl {sklearn_mtl.__version__}, torch {torch.__version__}, "
        f"{platform.machine()}, 1 torch thread, census-income sample ({X.shape[0]} rows, "
        f"{X.shape[1]} columns), 1 epoch, best of {args.repeats}\n"
        "milliseconds and KiB; ratio = sklearn_mtl.persistence / pickle\n"
    )
    columns = ["save", "pickle", "ratio", "load", "unpickle", "ratio", "KiB", "KiB pkl", "ratio"]
    lines = [header, f"{'model':<14}" + "".join(f"{c:>10}" for c in columns)]
    with tempfile.TemporaryDirectory() as folder:
        archive, pickled = Path(folder) / "model.zip", Path(folder) / "model.pkl"
        for name in args.models:
            model = MODELS[name](max_epochs=1, random_state=0).fit(X, Y)
            save_ms = _best_ms(lambda: save(model, archive), args.repeats)
            dump_ms = _best_ms(lambda: _pickle_dump(model, pickled), args.repeats)
            load_ms = _best_ms(lambda: load(archive), args.repeats)
            unpickle_ms = _best_ms(lambda: _pickle_load(pickled), args.repeats)
            np.testing.assert_array_equal(
                load(archive).predict_proba(X[:100])[0], model.predict_proba(X[:100])[0]
            )
            size, size_pkl = archive.stat().st_size / 1024, pickled.stat().st_size / 1024
            row = [save_ms, dump_ms, save_ms / dump_ms, load_ms, unpickle_ms,
                   load_ms / unpickle_ms, size, size_pkl, size / size_pkl]  # fmt: skip
            lines.append(f"{name:<14}" + "".join(f"{v:>10.2f}" for v in row))
            print(lines[-1], flush=True)
    text = "\n".join(lines) + "\n"
    if args.output:
        args.output.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
