"""Calibration of one binary task's probabilities: bins, ECE, predicted/observed ratio.

Re-exported by :mod:`sklearn_mtl.metrics` (functions and ``TASK_METRICS``
entries) and used by the reliability diagram of :mod:`sklearn_mtl.inspection`.
"""

from numbers import Integral

import numpy as np
import pandas as pd
from sklearn.utils._param_validation import Interval, StrOptions, validate_params

from ._shared import DOC_FRAGMENTS, fill_doc


def _quantile_edges(y_prob, n_bins):
    # Equal mass: each bin holds about n / n_bins rows. Tied probabilities
    # cannot be split, so repeated edges merge bins.
    return np.unique(np.quantile(y_prob, np.linspace(0.0, 1.0, n_bins + 1)))


def _uniform_edges(y_prob, n_bins):
    return np.linspace(0.0, 1.0, n_bins + 1)


#: How the [0, 1] probability axis is cut into bins, by ``strategy`` name.
BIN_STRATEGIES = {"quantile": _quantile_edges, "uniform": _uniform_edges}


def _checked(y_true, y_prob, sample_weight):
    """Observed rows of a binary task as float64 arrays, checked."""
    y_true = np.asarray(y_true, dtype=np.float64).ravel()
    y_prob = np.asarray(y_prob, dtype=np.float64).ravel()
    if y_true.shape != y_prob.shape:
        raise ValueError(
            f"y_true and y_prob must have the same length; got {y_true.size} and {y_prob.size}."
        )
    if not (np.isfinite(y_prob) & (y_prob >= 0.0) & (y_prob <= 1.0)).all():
        raise ValueError(
            "y_prob must hold probabilities of the positive class, finite and in [0, 1]; "
            "pass predict_proba(X)[:, 1] (or one task's slot of a multi-task model)."
        )
    observed = ~np.isnan(y_true)
    if not np.isin(y_true[observed], (0.0, 1.0)).all():
        raise ValueError(
            "y_true must hold 0/1 labels (NaN where unobserved); encode the positive "
            f"class as 1. Got values {np.unique(y_true[observed])[:5]}."
        )
    if sample_weight is None:
        weight = np.ones(observed.sum())
    else:
        weight = np.asarray(sample_weight, dtype=np.float64).ravel()
        if weight.shape != y_true.shape:
            raise ValueError(
                f"sample_weight must have one weight per row ({y_true.size}); "
                f"got {weight.size}."
            )
        weight = weight[observed]
    return y_true[observed], y_prob[observed], weight


def task_classes(model):
    """The classes of each task of a fitted multi-task model, as a list even
    for a single task (whose ``classes_`` is the array itself)."""
    return [model.classes_] if model.n_tasks_ == 1 else list(model.classes_)


def binary_labels(column, classes, name):
    """0/1 as float64 (1 for ``classes[1]``), NaN where unobserved."""
    missing = np.asarray(pd.isna(column), dtype=bool)
    values = np.asarray(column, dtype=object)[~missing]
    unknown = ~np.isin(values, classes)
    if unknown.any():
        raise ValueError(
            f"Task {name!r} has labels {sorted(set(values[unknown].tolist()))[:5]} that are "
            f"not its classes {list(classes)}; pass Y with the labels the model was fitted on "
            "(NaN where unobserved)."
        )
    labels = np.full(len(missing), np.nan)
    labels[~missing] = (values == classes[1]).astype(np.float64)
    return labels


_BIN_PARAMS = {
    "y_true": ["array-like"],
    "y_prob": ["array-like"],
    "n_bins": [Interval(Integral, 1, None, closed="left")],
    "strategy": [StrOptions(set(BIN_STRATEGIES))],
    "sample_weight": ["array-like", None],
}

#: The parameters of the metrics of binned probabilities, in their docstrings.
_BIN_DOC = {
    "binned_y_true_prob": DOC_FRAGMENTS["y_true_prob"]
    + "\nn_bins : int, default=10\n    Number of bins.",
}


def _binned_doc(func):
    return fill_doc(func, _BIN_DOC)


