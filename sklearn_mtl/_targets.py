"""Validation and encoding of the multi-task label matrix, per task type.

A task type (a key of :data:`TASK_TYPES`) is a small class that fits a
task's target encoding and knows its loss (a key of
:data:`sklearn_mtl.losses.ELEMENT_LOSSES`), its number of network outputs
(``n_outputs``: one logit or value, or one logit per class), its link from
the network output, its prediction, its ``predict_proba`` slot, its
``score`` and its validation metrics.
"""

import numpy as np
import pandas as pd
from sklearn.utils.multiclass import type_of_target

from ._frames import FLOAT32_MAX, as_pandas, beyond_float32


def task_columns(Y):
    """Split ``Y`` into per-task label columns and their names.

    Parameters
    ----------
    Y : array-like of shape (n_samples,) or (n_samples, n_tasks)
        Labels; a DataFrame's (or Series') names become the task names,
        pandas or polars.

    Returns
    -------
    columns : list of ndarray
    names : list of str
    """
    Y = as_pandas(Y)
    if isinstance(Y, pd.DataFrame):
        names = [str(c) for c in Y.columns]
        duplicated = sorted({n for n in names if names.count(n) > 1})
        if duplicated:
            raise ValueError(
                f"Y has duplicate task names {duplicated} (column names compared as "
                f"strings, e.g. 1 and '1'): {list(Y.columns)}. Each task needs its own "
                "name; rename the columns."
            )
        return [Y.iloc[:, t].to_numpy() for t in range(Y.shape[1])], names
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


def _is_named(Y):
    return isinstance(Y, pd.DataFrame) or (isinstance(Y, pd.Series) and Y.name is not None)


def align_task_columns(Y, task_names):
    """Per-task label columns of ``Y`` in the order of the fitted ``task_names``.

    Columns are matched by name when both ``Y`` and the fitted model have
    task names (a DataFrame's columns; ``task_0, task_1, ...`` mean none),
    by position otherwise.

    Raises
    ------
    ValueError
        If ``Y``'s names are not the fitted task names.
    """
    Y = as_pandas(Y)
    columns, names = task_columns(Y)
    unnamed = [f"task_{t}" for t in range(len(task_names))]
    if not _is_named(Y) or task_names in (unnamed, names) or len(names) != len(task_names):
        return columns
    if sorted(names) != sorted(task_names):
        raise ValueError(
            f"Y's columns {names} are not the tasks {task_names} the model was fitted "
            "on. Columns are matched by name; rename them, or pass a NumPy array to "
            "match by position."
        )
    return [columns[names.index(name)] for name in task_names]


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
        strings = [isinstance(v, str) for v in values]
        if any(strings) and not all(strings):
            mixed = sorted({type(v).__name__ for v in values})
            raise ValueError(
                f"Task {name!r} mixes label types {mixed}, e.g. 1 and '1', which "
                "would be different classes; convert the column to one type first "
                "(e.g. .astype(int) or .astype(str))."
            )
        values = values.tolist()
        values = np.asarray(values)
    target_type = type_of_target(values, input_name=f"Y[{name!r}]")
    if target_type == "continuous":
        raise ValueError(
            f"Unknown label type: continuous (task {name!r}). Classifiers need "
            "binary labels: threshold the values, or declare the task 'regression' "
            "in task_types."
        )
    if target_type not in ("binary", "multiclass"):
        raise ValueError(f"Unknown label type: {target_type} (task {name!r}).")
    return np.unique(values)


def encode_labels(column, classes, name):
    """Encode one task as float32 class indices into ``classes`` (0/1 for a
    binary task) with NaN where unobserved.

    Raises a ValueError if an observed label is not one of ``classes``.
    """
    missing, values = _observed(column, name)
    unknown = ~np.isin(values, classes)
    if unknown.any():
        raise ValueError(
            f"Task {name!r} has labels {np.unique(values[unknown])[:10].tolist()} "
            f"that are not among its classes {classes.tolist()}."
        )
    # Class indices are small integers, exact in float32 (the label matrix is
    # float so that NaN can mark an unobserved label).
    encoded = np.full(column.shape[0], np.nan, dtype=np.float32)
    encoded[~missing] = np.searchsorted(classes, values)
    return encoded


def _sigmoid(logits):
    return 1.0 / (1.0 + np.exp(-logits))


