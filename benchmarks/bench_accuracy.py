"""Held-out accuracy of every estimator on every kind of data, and which defaults win.

Data sets (a fixed train / test split each; scores on the test rows only):

- ``census_A`` / ``census_B``: the MMoE paper's census-income groups (income and
  never married; college-or-above and never married), 40,000 training rows
  drawn at random (seed 0) from the UCI training file, the whole UCI test
  file as the test set; skipped when the full files are absent.
- ``funnel_weak``, ``funnel_strong``, ``funnel_low``, ``funnel_high``,
  ``funnel_mnar``: ``make_funnel`` worlds (selection bias 0.2 and 0.9,
  conversion base rates 0.02 and 0.5, a hidden confounder of weight 1.5),
  40,000 training and 20,000 test rows, with the true pCVR of every row;
  ``funnel_sparse``: strong selection with clicks sparse for the features
  (click rate 0.03, 500 categories per column: about 1,200 clicked rows for
  2,000 category effects, ESMM's data-sparsity case);
  ``funnel_strong_200k``: the strong world with 200,000 training rows (not in
  the default run: ``--datasets funnel_strong_200k``).
- ``click_log``: ``make_click_log`` (Zipf user and item IDs hashed into
  50,000 buckets each, tag lists), 40,000 / 20,000 rows, true pCTR and pCVR;
  ``click_log_5k``: the same log with the IDs hashed into 5,000 buckets each
  (every table row looked up about 20 times an epoch instead of 2).
- ``ali_ccp`` / ``aliexpress``: the real samples under ``--data`` (a
  smoke test of those code paths: a few dozen rows, one seed).

Models: the estimators of ``sklearn_mtl.__all__`` that fit the data (the
funnel models on funnels only, every multi-task model as a two-task model
everywhere), a few variants (MMoE and PLE with ``gate_dropout=0.1`` and with
``interaction="dcn_v2"``, AITM without its calibrator) and, on funnels, the
clicked-only CVR baseline (``SingleTaskClassifier`` fitted on the clicked
rows with the conversion label; ``clicked-only ES`` the same with
``early_stopping=True``: its few thousand rows are below the ``"auto"``
threshold, so at its defaults it trains without early stopping, 20 epochs).
Every fit is the estimator at its defaults (early stopping as the defaults
give, ``n_threads=1``), seeded by the model seed; the data are fixed per data
set.

Metrics on the test rows, per task (click and conversion are the end-to-end
events): ROC AUC, log-loss and ECE. On funnels also the CVR AUC on the
clicked test rows, the entire-space CVR AUC against the truth (the expected
AUC of pCVR against conversions drawn from the true pCVR on every test
impression, computed exactly: ``cvr_truth``; against the pCVR given the
features alone, ``cvr_truth_x``, which differs on ``funnel_mnar`` only) and
the pCVR's calibration over every impression (``cvr_logloss_truth``, the
expected log-loss against conversions drawn from the true pCVR;
``cvr_abs_bias``, the distance of the mean pCVR from the true mean) and
the share of rows whose predicted conversion exceeds the predicted click
(``violations``). Gated models also report the experts' health of their last
epoch from ``history_`` (mean gate entropy, largest expert share, dead-unit
share).

Blocks (``--part``): ``defaults`` (every model at its defaults), ``init``
(``embedding_init_std`` in 1e-4, 1e-2, 0.03, 0.05, 0.1 and None, one at a time
from the defaults), ``lr`` (3e-3), ``batch`` (2048), ``epochs``
(``max_epochs=100``: early stopping, not the cap of 20, ends the fit) and
``stopping`` (early stopping on the validation loss instead of the mean
validation AUC). Every fit's scores go to a
JSON-lines cache keyed by (revision, data set, model, config, seed), so an
interrupted run resumes and ``--table`` prints the tables from the cache
without fitting; ``--revision`` labels runs of different code (the
before / after table of a change of default compares two revisions,
``--before``; ``--grid`` adds the tables of alternatives of the revision a
change was chosen on). ``--carry`` takes, from an older revision, the default
fits that the current code reproduces step for step instead of fitting them
again (for ``max_epochs="auto"``: see :func:`carried`)::

    python benchmarks/bench_accuracy.py --quick            # a 2-minute smoke
    python benchmarks/bench_accuracy.py --part init --jobs 2
    python benchmarks/bench_accuracy.py --table --before "cap of 20 epochs" \
        --grid "cap of 20 epochs" --output benchmarks/results_accuracy.txt
"""

