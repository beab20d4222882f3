"""Click-log scale: generating logs, list features, optimizers for large embedding tables.

Three parts, each a section of ``results_scale.txt``:

- ``generate``: rows/s of ``make_click_log`` (in memory) and ``write_click_log``
  (Parquet parts), and the writer's peak memory.
- ``lists``: what a tag-list column costs. ESMM at its defaults, batch 2048,
  user and item IDs hashed to 1,000 buckets, fitted with and without the
  ``tags`` column of ``make_click_log``, alternating, median of ``--repeats``:
  the estimator's fit (encoding included) and a hand loop over the fitted
  module and its batches (batch cutting, forward, backward, Adam: the
  training step).
- ``vocab``: a hand-written training loop over ESMM's network whose table
  grows from 1k to millions of hashed IDs, with dense Adam, ``SparseAdam``
  and row-wise Adagrad on the table (``sklearn_mtl.nn.sparse_table_optimizer``);
  samples/s, peak memory, bytes of optimizer state per ID.

    python benchmarks/bench_scale.py --part lists --output benchmarks/results_scale.txt

(with this package importable, e.g. installed with ``pip install -e .``). With
``--output``, the part's section of the file is replaced and the others kept.
"""

import argparse
import copy
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
import torch  # noqa: E402

from sklearn_mtl import ESMMClassifier  # noqa: E402
from sklearn_mtl._data import module_inputs  # noqa: E402
from sklearn_mtl._data._tensors import BatchIterator, TensorData  # noqa: E402
from sklearn_mtl.datasets import make_click_log, write_click_log  # noqa: E402

IDS = ["user_id", "item_id"]
SMALL_CATEGORICAL = ["cat_0", "cat_1", "cat_2"]


def header(args, title):
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    return (
        f"{title}\n{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"torch {torch.__version__}, {args.threads} thread(s), load average (1, 5, 15 min) {load}"
    )


# --------------------------------------------------------------------- generate


def _peak_rss_of(code):
    """Seconds and peak resident memory (MiB) of ``code`` run in a fresh process."""
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", code + "\nimport resource; "
         "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"],
        check=True, capture_output=True, text=True,
    )
    return time.perf_counter() - start, int(done.stdout.split()[-1]) / 1024


def part_generate(args):
    lines = [header(args, "## generate: make_click_log and write_click_log (defaults: 1M users, 1M items)")]
    n = args.rows_in_memory
    start = time.perf_counter()
    make_click_log(n, random_state=0)
    seconds = time.perf_counter() - start
    lines.append(f"make_click_log({n:,}): {seconds:.1f} s = {n / seconds:,.0f} rows/s")
    for rows in args.rows_on_disk:
        with tempfile.TemporaryDirectory() as folder:
            code = (
                "from sklearn_mtl.datasets import write_click_log\n"
                f"write_click_log({folder!r}, {rows}, rows_per_file=1_000_000, random_state=0)"
            )
            seconds, peak = _peak_rss_of(code)
            size = sum(p.stat().st_size for p in Path(folder).rglob("*.parquet")) / 2**20
        lines.append(
            f"write_click_log({rows:,}): {seconds:.1f} s = {rows / seconds:,.0f} rows/s "
            f"(process start and imports included), peak memory {peak:,.0f} MiB, "
            f"{size:,.0f} MiB of Parquet"
        )
    return lines


# ------------------------------------------------------------------------ lists


def _esmm(with_tags, epochs):
    return ESMMClassifier(
        categorical_features=IDS + SMALL_CATEGORICAL + (["tags"] if with_tags else []),
        hash_buckets={name: 1000 for name in IDS},
        batch_size=2048,
        max_epochs=epochs,
        early_stopping=False,
        random_state=0,
    )


