"""Single-row prediction latency: the estimator, the raw module, TorchScript, ONNX Runtime.

Fits each model for one epoch on the first 4,000 rows of the bundled
census-income sample (MMoE, PLE, ESMM by default; the second task's labels
made a subset of the first's so that the funnel models fit), then times
one-row calls, each repeated ``--repeats`` times after a warm-up, on one torch
thread (and one ONNX Runtime thread):

- ``predict_proba``: the estimator on a one-row DataFrame, encoding included;
- ``transform_inputs``: the encoding alone (``sklearn_mtl.export``);
- ``module``: the fitted torch module on encoded inputs, in inference mode;
- ``torchscript``: ``to_torchscript``'s module on encoded inputs;
- ``onnxruntime``: an ``InferenceSession`` of ``to_onnx``'s file on encoded inputs.

The table gives the median and the 90th percentile in microseconds.

    python benchmarks/bench_latency.py --output benchmarks/latency.txt
"""

import argparse
import os
import platform
import tempfile
import time
import warnings
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
import torch  # noqa: E402

import sklearn_mtl  # noqa: E402
from sklearn_mtl.datasets import load_census_income  # noqa: E402
from sklearn_mtl.export import to_onnx, to_torchscript, transform_inputs  # noqa: E402

MODELS = {
    "MMoE": sklearn_mtl.MMoEClassifier,
    "PLE": sklearn_mtl.PLEClassifier,
    "ESMM": sklearn_mtl.ESMMClassifier,
    "SharedBottom": sklearn_mtl.SharedBottomClassifier,
    "AITM": sklearn_mtl.AITMClassifier,
    "ESCM2": sklearn_mtl.ESCM2Classifier,
    "SingleTask": sklearn_mtl.SingleTaskClassifier,
}


def _timings(call, repeats):
    for _ in range(max(10, repeats // 10)):
        call()
    times = np.empty(repeats)
    for i in range(repeats):
        start = time.perf_counter()
        call()
        times[i] = time.perf_counter() - start
    return np.median(times) * 1e6, np.percentile(times, 90) * 1e6


def _cases(model, row, folder):
    inputs = transform_inputs(model, row)
    module = model.net_.module_.eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        scripted = to_torchscript(model)

    def raw():
        with torch.inference_mode():
            return module(**inputs)

    def script():
        with torch.inference_mode():
            return scripted(**inputs)

    cases = {
        "predict_proba": lambda: model.predict_proba(row),
        "transform_inputs": lambda: transform_inputs(model, row),
        "module": raw,
        "torchscript": script,
    }
    try:
        import onnxruntime
    except ImportError:
        return cases
    path = Path(folder) / "model.onnx"
    to_onnx(model, path, row)
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    session = onnxruntime.InferenceSession(str(path), options)
    feeds = {name: tensor.numpy() for name, tensor in inputs.items()}
    cases["onnxruntime"] = lambda: session.run(None, feeds)
    return cases


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["MMoE", "PLE", "ESMM"], choices=MODELS)
    parser.add_argument("--repeats", type=int, default=2000)
    parser.add_argument("--output", type=Path)
    args = parser.parse_args()
    torch.set_num_threads(1)

    X, Y = load_census_income(return_X_y=True)
    X, Y = X[:4000], np.asarray(Y[:4000])
    # Funnel-shaped labels (the second task's positives among the first's), so
    # that the funnel models fit too; labels do not change the latency.
    Y = np.column_stack([Y[:, 0], Y[:, 0] * Y[:, 1]])
    row = X.iloc[[7]]
    lines = [
        f"sklearn_mtl {sklearn_mtl.__version__}, torch {torch.__version__}, "
        f"{platform.machine()}, 1 torch thread, census-income sample "
        f"({X.shape[1]} columns), one row per call, {args.repeats} calls",
        "median / 90th percentile in microseconds",
        "",
    ]
    header = None
    with tempfile.TemporaryDirectory() as folder:
        for name in args.models:
            model = MODELS[name](max_epochs=1, random_state=0).fit(X, Y)
            cases = _cases(model, row, folder)
            if header is None:
                header = f"{'model':<14}" + "".join(f"{case:>20}" for case in cases)
                lines.append(header)
            cells = "".join(
                f"{'%.0f / %.0f' % _timings(call, args.repeats):>20}" for call in cases.values()
            )
            lines.append(f"{name:<14}{cells}")
            print(lines[-1], flush=True)
    text = "\n".join(lines) + "\n"
    print(text)
    if args.output:
        args.output.write_text(text)


if __name__ == "__main__":
    main()