import argparse
import json
import os
import platform
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from functools import lru_cache, partial
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from sklearn.metrics import roc_auc_score  # noqa: E402
from sklearn.utils import Bunch  # noqa: E402

import sklearn_mtl  # noqa: E402
from sklearn_mtl import (  # noqa: E402
    AdaTTClassifier,
    AITMClassifier,
    ESCM2Classifier,
    ESMMClassifier,
    MMoEClassifier,
    PLEClassifier,
    SharedBottomClassifier,
    SingleTaskClassifier,
    STEMClassifier,
)
from sklearn_mtl.datasets import (  # noqa: E402
    load_ali_ccp,
    load_aliexpress,
    load_census_income,
    make_click_log,
    make_funnel,
)
from sklearn_mtl.metrics import conditional_proba, expected_calibration_error, score_task  # noqa: E402

DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
CACHE = Path(__file__).resolve().parent / "results_accuracy.jsonl"
N_TRAIN, N_TEST = 40_000, 20_000


# --- data sets: name -> loader(data, quick) returning a Bunch or None ----------------------


def census(tasks):
    def load(data, quick):
        home = Path(data) / "census_income_kdd"
        if (
            not (home / "census-income.data.gz").is_file()
            and not (home / "census-income.data").is_file()
        ):
            return None
        train = load_census_income(subset="train", tasks=tasks, data_home=home)
        test = load_census_income(subset="test", tasks=tasks, data_home=home)
        rows = np.sort(
            np.random.default_rng(0).choice(len(train.data), _n(N_TRAIN, quick), replace=False)
        )
        n_test = _n(len(test.data), quick)
        return Bunch(
            X=train.data.iloc[rows],
            Y=train.target.iloc[rows],
            X_test=test.data[:n_test],
            Y_test=test.target[:n_test],
            funnel=False,
            params={},
        )

    return load


def funnel(n_train=N_TRAIN, **world):
    def load(data, quick):
        n_train_, n_test = _n(n_train, quick), _n(N_TEST, quick)
        f = make_funnel(n_train_ + n_test, random_state=0, **world)
        test = slice(n_train_, None)
        return Bunch(
            X=f.data[:n_train_],
            Y=f.target[:n_train_],
            X_test=f.data[test],
            Y_test=f.target[test],
            truth=f.true_proba["conversion"].to_numpy()[test],
            truth_x=f.true_proba_given_x["conversion"].to_numpy()[test],
            funnel=True,
            params={},
        )

    return load


def click_log(data, quick, buckets=50_000):
    n_train, n_test = _n(N_TRAIN, quick), _n(N_TEST, quick)
    log = make_click_log(n_train + n_test, random_state=0)
    truth = log.true_proba["conversion"].to_numpy()[n_train:]
    return Bunch(
        X=log.data[:n_train],
        Y=log.target[:n_train],
        X_test=log.data[n_train:],
        Y_test=log.target[n_train:],
        truth=truth,
        truth_x=truth,
        funnel=True,
        params={
            "categorical_features": log.categorical_features,
            "hash_buckets": {"user_id": buckets, "item_id": buckets},
        },
    )


def real_sample(loader, folder):
    def load(data, quick):
        home = Path(data) / folder
        if not home.is_dir():
            return None
        train, test = loader(home, subset="train"), loader(home, subset="test")
        return Bunch(
            X=train.data,
            Y=train.target,
            X_test=test.data,
            Y_test=test.target,
            funnel=True,
            params={"categorical_features": train.categorical_features},
            seeds=1,
        )

    return load


def _n(n, quick):
    return min(n, 2_000) if quick else n


