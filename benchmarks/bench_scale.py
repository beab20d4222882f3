"""Click-log scale: generating logs, list features, optimizers for large embedding tables.

Four parts, each a section of ``results_scale.txt``:

- ``generate``: rows/s of ``make_click_log`` (in memory) and ``write_click_log``
  (Parquet parts), and the writer's peak memory.
- ``lists``: what a tag-list column costs. ESMM at its defaults, batch 2048,
  user and item IDs hashed to 1,000 buckets, fitted with and without the
  ``tags`` column of ``make_click_log``, alternating, median of ``--repeats``:
  the estimator's fit (encoding included) and a hand loop over the fitted
  module and its batches (batch cutting, forward, backward, Adam: the
  training step).
- ``estimator``: ``embedding_optimizer`` in the estimators: ESMM at its
  defaults with 1k and 4M hashed IDs per column (the fit, encoding included)
  against hand loops at 4M (LazyAdam or SparseAdam on the table, Adam on the
  rest, over the encoded tensors), alternating over ``--repeats`` rounds;
  peak memory with a 10M-ID table per table optimizer, held-out scores of
  the dense and sparse paths over ``--seeds`` seeds.
- ``chunked``: out of core at in-memory speed: ESMM at its defaults (3
  epochs; early stopping "auto", on at this size) over ``ChunkedData`` of the Parquet parts that
  ``write_click_log`` writes, against the same rows fitted in memory,
  alternating, one fresh process per run; samples per CPU second (the
  read-ahead thread's CPU included) and peak memory.
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
import json
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
from sklearn_mtl._data._tensors import BatchIterator, TensorData  # noqa: E402
from sklearn_mtl.datasets import make_click_log  # noqa: E402
from sklearn_mtl.export import transform_inputs  # noqa: E402

#: CPU time of this process: on a shared machine wall time counts the others' load too.
#: Every run is single-threaded (``--threads 1``) unless asked otherwise.
CLOCK = time.process_time

IDS = ["user_id", "item_id"]
SMALL_CATEGORICAL = ["cat_0", "cat_1", "cat_2"]


def header(args, title):
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    return (
        f"{title}\n{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"torch {torch.__version__}, {args.threads} thread(s), load average (1, 5, 15 min) {load}"
    )


# --------------------------------------------------------------------- generate


def _cpu_seconds_and_peak_of(code):
    """CPU seconds of ``code`` and the peak resident memory (MiB) of a fresh
    process running it."""
    done = subprocess.run(
        [sys.executable, "-c", "import time\nstart = time.process_time()\n" + code +
         "\nimport resource\nprint(time.process_time() - start, "
         "resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"],
        check=True, capture_output=True, text=True,
    )
    seconds, peak = done.stdout.split()[-2:]
    return float(seconds), int(peak) / 1024


def part_generate(args):
    lines = [
        header(args, "## generate: make_click_log and write_click_log (1M users, 1M items)"),
        "rows per CPU second of the process (the machine is shared: wall time would count "
        "the other processes' load)",
    ]
    n = args.rows_in_memory
    start = CLOCK()
    make_click_log(n, random_state=0)
    seconds = CLOCK() - start
    lines.append(f"make_click_log({n:,}): {seconds:.1f} s = {n / seconds:,.0f} rows/s")
    for rows in args.rows_on_disk:
        with tempfile.TemporaryDirectory() as folder:
            code = (
                "from sklearn_mtl.datasets import write_click_log\n"
                f"write_click_log({folder!r}, {rows}, rows_per_file=1_000_000, random_state=0)"
            )
            seconds, peak = _cpu_seconds_and_peak_of(code)
            size = sum(p.stat().st_size for p in Path(folder).rglob("*.parquet")) / 2**20
        lines.append(
            f"write_click_log({rows:,}): {seconds:.1f} s = {rows / seconds:,.0f} rows/s "
            f"(imports included), peak memory {peak:,.0f} MiB, {size:,.0f} MiB of Parquet"
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
    data = TensorData(transform_inputs(estimator, X), torch.from_numpy(Y.to_numpy(np.float32)))
    optimizer = torch.optim.Adam(module.parameters(), lr=1e-3)
    batches = BatchIterator(data, 2048, shuffle=True)
    start = CLOCK()
    for _ in range(epochs):
        for inputs, (targets, _) in batches:
            logits = module(**inputs)
            loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, targets)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    steps = CLOCK() - start
    start = CLOCK()
    for _ in range(epochs):
        for _ in batches:
            pass
    return steps, CLOCK() - start, len(batches)


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
            start = CLOCK()
            estimator = _esmm(with_tags, epochs).fit(frame, Y)
            fit[with_tags].append(len(frame) * epochs / (CLOCK() - start))
            start = CLOCK()
            transform_inputs(estimator, frame)
            encode[with_tags].append(CLOCK() - start)
            steps, cutting, n_batches = _hand_steps(estimator, frame, Y, epochs)
            step[with_tags].append(len(frame) * epochs / steps)
            cut[with_tags].append(cutting / (epochs * n_batches) * 1e3)
    med = {name: {k: statistics.median(v) for k, v in d.items()}
           for name, d in (("fit", fit), ("step", step), ("cut", cut), ("encode", encode))}
    lines = [
        header(args, "## lists: what a tag-list column costs"),
        f"ESMM at its defaults, make_click_log({args.rows:,}) without timestamp, user_id and "
        f"item_id hashed to 1,000 buckets, batch 2048, {epochs} epochs; with and without "
        f"`tags` (0-5 of 1,000 per row), alternating, median of {args.repeats}; "
        "samples per CPU second",
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


# ------------------------------------------------------------------------ vocab

OPTIMIZERS = ("adam", "lazy_adam", "rowwise_adagrad")


def _vocab_data(path, rows):
    """Codes and labels of make_click_log's rows, saved for the runs to load."""
    X, Y = make_click_log(rows, random_state=0, return_X_y=True)
    small = np.column_stack([X[c].cat.codes.to_numpy() + 1 for c in SMALL_CATEGORICAL])
    np.savez(
        path,
        ids=X[IDS].to_numpy(),
        small=small,
        cardinalities=np.array([len(X[c].cat.categories) + 1 for c in SMALL_CATEGORICAL]),
        numeric=X[[c for c in X.columns if c.startswith("num_")]].to_numpy(np.float32),
        targets=np.column_stack([Y["click"], Y["conversion"]]).astype(np.float32),
    )


