"""Reliability diagrams: predicted probability against observed rate, per task."""

import numpy as np

from .._calibration_metrics import (
    binary_labels,
    calibration_bins,
    expected_calibration_error,
    task_classes,
)
from .._pipeline import final_estimator
from .._targets import align_task_columns, task_columns
from ._display import _display_doc, _fitted_model, _get_axes
from ._outputs import predict_proba_frame


@_display_doc
class ReliabilityDisplay:
    """Reliability diagram of each binary task: one panel per task.

    Each panel plots the observed rate of positives against the mean
    predicted probability in each bin of predictions (see
    :func:`~sklearn_mtl.metrics.calibration_bins`), writes the number of
    rows next to each point, and shows the diagonal of perfect
    calibration; the legend gives the task's expected calibration error.
    Rows whose label is NaN are left out of their task. Draw a second model
    on the same axes (``ax=display.axes_``) to compare, e.g. before and
    after :class:`~sklearn_mtl.calibration.TaskCalibratedClassifier`.

    Build it with :meth:`from_estimator` or :meth:`from_predictions`; the
    constructor only stores the points.

    Parameters
    ----------
    mean_predicted : dict of str to ndarray
        Per task (panel title), the mean predicted probability of each
        non-empty bin.
    observed_rate : dict of str to ndarray
        Per task, the observed rate of positives of each bin.
    counts : dict of str to ndarray
        Per task, the number of rows of each bin.
    ece : dict of str to float
        Per task, the expected calibration error.
    estimator_name : str, default=None
        Name of the model, in the legends.

    Attributes
    ----------
    axes_ : ndarray of matplotlib Axes
        One Axes per task.
    figure_ : matplotlib Figure
        The figure of the axes.
    lines_ : dict of str to matplotlib Line2D
        The drawn curve of each task.
    texts_ : dict of str to list of matplotlib Text
        The bin counts written next to each point, per task.

    See Also
    --------
    sklearn_mtl.calibration.TaskCalibratedClassifier : Calibrates the tasks.
    sklearn_mtl.metrics.expected_calibration_error : The ECE of the legends.
    sklearn.calibration.CalibrationDisplay : The single-output diagram.

    Examples
    --------
    {display_example_funnel}
    >>> from sklearn_mtl import ESMMClassifier
    >>> from sklearn_mtl.inspection import ReliabilityDisplay
    >>> model = ESMMClassifier(max_epochs=2, random_state=0).fit(X, Y)
    >>> display = ReliabilityDisplay.from_estimator(model, X, Y, n_bins=5)
    >>> list(display.lines_)
    ['P(click)', 'P(click & conversion)']
    >>> int(display.counts["P(click)"].sum())
    1000
    """

    def __init__(self, *, mean_predicted, observed_rate, counts, ece, estimator_name=None):
        self.mean_predicted = mean_predicted
        self.observed_rate = observed_rate
        self.counts = counts
        self.ece = ece
        self.estimator_name = estimator_name

    @classmethod
    def from_estimator(
        cls, estimator, X, Y, *, n_bins=10, strategy="quantile", sample_weight=None,
        name=None, ref_line=True, ax=None,
    ):
        """Compute each binary task's reliability diagram on ``X``, ``Y`` and draw it.

        Parameters
        ----------
        estimator : estimator or Pipeline
            A fitted multi-task classifier (or
            :class:`~sklearn_mtl.calibration.TaskCalibratedClassifier`), or
            a fitted Pipeline ending in one.
        X : {array-like, DataFrame} of shape (n_samples, n_features)
            Input of ``estimator``.
        Y : array-like of shape (n_samples, n_tasks)
            True labels, columns matched to the tasks as in the model's
            ``score``; NaN where unobserved.
        n_bins : int, default=10
            Number of bins per task.
        strategy : {"quantile", "uniform"}, default="quantile"
            Bins of equal mass or of equal width; see
            :func:`~sklearn_mtl.metrics.calibration_bins`.
        sample_weight : array-like of shape (n_samples,), default=None
            Row weights.
        name : str, default=None
            Name in the legends; the model's class name when None.
        ref_line : bool, default=True
            Whether to draw the diagonal (leave it out when drawing a second
            model on the same axes).
        ax : sequence of matplotlib Axes, default=None
            One Axes per binary task; a new figure when None.

        Returns
        -------
        display : ReliabilityDisplay
            The display, with the figure drawn.
        """
        model = _fitted_model(estimator, "task_names_", cls.__name__)
        frame = predict_proba_frame(estimator, X)
        binary = [t for t, kind in enumerate(model.task_types_) if kind == "binary"]
        names = [str(task) for task in model.task_names_]
        columns = align_task_columns(Y, names)
        labels = np.column_stack(
            [binary_labels(columns[t], task_classes(model)[t], names[t]) for t in binary]
        )
        return cls._from_labels(
            labels, frame.to_numpy(), [str(c) for c in frame.columns],
            n_bins=n_bins, strategy=strategy, sample_weight=sample_weight,
            name=name or type(final_estimator(estimator)).__name__, ref_line=ref_line, ax=ax,
        )

    @classmethod
    def from_predictions(
        cls, Y, proba, *, n_bins=10, strategy="quantile", sample_weight=None,
        name=None, ref_line=True, ax=None,
    ):
        """Draw each task's reliability diagram from labels and probabilities.

        Parameters
        ----------
        Y : array-like or DataFrame of shape (n_samples, n_tasks)
            0/1 labels, NaN where unobserved; a DataFrame's columns name the
            panels (``task_0, task_1, ...`` otherwise).
        proba : array-like or DataFrame of shape (n_samples, n_tasks)
            Predicted positive-class probability of each task, in the
            columns of ``Y`` (e.g. ``predict_proba_frame(X)``).
        n_bins : int, default=10
            Number of bins per task.
        strategy : {"quantile", "uniform"}, default="quantile"
            Bins of equal mass or of equal width.
        sample_weight : array-like of shape (n_samples,), default=None
            Row weights.
        name : str, default=None
            Name of the predictions in the legends.
        ref_line : bool, default=True
            Whether to draw the diagonal.
        ax : sequence of matplotlib Axes, default=None
            One Axes per task; a new figure when None.

        Returns
        -------
        display : ReliabilityDisplay
            The display, with the figure drawn.
        """
        columns, names = task_columns(Y)
        try:
            labels = np.column_stack([np.asarray(c, dtype=np.float64) for c in columns])
        except (TypeError, ValueError):
            raise ValueError(
                f"Y must hold 0/1 labels (NaN where unobserved) for the tasks {names}; "
                "encode the positive class as 1, or use from_estimator, which reads the "
                "model's classes."
            ) from None
        proba = np.asarray(proba, dtype=np.float64)
        proba = proba[:, None] if proba.ndim == 1 else proba
        if proba.shape != labels.shape:
            raise ValueError(
                f"proba must have one column per task of Y, {labels.shape}; got {proba.shape}."
            )
        return cls._from_labels(
            labels, proba, names, n_bins=n_bins, strategy=strategy,
            sample_weight=sample_weight, name=name, ref_line=ref_line, ax=ax,
        )

    @classmethod
    def _from_labels(cls, labels, proba, names, *, n_bins, strategy, sample_weight, name,
                     ref_line, ax):
        points = {}
        for t, task in enumerate(names):
            points[task] = calibration_bins(
                labels[:, t], proba[:, t], n_bins=n_bins, strategy=strategy,
                sample_weight=sample_weight,
            )
        display = cls(
            mean_predicted={task: p[0] for task, p in points.items()},
            observed_rate={task: p[1] for task, p in points.items()},
            counts={task: p[2] for task, p in points.items()},
            ece={
                task: expected_calibration_error(
                    labels[:, t], proba[:, t], n_bins=n_bins, strategy=strategy,
                    sample_weight=sample_weight,
                )
                for t, task in enumerate(names)
            },
            estimator_name=name,
        )
        return display.plot(ax=ax, ref_line=ref_line)

    def plot(self, ax=None, *, name=None, ref_line=True):
        """Draw one reliability diagram per task.

        Parameters
        ----------
        ax : sequence of matplotlib Axes, default=None
            One Axes per task; a new figure when None.
        name : str, default=None
            Name in the legends; ``estimator_name`` when None.
        ref_line : bool, default=True
            Whether to draw the diagonal of perfect calibration.

        Returns
        -------
        display : ReliabilityDisplay
            The display, with ``axes_``, ``figure_``, ``lines_`` and
            ``texts_`` set.
        """
        name = name or self.estimator_name
        tasks = list(self.mean_predicted)
        self.figure_, self.axes_ = _get_axes(ax, len(tasks), "ReliabilityDisplay.plot")
        self.lines_, self.texts_ = {}, {}
        for axis, task in zip(self.axes_, tasks):
            predicted, observed = self.mean_predicted[task], self.observed_rate[task]
            if ref_line:
                axis.plot([0, 1], [0, 1], ":", color="grey", label="perfectly calibrated")
            label = f"ECE {self.ece[task]:.3f}"
            (line,) = axis.plot(
                predicted, observed, "o-", label=f"{name} ({label})" if name else label
            )
            self.lines_[task] = line
            self.texts_[task] = [
                axis.annotate(
                    str(count), (x, y), textcoords="offset points", xytext=(3, -9),
                    fontsize="x-small", color=line.get_color(),
                )
                for x, y, count in zip(predicted, observed, self.counts[task])
            ]
            # Rare events (a 2 % conversion rate) would fill a corner of [0, 1]:
            # zoom on the points, keeping what earlier drawings on these axes show.
            upper = min(1.0, 1.1 * max(predicted.max(initial=0), observed.max(initial=0)))
            if not ref_line:
                upper = max(upper, axis.get_xlim()[1])
            axis.set(
                title=task, xlabel="mean predicted probability",
                ylabel="observed rate of positives", xlim=(0, upper), ylim=(0, upper),
            )
            axis.legend(fontsize="small", loc="upper left")
        return self