DATASETS = {
    "census_A": census("income_marital"),
    "census_B": census("education_marital"),
    "funnel_weak": funnel(selection_bias=0.2),
    "funnel_strong": funnel(selection_bias=0.9),
    "funnel_low": funnel(base_rates=(0.1, 0.02)),
    "funnel_high": funnel(base_rates=(0.1, 0.5)),
    "funnel_mnar": funnel(hidden_confounding=1.5),
    "funnel_sparse": funnel(base_rates=(0.03, 0.1), selection_bias=0.9, n_categories=500),
    "funnel_strong_200k": funnel(200_000, selection_bias=0.9),
    "click_log": click_log,
    "click_log_5k": partial(click_log, buckets=5_000),
    "ali_ccp": real_sample(load_ali_ccp, "ali_ccp_tiny_sample/torch_rechub"),
    "aliexpress": real_sample(load_aliexpress, "aliexpress_tiny_sample"),
}


# --- models: name -> (estimator class, its parameters, where it fits) ----------------------
# ``funnel`` models need click -> conversion labels; ``clicked`` is the clicked-only baseline.

MODELS = {
    "ESMM": (ESMMClassifier, {}, "funnel"),
    "ESCM2": (ESCM2Classifier, {}, "funnel"),
    "AITM": (AITMClassifier, {}, "funnel"),
    "AITM cal=0": (AITMClassifier, {"calibration_weight": 0.0}, "funnel"),
    # Early stopping on the pCVR's AUC over the clicked validation rows, not the mean of the
    # click and end-to-end AUCs.
    "ESMM stop=cvr": (ESMMClassifier, {"early_stopping_monitor": "valid_roc_auc_cvr"}, "funnel"),
    "clicked-only": (SingleTaskClassifier, {}, "clicked"),
    # A few thousand clicked rows are below early stopping's "auto" threshold (10,000 rows):
    # the baseline trained to early stopping, as the funnel models are.
    "clicked-only ES": (SingleTaskClassifier, {"early_stopping": True}, "clicked"),
    "SharedBottom": (SharedBottomClassifier, {}, "any"),
    "MMoE": (MMoEClassifier, {}, "any"),
    "PLE": (PLEClassifier, {}, "any"),
    "STEM": (STEMClassifier, {}, "any"),
    "AdaTT": (AdaTTClassifier, {}, "any"),
    "SingleTask": (SingleTaskClassifier, {}, "any"),
    "MMoE gd=0.1": (MMoEClassifier, {"gate_dropout": 0.1}, "any"),
    "PLE gd=0.1": (PLEClassifier, {"gate_dropout": 0.1}, "any"),
    "MMoE dcn_v2": (MMoEClassifier, {"interaction": "dcn_v2"}, "any"),
    "PLE dcn_v2": (PLEClassifier, {"interaction": "dcn_v2"}, "any"),
}

# One parameter at a time away from the defaults; "default" is always run.
PARTS = {
    "defaults": {"default": {}},
    "init": {
        "default": {},
        **{f"init={std}": {"embedding_init_std": std} for std in (1e-4, 1e-2, 0.03, 0.05, 0.1, None)},
    },
    "lr": {"default": {}, "lr=0.003": {"lr": 3e-3}},
    "batch": {"default": {}, "batch=2048": {"batch_size": 2048}},
    # Does the epoch cap, rather than early stopping, end the default fits?
    "epochs": {"default": {}, "max_epochs=100": {"max_epochs": 100}},
    "stopping": {"default": {}, "monitor=loss": {"early_stopping_monitor": "valid_loss"}},
}


def fits(model, data):
    where = MODELS[model][2]
    return where == "any" or data.funnel


@lru_cache(maxsize=2)
def load_dataset(name, data, quick):
    return DATASETS[name](data, quick)


# --- one fit -------------------------------------------------------------------------------


def entire_space_auc(p, truth):
    """Expected AUC of ``p`` against labels drawn from ``truth`` row by row, exactly."""
    n = len(p)
    return roc_auc_score(
        np.r_[np.ones(n), np.zeros(n)], np.r_[p, p], sample_weight=np.r_[truth, 1 - truth]
    )


def entire_space_calibration(p, truth):
    """How far pCVR is from the true pCVR over every impression, not only the clicked ones:
    the expected log-loss against conversions drawn from ``truth`` (a proper score, least at
    ``p == truth``) and the mean bias."""
    p = np.clip(p, 1e-7, 1 - 1e-7)
    return {
        "cvr_logloss_truth": float(-np.mean(truth * np.log(p) + (1 - truth) * np.log(1 - p))),
        "cvr_abs_bias": float(abs(np.mean(p) - np.mean(truth))),
    }