@validate_params(_BIN_PARAMS, prefer_skip_nested_validation=True)
@_binned_doc
def calibration_bins(y_true, y_prob, *, n_bins=10, strategy="quantile", sample_weight=None):
    """Mean predicted probability and observed rate per probability bin.

    The points of a reliability diagram. Rows whose label is NaN (not
    observed) are left out; empty bins are dropped.

    Parameters
    ----------
    {binned_y_true_prob}
    strategy : {"quantile", "uniform"}, default="quantile"
        ``"quantile"``: bins of equal mass (edges at quantiles of
        ``y_prob``; tied probabilities stay in one bin, so there may be
        fewer bins). ``"uniform"``: bins of equal width over [0, 1]. Equal
        mass suits the skewed probabilities of rare events (a 2 %
        conversion rate puts almost every row in the first of ten equal
        widths).
    sample_weight : array-like of shape (n_samples,), default=None
        Row weights.

    Returns
    -------
    mean_predicted : ndarray of shape (n_nonempty_bins,)
        Weighted mean of ``y_prob`` in each bin, increasing.
    observed_rate : ndarray of shape (n_nonempty_bins,)
        Weighted fraction of positives in each bin.
    counts : ndarray of shape (n_nonempty_bins,)
        Number of rows in each bin.
    weights : ndarray of shape (n_nonempty_bins,)
        Total weight of each bin (``counts`` without ``sample_weight``).

    Examples
    --------
    >>> from sklearn_mtl.metrics import calibration_bins
    >>> mean_predicted, observed_rate, counts, _ = calibration_bins(
    ...     [0, 0, 1, 1], [0.1, 0.3, 0.6, 0.8], n_bins=2)
    >>> mean_predicted, observed_rate, counts
    (array([0.2, 0.7]), array([0., 1.]), array([2, 2]))
    """
    y_true, y_prob, weight = _checked(y_true, y_prob, sample_weight)
    if y_true.size == 0:
        empty = np.empty(0)
        return empty, empty, np.empty(0, dtype=np.intp), empty
    edges = BIN_STRATEGIES[strategy](y_prob, n_bins)
    # Inner edges only: the lowest and highest probabilities fall in the end bins.
    bins = np.searchsorted(edges[1:-1], y_prob, side="right")
    n = len(edges) - 1 if len(edges) > 1 else 1
    counts = np.bincount(bins, minlength=n)
    weights = np.bincount(bins, weights=weight, minlength=n)
    predicted = np.bincount(bins, weights=weight * y_prob, minlength=n)
    positives = np.bincount(bins, weights=weight * y_true, minlength=n)
    kept = weights > 0
    return (
        predicted[kept] / weights[kept],
        positives[kept] / weights[kept],
        counts[kept],
        weights[kept],
    )


@validate_params(_BIN_PARAMS, prefer_skip_nested_validation=True)
@_binned_doc
def expected_calibration_error(
    y_true, y_prob, *, n_bins=10, strategy="quantile", sample_weight=None
):
    """Expected calibration error (ECE) of a binary task's probabilities.

    ``sum_b (W_b / W) |mean predicted_b - observed rate_b|`` over the bins
    of :func:`calibration_bins`: the mean gap between the reliability
    diagram and its diagonal, weighted by the rows in each bin. 0 for
    perfectly calibrated bins; lower is better. Rows whose label is NaN are
    left out; NaN when no row is observed.

    Parameters
    ----------
    {binned_y_true_prob}
    strategy : {"quantile", "uniform"}, default="quantile"
        Bins of equal mass (the ``"ece"`` metric of :data:`TASK_METRICS`)
        or of equal width over [0, 1] (``"ece_uniform"``); see
        :func:`calibration_bins`.
    {sample_weight_returns_float}

    Examples
    --------
    >>> from sklearn_mtl.metrics import expected_calibration_error
    >>> # Two bins: predicted 0.2 vs observed 0.0, predicted 0.7 vs observed 1.0.
    >>> round(expected_calibration_error([0, 0, 1, 1], [0.1, 0.3, 0.6, 0.8], n_bins=2), 6)
    0.25
    """
    predicted, observed, _, weights = calibration_bins(
        y_true, y_prob, n_bins=n_bins, strategy=strategy, sample_weight=sample_weight
    )
    if weights.size == 0:
        return np.nan
    return float(np.sum(weights * np.abs(predicted - observed)) / weights.sum())


@validate_params(
    {"y_true": ["array-like"], "y_prob": ["array-like"], "sample_weight": ["array-like", None]},
    prefer_skip_nested_validation=True,
)
@fill_doc
def predicted_observed_ratio(y_true, y_prob, *, sample_weight=None):
    """Mean predicted probability over the observed rate of positives.

    1 when the model predicts as many positives as there are; above 1 it
    over-predicts (e.g. trained with up-weighted positives), below 1 it
    under-predicts. Rows whose label is NaN are left out. NaN when no row
    is observed or none is positive (the ratio is undefined).

    Parameters
    ----------
    {y_true_prob}
    {sample_weight_returns_float}

    See Also
    --------
    sklearn_mtl.metrics.TASK_METRICS : ``"abs_log_ratio"``, ``|log(ratio)|``,
        the scorer form of this ratio (lower is better, 0 at a ratio of 1).

    Examples
    --------
    >>> from sklearn_mtl.metrics import predicted_observed_ratio
    >>> predicted_observed_ratio([0, 1, 0, 0], [0.5, 0.5, 0.25, 0.25])
    1.5
    """
    y_true, y_prob, weight = _checked(y_true, y_prob, sample_weight)
    positives = np.sum(weight * y_true)
    if positives <= 0:
        return np.nan
    return float(np.sum(weight * y_prob) / positives)


def abs_log_ratio(y_true, y_prob, sample_weight=None):
    """``|log(predicted_observed_ratio)|``: a factor of 2 too many or too few
    positives costs the same, ``log 2``."""
    ratio = predicted_observed_ratio(y_true, y_prob, sample_weight=sample_weight)
    with np.errstate(divide="ignore"):  # no predicted positives: infinitely far
        return float(np.abs(np.log(ratio)))