class BinaryTarget:
    """A binary task: two classes, BCE on logits, probabilities through a sigmoid.

    Parameters
    ----------
    classes : ndarray of shape (2,)
        The sorted classes; the second is the positive one.
    """

    loss = "bce"
    n_outputs = 1
    metrics = ("roc_auc", "average_precision", "log_loss")
    link = staticmethod(_sigmoid)

    def __init__(self, classes):
        self.classes = classes

    @classmethod
    def fit(cls, column, name, sample_weight=None, classes=None, regression_loss=None):
        """Learn the classes from the observed, positively weighted labels."""
        if classes is None:
            weighted = slice(None) if sample_weight is None else sample_weight > 0
            classes = infer_classes(column[weighted], name)
            if classes.size > 2:
                raise ValueError(
                    "Only binary classification is supported for a 'binary' task. The "
                    f"type of the target is multiclass: task {name!r} has {classes.size} "
                    f"classes {classes[:10].tolist()}. Declare it 'multiclass' in "
                    "task_types (models that take task_types), or split it into one "
                    "binary task per class."
                )
            if classes.size < 2:
                raise ValueError(
                    f"Task {name!r} has one class ({classes[0]!r}) among its observed, "
                    "positively weighted labels; a binary task needs both classes "
                    "to train. Drop the task, or give both classes with "
                    "partial_fit(..., classes=...) when streaming batches."
                )
            return cls(classes)
        classes = np.unique(np.asarray(classes))
        if classes.size != 2:
            raise ValueError(
                f"classes must hold exactly two labels per binary task; check task {name!r}."
            )
        return cls(classes)

    def encode(self, column, name):
        return encode_labels(column, self.classes, name)

    def decode(self, encoded):
        return encoded

    def truth(self, column, name):
        """What the metrics compare with: 0/1 as float64, NaN where unobserved."""
        return self.encode(column, name).astype(np.float64)

    def predict(self, proba):
        # Ties go to the first class, as argmax over predict_proba does.
        return self.classes[(proba > 0.5).astype(np.intp)]

    def predict_proba(self, proba):
        """The ``(n, 2)`` slot of ``predict_proba``."""
        return np.column_stack([1.0 - proba, proba])


def _softmax(logits):
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


class MulticlassTarget(BinaryTarget):
    """A task with ``K >= 2`` classes: ``K`` logits, softmax cross-entropy,
    probabilities through a softmax.

    Parameters
    ----------
    classes : ndarray of shape (K,)
        The sorted classes.
    """

    loss = "cross_entropy"
    metrics = ("roc_auc_ovr", "accuracy", "log_loss_multiclass")
    link = staticmethod(_softmax)

    @property
    def n_outputs(self):
        return len(self.classes)

    @classmethod
    def fit(cls, column, name, sample_weight=None, classes=None, regression_loss=None):
        """Learn the classes from the observed, positively weighted labels."""
        if classes is None:
            weighted = slice(None) if sample_weight is None else sample_weight > 0
            classes = infer_classes(column[weighted], name)
        else:
            classes = np.unique(np.asarray(classes))
        if classes.size < 2:
            raise ValueError(
                f"Task {name!r} has {classes.size} class(es) {classes.tolist()}; a "
                "multiclass task needs at least two. Give them all with "
                "partial_fit(..., classes=...) when streaming batches."
            )
        return cls(classes)

    def truth(self, column, name):
        """What the metrics compare with: class indices as float64, NaN where unobserved."""
        return self.encode(column, name).astype(np.float64)

    def predict(self, proba):
        return self.classes[proba.argmax(axis=1)]

    def predict_proba(self, proba):
        """The ``(n, K)`` slot of ``predict_proba``."""
        return proba