def gate_health(model):
    last = model.history_[-1]
    names = [f"gate_entropy_{t}" for t in model.task_names_]
    if names[0] not in last:
        return {}
    return {
        "gate_entropy": float(np.mean([last[n] for n in names])),
        "top_expert_share": float(np.max([last[f"gate_top_share_{t}"] for t in model.task_names_])),
        # Only MMoE records its experts' dead units.
        "dead_share": float(np.mean(last.get("expert_dead_share_experts", np.nan))),
    }


def task_scores(name, y, p):
    return {
        f"auc_{name}": score_task("roc_auc", y, p),
        f"logloss_{name}": score_task("log_loss", y, p),
        f"ece_{name}": expected_calibration_error(y, p),
    }


def run_fit(dataset, data_dir, quick, model_name, config, params, seed):
    torch.set_num_threads(1)
    d = load_dataset(dataset, data_dir, quick)
    cls, own, where = MODELS[model_name]
    kwargs = {**d.params, **own, **params, "random_state": seed, "n_threads": 1}
    if quick:
        kwargs["max_epochs"] = 2
    X, Y = d.X, d.Y
    if where == "clicked":
        clicked = Y.iloc[:, 0].to_numpy() == 1
        X, Y = X[clicked], Y.iloc[clicked, 1:]
    start = time.perf_counter()
    model = cls(**kwargs).fit(X, Y)
    seconds = time.perf_counter() - start
    proba = model.predict_proba_frame(d.X_test).to_numpy()
    Y_test = d.Y_test.to_numpy(dtype=float)
    scores = {"fit_s": seconds, "epochs": len(model.history_)}
    scores["embedding_init_std_"] = model.embedding_init_std_
    if where == "clicked":
        p_cvr = proba[:, 0]
    else:
        for t, task in enumerate(d.Y.columns):
            scores.update(task_scores(task, Y_test[:, t], proba[:, t]))
        p_cvr = (
            model.predict_cvr(d.X_test)
            if where == "funnel"
            else conditional_proba(proba[:, 1], proba[:, 0])
        )
        if d.funnel:
            scores["violations"] = float(np.mean(proba[:, 1] > proba[:, 0] + 1e-7))
        scores.update(gate_health(model))
    if d.funnel:
        clicked = Y_test[:, 0] == 1
        scores["auc_cvr_clicked"] = score_task("roc_auc", Y_test[clicked, 1], p_cvr[clicked])
        if "truth" in d:
            scores["cvr_truth"] = entire_space_auc(p_cvr, d.truth)
            scores["cvr_truth_x"] = entire_space_auc(p_cvr, d.truth_x)
            scores.update(entire_space_calibration(p_cvr, d.truth))
    scores = {
        k: (None if isinstance(v, float) and not np.isfinite(v) else v) for k, v in scores.items()
    }
    return {"dataset": dataset, "model": model_name, "config": config, "seed": seed, **scores}


# --- cache and tables ----------------------------------------------------------------------


def key(record):
    return (
        record["revision"],
        record["dataset"],
        record["model"],
        record["config"],
        record["seed"],
    )


def read_cache(path):
    if not path.is_file():
        return {}
    records = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return {key(r): r for r in records}


def decision_metrics(dataset):
    """The metrics on which a default must not lose."""
    if dataset.startswith("census"):
        return ["auc_" + t for t in ("income", "college", "never_married")]
    return ["auc_click", "auc_conversion", "cvr_truth", "cvr_truth_x", "auc_cvr_clicked"]


TABLE_METRICS = [
    "auc_income",
    "auc_college",
    "auc_never_married",
    "auc_click",
    "auc_conversion",
    "auc_cvr_clicked",
    "cvr_truth",
    "cvr_truth_x",
    "cvr_logloss_truth",
    "cvr_abs_bias",
    "logloss_click",
    "logloss_conversion",
    "logloss_income",
    "logloss_college",
    "ece_click",
    "ece_conversion",
    "ece_income",
    "ece_college",
    "violations",
    "gate_entropy",
    "top_expert_share",
    "dead_share",
    "epochs",
    "fit_s",
]


def values(records, metric):
    return np.array([r[metric] for r in records if r.get(metric) is not None], dtype=float)


