"""Validation and encoding of the multi-task label matrix."""

import numpy as np
import pandas as pd
from sklearn.utils.multiclass import type_of_target


def task_columns(Y):
    """Split ``Y`` into per-task label columns and their names.

    Parameters
    ----------
    Y : array-like of shape (n_samples,) or (n_samples, n_tasks)
        Labels; a DataFrame's (or Series') names become the task names.

    Returns
    -------
    columns : list of ndarray
    names : list of str
    """
    if isinstance(Y, pd.DataFrame):
        return [Y.iloc[:, t].to_numpy() for t in range(Y.shape[1])], [str(c) for c in Y.columns]
    if isinstance(Y, pd.Series):
        name = "task_0" if Y.name is None else str(Y.name)
        return [Y.to_numpy()], [name]
    Y = np.asarray(Y)
    if Y.ndim == 1:
        return [Y], ["task_0"]
    if Y.ndim != 2:
        raise ValueError(
            f"Y must be 1-D (one task) or 2-D (n_samples, n_tasks); got shape {Y.shape}."
        )
    return [Y[:, t] for t in range(Y.shape[1])], [f"task_{t}" for t in range(Y.shape[1])]


def _observed(column, name):
    missing = pd.isna(column)
    values = column[~missing]
    if values.dtype.kind == "f" and np.isinf(values).any():
        raise ValueError(
            f"Input Y contains infinity for task {name!r}. Labels must be two "
            "classes, with NaN where a label is not observed."
        )
    return missing, values


def infer_classes(column, name):
    """The sorted classes of one task's observed labels (NaN = unobserved)."""
    _, values = _observed(column, name)
    if values.size == 0:
        raise ValueError(
            f"Task {name!r} has no observed label (every value is NaN or missing); "
            "each task needs labelled rows."
        )
    if values.dtype == object:
        values = values.tolist()
        values = np.asarray(values)
    target_type = type_of_target(values, input_name=f"Y[{name!r}]")
    if target_type == "continuous":
        raise ValueError(
            f"Unknown label type: continuous (task {name!r}). Classifiers need "
            "binary labels: threshold the values, or use a regression task."
        )
    if target_type not in ("binary", "multiclass"):
        raise ValueError(f"Unknown label type: {target_type} (task {name!r}).")
    classes = np.unique(values)
    if classes.size > 2:
        raise ValueError(
            f"Only binary classification is supported. The type of the target is "
            f"multiclass: task {name!r} has {classes.size} classes "
            f"{classes[:10].tolist()}. Split it into one binary task per class."
        )
    return classes


def encode_labels(column, classes, name):
    """Encode one task as float32 0/1 with NaN where unobserved.

    Raises a ValueError if an observed label is not one of ``classes``.
    """
    missing, values = _observed(column, name)
    unknown = ~np.isin(values, classes)
    if unknown.any():
        raise ValueError(
            f"Task {name!r} has labels {np.unique(values[unknown])[:10].tolist()} "
            f"that are not among its classes {classes.tolist()}."
        )
    encoded = np.full(column.shape[0], np.nan, dtype=np.float32)
    encoded[~missing] = values == classes[-1]
    return encoded


def check_funnel(Y, names, *, n_tasks=None, model):
    """Check that encoded labels form a funnel: each step's positives are
    among the previous step's positives (a conversion needs a click).

    Parameters
    ----------
    Y : ndarray of shape (n_samples, n_tasks)
        Encoded labels, 0/1 with NaN where unobserved; NaN never violates.
    names : sequence of str
        Task names, in funnel order.
    n_tasks : int, default=None
        Exact number of steps required; at least two when None.
    model : str
        Estimator name, for the messages.
    """
    if (Y.shape[1] < 2) if n_tasks is None else (Y.shape[1] != n_tasks):
        wanted = "at least 2" if n_tasks is None else f"exactly {n_tasks}"
        raise ValueError(
            f"{model} needs {wanted} funnel steps (Y columns in funnel order, e.g. "
            f"[click, conversion]); got {Y.shape[1]} task(s): {list(names)}."
        )
    for t in range(1, Y.shape[1]):
        violations = int(((Y[:, t] == 1) & (Y[:, t - 1] == 0)).sum())
        if violations:
            raise ValueError(
                f"Y is not a funnel: {violations} row(s) have {names[t]!r}=1 but "
                f"{names[t - 1]!r}=0. {model} needs each step's positives to be a "
                f"subset of the previous step's (e.g. no conversion without a click); "
                "fix or drop those rows, or put the columns in funnel order."
            )