class RegressionTarget:
    """A regression task, trained on standardized targets.

    Parameters
    ----------
    mean, scale : float
        Weighted mean and standard deviation of the observed training
        targets; the network predicts ``(y - mean) / scale``.
    loss : {"mse", "huber"}
        Per-element loss on the standardized targets.
    """

    classes = None
    n_outputs = 1
    metrics = ("r2", "mean_squared_error")

    def __init__(self, mean, scale, loss):
        self.mean = mean
        self.scale = scale
        self.loss = loss

    @staticmethod
    def link(output):
        return output

    @classmethod
    def fit(cls, column, name, sample_weight=None, classes=None, regression_loss="mse"):
        """Learn the weighted mean and scale of the observed targets."""
        values = cls.values(column, name)
        weights = np.ones(len(values)) if sample_weight is None else sample_weight
        keep = ~np.isnan(values) & (weights > 0)
        if not keep.any():
            raise ValueError(
                f"Task {name!r} has no observed target (every value is NaN or has zero "
                "weight); each task needs labelled rows."
            )
        with np.errstate(over="ignore", invalid="ignore"):
            mean = np.average(values[keep], weights=weights[keep])
            scale = np.sqrt(np.average((values[keep] - mean) ** 2, weights=weights[keep]))
        if not np.isfinite(scale):
            raise ValueError(
                f"Regression task {name!r} has targets too large to standardize (mean "
                f"{mean:.3g}): their variance overflows float64. Rescale the target first "
                "(e.g. other units, or a log)."
            )
        return cls(float(mean), float(scale) if scale > 0 else 1.0, regression_loss)

    @staticmethod
    def values(column, name):
        """The targets as float64, NaN where unobserved."""
        try:
            values = pd.to_numeric(pd.Series(column), errors="raise").to_numpy(np.float64)
        except (TypeError, ValueError):
            raise ValueError(
                f"Task {name!r} is a regression task but its targets are not numeric; "
                "fix task_types or the target column."
            ) from None
        if np.isinf(values).any():
            raise ValueError(
                f"Input Y contains infinity for regression task {name!r}; use NaN for "
                "an unobserved target."
            )
        return values

    def encode(self, column, name):
        standardized = (self.values(column, name) - self.mean) / self.scale
        if beyond_float32(standardized):
            raise ValueError(
                f"Regression task {name!r} has targets that overflow float32 once "
                f"standardized with the training mean {self.mean:.3g} and scale "
                f"{self.scale:.3g} (largest {np.nanmax(np.abs(standardized)):.3g}, limit "
                f"{FLOAT32_MAX:.3g}): they would train on infinity. Check the target for "
                "corrupt values, or rescale it before fitting."
            )
        return standardized.astype(np.float32)

    def decode(self, encoded):
        return encoded * self.scale + self.mean

    def truth(self, column, name):
        """What the metrics compare with: the targets, NaN where unobserved."""
        return self.values(column, name)

    def predict(self, output):
        return self.decode(output)

    def predict_proba(self, output):
        """A regression task has no ``predict_proba`` slot: None."""
        return None


#: Task types by name, for ``task_types=``.
TASK_TYPES = {
    "binary": BinaryTarget,
    "multiclass": MulticlassTarget,
    "regression": RegressionTarget,
}


def check_task_types(task_types, task_names):
    """The task type name of each task (all ``"binary"`` when None)."""
    if task_types is None:
        return ["binary"] * len(task_names)
    if isinstance(task_types, str):
        raise TypeError(
            f"task_types must be a list with one entry per task, got the string "
            f"{task_types!r}; e.g. task_types=[{task_types!r}] * n_tasks."
        )
    task_types = list(task_types)
    if len(task_types) != len(task_names):
        raise ValueError(
            f"task_types has {len(task_types)} entries but Y has {len(task_names)} "
            f"task(s) {list(task_names)}; give one type per task."
        )
    for name, kind in zip(task_names, task_types):
        if kind not in TASK_TYPES:
            raise ValueError(
                f"Unknown task type {kind!r} for task {name!r} in task_types; use one of "
                f"{sorted(TASK_TYPES)}."
            )
    return task_types


def check_funnel(Y, names, *, n_tasks=None, model, positives=None):
    """Check that encoded labels form a funnel, and fill the steps known not reached.

    Each step's positives must be among the previous step's positives (a
    conversion needs a click). A step that is NaN on a row whose previous
    step is 0 is known to be 0 (no conversion without a click) and is set
    to 0 in place, so that the end-to-end step trains on every impression;
    NaN after a 1, or NaN in the first step, stays unobserved.

    Parameters
    ----------
    Y : ndarray of shape (n_samples, n_tasks)
        Encoded labels, 0/1 with NaN where unobserved; NaN never violates.
        Modified in place.
    names : sequence of str
        Task names, in funnel order.
    n_tasks : int, default=None
        Exact number of steps required; at least two when None.
    model : str
        Estimator name, for the messages.
    positives : sequence, default=None
        Each step's label taken as positive (``classes_[t][1]``), named in
        the message of a violation.
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
                + _positive_labels_hint(names, positives)
            )
        # Step by step, so that a step filled with 0 fills the next one in turn.
        _fill_step(Y, t)


def _plain(label):
    """A NumPy scalar as the Python value it holds, for messages."""
    return label.item() if isinstance(label, np.generic) else label


def _positive_labels_hint(names, positives):
    if positives is None:
        return ""
    taken = ", ".join(f"{name!r}: {_plain(label)!r}" for name, label in zip(names, positives))
    return (
        f" The label taken as positive of each step is the larger of its two ({taken}); "
        "if that is not the event, encode the steps as 0/1 or False/True."
    )


def fill_unreached_steps(Y):
    """Set to 0, in place, each funnel step that is NaN where the previous
    step is 0 (known not reached); NaN after a 1 stays unobserved."""
    for t in range(1, Y.shape[1]):
        _fill_step(Y, t)


def _fill_step(Y, t):
    Y[np.isnan(Y[:, t]) & (Y[:, t - 1] == 0), t] = 0
