"""sklearn_mtl against its peers: DeepCTR-Torch and torch-rechub, side by side.

For each of the five models, one run per framework on the full census-income
data (the MMoE paper's set-up) with the same architecture, 3 epochs, batch
1024, Adam at 1e-3 without weight decay or L2 penalties, and 2 torch threads:

* ``sklearn_mtl``: the estimator's ``fit(X_df, Y_df)`` (validation, encoding
  and skorch's loop included) and ``predict_proba(X_df)``;
* ``hand loop``: ``bench_training.reference_loop`` over the same torch module,
  on tensors it gets for free;
* ``DeepCTR-Torch``: its model's ``fit``/``predict`` (MMoE, PLE, SharedBottom, ESMM);
* ``torch-rechub``: its ``MTLTrainer.train_one_epoch`` per epoch (its
  per-epoch validation pass is not timed) and ``MTLTrainer.predict`` (all five).

Peers and the hand loop get their encoded inputs for free when training;
every prediction time includes encoding the 49,881-row test DataFrame. Every
run is a fresh process (``--worker``); the order of the frameworks alternates
from model to model. Peak memory is the peak resident set size after the raw
data is loaded, minus the resident size then (Linux: ``/proc/self``).

The peers are never dependencies of the package or its tests: create their
environment with ``benchmarks/peers_env.sh``, then

    python benchmarks/bench_peers.py --output benchmarks/results_peers.txt \\
        --plot benchmarks/results_peers.png
    python benchmarks/bench_peers.py --study --output benchmarks/results_peers_study.txt
    python benchmarks/bench_peers.py --study --study-model PLE --study-frameworks torch-rechub \\
        --output benchmarks/results_peers_study_ple.txt
    python benchmarks/bench_peers.py --auc-seeds --output benchmarks/results_peers_auc.txt
    python benchmarks/bench_peers.py --at-defaults --models PLE MMoE --threads 1 \
        --output benchmarks/results_peers_defaults.txt
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from unittest import mock

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("TQDM_DISABLE", "1")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from bench_training import CASES, DEFAULT_DATA, census_funnel, census_tasks  # noqa: E402

MODELS = ["MMoE", "PLE", "SharedBottom", "ESMM", "AITM"]
FUNNELS = {"ESMM", "AITM"}
FRAMEWORKS = ["sklearn_mtl", "hand loop", "DeepCTR-Torch", "torch-rechub"]
PEER_MODELS = {
    "DeepCTR-Torch": {"MMoE", "PLE", "SharedBottom", "ESMM"},
    "torch-rechub": set(MODELS),
}
#: architecture of each model, in the estimators' terms (the same as bench_training's CASES)
EXPERT, TOWER, BOTTOM, FUNNEL_TOWER = (32,), (16,), (64, 32), (64, 32)
EMBEDDING_DIM = 8
NUM_EXPERTS = 8
PLE_LEVELS, PLE_SPECIFIC, PLE_SHARED = 2, 1, 2
#: quantile bins of each numeric column for torch-rechub's ESMM (it embeds categorical columns only)
ESMM_NUMERIC_BINS = 32
PREDICT_BATCH = 1024


# ----------------------------------------------------------------------------- data


def load(model, data_home):
    """Train data and the MMoE paper's test half: the UCI test file split 1:1 at random."""
    X, Y, X_test, Y_test = (census_funnel if model in FUNNELS else census_tasks)(data_home)
    test = np.random.default_rng(0).permutation(len(X_test))[len(X_test) // 2 :]
    test.sort()
    return X, Y, X_test.iloc[test].reset_index(drop=True), Y_test.iloc[test].reset_index(drop=True)


def cached_load(model, args):
    """``load`` through a pickle the driver shares with its workers: parsing the
    UCI files once per run, not once per process."""
    if args.cache is None:
        return load(model, args.data_home)
    path = Path(args.cache) / ("funnel.pkl" if model in FUNNELS else "tasks.pkl")
    if not path.exists():
        pd.to_pickle(load(model, args.data_home), path)
    return pd.read_pickle(path)


class PeerEncoder:
    """The encoding a DeepCTR-Torch or torch-rechub user writes: per-column
    category codes (0 for unseen or missing) and standardized numbers, or
    quantile-bin codes for numbers when ``numeric_bins`` is set."""

    def __init__(self, numeric_bins=None):
        self.numeric_bins = numeric_bins

    def fit(self, X):
        self.categories_ = {
            c: X[c].cat.categories for c in X.columns if isinstance(X[c].dtype, pd.CategoricalDtype)
        }
        numeric = [c for c in X.columns if c not in self.categories_]
        values = X[numeric].to_numpy(dtype=np.float64)
        self.numeric_ = numeric
        self.mean_, self.scale_ = values.mean(0), values.std(0) + 1e-12
        quantiles = np.linspace(0, 1, (self.numeric_bins or 1) + 1)[1:-1]
        self.edges_ = [np.unique(np.quantile(v, quantiles)) for v in values.T]
        return self

    @property
    def vocab_sizes(self):
        sizes = {c: len(cats) + 1 for c, cats in self.categories_.items()}
        if self.numeric_bins:
            sizes.update({c: len(e) + 1 for c, e in zip(self.numeric_, self.edges_)})
        return sizes

    def transform(self, X):
        out = {
            c: pd.Categorical(X[c], categories=cats).codes.astype(np.int64) + 1
            for c, cats in self.categories_.items()
        }
        values = X[self.numeric_].to_numpy(dtype=np.float64)
        for j, c in enumerate(self.numeric_):
            if self.numeric_bins:
                out[c] = np.searchsorted(self.edges_[j], values[:, j], side="right").astype(
                    np.int64
                )
            else:
                out[c] = ((values[:, j] - self.mean_[j]) / self.scale_[j]).astype(np.float32)
        return out


# ----------------------------------------------------------------------------- memory


def resident_mib(field):
    """``VmRSS`` or ``VmHWM`` (the peak) of this process, in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"{field} not in /proc/self/status")


def reset_peak_resident():
    # Writing 5 to clear_refs restarts VmHWM at the current resident size (Linux >= 4.0).
    Path("/proc/self/clear_refs").write_text("5")


# ----------------------------------------------------------------------------- frameworks


#: the estimator's variants: keyword arguments on top of the common ones
SKLEARN_MTL_VARIANTS = {
    "default": {},
    "holdout": {"early_stopping": True},
    "rechub_like": {"embedding_init_std": 1e-4, "batch_norm": True, "gate_bias": True},
}
#: the estimator as a user gets it: the architecture and seed only, every training parameter
#: (lr, batch size, early stopping, epochs) at its default
AT_DEFAULTS = "at_defaults"


def run_sklearn_mtl(model, X, Y, X_test, args):
    factory, _ = CASES[model]
    # A variant's options that this model lacks (gate_bias without gates) do not apply.
    options = factory().get_params()
    if args.variant == AT_DEFAULTS:
        common = dict(random_state=args.seed)
    else:
        common = dict(
            max_epochs=args.epochs,
            batch_size=args.batch_size,
            lr=1e-3,
            random_state=args.seed,
            early_stopping=False,
            **{k: v for k, v in SKLEARN_MTL_VARIANTS[args.variant].items() if k in options},
        )
    # One-time costs (torch imports its compiler stack on the first optimizer step) stay out
    # of the timings.
    factory(**{**common, "max_epochs": 1, "early_stopping": False}).fit(X[:2048], Y[:2048])
    reset_peak_resident()
    estimator = factory(**common)
    start = time.perf_counter()
    estimator.fit(X, Y)
    train = time.perf_counter() - start
    args.epochs_run = len(estimator.history_)
    start = time.perf_counter()
    proba = np.column_stack([task[:, 1] for task in estimator.predict_proba(X_test)])
    return train, time.perf_counter() - start, proba, estimator.net_.module_


#: the hand loop's variants: the lender's ``embedding_init_std`` ("auto" resolves as the
#: estimator's own fit of the same epochs would)
HAND_LOOP_INIT = {"default": "auto", "torch_init": None, "small_init": 1e-4}


def run_hand_loop(model, X, Y, X_test, args):
    from bench_training import reference_loop, reference_proba

    factory, _ = CASES[model]
    # A one-epoch fit lends its feature encoder and settings to the loop (and warms up torch).
    lender = factory(
        max_epochs=1,
        batch_size=args.batch_size,
        lr=1e-3,
        early_stopping=False,
        random_state=0,
        embedding_init_std=HAND_LOOP_INIT[args.variant],
    )
    lender.fit(X, Y)
    # The loop trains args.epochs epochs: "auto" must see those, not the lender's one.
    lender.embedding_init_std_ = lender.set_params(max_epochs=args.epochs)._embedding_init_std(
        len(X), args.epochs
    )
    reset_peak_resident()
    train, module = reference_loop(lender, X, Y, epochs=args.epochs, seed=args.seed)
    start = time.perf_counter()
    proba = reference_proba(lender, module, X_test)
    return train, time.perf_counter() - start, proba, module


def import_deepctr():
    """Import DeepCTR-Torch without the version check it sends to PyPI at import."""
    import types

    # Its check runs requests.get in a thread and swallows any error: a stub that
    # refuses keeps the import offline (and ``requests`` out of the environment).
    def refuse(*_, **__):
        raise ConnectionError("network disabled for the benchmark")

    saved = sys.modules.get("requests")
    sys.modules["requests"] = types.SimpleNamespace(get=refuse, codes=None)
    try:
        with mock.patch("builtins.print"):
            import deepctr_torch
            from deepctr_torch.models import multitask
    finally:
        if saved is None:
            del sys.modules["requests"]
        else:
            sys.modules["requests"] = saved
    return deepctr_torch, multitask


def run_deepctr(model, X, Y, X_test, args):
    import torch

    deepctr_torch, multitask = import_deepctr()
    from deepctr_torch.inputs import DenseFeat, SparseFeat

    encoder = PeerEncoder().fit(X)
    inputs = encoder.transform(X)
    columns = [
        (
            SparseFeat(c, encoder.vocab_sizes[c], embedding_dim=EMBEDDING_DIM)
            if c in encoder.categories_
            else DenseFeat(c, 1)
        )
        for c in inputs
    ]
    no_penalty = dict(l2_reg_linear=0.0, l2_reg_embedding=0.0, l2_reg_dnn=0.0, seed=args.seed)
    tasks = list(Y.columns)

    def build():
        if model == "MMoE":
            net = multitask.MMOE(
                columns,
                num_experts=NUM_EXPERTS,
                expert_dnn_hidden_units=EXPERT,
                gate_dnn_hidden_units=(),
                tower_dnn_hidden_units=TOWER,
                task_names=tasks,
                **no_penalty,
            )
        elif model == "PLE":
            # Its PLE builds specific_expert_num shared experts whatever shared_expert_num says
            # (0.3.0), so it only runs with equal counts: one shared expert per level, not two.
            net = multitask.PLE(
                columns,
                shared_expert_num=PLE_SPECIFIC,
                specific_expert_num=PLE_SPECIFIC,
                num_levels=PLE_LEVELS,
                expert_dnn_hidden_units=EXPERT,
                gate_dnn_hidden_units=(),
                tower_dnn_hidden_units=TOWER,
                task_names=tasks,
                **no_penalty,
            )
        elif model == "SharedBottom":
            net = multitask.SharedBottom(
                columns,
                bottom_dnn_hidden_units=BOTTOM,
                tower_dnn_hidden_units=TOWER,
                task_names=tasks,
                **no_penalty,
            )
        else:
            net = multitask.ESMM(
                columns, tower_dnn_hidden_units=FUNNEL_TOWER, task_names=tasks, **no_penalty
            )
        net.compile(
            torch.optim.Adam(net.parameters(), lr=1e-3), loss=["binary_crossentropy"] * len(tasks)
        )
        return net

    y = Y.to_numpy(dtype=np.float32)
    with mock.patch("builtins.print"):
        build().fit(
            {c: v[:2048] for c, v in inputs.items()},
            y[:2048],
            batch_size=args.batch_size,
            epochs=1,
            verbose=0,
        )
        reset_peak_resident()
        net = build()
        start = time.perf_counter()
        net.fit(inputs, y, batch_size=args.batch_size, epochs=args.epochs, verbose=0)
        train = time.perf_counter() - start
    start = time.perf_counter()
    proba = net.predict(encoder.transform(X_test), batch_size=PREDICT_BATCH)
    return train, time.perf_counter() - start, proba, net


#: torch-rechub variants that train for another number of epochs: its trainer's default n_epoch
RECHUB_EPOCHS = {"n_epoch=10": 10}


@contextmanager
def rechub_variant(variant):
    """torch-rechub as shipped, or with one of its choices switched off for the study."""
    import torch
    from torch_rechub.basic import features

    if variant == "no_bn":
        # Its MLP puts BatchNorm1d after every Linear, gates and attention inputs included.
        with mock.patch.object(torch.nn, "BatchNorm1d", lambda width: torch.nn.Identity()):
            yield
    elif variant == "torch_init":
        # Its embeddings start at N(0, 1e-4); torch's default (and sklearn_mtl's) is N(0, 1).
        with mock.patch.object(
            features.SparseFeature.__init__,
            "__defaults__",
            (None, None, None, features.RandomNormal(0, 1)),
        ):
            yield
    else:
        yield


def rechub_gates(net):
    """The gate MLPs of torch-rechub's MMoE, or of every CGC level of its PLE."""
    if hasattr(net, "cgc_layers"):
        return [
            gate
            for level in net.cgc_layers
            for gate in [*level.gates_specific, getattr(level, "gate_shared", None)]
            if gate is not None
        ]
    return list(net.gates)


def run_rechub(model, X, Y, X_test, args):
    import torch
    from torch.utils.data import DataLoader
    from torch_rechub.basic.features import DenseFeature, SparseFeature
    from torch_rechub.models import multi_task
    from torch_rechub.trainers import MTLTrainer
    from torch_rechub.utils.data import PredictDataset, TorchDataset

    epochs = args.epochs_run = RECHUB_EPOCHS.get(args.variant, args.epochs)
    encoder = PeerEncoder(numeric_bins=ESMM_NUMERIC_BINS if model == "ESMM" else None).fit(X)
    inputs = encoder.transform(X)
    y = Y.to_numpy(dtype=np.float32)
    if model == "ESMM":
        # Its ESMM outputs (cvr, ctr, ctcvr) and its trainer skips the loss of the first.
        y = np.column_stack([y[:, 1], y])
    task_types = ["classification"] * y.shape[1]
    mlp = lambda dims: {"dims": list(dims)}  # noqa: E731

    def build():
        with rechub_variant(args.variant):
            feats = [
                (
                    SparseFeature(c, encoder.vocab_sizes[c], embed_dim=EMBEDDING_DIM)
                    if c in encoder.vocab_sizes
                    else DenseFeature(c)
                )
                for c in inputs
            ]
            towers = [mlp(TOWER)] * 2
            if model == "MMoE":
                net = multi_task.MMOE(feats, task_types, NUM_EXPERTS, mlp(EXPERT), towers)
            elif model == "PLE":
                net = multi_task.PLE(
                    feats, task_types, PLE_LEVELS, PLE_SPECIFIC, PLE_SHARED, mlp(EXPERT), towers
                )
            elif model == "SharedBottom":
                net = multi_task.SharedBottom(feats, task_types, mlp(BOTTOM), towers)
            elif model == "ESMM":
                # It concatenates "user" and "item" columns alike; census rows have no such split.
                net = multi_task.ESMM(feats[:-1], feats[-1:], mlp(FUNNEL_TOWER), mlp(FUNNEL_TOWER))
            else:
                # Its towers sit after the attention: the estimator's towers are its bottoms.
                net = multi_task.AITM(feats, 2, mlp(FUNNEL_TOWER), [mlp(())] * 2)
        if args.variant == "no_gate_bn":
            # BatchNorm before a gate's softmax only: its experts and towers keep theirs.
            for gate in rechub_gates(net):
                gate.mlp[1] = torch.nn.Identity()
        trainer = MTLTrainer(
            net,
            task_types,
            optimizer_params={"lr": 1e-3, "weight_decay": 0.0},
            n_epoch=epochs,
            model_path=args.tmp,
        )
        return trainer

    def loader(x, y):
        if not args.fast_batches:
            return DataLoader(TorchDataset(x, y), batch_size=args.batch_size, shuffle=True)
        # The study only needs its accuracy: slicing whole batches skips the per-row collation.
        x, y = {c: torch.from_numpy(v) for c, v in x.items()}, torch.from_numpy(y)
        order = torch.randperm(len(y))
        return [
            ({c: v[index] for c, v in x.items()}, y[index])
            for index in order.split(args.batch_size)
        ]

    torch.manual_seed(args.seed)
    with mock.patch("builtins.print"):
        build().train_one_epoch(loader({c: v[:2048] for c, v in inputs.items()}, y[:2048]))
        reset_peak_resident()
        torch.manual_seed(args.seed)
        trainer = build()
        start = time.perf_counter()
        for _ in range(epochs):
            trainer.train_one_epoch(loader(inputs, y))
        train = time.perf_counter() - start
        start = time.perf_counter()
        test_loader = DataLoader(
            PredictDataset(encoder.transform(X_test)), batch_size=PREDICT_BATCH, shuffle=False
        )
        proba = np.asarray(trainer.predict(trainer.model, test_loader))
    predict = time.perf_counter() - start
    return train, predict, proba[:, 1:] if model == "ESMM" else proba, trainer.model


RUNNERS = {
    "sklearn_mtl": run_sklearn_mtl,
    "hand loop": run_hand_loop,
    "DeepCTR-Torch": run_deepctr,
    "torch-rechub": run_rechub,
}


def worker(args):
    import torch
    from sklearn.metrics import roc_auc_score

    torch.set_num_threads(args.threads)
    X, Y, X_test, Y_test = cached_load(args.model, args)
    resident = resident_mib("VmRSS")
    reset_peak_resident()
    args.epochs_run = args.epochs
    train, predict, proba, module = RUNNERS[args.framework](args.model, X, Y, X_test, args)
    result = {
        "model": args.model,
        "framework": args.framework,
        "variant": args.variant,
        "seed": args.seed,
        "tasks": list(Y.columns),
        "auc": [roc_auc_score(Y_test.iloc[:, t], proba[:, t]) for t in range(Y.shape[1])],
        "epochs": args.epochs_run,
        "train_sps": len(X) * args.epochs_run / train,
        "predict_s": predict,
        "peak_mib": resident_mib("VmHWM") - resident,
        "n_test": len(X_test),
        "n_params": sum(p.numel() for p in module.parameters()),
    }
    print("RESULT " + json.dumps(result), flush=True)


# ----------------------------------------------------------------------------- driver


def spawn(model, framework, args, *, seed=0, variant="default"):
    command = [
        sys.executable,
        __file__,
        "--worker",
        "--model",
        model,
        "--framework",
        framework,
        "--seed",
        str(seed),
        "--variant",
        variant,
        "--epochs",
        str(args.epochs),
        "--batch-size",
        str(args.batch_size),
        "--threads",
        str(args.threads),
        "--data-home",
        args.data_home,
        "--cache",
        args.cache,
    ]
    if args.study or args.auc_seeds or args.at_defaults:
        command.append("--fast-batches")
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if done.returncode or not lines:
        raise RuntimeError(
            f"{framework} {model} ({variant}, seed {seed}) failed:\n{done.stderr[-3000:]}"
        )
    result = json.loads(lines[-1][len("RESULT ") :])
    print(
        f"  {model:<13}{framework:<15}{variant:<12}seed {seed}: "
        f"{result['train_sps']:>9,.0f} samples/s, "
        f"AUC {', '.join(f'{a:.4f}' for a in result['auc'])}",
        flush=True,
    )
    return result


def header(args, title):
    import torch

    import sklearn_mtl

    versions = [f"sklearn_mtl {sklearn_mtl.__version__}", f"torch {torch.__version__}"]
    for name, dist in (("DeepCTR-Torch", "deepctr-torch"), ("torch-rechub", "torch-rechub")):
        try:
            from importlib.metadata import version

            versions.append(f"{name} {version(dist)}")
        except Exception:
            versions.append(f"{name} not installed")
    load = ", ".join(f"{x:.1f}" for x in args.load_at_start)
    return [
        title,
        ", ".join(versions),
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        "load average (1, 5, 15 min) "
        f"at start: {load}; {args.threads} torch threads",
        "full census-income: 199,523 train rows, test = half the UCI test file; "
        f"{args.epochs} epochs, "
        f"batch {args.batch_size}, Adam 1e-3, no weight decay; one fresh process per run",
    ]


#: (framework, variant) of each table's rows, in order
TABLE_ROWS = [
    ("sklearn_mtl", "default"),
    ("sklearn_mtl", "rechub_like"),
    ("hand loop", "default"),
    ("DeepCTR-Torch", "default"),
    ("torch-rechub", "default"),
]
TABLE_LABELS = {("sklearn_mtl", "rechub_like"): "sklearn_mtl+"}
TABLE_NOTES = {
    "sklearn_mtl+": "torch-rechub's choices as options: batch_norm=True (experts, bottoms and "
    "towers; never the gates), gate_bias=True (MMoE, PLE), embedding_init_std=1e-4 (the "
    "default's choice here too)"
}


def row_label(result):
    key = (result["framework"], result["variant"])
    return TABLE_LABELS.get(key, result["framework"])


def format_tables(results, args):
    lines = header(args, "Training and prediction against DeepCTR-Torch and torch-rechub")
    lines += [
        "train samples/s counts training rows x epochs (fit of sklearn_mtl includes validation",
        "and encoding; the others get encoded inputs for free); predict = seconds for the test",
        "DataFrame, encoding included; peak = peak resident MiB above the loaded data;",
        "x ours = sklearn_mtl's samples/s over this row's; params = trainable parameters",
        f"(BatchNorm and bias choices differ); each row is the best of {args.repeats} runs (fastest",
        "training, fastest prediction, lowest peak; a seeded row's runs have equal AUCs).",
        "torch-rechub's ESMM embeds categorical inputs only: its numeric columns are 32 quantile",
        "bins. DeepCTR-Torch's PLE runs with 1 shared expert per level, not 2 (its shared-expert",
        "count is broken).",
    ]
    lines += [f"{label}: sklearn_mtl with {TABLE_NOTES[label]}" for label in TABLE_NOTES]
    for model in MODELS:
        rows = [r for r in results if r["model"] == model]
        if not rows:
            continue
        ours = next(
            r["train_sps"]
            for r in rows
            if (r["framework"], r["variant"]) == ("sklearn_mtl", "default")
        )
        tasks = rows[0]["tasks"]
        lines += ["", f"{model} (test rows {rows[0]['n_test']:,})"]
        lines.append(
            f"  {'framework':<15}"
            + "".join(f"{'AUC ' + t:>20}" for t in tasks)
            + f"{'samples/s':>11}{'x ours':>8}{'predict s':>11}{'peak MiB':>10}{'params':>9}"
        )
        for r in sorted(rows, key=lambda r: TABLE_ROWS.index((r["framework"], r["variant"]))):
            lines.append(
                f"  {row_label(r):<15}"
                + "".join(f"{a:>20.4f}" for a in r["auc"])
                + f"{r['train_sps']:>11,.0f}{ours / r['train_sps']:>8.2f}"
                + f"{r['predict_s']:>11.2f}{r['peak_mib']:>10.0f}"
                + f"{r['n_params']:>9,}"
            )
    lines.append("")
    lines.append(
        "load average (1, 5, 15 min) at end: " + ", ".join(f"{x:.1f}" for x in os.getloadavg())
    )
    return "\n".join(lines)


def plot(results, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    width = 0.8 / len(TABLE_ROWS)
    metrics = [
        ("train_sps", "train samples/s (higher is better)"),
        ("predict_s", "predict s, 49,881 rows (lower is better)"),
        ("auc", "test AUC of the rare task (income / conversion)"),
    ]

    def value(row, key):
        # The rare task tells the frameworks apart: income (first) or conversion (second).
        return row["auc"][1 if row["model"] in FUNNELS else 0] if key == "auc" else row[key]

    for ax, (key, title) in zip(axes, metrics):
        shown = [value(r, key) for r in results]
        floor = max(min(shown) - 0.005, max(shown) - 0.04) if key == "auc" else 0.0
        for f, cell in enumerate(TABLE_ROWS):
            label = TABLE_LABELS.get(cell, cell[0])
            for m, model in enumerate(MODELS):
                row = next(
                    (
                        r
                        for r in results
                        if r["model"] == model and (r["framework"], r["variant"]) == cell
                    ),
                    None,
                )
                if row is None:
                    continue
                x = m + (f - (len(TABLE_ROWS) - 1) / 2) * width
                ax.bar(x, value(row, key) - floor, width, bottom=floor, color=f"C{f}", label=label)
                label = None
                if value(row, key) < floor:
                    ax.annotate(
                        f"{value(row, key):.3f}",
                        (x, floor),
                        fontsize=7,
                        rotation=90,
                        va="bottom",
                        ha="center",
                    )
        ax.set_xticks(range(len(MODELS)), MODELS)
        ax.set_title(title, fontsize=10)
        if key == "auc":
            ax.set_ylim(floor, max(shown) + 0.002)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def best_of(runs):
    """One cell's repeats as one row: its fastest training and prediction (the
    seeded runs agree on everything else but the timings and memory)."""
    best = dict(max(runs, key=lambda r: r["train_sps"]))
    best["predict_s"] = min(r["predict_s"] for r in runs)
    best["peak_mib"] = min(r["peak_mib"] for r in runs)
    best["repeats"] = len(runs)
    return best


def benchmark(args):
    results = []
    for m, model in enumerate(MODELS):
        if model not in args.models:
            continue
        cells = [(f, v) for f, v in TABLE_ROWS if model in PEER_MODELS.get(f, MODELS)]
        runs = {cell: [] for cell in cells}
        for repeat in range(args.repeats):
            # Alternating the order keeps any drift of a busy machine out of the ratios.
            for cell in cells if (m + repeat) % 2 == 0 else cells[::-1]:
                runs[cell].append(spawn(model, cell[0], args, variant=cell[1]))
        results += [best_of(cell_runs) for cell_runs in runs.values()]
    table = format_tables(results, args)
    print(table)
    if args.output:
        Path(args.output).write_text(table + "\n")
        Path(args.output).with_suffix(".json").write_text(json.dumps(results, indent=1) + "\n")
    if args.plot:
        plot(results, args.plot)


def finish_seed_table(lines, results, args, run_label):
    """Every run's AUCs under the table, the load at the end; print and write it."""
    lines += ["", "per seed:"]
    lines += [
        f"  {run_label(r)}seed {r['seed']}  " + "  ".join(f"{a:.4f}" for a in r["auc"])
        for r in results
    ]
    lines.append(
        "load average (1, 5, 15 min) at end: " + ", ".join(f"{x:.1f}" for x in os.getloadavg())
    )
    table = "\n".join(lines)
    print(table)
    if args.output:
        Path(args.output).write_text(table + "\n")


#: (framework, variant) of the MMoE study: run-to-run noise and torch-rechub's choices one at a time
STUDY = [
    ("sklearn_mtl", "default"),
    ("sklearn_mtl", "holdout"),
    ("hand loop", "torch_init"),
    ("hand loop", "small_init"),
    ("torch-rechub", "default"),
    ("torch-rechub", "no_bn"),
    ("torch-rechub", "no_gate_bn"),
    ("torch-rechub", "torch_init"),
]
STUDY_BATCHES_NOTE = (
    "torch-rechub gets whole-tensor batches here, not its per-row DataLoader: "
    "samples/s are not the tables'"
)
STUDY_NOTES = {
    ("sklearn_mtl", "default"): "as in the tables",
    ("sklearn_mtl", "holdout"): "early_stopping=True: 10% held out",
    ("hand loop", "torch_init"): "sklearn_mtl's module, embeddings at N(0, 1) (torch's default)",
    ("hand loop", "small_init"): "sklearn_mtl's module, embeddings at N(0, 1e-4) as torch-rechub's",
    (
        "torch-rechub",
        "default",
    ): "as shipped: BatchNorm in every MLP layer, embeddings at N(0, 1e-4)",
    ("torch-rechub", "no_bn"): "every BatchNorm1d replaced by identity",
    (
        "torch-rechub",
        "no_gate_bn",
    ): "no BatchNorm before the gates' softmax; experts and towers keep it",
    ("torch-rechub", "torch_init"): "embeddings at N(0, 1), not N(0, 1e-4)",
}


def study(args):
    results = []
    study_cells = [c for c in STUDY if c[0] in args.study_frameworks]
    for seed in range(args.seeds):
        cells = study_cells if seed % 2 == 0 else study_cells[::-1]
        results += [
            spawn(args.study_model, framework, args, seed=seed, variant=variant)
            for framework, variant in cells
        ]
    lines = header(
        args,
        f"{args.study_model} study: test AUC over seeds 0..{args.seeds - 1}, mean +- std (ddof=1)",
    )
    lines.append(STUDY_BATCHES_NOTE)
    lines += [
        "",
        f"  {'framework':<14}{'variant':<12}{'AUC income':>18}{'AUC never_married':>22}"
        f"{'samples/s':>11}   note",
    ]
    for framework, variant in study_cells:
        rows = [r for r in results if r["framework"] == framework and r["variant"] == variant]
        auc = np.array([r["auc"] for r in rows])
        sps = np.mean([r["train_sps"] for r in rows])
        cells = "".join(
            f"{m:>{w - 8}.4f} +- {s:.4f}"
            for m, s, w in zip(auc.mean(0), auc.std(0, ddof=1), (18, 22))
        )
        lines.append(
            f"  {framework:<14}{variant:<12}{cells}{sps:>11,.0f}   "
            + STUDY_NOTES[framework, variant]
        )
    finish_seed_table(lines, results, args, lambda r: f"{r['framework']:<14}{r['variant']:<12}")


#: (framework, variant) of the AUC-over-seeds tables: the estimator against the most
#: accurate peer of the single-run tables
AUC_SEEDS_CELLS = [
    ("sklearn_mtl", "default"),
    ("sklearn_mtl", "rechub_like"),
    ("torch-rechub", "default"),
]


def runs_over_seeds(cells, args):
    """Every (framework, variant) of ``cells`` for every model and seed, in an order that
    alternates from one model and seed to the next."""
    results = []
    for seed in range(args.seeds):
        for m, model in enumerate(args.models):
            ordered = cells if (seed + m) % 2 == 0 else cells[::-1]
            results += [spawn(model, f, args, seed=seed, variant=v) for f, v in ordered]
    return results


def auc_over_seeds(args):
    results = runs_over_seeds(AUC_SEEDS_CELLS, args)
    lines = header(
        args, f"Test AUC over seeds 0..{args.seeds - 1}, mean +- std (ddof=1), every model"
    )
    lines.append(STUDY_BATCHES_NOTE)
    lines += [f"{label}: sklearn_mtl with {TABLE_NOTES[label]}" for label in TABLE_NOTES]
    for model in args.models:
        rows = [r for r in results if r["model"] == model]
        tasks = rows[0]["tasks"]
        lines += ["", model]
        lines.append(f"  {'framework':<15}" + "".join(f"{'AUC ' + t:>22}" for t in tasks))
        for cell in AUC_SEEDS_CELLS:
            auc = np.array([r["auc"] for r in rows if (r["framework"], r["variant"]) == cell])
            lines.append(
                f"  {TABLE_LABELS.get(cell, cell[0]):<15}"
                + "".join(f"{m:>13.4f} +- {sd:.4f}" for m, sd in zip(auc.mean(0), auc.std(0, ddof=1)))
            )
    finish_seed_table(lines, results, args, lambda r: f"{r['model']:<13}{row_label(r):<15}")


#: (framework, variant) of the at-defaults table: the estimator as shipped against torch-rechub
#: as measured in the AUC-over-seeds table
AT_DEFAULTS_CELLS = [
    ("sklearn_mtl", AT_DEFAULTS),
    ("torch-rechub", "default"),
    ("torch-rechub", "n_epoch=10"),
]


def at_defaults(args):
    """Test AUC of the estimator at its own defaults against torch-rechub, paired by seed."""
    results = runs_over_seeds(AT_DEFAULTS_CELLS, args)
    lines = header(
        args, f"Test AUC over seeds 0..{args.seeds - 1}: the estimator at its defaults"
    )
    lines[-1] = (
        "full census-income: 199,523 train rows, test = half the UCI test file; "
        f"torch-rechub: {args.epochs} epochs (and its trainer's default n_epoch=10), batch "
        f"{args.batch_size}, Adam 1e-3; sklearn_mtl at "
        "its defaults (only the architecture set): lr 1e-3, batch 512, early stopping on 10% "
        "held out (patience 5, mean validation AUC), max_epochs 'auto' (at most 100 with "
        "early stopping)"
    )
    lines.append(STUDY_BATCHES_NOTE)
    for model in args.models:
        rows = [r for r in results if r["model"] == model]
        tasks = rows[0]["tasks"]
        auc = {
            cell: {r["seed"]: r["auc"] for r in rows if (r["framework"], r["variant"]) == cell}
            for cell in AT_DEFAULTS_CELLS
        }
        epochs = [r["epochs"] for r in rows if r["framework"] == "sklearn_mtl"]
        lines += ["", f"{model} (sklearn_mtl stopped after {epochs} epochs)"]
        lines.append(f"  {'':<34}" + "".join(f"{'AUC ' + t:>22}" for t in tasks))
        for cell in AT_DEFAULTS_CELLS:
            a = np.array(list(auc[cell].values()))
            lines.append(
                f"  {cell[0] + ' ' + cell[1]:<34}"
                + "".join(f"{m:>13.4f} +- {sd:.4f}" for m, sd in zip(a.mean(0), a.std(0, ddof=1)))
            )
        ours = auc[AT_DEFAULTS_CELLS[0]]
        for cell in AT_DEFAULTS_CELLS[1:]:
            gap = np.array([np.subtract(ours[s], auc[cell][s]) for s in sorted(ours)])
            se = gap.std(0, ddof=1) / np.sqrt(len(gap))
            lines.append(
                f"  {'- ' + cell[1] + ' (paired) +- SE':<34}"
                + "".join(f"{m:>+13.4f} +- {e:.4f}" for m, e in zip(gap.mean(0), se))
            )
    finish_seed_table(
        lines, results, args, lambda r: f"{r['model']:<6}{r['framework'] + ' ' + r['variant']:<27}"
    )


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--data-home", default=str(DEFAULT_DATA), help="folder with the full UCI census files"
    )
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=1024)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--models", nargs="*", default=MODELS, choices=MODELS)
    parser.add_argument(
        "--repeats", type=int, default=2, help="runs of each cell of the tables; the best counts"
    )
    parser.add_argument(
        "--output", help="also write the tables to this file (and the raw results next to it)"
    )
    parser.add_argument("--plot", help="write a PNG plot of the tables to this file")
    parser.add_argument(
        "--study", action="store_true", help="the MMoE noise and torch-rechub study instead"
    )
    parser.add_argument("--study-model", default="MMoE", choices=["MMoE", "PLE"])
    parser.add_argument(
        "--study-frameworks",
        nargs="*",
        default=[f for f, _ in STUDY],
        choices=sorted({f for f, _ in STUDY}),
        help="the study's frameworks (all by default)",
    )
    parser.add_argument(
        "--auc-seeds",
        action="store_true",
        help="test AUC over seeds: the estimator (default and with batch_norm) against torch-rechub",
    )
    parser.add_argument(
        "--at-defaults",
        action="store_true",
        help="test AUC over seeds: the estimator at its own defaults against torch-rechub",
    )
    parser.add_argument("--seeds", type=int, default=3, help="seeds of the study and --auc-seeds")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--model", choices=MODELS, help=argparse.SUPPRESS)
    parser.add_argument("--framework", choices=FRAMEWORKS, help=argparse.SUPPRESS)
    parser.add_argument("--variant", default="default", help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--cache", help=argparse.SUPPRESS)
    parser.add_argument("--fast-batches", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        if args.worker:
            args.tmp = tmp
            worker(args)
            return
        args.cache = tmp
        args.load_at_start = os.getloadavg()
        if args.study:
            study(args)
        elif args.auc_seeds:
            auc_over_seeds(args)
        elif args.at_defaults:
            at_defaults(args)
        else:
            benchmark(args)


if __name__ == "__main__":
    main()