def _encoded(data, buckets):
    """Codes, numeric features and targets of ``_vocab_data``'s rows as tensors."""
    # A multiplicative hash of the Zipf ranks into buckets 1..buckets (0 stays unknown).
    ids = (data["ids"] * 2654435761 % 2**32) % buckets + 1
    codes = torch.from_numpy(np.column_stack([ids, data["small"]]).astype(np.int64))
    return codes, torch.from_numpy(data["numeric"]), torch.from_numpy(data["targets"])


def _vocab_run(path, buckets, optimizer_name, seconds, batch_size=2048):
    """Train ESMM's network over ``buckets`` hashed IDs per ID column with one
    optimizer on the table; samples/s, peak memory, optimizer bytes per ID."""
    from sklearn_mtl.models import ESMM
    from sklearn_mtl.nn import LazyAdam, MixedInputEmbedding, RowWiseAdagrad

    data = np.load(path)
    codes, numeric, targets = _encoded(data, buckets)
    sparse = optimizer_name != "adam"
    torch.manual_seed(0)
    embedding = MixedInputEmbedding(
        [buckets + 1, buckets + 1, *data["cardinalities"]], numeric.shape[1], 8,
        init_std=1e-4, sparse=sparse,
    )
    module = ESMM(embedding, ctr_hidden_units=(64, 32), cvr_hidden_units=(64, 32))
    table = embedding.table.weight
    rest = [p for p in module.parameters() if p is not table]
    optimizers = {
        "adam": lambda: [torch.optim.Adam(module.parameters(), lr=1e-3)],
        "lazy_adam": lambda: [LazyAdam([table], lr=1e-3), torch.optim.Adam(rest, lr=1e-3)],
        "rowwise_adagrad": lambda: [RowWiseAdagrad([table], lr=0.05),
                                    torch.optim.Adam(rest, lr=1e-3)],
    }[optimizer_name]()
    n = len(codes)
    order = torch.randperm(n)
    steps, start, step_start = 0, None, 0
    while True:
        index = order[(steps * batch_size) % (n - batch_size):][:batch_size]
        loss = torch.nn.functional.binary_cross_entropy_with_logits(
            module(codes.index_select(0, index), numeric.index_select(0, index)),
            targets.index_select(0, index),
        )
        for optimizer in optimizers:
            optimizer.zero_grad()
        loss.backward()
        for optimizer in optimizers:
            optimizer.step()
        steps += 1
        if steps == 3:  # warm-up: state allocated, caches hot
            start, step_start = CLOCK(), steps
        if start is not None and (CLOCK() - start > seconds or steps >= 200):
            break
    elapsed = CLOCK() - start
    state = sum(
        t.numel() * t.element_size()
        for optimizer in optimizers for param, st in optimizer.state.items() if param is table
        for t in st.values() if isinstance(t, torch.Tensor) and t.dim() > 0
    )
    import resource

    return {
        "samples_per_s": (steps - step_start) * batch_size / elapsed,
        "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "table_mib": table.numel() * table.element_size() / 2**20,
        "state_bytes_per_id": state / table.shape[0],
        "loss": loss.item(),
    }