def _hand_steps(estimator, X, Y, epochs):
    """Seconds of ``epochs`` passes of cut + forward + backward + Adam over the
    estimator's encoded data, from a copy of its module; and seconds of the
    batch cutting alone."""
    module = copy.deepcopy(estimator.net_.module_)
    data = TensorData(
        module_inputs(estimator._feature_encoder.transform(X), torch.float32),
        torch.from_numpy(Y.to_numpy(np.float32)),
    )
    optimizer = torch.optim.Adam(module.parameters(), lr=1e-3)
    batches = BatchIterator(data, 2048, shuffle=True)
    start = time.perf_counter()
    for _ in range(epochs):
        for inputs, (targets, _) in batches:
            logits = module(**inputs)
            loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, targets)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    steps = time.perf_counter() - start
    start = time.perf_counter()
    for _ in range(epochs):
        for _ in batches:
            pass
    return steps, time.perf_counter() - start, len(batches)


def part_lists(args):
    X, Y = make_click_log(args.rows, random_state=0, return_X_y=True)
    X = X.drop(columns="timestamp")
    frames = {False: X.drop(columns="tags"), True: X}
    epochs = args.epochs
    for with_tags, frame in frames.items():  # warm-up
        _esmm(with_tags, 1).fit(frame[:4096], Y[:4096])
    fit, step, cut, encode = ({False: [], True: []} for _ in range(4))
    for _ in range(args.repeats):
        for with_tags, frame in frames.items():
            start = time.perf_counter()
            estimator = _esmm(with_tags, epochs).fit(frame, Y)
            fit[with_tags].append(len(frame) * epochs / (time.perf_counter() - start))
            start = time.perf_counter()
            estimator._feature_encoder.transform(frame)
            encode[with_tags].append(time.perf_counter() - start)
            steps, cutting, n_batches = _hand_steps(estimator, frame, Y, epochs)
            step[with_tags].append(len(frame) * epochs / steps)
            cut[with_tags].append(cutting / (epochs * n_batches) * 1e3)
    med = {name: {k: statistics.median(v) for k, v in d.items()}
           for name, d in (("fit", fit), ("step", step), ("cut", cut), ("encode", encode))}
    lines = [
        header(args, "## lists: what a tag-list column costs"),
        f"ESMM at its defaults, make_click_log({args.rows:,}) without timestamp, user_id and "
        f"item_id hashed to 1,000 buckets, batch 2048, {epochs} epochs; with and without "
        f"`tags` (0-5 of 1,000 per row), alternating, median of {args.repeats}",
        "",
        "| | without tags | with tags | cost (without / with) |",
        "|---|---|---|---|",
        "| estimator fit, samples/s (encoding included) | "
        f"{med['fit'][False]:,.0f} | {med['fit'][True]:,.0f} | "
        f"{med['fit'][False] / med['fit'][True]:.2f}x |",
        "| training step (hand loop: cut + forward + backward + Adam), samples/s | "
        f"{med['step'][False]:,.0f} | {med['step'][True]:,.0f} | "
        f"{med['step'][False] / med['step'][True]:.2f}x |",
        f"| batch cutting, ms/batch | {med['cut'][False]:.2f} | {med['cut'][True]:.2f} | |",
        f"| encoding {args.rows:,} rows, s | {med['encode'][False]:.2f} | "
        f"{med['encode'][True]:.2f} | |",
    ]
    return lines


# ------------------------------------------------------------------------ main

PARTS = {"generate": part_generate, "lists": part_lists}


def write_section(path, part, lines):
    """Replace the section of ``part`` in ``path`` (kept in PARTS order)."""
    path = Path(path)
    text = path.read_text() if path.exists() else ""
    sections = {m.group(1): m.group(0).rstrip() for m in
                re.finditer(r"^## (\w+):.*?(?=^## |\Z)", text, flags=re.S | re.M)}
    sections[part] = "\n".join(lines)
    path.write_text("\n\n".join(sections[p] for p in PARTS if p in sections) + "\n")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=list(PARTS), required=True)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--rows", type=int, default=100_000, help="rows of the lists part")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--rows-in-memory", type=int, default=1_000_000)
    parser.add_argument("--rows-on-disk", type=int, nargs="+", default=[2_000_000, 20_000_000])
    parser.add_argument("--output", help="file whose section of this part is replaced")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    lines = PARTS[args.part](args)
    print("\n".join(lines))
    if args.output:
        write_section(args.output, args.part, lines)


if __name__ == "__main__":
    main()