def mean_std(v, digits=4):
    if not len(v):
        return ""
    if len(v) == 1:
        return f"{v[0]:.{digits}f}"
    return f"{v.mean():.{digits}f}+-{v.std(ddof=1):.{digits}f}"


def group(cache, revision):
    groups = {}
    for r in cache.values():
        if r["revision"] == revision:
            groups.setdefault((r["dataset"], r["model"], r["config"]), []).append(r)
    return groups


def scores_table(groups):
    lines = ["mean+-std over seeds (n = seeds); test rows only", ""]
    for dataset in DATASETS:
        rows = sorted(
            (k for k in groups if k[0] == dataset),
            key=lambda k: (list(MODELS).index(k[1]), k[2] != "default", k[2]),
        )
        if not rows:
            continue
        metrics = [m for m in TABLE_METRICS if any(len(values(groups[k], m)) for k in rows)]
        lines.append(f"== {dataset}")
        lines.append(
            f"{'model':<14}{'config':<14}{'n':>2} " + " ".join(f"{m:>17}" for m in metrics)
        )
        for k in rows:
            cells = [
                mean_std(values(groups[k], m), 1 if m in ("epochs", "fit_s") else 4)
                for m in metrics
            ]
            lines.append(
                f"{k[1]:<14}{k[2]:<14}{len(groups[k]):>2} " + " ".join(f"{c:>17}" for c in cells)
            )
        lines.append("")
    return lines


def paired_gap(a, b, metric):
    """Mean and standard error of ``b - a`` over the seeds both have."""
    a = {r["seed"]: r[metric] for r in a if r.get(metric) is not None}
    b = {r["seed"]: r[metric] for r in b if r.get(metric) is not None}
    seeds = sorted(set(a) & set(b))
    if not seeds:
        return None
    diff = np.array([b[s] - a[s] for s in seeds])
    se = diff.std(ddof=1) / np.sqrt(len(diff)) if len(diff) > 1 else np.nan
    return diff.mean(), se, len(diff)


def same_fits(a, b):
    """Whether ``b`` holds ``a``'s fits under another name (an alternative "auto" resolved to)."""
    return {r["seed"]: r["fit_s"] for r in a} == {r["seed"]: r["fit_s"] for r in b}


def defaults_table(groups):
    """Per data set x model x decision metric: the default against its best alternative."""
    lines = [
        "defaults vs best alternative: gap = best alternative - default (paired by seed) +- its "
        "standard error; flag '>noise' where gap > 2 SE (and >= 0.0005), '>0.005' where gap > 0.005; "
        "alternatives that auto resolved to (the same fits) left out",
        "",
        f"{'dataset':<20}{'model':<14}{'metric':<17}{'default':>16}  {'best alternative':<16}"
        f"{'mean':>8}  {'gap +- SE':>17}  flag",
    ]
    for (dataset, model, config), base in sorted(
        groups.items(),
        key=lambda kv: (list(DATASETS).index(kv[0][0]), list(MODELS).index(kv[0][1])),
    ):
        if config != "default":
            continue
        alternatives = {
            c: g
            for (d, m, c), g in groups.items()
            if (d, m) == (dataset, model) and c != "default" and not same_fits(base, g)
        }
        for metric in decision_metrics(dataset):
            v = values(base, metric)
            if not len(v) or not alternatives:
                continue
            gaps = {c: paired_gap(base, g, metric) for c, g in alternatives.items()}
            gaps = {c: g for c, g in gaps.items() if g is not None}
            if not gaps:
                continue
            best = max(gaps, key=lambda c: gaps[c][0])
            gap, se, _ = gaps[best]
            flag = " ".join(
                f
                for f, bad in ((">noise", gap > max(2 * se, NEGLIGIBLE)), (">0.005", gap > 0.005))
                if bad
            )
            lines.append(
                f"{dataset:<20}{model:<14}{metric:<17}{mean_std(v):>16}  {best:<16}"
                f"{values(alternatives[best], metric).mean():>8.4f}  {gap:>+8.4f} +- {se:.4f}  {flag}"
            )
    return lines


# A difference of AUC (or of a share of rows) below this is no difference, whatever its noise.
NEGLIGIBLE = 5e-4