def part_vocab(args):
    lines = [
        header(args, "## vocab: dense Adam, LazyAdam and RowWiseAdagrad on a growing table"),
        "ESMM's network (towers 64-32, embedding width 8), user_id and item_id of "
        f"make_click_log({args.vocab_rows:,}) hashed to N buckets each (table 2N + 71 rows), "
        "3 small categorical and 3 numeric columns, batch 2048, hand-written loop, "
        f"about {args.vocab_seconds:.0f} CPU s of steps after 3 warm-up steps (samples per "
        "CPU second), one fresh process "
        "per run (peak memory: the process's peak resident set, Python and data included). "
        "The rest of the network always takes dense Adam.",
        "",
        "| N (IDs per column) | optimizer on the table | samples/s | vs dense Adam | peak MiB "
        "| table MiB | optimizer state B/ID |",
        "|---|---|---|---|---|---|---|",
    ]
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "data.npz"
        _vocab_data(path, args.vocab_rows)
        for buckets in args.buckets:
            dense = None
            for name in OPTIMIZERS:
                done = subprocess.run(
                    [sys.executable, __file__, "--vocab-run", str(path), str(buckets), name,
                     str(args.vocab_seconds), "--threads", str(args.threads)],
                    capture_output=True, text=True,
                )
                if done.returncode:
                    lines.append(f"| {buckets:,} | {name} | failed: "
                                 f"{done.stderr.strip().splitlines()[-1]} | | | | |")
                    continue
                result = json.loads(done.stdout.strip().splitlines()[-1])
                dense = result["samples_per_s"] if name == "adam" else dense
                ratio = f"{result['samples_per_s'] / dense:.2f}x" if dense else ""
                lines.append(
                    f"| {buckets:,} | {name} | {result['samples_per_s']:,.0f} | {ratio} | "
                    f"{result['peak_mib']:,.0f} | {result['table_mib']:,.1f} | "
                    f"{result['state_bytes_per_id']:.0f} |"
                )
                print(lines[-1], flush=True)
    return lines


# -------------------------------------------------------------------- estimator


