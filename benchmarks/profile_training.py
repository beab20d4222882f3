"""Where one training step goes: sklearn_mtl's estimator against the hand loop.

Trains the MMoE estimator of ``bench_training`` for one epoch on the full
census data under cProfile (Python-level: skorch's per-batch machinery, our
hooks, the optimizer), then runs steps of the hand-written loop over the
same module under ``torch.profiler`` (operator-level: embedding gather and
its backward, Adam, linear layers). Prints per-batch times and both tables,
then times the hand loop's step with each Adam implementation and the
embedding gather with its alternatives, as input for speed-ups.

    python benchmarks/profile_training.py --threads 2 --batch-size 1024

(with this package importable, e.g. installed with ``pip install -e .``).
"""

import argparse
import cProfile
import os
import pstats
import time

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
import torch  # noqa: E402

from bench_training import CASES, DEFAULT_DATA, census_tasks, reference_loop  # noqa: E402
from sklearn_mtl.nn import MixedInputEmbedding  # noqa: E402

#: (function, part of its file name) whose cumulative time per batch splits the estimator's epoch
PARTS = {
    "skorch train_step": ("train_step", "skorch/net.py"),
    "  forward (skorch infer)": ("infer", "skorch/net.py"),
    "  per-task losses": ("task_losses", "sklearn_mtl/losses.py"),
    "  backward (through the loss weighting)": ("backward", "sklearn_mtl/loss_weighting.py"),
    "  Adam update": ("adam", "optim/adam.py"),
    "  zero_grad": ("zero_grad", "optim/optimizer.py"),
    "batch gather (BatchIterator)": ("__iter__", "_data/_tensors.py"),
    "callbacks (skorch notify)": ("notify", "skorch/net.py"),
    "history record_batch": ("record_batch", "skorch/history.py"),
}


def profile_estimator(X, Y, args):
    """(fitted estimator, seconds of a plain 1-epoch fit, cProfile stats of another)."""
    factory, _ = CASES["MMoE"]
    common = dict(
        max_epochs=1, batch_size=args.batch_size, lr=1e-3, early_stopping=False, random_state=0
    )
    factory(**common).fit(X[:2048], Y[:2048])
    start = time.perf_counter()
    factory(**common).fit(X, Y)
    seconds = time.perf_counter() - start
    estimator = factory(**common)
    profiler = cProfile.Profile()
    profiler.runcall(estimator.fit, X, Y)
    return estimator, seconds, pstats.Stats(profiler)


def cumulative(stats, name, where):
    """Cumulative seconds of the function ``name`` in a file whose path contains ``where``."""
    return sum(
        cum
        for (filename, _, function), (_, _, _, cum, _) in stats.stats.items()
        if function == name and where in filename.replace(os.sep, "/")
    )


def hand_loop_step(estimator, X, Y, **adam):
    """One step of the hand loop (a function of the batch index) with ``Adam(**adam)``."""
    encoder = estimator._feature_encoder
    inputs = transform_inputs(estimator, X)
    targets = torch.as_tensor(np.asarray(Y, dtype=np.float32))
    embedding = MixedInputEmbedding(
        encoder.cardinalities, encoder.n_numeric, estimator.embedding_dim
    )
    module = estimator._build_module(embedding, targets.shape[1])
    criterion = estimator._build_criterion(targets.shape[1])
    optimizer = torch.optim.Adam(module.parameters(), lr=estimator.lr, **adam)

    def step(index):
        loss = criterion(
            module(inputs["categorical"][index], inputs["numeric"][index]), targets[index]
        )
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    return step


def profile_hand_loop(estimator, X, Y, batches):
    step = hand_loop_step(estimator, X, Y)
    for index in batches[:10]:
        step(index)
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        for index in batches:
            step(index)
    return prof


#: Adam implementations to time in the hand loop: torch's CPU default is the per-tensor loop
ADAMS = {
    "per-tensor (default)": {"foreach": False},
    "foreach": {"foreach": True},
    "fused": {"fused": True},
}