#: The decision metrics that are a task's own AUC; the others rank a pCVR.
TASK_AUCS = {"auc_income", "auc_college", "auc_never_married", "auc_click", "auc_conversion"}


def alternatives_table(groups):
    """Per alternative: over every (data set, model, decision metric), how often it beat the
    default beyond seed noise, how often it lost, and its largest gain and loss."""
    cells = {}
    for (dataset, model, config), alternative in groups.items():
        base = groups.get((dataset, model, "default"))
        if config == "default" or base is None or same_fits(base, alternative):
            continue
        for metric in decision_metrics(dataset):
            gap = paired_gap(base, alternative, metric)
            if gap is None or gap[2] < 2:
                continue
            kind = "task AUC" if metric in TASK_AUCS else "pCVR"
            cells.setdefault((config, kind), []).append((gap[0], gap[1], dataset, model))
    lines = [
        "each alternative against the defaults over every data set x model x decision metric "
        "(task AUC: click, conversion, census tasks; pCVR: CVR AUC on clicked rows and against "
        "the truth); ahead / behind beyond two standard errors (and 0.0005)",
        "",
        f"{'alternative':<16}{'metrics':<10}{'cells':>6}{'ahead':>7}{'behind':>7}{'mean gap':>10}"
        f"  {'largest gain':<44}largest loss",
    ]
    for (config, kind), gaps in sorted(cells.items()):
        mean = np.array([g[0] for g in gaps])
        margin = np.maximum(2 * np.array([g[1] for g in gaps]), NEGLIGIBLE)
        best, worst = max(gaps), min(gaps)
        lines.append(
            f"{config:<16}{kind:<10}{len(gaps):>6}{(mean > margin).sum():>7}"
            f"{(mean < -margin).sum():>7}{mean.mean():>+10.4f}  "
            f"{f'{best[0]:+.4f} ({best[2]}, {best[3]})':<44}"
            f"{worst[0]:+.4f} ({worst[2]}, {worst[3]})"
        )
    return lines


def above(threshold):
    """Verdict on ``difference > threshold``, beyond two standard errors of seed noise."""

    def verdict(mean, se):
        margin = max(2 * se, NEGLIGIBLE)
        if mean - margin > threshold:
            return "holds"
        return "refuted" if mean + margin < threshold else "within noise"

    return verdict


def below(threshold):
    """Verdict on ``difference < threshold``, beyond two standard errors of seed noise."""
    above_verdict = above(-threshold)
    return lambda mean, se: above_verdict(-mean, se)


def no_loss(mean, se):
    """Verdict on "costs nothing": not lower beyond two standard errors of seed noise."""
    return "refuted" if mean < -max(2 * se, NEGLIGIBLE) else "holds"


def claims_table(groups, config="default"):
    """The issue's claims, each a paired difference over seeds, both models at ``config``."""
    at = "the defaults" if config == "default" else f"the defaults but {config}"
    lines = [
        f"claims at {at}: difference paired by seed +- standard error; 'holds' beyond two "
        "standard errors (and 0.0005), 'refuted' beyond them the other way",
        "",
    ]

    def add(claim, dataset, a, b, metric, verdict):
        a, b = groups.get((dataset, a, config)), groups.get((dataset, b, config))
        gap = None if a is None or b is None else paired_gap(a, b, metric)
        if gap is None:
            return
        mean, se, n = gap
        verdict = verdict(mean, se) if n > 1 else "one seed"
        lines.append(
            f"{claim:<40}{dataset:<20}{metric:<18}{mean:>+8.4f} +- {se:.4f} (n={n})  {verdict}"
        )

    funnels = [d for d in DATASETS if d.startswith(("funnel", "click_log"))]
    for d in funnels:
        add("ESMM - clicked-only > 0.01", d, "clicked-only", "ESMM", "cvr_truth", above(0.01))
    for d in funnels:
        add("ESMM - clicked-only ES > 0.01", d, "clicked-only ES", "ESMM", "cvr_truth", above(0.01))
    # Selection bias shows as much in calibration over the entire space as in ranking.
    for metric in ("cvr_logloss_truth", "cvr_abs_bias"):
        for d in funnels:
            add("ESMM - clicked-only ES < 0", d, "clicked-only ES", "ESMM", metric, below(0))
    for d in funnels:
        add("AITM: cal=0 - default > 0", d, "AITM", "AITM cal=0", "violations", above(0))
        for metric in ("auc_click", "auc_conversion", "cvr_truth"):
            add("AITM: default - cal=0, no loss", d, "AITM cal=0", "AITM", metric, no_loss)
    add("ESCM2 - ESMM > 0", "funnel_mnar", "ESMM", "ESCM2", "cvr_truth_x", above(0))
    for d in ("census_A", "census_B"):
        for other in ("SharedBottom", "MMoE"):
            for metric in decision_metrics(d):
                add(f"PLE - {other} > 0", d, other, "PLE", metric, above(0))
    return lines