def _estimator_run(path, buckets, name, epochs):
    """Fit ESMM at its defaults (fixed epochs) over ``buckets`` hashed IDs per
    ID column (``buckets`` may be ``user:item``); samples/s of the fit (encoding
    included), peak memory, the table optimizer's state per table row."""
    import resource

    import pandas as pd

    users, _, items = buckets.partition(":")
    data = np.load(path)
    columns = [*IDS, *SMALL_CATEGORICAL]
    X = pd.DataFrame(np.column_stack([data["ids"], data["small"]]), columns=columns)
    X[SMALL_CATEGORICAL] = X[SMALL_CATEGORICAL].astype("category")
    X[["num_0", "num_1", "num_2"]] = data["numeric"]
    Y = pd.DataFrame(data["targets"], columns=["click", "conversion"])
    model = ESMMClassifier(
        categorical_features=columns,
        hash_buckets={"user_id": int(users), "item_id": int(items or users)},
        embedding_optimizer=name,
        max_epochs=epochs,
        early_stopping=False,
        random_state=0,
    )
    _warm_up()
    start = CLOCK()
    model.fit(X, Y)
    elapsed = CLOCK() - start
    table = model.net_.module_.embedding.table.weight
    optimizer = model.net_.optimizer_
    state = sum(
        t.numel() * t.element_size()
        for param, st in optimizer.state.items() if param is table
        for t in st.values() if isinstance(t, torch.Tensor) and t.dim() > 0
    )
    return {
        "samples_per_s": len(X) * epochs / elapsed,
        "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "table_rows": table.shape[0],
        "optimizer": type(getattr(optimizer, "optimizers", [optimizer])[-1]).__name__,
        "state_bytes_per_row": state / table.shape[0],
    }


def _warm_up():
    """One step of a tiny network with Adam and a sparse table: the modules that
    torch imports on first use (``torch._dynamo``, a second of CPU) load before a
    timed run, as they would have in any session that trained before."""
    from sklearn_mtl.nn import LazyAdam

    table, layer = torch.nn.Embedding(4, 2, sparse=True), torch.nn.Linear(2, 1)
    optimizers = [LazyAdam(table.parameters()), torch.optim.SparseAdam(table.parameters()),
                  torch.optim.Adam(layer.parameters())]
    layer(table(torch.tensor([1, 2]))).sum().backward()
    for optimizer in optimizers:
        optimizer.step()


def _hand_run(path, buckets, table_optimizer, epochs, batch_size=512):
    """What a user would write: ESMM's network over the encoded tensors (user and
    item IDs hashed to ``buckets`` each), ``table_optimizer`` on the table and
    Adam on the rest, ``epochs`` passes of shuffled mini-batches. Samples/s of
    building the network and optimizers and training (encoding excluded)."""
    import resource

    from sklearn_mtl.models import ESMM
    from sklearn_mtl.nn import LazyAdam, MixedInputEmbedding

    data = np.load(path)
    codes, numeric, targets = _encoded(data, buckets)
    _warm_up()
    start = CLOCK()
    torch.manual_seed(0)
    embedding = MixedInputEmbedding(
        [buckets + 1, buckets + 1, *data["cardinalities"]], numeric.shape[1], 8,
        init_std=1e-4, sparse=True,
    )
    module = ESMM(embedding, ctr_hidden_units=(64, 32), cvr_hidden_units=(64, 32))
    table = embedding.table.weight
    optimizers = [
        {"LazyAdam": LazyAdam, "SparseAdam": torch.optim.SparseAdam}[table_optimizer](
            [table], lr=1e-3),
        torch.optim.Adam([p for p in module.parameters() if p is not table], lr=1e-3),
    ]
    for _ in range(epochs):
        for index in torch.randperm(len(codes)).split(batch_size):
            logits = module(codes.index_select(0, index), numeric.index_select(0, index))
            loss = torch.nn.functional.binary_cross_entropy_with_logits(
                logits, targets.index_select(0, index))
            for optimizer in optimizers:
                optimizer.zero_grad()
            loss.backward()
            for optimizer in optimizers:
                optimizer.step()
    elapsed = CLOCK() - start
    return {
        "samples_per_s": len(codes) * epochs / elapsed,
        "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "optimizer": table_optimizer,
    }


def _fresh_run(*arguments):
    """A run of this script in a fresh process (``--run NAME ARGS``): its JSON result."""
    done = subprocess.run(
        [sys.executable, __file__, "--run", *map(str, arguments)], capture_output=True, text=True
    )
    if done.returncode:
        raise RuntimeError(done.stderr.strip().splitlines()[-1])
    return json.loads(done.stdout.strip().splitlines()[-1])