#: ways to gather (n, n_columns) codes from one table and get the table's gradient back
GATHERS = {
    "embedding (dense backward)": lambda table, codes: torch.nn.functional.embedding(codes, table),
    "index_select (index_add backward)": lambda table, codes: table.index_select(
        0, codes.flatten()
    ),
}


def time_gathers(estimator, X, batches, rounds=3):
    """Best ms per batch of each gather, forward and backward, on the estimator's codes."""
    codes = transform_inputs(estimator, X)["categorical"]
    embedding = estimator.net_.module_.embedding
    codes = codes + embedding.offsets
    table = torch.nn.Parameter(embedding.table.weight.detach().clone())
    best = dict.fromkeys(GATHERS, np.inf)
    for _ in range(rounds):
        for name, gather in GATHERS.items():
            start = time.perf_counter()
            for index in batches:
                table.grad = None
                gather(table, codes[index]).sum().backward()
            best[name] = min(best[name], 1e3 * (time.perf_counter() - start) / len(batches))
    return best


def time_adams(estimator, X, Y, batches, rounds=3):
    """Best ms per hand-loop step for each Adam implementation, rounds interleaved."""
    steps = {name: hand_loop_step(estimator, X, Y, **adam) for name, adam in ADAMS.items()}
    best = dict.fromkeys(ADAMS, np.inf)
    for _ in range(rounds):
        for name, step in steps.items():
            for index in batches[:10]:
                step(index)
            start = time.perf_counter()
            for index in batches:
                step(index)
            best[name] = min(best[name], 1e3 * (time.perf_counter() - start) / len(batches))
    return best


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data-home", default=str(DEFAULT_DATA))
    parser.add_argument("--batch-size", type=int, default=1024)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--steps", type=int, default=100, help="hand-loop steps under torch.profiler"
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    X, Y, _, _ = census_tasks(args.data_home)
    n_batches = -(-len(X) // args.batch_size)

    estimator, fit_seconds, stats = profile_estimator(X, Y, args)
    hand_seconds, _ = reference_loop(estimator, X, Y, epochs=1, seed=0)
    epoch = cumulative(stats, "run_single_epoch", "skorch/net.py")
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(
        f"MMoE, 1 epoch, {n_batches} batches of {args.batch_size}, "
        f"{torch.get_num_threads()} threads, "
        f"{os.cpu_count()} CPUs, load average (1, 5, 15 min) {load}"
    )
    print(
        f"  estimator fit:  {fit_seconds:.2f} s = {1e3 * fit_seconds / n_batches:.2f} ms/batch "
        "(validation and encoding included)"
    )
    print(f"  hand loop:      {hand_seconds:.2f} s = {1e3 * hand_seconds / n_batches:.2f} ms/batch")
    print("\nestimator under cProfile (its overhead inflates Python-heavy parts), ms per batch:")
    print(
        f"  {'fit outside the epoch loop (validation, encoding)':<50}"
        f"{1e3 * (stats.total_tt - epoch) / n_batches:>8.3f}"
    )
    print(f"  {'epoch loop (skorch run_single_epoch)':<50}{1e3 * epoch / n_batches:>8.3f}")
    for label, (name, where) in PARTS.items():
        print(f"    {label:<48}{1e3 * cumulative(stats, name, where) / n_batches:>8.3f}")
    print("\nestimator, top functions by own time:")
    stats.strip_dirs().sort_stats("tottime").print_stats(18)

    batches = list(torch.randperm(len(X)).split(args.batch_size))[: args.steps]
    prof = profile_hand_loop(estimator, X, Y, batches)
    print(f"hand loop, {args.steps} steps under torch.profiler, operators by self CPU time:")
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=20))
    print(f"hand loop, ms per step by Adam implementation (best of 3 x {args.steps} steps):")
    for name, ms in time_adams(estimator, X, Y, batches).items():
        print(f"  {name:<36}{ms:>8.2f}")
    print(
        f"embedding gather of {len(estimator._feature_encoder.cardinalities)} columns from one "
        f"{len(estimator.net_.module_.embedding.table.weight)}-row table, forward + backward, "
        "ms per batch:"
    )
    for name, ms in time_gathers(estimator, X, batches).items():
        print(f"  {name:<36}{ms:>8.2f}")


if __name__ == "__main__":
    main()