def header(revision):
    return [
        f"sklearn_mtl {sklearn_mtl.__version__}, torch {torch.__version__}, "
        f"{platform.processor() or platform.machine()}, 1 torch thread per fit; revision {revision!r}",
        f"training rows: {N_TRAIN:,} (census: drawn at random from the UCI training file; "
        f"funnels and click log: generated, seed 0), test rows: the UCI test file / {N_TEST:,}; "
        "funnel_strong_200k: 200,000 training rows; ali_ccp, aliexpress: the real samples "
        "(a few dozen rows, one seed: a smoke test of those code paths, not a measure)",
        "each config changes one parameter from the defaults (init = embedding_init_std); "
        "auc_conversion is the end-to-end click-and-conversion event, cvr_truth the pCVR's "
        "entire-space AUC against the true pCVR, violations the share of rows with "
        "P(conversion) > P(click)",
        "",
    ]


def before_after_table(cache, before, after):
    old, new = group(cache, before), group(cache, after)
    lines = [
        f"defaults before ({before!r}) and after ({after!r}): mean over seeds, "
        "after - before paired by seed +- SE",
        "",
    ]
    for (dataset, model, config), b in sorted(
        new.items(), key=lambda kv: (list(DATASETS).index(kv[0][0]), list(MODELS).index(kv[0][1]))
    ):
        a = old.get((dataset, model, config))
        if config != "default" or a is None:
            continue
        for metric in decision_metrics(dataset):
            gap = paired_gap(a, b, metric)
            if gap is None:
                continue
            lines.append(
                f"{dataset:<20}{model:<14}{metric:<17}{values(a, metric).mean():.4f} -> "
                f"{values(b, metric).mean():.4f}  {gap[0]:+.4f} +- {gap[1]:.4f}"
            )
    return lines


# --- main ----------------------------------------------------------------------------------


def jobs(args):
    for dataset in args.datasets:
        for model in args.models:
            for part in args.part:
                for config, params in PARTS[part].items():
                    if args.configs and config not in args.configs + ["default"]:
                        continue
                    for seed in range(args.seeds):
                        yield dataset, model, config, params, seed


def aliased(cache, k, params):
    """The default's record under an alternative's name, where the default resolved to it."""
    default = cache.get((*k[:3], "default", k[4]))
    std = params.get("embedding_init_std", "unset")
    if (
        default is None
        or list(params) != ["embedding_init_std"]
        or default["embedding_init_std_"] != std
    ):
        return None
    return {**default, "config": k[3]}


def carried(cache, k, revision):
    """The record of ``revision`` (code with a default cap of 20 epochs) that the default
    fit ``k`` of ``max_epochs="auto"`` reproduces step for step, or None: the default if
    early stopping ended it before 20 epochs, or the ``max_epochs=100`` fit if early
    stopping ended that one (the fit validated, so "auto" allows it 100 epochs)."""
    if k[3] != "default":
        return None
    for config, cap in (("default", 20), ("max_epochs=100", 100)):
        old = cache.get((revision, k[1], k[2], config, k[4]))
        if old is not None and old["epochs"] < cap:
            carried_from = f"{revision}: {config}"
            return {**old, "revision": k[0], "config": "default", "carried_from": carried_from}
    return None