def _held_out_scores(name, dataset, seed):
    """Held-out score (mean task AUC) of MMoE at equal epochs with one table path."""
    from sklearn_mtl import MMoEClassifier
    from sklearn_mtl.datasets import load_census_income

    if dataset == "census":
        X, Y = load_census_income(return_X_y=True)
        params = {}
    else:
        log = make_click_log(24_000, random_state=1)
        X, Y = log.data[[*IDS, *SMALL_CATEGORICAL, "num_0", "num_1", "num_2"]], log.target
        params = dict(categorical_features=[*IDS, *SMALL_CATEGORICAL],
                      hash_buckets={name: 100_000 for name in IDS})
    split = len(X) * 3 // 4
    model = MMoEClassifier(embedding_optimizer=name, max_epochs=4, early_stopping=False,
                           random_state=seed, **params)
    model.fit(X.iloc[:split], Y.iloc[:split])
    return model.score(X.iloc[split:], Y.iloc[split:])


#: The speed runs of the estimator part: (label, RUNS name, arguments after the data path).
SPEED_RUNS = {
    "estimator 1k": ("estimator", 1_000, "auto"),
    "estimator 4M": ("estimator", 4_000_000, "auto"),
    "hand loop 4M, LazyAdam": ("hand", 4_000_000, "LazyAdam"),
    "hand loop 4M, SparseAdam": ("hand", 4_000_000, "SparseAdam"),
}


def part_estimator(args):
    lines = [
        header(args, "## estimator: embedding_optimizer in the estimators"),
        f"ESMM at its defaults (batch_size 'auto': 512; embedding_optimizer 'auto'; "
        "embedding_init_std 'auto': 1e-4 at 1k buckets, 0.05 at 4M, a sparse table; the draw "
        f"costs the same), {args.epochs} epochs without early stopping, on "
        f"the rows of the vocab part (make_click_log({args.vocab_rows:,})), user_id and "
        "item_id hashed to N buckets each. Estimator: samples per CPU second of the whole "
        "fit (encoding included). Hand loop: what a user would write over the already "
        "encoded tensors: ESMM's network (the same widths, table at N(0, 1e-4)), the named "
        "optimizer on the table and Adam on the rest, shuffled batches of 512; building "
        "the network and optimizers included. One fresh process per run, after a warm-up "
        f"step (torch's lazily imported modules); the four runs alternate, {args.repeats} "
        "rounds; samples/s is the median, a ratio the median of the rounds' ratios.",
        "",
        "| run | table optimizer | samples/s | estimator 4M vs this | peak MiB |",
        "|---|---|---|---|---|",
    ]
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "data.npz"
        _vocab_data(path, args.vocab_rows)
        rounds = []
        for _ in range(args.repeats):
            rounds.append({label: _fresh_run(run, path, buckets, name, args.epochs)
                           for label, (run, buckets, name) in SPEED_RUNS.items()})
            print({label: round(r["samples_per_s"]) for label, r in rounds[-1].items()},
                  flush=True)
        for label in SPEED_RUNS:
            ratio = statistics.median(
                r["estimator 4M"]["samples_per_s"] / r[label]["samples_per_s"] for r in rounds)
            lines.append(
                f"| {label} | {rounds[0][label]['optimizer']} | "
                f"{statistics.median(r[label]['samples_per_s'] for r in rounds):,.0f} | "
                f"{ratio:.2f}x | {statistics.median(r[label]['peak_mib'] for r in rounds):,.0f} |"
            )
        lines += [
            "",
            "Memory with 10,000,000 hashed user IDs (item_id: 1,000 buckets; embedding_dim 8: "
            "the table is 320 MB), 5,000 rows, one epoch; state: the table optimizer's, bytes "
            "per table row.",
            "",
            "| embedding_optimizer | table optimizer | peak MiB | state B/row |",
            "|---|---|---|---|",
        ]
        _vocab_data(path, 5_000)
        for name in ("dense", "lazy_adam", "rowwise_adagrad"):
            result = _fresh_run("estimator", path, "10000000:1000", name, 1)
            lines.append(
                f"| {name} | {result['optimizer']} | {result['peak_mib']:,.0f} | "
                f"{result['state_bytes_per_row']:.0f} |"
            )
            print(lines[-1], flush=True)
    if not args.seeds:
        return lines
    lines += [
        "",
        "Held-out score (mean task ROC AUC, last quarter of the rows) of MMoE at its defaults, "
        "4 epochs without early stopping, "
        f"seeds 0-{args.seeds - 1}: the census-income sample, and "
        "make_click_log(24,000) with user_id and item_id hashed to 100,000 buckets each.",
        "",
        "| data | embedding_optimizer | mean | std | per seed |",
        "|---|---|---|---|---|",
    ]
    for dataset in ("census", "click_log"):
        for name in ("dense", "lazy_adam", "rowwise_adagrad"):
            scores = [_fresh_run("score", name, dataset, seed)["score"] for seed in range(args.seeds)]
            lines.append(
                f"| {dataset} | {name} | {statistics.mean(scores):.4f} | "
                f"{statistics.stdev(scores):.4f} | {', '.join(f'{s:.4f}' for s in scores)} |"
            )
            print(lines[-1], flush=True)
    return lines


# ---------------------------------------------------------------------- chunked


def _chunked_run(folder, mode, epochs, chunk_rows):
    """Fit ESMM at its defaults for ``epochs`` epochs on the click log in ``folder``, in memory
    (``mode="memory"``: the files read first, not timed) or out of core
    (``mode="chunked"``: reading and encoding timed); samples per CPU second
    of the fit and the process's peak memory."""
    import resource

    import pandas as pd
    import pyarrow.parquet as pq

    from sklearn_mtl import ChunkedData

    targets = ["click", "conversion"]
    paths = sorted(Path(folder).glob("*.parquet"))  # not the truth/ files
    n_rows = sum(pq.ParquetFile(path).metadata.num_rows for path in paths)
    model = ESMMClassifier(max_epochs=int(epochs), random_state=0)
    if mode == "memory":
        frame = pd.concat([pd.read_parquet(path) for path in paths], ignore_index=True)
        X, Y = frame.drop(columns=targets), frame[targets]
        start = CLOCK()
        model.fit(X, Y)
    else:
        data = ChunkedData(folder, target_columns=targets, chunk_rows=int(chunk_rows))
        start = CLOCK()
        model.fit(data)
    elapsed = CLOCK() - start
    epochs_run = len(model.history_)
    return {
        "samples_per_s": n_rows * epochs_run / elapsed,
        "epochs": epochs_run,
        "seconds": elapsed,
        "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def part_chunked(args):
    rows = args.chunked_rows
    lines = [
        header(args, "## chunked: ChunkedData against the same rows in memory"),
        f"ESMM at its defaults (early_stopping 'auto': on, 10% of the rows held out and "
        f"scored every epoch), max_epochs={args.epochs}, "
        f"write_click_log({rows:,}) in Parquet parts of {args.chunked_rows_per_file:,} rows "
        f"(tags and timestamp included), ChunkedData(chunk_rows={args.chunk_rows:,}) against "
        "pd.read_parquet of the same files fitted in memory (the read not timed), "
        f"alternating, {args.repeats} run(s) each, one fresh process per run; samples per CPU "
        "second of the whole fit (encoding included; out of core also the Parquet reading "
        "and the read-ahead thread), peak resident memory of the process. The issue's scale: "
        "--chunked-rows 20000000 --chunked-rows-per-file 1000000.",
        "",
        "| run | in memory samples/s | ChunkedData samples/s | ratio | in memory peak MiB | "
        "ChunkedData peak MiB |",
        "|---|---|---|---|---|---|",
    ]
    from sklearn_mtl.datasets import write_click_log

    with tempfile.TemporaryDirectory() as folder:
        write_click_log(folder, rows, rows_per_file=args.chunked_rows_per_file, random_state=0)
        ratios = []
        for repeat in range(args.repeats):
            memory, chunked = (
                _fresh_run("chunked", folder, mode, args.epochs, args.chunk_rows)
                for mode in ("memory", "chunked")
            )
            ratios.append(chunked["samples_per_s"] / memory["samples_per_s"])
            lines.append(
                f"| {repeat + 1} | {memory['samples_per_s']:,.0f} | "
                f"{chunked['samples_per_s']:,.0f} | {ratios[-1]:.2f}x | "
                f"{memory['peak_mib']:,.0f} | {chunked['peak_mib']:,.0f} |"
            )
            print(lines[-1], flush=True)
    lines.append(f"| median | | | {statistics.median(ratios):.2f}x | | |")
    return lines


def part_chunked_scale(args):
    sizes = args.rows_on_disk
    lines = [
        header(args, "## chunked_scale: ChunkedData from 2M to 20M rows"),
        f"ESMM at its defaults (early stopping on), max_epochs={args.epochs}, write_click_log(N) "
        f"in Parquet parts of {args.chunked_rows_per_file:,} rows, "
        f"ChunkedData(chunk_rows={args.chunk_rows:,}); in memory (pd.read_parquet, the read not "
        f"timed) up to {args.memory_rows_max:,} rows (--memory-rows-max: 20M rows take 11 GiB "
        "in memory, the tag lists as Python lists). One fresh process per run; samples per CPU "
        "second of the whole fit (reading, encoding and the cache included), peak resident "
        "memory.",
        "",
        "| rows | mode | epochs run | samples/s | vs in memory at the smallest size | peak MiB |",
        "|---|---|---|---|---|---|",
    ]
    from sklearn_mtl.datasets import write_click_log

    baseline = None
    for rows in sizes:
        with tempfile.TemporaryDirectory() as folder:
            write_click_log(
                folder, rows, rows_per_file=args.chunked_rows_per_file, random_state=0
            )
            modes = ("memory", "chunked") if rows <= args.memory_rows_max else ("chunked",)
            for mode in modes:
                run = _fresh_run("chunked", folder, mode, args.epochs, args.chunk_rows)
                baseline = baseline or run["samples_per_s"]
                lines.append(
                    f"| {rows:,} | {'in memory' if mode == 'memory' else 'ChunkedData'} | "
                    f"{run['epochs']} | {run['samples_per_s']:,.0f} | "
                    f"{run['samples_per_s'] / baseline:.2f}x | {run['peak_mib']:,.0f} |"
                )
                print(lines[-1], flush=True)
    return lines


def _census_run(folder, processes, epochs):
    """Wall seconds and scores of ``examples/distributed_census.py`` in one
    process, or data-parallel in ``processes`` under ``torchrun`` (gloo, one
    thread each): process 0's summary."""
    script = Path(__file__).resolve().parents[1] / "examples" / "distributed_census.py"
    options = [str(script), "--max-epochs", str(epochs), "--out", folder]
    if processes == 1:
        command = [sys.executable, *options]
    else:
        command = [sys.executable, "-m", "torch.distributed.run", "--standalone",
                   f"--nproc-per-node={processes}", *options]
    environment = {**os.environ, "OMP_NUM_THREADS": "1", "OMP_WAIT_POLICY": "PASSIVE"}
    done = subprocess.run(command, capture_output=True, text=True, env=environment)
    if done.returncode:
        raise RuntimeError(done.stderr.strip()[-2000:])
    return json.loads(Path(folder, "rank0.json").read_text())


def part_parallel(args):
    from sklearn_mtl.datasets import load_census_income

    n_rows = len(load_census_income(subset="train").data)
    lines = [
        header(args, "## parallel: data-parallel training in 2 processes against 1"),
        f"MMoE at its defaults on the bundled census-income sample ({n_rows:,} training rows, "
        f"early stopping 'auto': on), max_epochs={args.epochs}, batch 512 per process, "
        "examples/distributed_census.py in one process against torchrun --nproc-per-node 2 "
        "(gloo, one torch thread per process), alternating; samples/s = training rows x "
        "epochs run / wall seconds of the fit (the machine's 2 cores, so wall time: the two "
        "processes run at once). Test AUCs of process 0 show that the model is the same kind.",
        "",
        "| round | processes | epochs run | fit s | samples/s | vs 1 process | "
        "test AUC income | test AUC never married |",
        "|---|---|---|---|---|---|---|---|",
    ]
    ratios = []
    for repeat in range(args.repeats):
        speeds = {}
        for processes in (1, 2):
            with tempfile.TemporaryDirectory() as folder:
                run = _census_run(folder, processes, args.epochs)
            speeds[processes] = n_rows * run["n_iter"] / run["fit_seconds"]
            auc = run["test_roc_auc"]
            lines.append(
                f"| {repeat + 1} | {processes} | {run['n_iter']} | {run['fit_seconds']:.1f} | "
                f"{speeds[processes]:,.0f} | {speeds[processes] / speeds[1]:.2f}x | "
                f"{auc['roc_auc_income']:.4f} | {auc['roc_auc_never_married']:.4f} |"
            )
            print(lines[-1], flush=True)
        ratios.append(speeds[2] / speeds[1])
    lines.append(f"| median | 2 | | | | {statistics.median(ratios):.2f}x | | |")
    return lines


#: Runs in a fresh process: ``--run NAME ARGS`` prints the JSON of ``RUNS[NAME](*ARGS)``.
RUNS = {
    "vocab": lambda path, buckets, name, seconds, batch=2048: _vocab_run(
        path, int(buckets), name, float(seconds), int(batch)),
    "estimator": lambda path, buckets, name, epochs: _estimator_run(
        path, buckets, name, int(epochs)),
    "hand": lambda path, buckets, name, epochs: _hand_run(path, int(buckets), name, int(epochs)),
    "score": lambda name, dataset, seed: {"score": _held_out_scores(name, dataset, int(seed))},
    "chunked": _chunked_run,
}


# ------------------------------------------------------------------------ main

PARTS = {"generate": part_generate, "lists": part_lists, "vocab": part_vocab,
         "estimator": part_estimator, "chunked": part_chunked,
         "chunked_scale": part_chunked_scale, "parallel": part_parallel}


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
    parser.add_argument("--part", choices=list(PARTS))
    parser.add_argument("--vocab-run", nargs=4, metavar=("DATA", "BUCKETS", "OPTIMIZER", "SECONDS"),
                        help=argparse.SUPPRESS)
    parser.add_argument("--run", nargs="+", help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--rows", type=int, default=100_000, help="rows of the lists part")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--rows-in-memory", type=int, default=1_000_000)
    parser.add_argument("--rows-on-disk", type=int, nargs="+", default=[2_000_000, 20_000_000])
    parser.add_argument("--buckets", type=int, nargs="+",
                        default=[1_000, 100_000, 1_000_000, 4_000_000, 10_000_000])
    parser.add_argument("--vocab-rows", type=int, default=300_000)
    parser.add_argument("--vocab-seconds", type=float, default=6.0)
    parser.add_argument("--seeds", type=int, default=3,
                        help="seeds of the estimator part's held-out scores (0: none)")
    parser.add_argument("--chunked-rows", type=int, default=600_000)
    parser.add_argument("--chunked-rows-per-file", type=int, default=200_000)
    parser.add_argument("--chunk-rows", type=int, default=65536)
    parser.add_argument("--memory-rows-max", type=int, default=20_000_000,
                        help="chunked_scale: the largest size also fitted in memory")
    parser.add_argument("--output", help="file whose section of this part is replaced")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.vocab_run:
        path, buckets, name, seconds = args.vocab_run
        print(json.dumps(_vocab_run(path, int(buckets), name, float(seconds))))
        return
    if args.run:
        print(json.dumps(RUNS[args.run[0]](*args.run[1:])))
        return
    if not args.part:
        parser.error("--part is required")
    lines = PARTS[args.part](args)
    print("\n".join(lines))
    if args.output:
        write_section(args.output, args.part, lines)


if __name__ == "__main__":
    main()