def run(args, cache, cache_path, defaults):
    pending, skipped = [], set()
    for dataset, model, config, params, seed in jobs(args):
        if (config == "default") != defaults:
            continue
        data = load_dataset(dataset, args.data, args.quick)
        if data is None:
            if dataset not in skipped:
                print(f"skipped {dataset}: its files are not under {args.data}", flush=True)
            skipped.add(dataset)
            continue
        if not fits(model, data) or seed >= data.get("seeds", args.seeds):
            continue
        k = (args.revision, dataset, model, config, seed)
        if (k in cache and not args.refit) or k in [p[0] for p in pending]:
            continue
        same = None if args.refit else aliased(cache, k, params)
        if same is None and args.carry:
            same = carried(cache, k, args.carry)
        if same is not None:
            cache[k] = same
            with cache_path.open("a") as out:
                out.write(json.dumps(same) + "\n")
            continue
        pending.append((k, (dataset, args.data, args.quick, model, config, params, seed)))
    print(f"{len(pending)} fits to run, {args.jobs} at a time", flush=True)
    with cache_path.open("a") as out, ProcessPoolExecutor(args.jobs) as pool:
        futures = {pool.submit(run_fit, *call): k for k, call in pending}
        for future in as_completed(futures):
            try:
                record = {"revision": args.revision, **future.result()}
            except Exception as error:  # a failing model is reported, the rest go on
                print(f"FAILED {futures[future]}: {type(error).__name__}: {error}", flush=True)
                continue
            cache[key(record)] = record
            out.write(json.dumps(record) + "\n")
            out.flush()
            print(
                f"{record['dataset']:<14}{record['model']:<14}{record['config']:<12}"
                f"seed {record['seed']}  {record['fit_s']:.0f}s",
                flush=True,
            )


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", default=str(DEFAULT_DATA), help="folder of the real data sets")
    parser.add_argument("--part", nargs="+", default=["defaults", "init"], choices=list(PARTS))
    parser.add_argument(
        "--datasets",
        nargs="+",
        choices=list(DATASETS),
        default=[d for d in DATASETS if d != "funnel_strong_200k"],
    )
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    parser.add_argument(
        "--configs", nargs="+", help="run only these configs of the parts (and the defaults)"
    )
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument(
        "--quick", action="store_true", help="2,000 rows, 2 epochs, 1 seed, two data sets"
    )
    parser.add_argument("--cache", default=str(CACHE), help="JSON-lines file of every fit's scores")
    parser.add_argument("--revision", default="current", help="label of the code the fits ran")
    parser.add_argument(
        "--refit",
        action="store_true",
        help="fit again what the cache holds (the fits are deterministic: for metrics added "
        "since); the newer record of a fit replaces the older",
    )
    parser.add_argument(
        "--carry",
        help="take the default fits that this revision's records reproduce step for step "
        "(see carried) instead of fitting them again",
    )
    parser.add_argument("--before", help="with --table: also compare the defaults to this revision")
    parser.add_argument(
        "--grid",
        help="with --table: also print this revision's tables of alternatives (the grid a "
        "change of default was chosen on)",
    )
    parser.add_argument(
        "--table", action="store_true", help="print the tables from the cache, fit nothing"
    )
    parser.add_argument("--output", help="also write the tables to this file")
    args = parser.parse_args()
    if args.quick:
        args.seeds, args.revision = 1, f"{args.revision} quick"
        if len(args.datasets) > 2:
            args.datasets = ["funnel_strong", "census_A"]
    cache_path = Path(args.cache)
    cache = read_cache(cache_path)

    if not args.table:
        # The defaults first: an alternative that their "auto" resolved to is not refitted.
        run(args, cache, cache_path, defaults=True)
        run(args, cache, cache_path, defaults=False)

    groups = group(cache, args.revision)
    lines = header(args.revision) + scores_table(groups)
    if any(k[2] != "default" for k in groups):
        lines += defaults_table(groups) + [""] + alternatives_table(groups) + [""]
    lines += claims_table(groups)
    if args.before:
        lines += [""] + before_after_table(cache, args.before, args.revision)
    if args.grid:
        grid = group(cache, args.grid)
        lines += ["", f"=== the grid the defaults were chosen on: revision {args.grid!r}", ""]
        lines += scores_table(grid) + defaults_table(grid) + [""] + alternatives_table(grid)
        lines += [""] + claims_table(grid) + [""] + claims_table(grid, "max_epochs=100")
    table = "\n".join(lines)
    print(table)
    if args.output:
        Path(args.output).write_text(table + "\n")


if __name__ == "__main__":
    main()
