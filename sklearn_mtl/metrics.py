"""Per-task metrics and scorers for multi-task estimators.

A multi-task model is judged task by task: one AUC pooled over all tasks
mixes label distributions and hides a task that does not learn. Every
function here scores each task on its own observed rows (NaN labels excluded).

scikit-learn's string scorers see ``Y`` as a multi-label target:
``"roc_auc"`` and ``"average_precision"`` are the macro mean over tasks (as
:class:`MeanTaskScorer` when every label is observed and 0/1; they fail on
NaN labels), ``"accuracy"`` counts the rows with every task right, and
``"neg_log_loss"`` pools the tasks into one number (with a warning): use
``task_scorers(..., metrics=("log_loss",), mean=True)`` instead.

Calibration, per task: ``"ece"`` (expected calibration error over bins of
equal mass), ``"ece_uniform"`` (bins of equal width) and ``"abs_log_ratio"``
(``|log(mean predicted / observed rate)|``), all lower-is-better; see
:func:`expected_calibration_error` and :func:`predicted_observed_ratio`.
"""

from collections import namedtuple
from dataclasses import dataclass
from functools import partial

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    log_loss,
    mean_squared_error,
    r2_score,
    roc_auc_score,
)
from sklearn.base import BaseEstimator
from sklearn.metrics._scorer import _BaseScorer
from sklearn.utils import get_tags
from sklearn.utils.validation import check_is_fitted

from ._calibration_metrics import (
    abs_log_ratio,
    calibration_bins,
    expected_calibration_error,
    predicted_observed_ratio,
)
from ._pipeline import final_estimator
from ._targets import TASK_TYPES, align_task_columns, fill_unreached_steps

__all__ = [
    "TASK_METRICS",
    "MeanTaskScorer",
    "TaskScorer",
    "calibration_bins",
    "conditional_proba",
    "esmm_scorers",
    "expected_calibration_error",
    "make_mean_task_scorer",
    "make_task_scorer",
    "per_task_scores",
    "predicted_observed_ratio",
    "score_task_given",
    "task_scorers",
]


def _binary_log_loss(y_true, y_score, sample_weight=None):
    # labels=[0, 1] keeps both classes in the loss even when a split holds one.
    return log_loss(y_true, y_score, sample_weight=sample_weight, labels=[0, 1])


def _multiclass_log_loss(y_true, y_score, sample_weight=None):
    # Every class stays in the loss even when a split holds a few of them.
    labels = np.arange(y_score.shape[1])
    return log_loss(y_true, y_score, sample_weight=sample_weight, labels=labels)


def _multiclass_accuracy(y_true, y_score, sample_weight=None):
    return accuracy_score(y_true, y_score.argmax(axis=1), sample_weight=sample_weight)


def _macro_ovr_roc_auc(y_true, y_score, sample_weight=None):
    # One-vs-rest ROC AUC per class, averaged with equal weights: scikit-learn's
    # macro "ovr", except that a class absent from the rows (whose AUC is
    # undefined) is left out instead of raising.
    aucs = [
        roc_auc_score(y_true == k, y_score[:, k], sample_weight=sample_weight)
        for k in range(y_score.shape[1])
        if 0 < (y_true == k).sum() < len(y_true)
    ]
    return float(np.mean(aucs)) if aucs else np.nan


def _r2(y_true, y_pred, sample_weight=None):
    # R2 of fewer than two rows is undefined (and scikit-learn warns).
    return r2_score(y_true, y_pred, sample_weight=sample_weight) if y_true.size > 1 else np.nan


@dataclass(frozen=True)
class TaskMetric:
    """A metric of one task: on positive-class probabilities for a binary
    task, on the ``(n, K)`` class probabilities (against class indices) for a
    multiclass task, on predicted values for a regression task."""

    function: object
    greater_is_better: bool
    needs_both_classes: bool
    task_type: str = "binary"


#: Metrics computed per task; the keys name them in scorers and in the history.
TASK_METRICS = {
    "roc_auc": TaskMetric(roc_auc_score, greater_is_better=True, needs_both_classes=True),
    "average_precision": TaskMetric(
        average_precision_score, greater_is_better=True, needs_both_classes=True
    ),
    "log_loss": TaskMetric(_binary_log_loss, greater_is_better=False, needs_both_classes=False),
    # Calibration: 10 bins of equal mass (or of equal width), and how far the
    # mean prediction is from the observed rate; see sklearn_mtl.calibration.
    "ece": TaskMetric(
        partial(expected_calibration_error, strategy="quantile"),
        greater_is_better=False,
        needs_both_classes=False,
    ),
    "ece_uniform": TaskMetric(
        partial(expected_calibration_error, strategy="uniform"),
        greater_is_better=False,
        needs_both_classes=False,
    ),
    "abs_log_ratio": TaskMetric(abs_log_ratio, greater_is_better=False, needs_both_classes=False),
    "log_loss_multiclass": TaskMetric(
        _multiclass_log_loss, False, needs_both_classes=False, task_type="multiclass"
    ),
    "accuracy": TaskMetric(
        _multiclass_accuracy, True, needs_both_classes=False, task_type="multiclass"
    ),
    "roc_auc_ovr": TaskMetric(
        _macro_ovr_roc_auc, True, needs_both_classes=True, task_type="multiclass"
    ),
    "r2": TaskMetric(_r2, True, needs_both_classes=False, task_type="regression"),
    "mean_squared_error": TaskMetric(
        mean_squared_error, False, needs_both_classes=False, task_type="regression"
    ),
}


def _get_metric(metric):
    try:
        return TASK_METRICS[metric]
    except KeyError:
        raise ValueError(
            f"Unknown metric {metric!r}; choose one of {sorted(TASK_METRICS)}."
        ) from None


def score_task(metric, y_true, y_score, sample_weight=None):
    """One metric on one task, ignoring rows whose label is NaN.

    Returns NaN when the metric is undefined (e.g. AUC with one class present).
    """
    spec = _get_metric(metric)
    observed = ~np.isnan(y_true)
    y_true, y_score = y_true[observed], y_score[observed]
    if sample_weight is not None:
        sample_weight = sample_weight[observed]
    if y_true.size == 0 or (spec.needs_both_classes and np.unique(y_true).size < 2):
        return np.nan
    return float(spec.function(y_true, y_score, sample_weight=sample_weight))


def per_task_scores(metric, Y, proba, sample_weight=None):
    """Score each task separately.

    Parameters
    ----------
    metric : str
        Metric name, a key of :data:`TASK_METRICS`.
    Y : ndarray of shape (n_samples, n_tasks)
        Labels encoded as 0/1, NaN where a label is not observed.
    proba : ndarray of shape (n_samples, n_tasks)
        Predicted positive-class probability of each task.
    sample_weight : ndarray of shape (n_samples,), default=None
        Row weights.

    Returns
    -------
    ndarray of shape (n_tasks,)
        The metric of each task; NaN where it is undefined.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_mtl.metrics import per_task_scores
    >>> Y = np.array([[0, 1], [1, np.nan], [1, 0], [0, 1]])
    >>> proba = np.array([[0.1, 0.9], [0.8, 0.5], [0.7, 0.2], [0.3, 0.6]])
    >>> per_task_scores("roc_auc", Y, proba)
    array([1., 1.])
    """
    return np.array(
        [
            score_task(metric, Y[:, t], proba[:, t], sample_weight)
            for t in range(Y.shape[1])
        ]
    )


def conditional_proba(proba, proba_given):
    """``P(task | given) = P(task and given) / P(given)`` for a funnel step.

    In a funnel a step's positives are a subset of the previous step's, so a
    model's end-to-end probability of a step (e.g. pCTCVR) divided by that of
    the previous step (pCTR) is the step's conditional probability (pCVR).

    Parameters
    ----------
    proba, proba_given : ndarray of shape (n_samples,)
        End-to-end probabilities of the step and of the step it requires.

    Returns
    -------
    ndarray of shape (n_samples,)
        The ratio clipped to [0, 1]; 0 where ``proba_given`` is 0.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_mtl.metrics import conditional_proba
    >>> conditional_proba(np.array([0.02, 0.0]), np.array([0.1, 0.0]))
    array([0.2, 0. ])
    """
    ratio = np.divide(proba, proba_given, out=np.zeros_like(proba), where=proba_given > 0)
    return np.clip(ratio, 0.0, 1.0)


def score_task_given(metric, y_true, y_score, y_given, sample_weight=None):
    """One metric on one task, over the rows where ``y_given`` is positive.

    The conversion-rate metric of ESMM: CVR is only defined after a click,
    so scoring pCVR on non-clicked rows (as several libraries do) rewards
    predicting the click instead.

    Parameters
    ----------
    metric : {"roc_auc", "average_precision", "log_loss"}
        Metric name, a key of :data:`TASK_METRICS`.
    y_true : ndarray of shape (n_samples,)
        The task's labels (0/1, NaN when unobserved).
    y_score : ndarray of shape (n_samples,)
        Predicted conditional probability of the task given ``y_given``.
    y_given : ndarray of shape (n_samples,)
        Labels (0/1, NaN when unobserved) of the step the task requires.
    sample_weight : ndarray of shape (n_samples,), default=None
        Row weights.

    Returns
    -------
    float
        NaN when the metric is undefined on those rows.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_mtl.metrics import score_task_given
    >>> click = np.array([1, 1, 1, 0])
    >>> conversion = np.array([1, 0, 0, 0])
    >>> p_cvr = np.array([0.6, 0.2, 0.4, 0.9])
    >>> score_task_given("roc_auc", conversion, p_cvr, click)
    1.0
    """
    y_true = np.where(np.asarray(y_given) == 1, np.asarray(y_true, dtype=np.float64), np.nan)
    return score_task(metric, y_true, y_score, sample_weight)


class _Predictions:
    """An estimator's predictions on ``X``, each computed at most once."""

    def __init__(self, estimator, X):
        self._estimator, self._X = estimator, X
        self._proba = self._values = None

    def class_proba(self, t):
        """Task ``t``'s ``(n, n_classes)`` probabilities."""
        if self._proba is None:
            proba = self._estimator.predict_proba(self._X)
            self._proba = [proba] if isinstance(proba, np.ndarray) else proba
        return self._proba[t]

    def positive_proba(self, t):
        return self.class_proba(t)[:, 1]

    def values(self, t):
        if self._values is None:
            Y_pred = self._estimator.predict(self._X)
            self._values = Y_pred.reshape(len(Y_pred), -1)
        return self._values[:, t].astype(np.float64)


# What a task type's metrics score: probabilities (binary, multiclass) or
# predictions in the target's units (regression).
_SCORED_OUTPUT = {
    "binary": _Predictions.positive_proba,
    "multiclass": _Predictions.class_proba,
    "regression": _Predictions.values,
}
_RESPONSE_METHOD = {"binary": "predict_proba", "multiclass": "predict_proba", "regression": "predict"}


FittedTasks = namedtuple("FittedTasks", ["model", "targets"])
FittedTasks.__doc__ = """The tasks of a fitted estimator (or of a wrapper that scores like
one, such as a calibrated model): ``model`` gives ``task_names_`` and
``task_types_``, ``targets`` one fitted task target per task."""


def fitted_tasks(estimator):
    """What the scorers read of a fitted estimator (or of a fitted Pipeline's
    final estimator): its :class:`FittedTasks`; one accessor, no reach-ins elsewhere."""
    model = final_estimator(estimator)
    if isinstance(model, BaseEstimator):  # a scorer also takes plain prediction stand-ins
        check_is_fitted(model)
    return FittedTasks(model, list(model._task_targets))


def _task_truths(parts, Y):
    """Each task's labels as its metrics compare them (NaN where unobserved);
    for a funnel model, a step NaN where the previous one is 0 is a known 0,
    as in training."""
    names = parts.model.task_names_
    # By name when Y has names, as fit and score match them: never by position alone.
    columns = align_task_columns(Y, list(names))
    truths = [target.truth(c, name) for c, target, name in zip(columns, parts.targets, names)]
    tags = get_tags(parts.model) if hasattr(parts.model, "__sklearn_tags__") else None
    if tags is None or tags.target_tags.single_output:
        return truths
    steps = np.column_stack(truths)
    fill_unreached_steps(steps)
    return list(steps.T)


def _task_index(estimator, task):
    if isinstance(task, str):
        names = list(estimator.task_names_)
        if task not in names:
            raise ValueError(f"Unknown task {task!r}; the estimator's tasks are {names}.")
        return names.index(task)
    if not 0 <= task < estimator.n_tasks_:
        raise ValueError(f"Task index {task} is out of range for {estimator.n_tasks_} tasks.")
    return task


def _same_task(task, given):
    try:
        return bool(task == given)
    except (TypeError, ValueError):  # e.g. comparing arrays
        return False


def _raise_given_is_task(task):
    raise ValueError(
        f"given names the scored task itself, {task}: P(task | task) is 1 on every row "
        "where the task happened, so the score is undefined. Give the previous funnel "
        "step, e.g. make_task_scorer('roc_auc', 'conversion', given='click')."
    )


class TaskScorer(_BaseScorer):
    """Scorer of one task of a fitted multi-task classifier.

    Usable wherever scikit-learn takes a scorer (``GridSearchCV(scoring=...)``,
    ``cross_validate``): ``scorer(estimator, X, Y)`` returns the task's metric,
    negated when lower is better so that greater is always better. Binary
    metrics (``"roc_auc"``, ``"average_precision"``, ``"log_loss"``) score
    ``predict_proba``; regression metrics (``"r2"``,
    ``"mean_squared_error"``) score ``predict`` in the target's units. A
    metric of the other task type raises a ValueError. Rows whose label is
    NaN are left out. ``estimator`` may be a Pipeline ending in the model.

    With ``sklearn.set_config(enable_metadata_routing=True)``,
    ``scorer.set_score_request(sample_weight=True)`` makes model selection
    (``GridSearchCV``, ``cross_validate``) pass the ``sample_weight`` given
    to ``fit`` on to the scorer, which then weights each row; called
    directly, it takes ``sample_weight`` as its fourth argument.

    Parameters
    ----------
    metric : str
        Metric name, a key of :data:`TASK_METRICS`.
    task : int or str
        Task position, or its name in ``estimator.task_names_``.
    given : int or str, default=None
        A funnel step the task requires (e.g. the click for a conversion).
        When set, the scorer scores ``P(task | given)`` (see
        :func:`conditional_proba`) on the rows where ``given`` is positive
        only: ESMM's CVR metric.

    Examples
    --------
    >>> from sklearn_mtl.metrics import TaskScorer
    >>> TaskScorer("roc_auc", "income")
    TaskScorer(metric='roc_auc', task='income')
    >>> TaskScorer("roc_auc", "conversion", given="click")
    TaskScorer(metric='roc_auc', task='conversion', given='click')
    """

    def __init__(self, metric, task, given=None):
        spec = _get_metric(metric)
        super().__init__(
            spec.function,
            1 if spec.greater_is_better else -1,
            {},
            response_method=_RESPONSE_METHOD[spec.task_type],
        )
        self._spec = spec
        self.metric = metric
        self.task = task
        self.given = given
        if given is not None and _same_task(task, given):
            _raise_given_is_task(repr(task))

    def __call__(self, estimator, X, Y, sample_weight=None):
        return self._score(None, estimator, X, Y, sample_weight=sample_weight)

    def _score(self, method_caller, estimator, X, y_true, sample_weight=None):
        # scikit-learn's multi-metric scoring passes its prediction cache as
        # method_caller; it assumes single-output predict_proba, so it is not used.
        predictions = _Predictions(estimator, X)
        return self._task_score(fitted_tasks(estimator), predictions, y_true, sample_weight)

    def _task_score(self, parts, predictions, Y, sample_weight):
        # A Pipeline predicts through its steps but its final step knows the tasks.
        model = parts.model
        t = _task_index(model, self.task)
        kind, name = model.task_types_[t], model.task_names_[t]
        if kind != self._spec.task_type:
            raise ValueError(
                f"Metric {self.metric!r} scores {self._spec.task_type} tasks but task "
                f"{name!r} is a {kind} task; use one of "
                f"{sorted(m for m, s in TASK_METRICS.items() if s.task_type == kind)}."
            )
        truths = _task_truths(parts, Y)
        y_true = truths[t]
        if sample_weight is not None:
            sample_weight = np.asarray(sample_weight, dtype=np.float64)
        if self.given is None:
            y_score = _SCORED_OUTPUT[kind](predictions, t)
            score = score_task(self.metric, y_true, y_score, sample_weight)
        else:
            g = _task_index(model, self.given)
            if g == t:  # one task named by its index, the other by its name
                _raise_given_is_task(f"{self.task!r} (given={self.given!r})")
            y_given = truths[g]
            conditional = conditional_proba(
                predictions.positive_proba(t), predictions.positive_proba(g)
            )
            score = score_task_given(self.metric, y_true, conditional, y_given, sample_weight)
        return self._sign * score

    def __repr__(self):
        given = "" if self.given is None else f", given={self.given!r}"
        return f"TaskScorer(metric={self.metric!r}, task={self.task!r}{given})"


class MeanTaskScorer(TaskScorer):
    """Mean over tasks of one metric, each task scored on its own rows.

    A single number to select a model on (``refit=``) that weighs every
    task equally and never pools their rows: the mean of the
    :class:`TaskScorer` scores of the tasks. It is NaN when one task's
    metric is undefined on the data (e.g. the AUC of a task with one class
    in a fold), so that candidates are never compared on different tasks;
    ``GridSearchCV`` ranks NaN last and warns. Metadata routing works as
    for :class:`TaskScorer`.

    Parameters
    ----------
    metric : str
        Metric name, a key of :data:`TASK_METRICS`.
    tasks : sequence of int or str, default=None
        The tasks averaged; None means every task whose type the metric
        scores (every binary task for ``"roc_auc"``).

    Examples
    --------
    >>> from sklearn_mtl.metrics import MeanTaskScorer
    >>> MeanTaskScorer("roc_auc")
    MeanTaskScorer(metric='roc_auc')
    """

    def __init__(self, metric, tasks=None):
        super().__init__(metric, task=None)
        self.tasks = tasks

    def _score(self, method_caller, estimator, X, y_true, sample_weight=None):
        parts = fitted_tasks(estimator)
        model = parts.model
        tasks = self.tasks
        if tasks is None:
            kind = self._spec.task_type
            tasks = [t for t, task_type in enumerate(model.task_types_) if task_type == kind]
            if not tasks:
                raise ValueError(
                    f"Metric {self.metric!r} scores {kind} tasks but the estimator has "
                    f"none (task types {list(model.task_types_)})."
                )
        predictions = _Predictions(estimator, X)
        scores = [
            TaskScorer(self.metric, task)._task_score(parts, predictions, y_true, sample_weight)
            for task in tasks
        ]
        return float(np.mean(scores))

    def __repr__(self):
        tasks = "" if self.tasks is None else f", tasks={self.tasks!r}"
        return f"MeanTaskScorer(metric={self.metric!r}{tasks})"


def make_mean_task_scorer(metric, tasks=None):
    """Build a scorer of one metric's mean over tasks, e.g. to ``refit`` on.

    Parameters
    ----------
    metric : str
        Metric name, a key of :data:`TASK_METRICS` (negated when lower is
        better).
    tasks : sequence of int or str, default=None
        The tasks averaged; None means every task the metric applies to.

    Returns
    -------
    scorer : MeanTaskScorer
        Called as ``scorer(estimator, X, Y)``: the mean of the tasks' scores.

    Examples
    --------
    >>> from sklearn_mtl.metrics import make_mean_task_scorer
    >>> make_mean_task_scorer("average_precision", tasks=["income", "never_married"])
    MeanTaskScorer(metric='average_precision', tasks=['income', 'never_married'])
    """
    return MeanTaskScorer(metric, tasks)


def make_task_scorer(metric, task, given=None):
    """Build a scorer of one task for ``GridSearchCV`` and friends.

    Parameters
    ----------
    metric : str
        Metric name, a key of :data:`TASK_METRICS`. ``"log_loss"`` and
        ``"mean_squared_error"`` are negated by the scorer (greater is
        better); ``"log_loss"``, unlike scikit-learn's ``neg_log_loss`` on multi-label
        targets it counts the negative rows of the task too.
    task : int or str
        Task position or name.
    given : int or str, default=None
        A funnel step the task requires: score ``P(task | given)`` on the
        rows where ``given`` is positive (see :class:`TaskScorer`).

    Returns
    -------
    scorer : TaskScorer
        Called as ``scorer(estimator, X, Y)``.

    Examples
    --------
    >>> from sklearn_mtl.metrics import make_task_scorer
    >>> make_task_scorer("log_loss", 0)
    TaskScorer(metric='log_loss', task=0)
    """
    return TaskScorer(metric, task, given)


def task_scorers(tasks, metrics=None, *, task_types=None, mean=False):
    """A dict of per-task scorers for multi-metric ``GridSearchCV``.

    Parameters
    ----------
    tasks : sequence of str or int
        Task names (as in ``task_names_``) or positions.
    metrics : sequence of str, default=None
        Metric names, keys of :data:`TASK_METRICS`. None scores each task
        with its type's first metric (``"roc_auc"`` for a binary task,
        ``"roc_auc_ovr"`` for a multiclass one, ``"r2"`` for a regression
        one), ``"roc_auc"`` for every task when ``task_types`` is None.
    task_types : sequence of str or dict, default=None
        Each task's type (``"binary"``, ``"multiclass"``,
        ``"regression"``), in ``tasks`` order as the estimator's
        ``task_types``, or a dict ``{task: type}``. Each task is then scored
        by the metrics of its type only, so that one dict scores a mix of
        binary and regression tasks. None scores every task with every
        metric.
    mean : bool, default=False
        Also add each metric's mean over the tasks it scores (a
        :class:`MeanTaskScorer`) as ``"<metric>_mean"``: one number that
        weighs every task equally, to pass as ``refit=``.

    Returns
    -------
    dict
        ``{"<metric>_<task>": TaskScorer}``; lower-is-better metrics are
        named ``"neg_<metric>_<task>"`` (e.g.
        ``"neg_mean_squared_error_<task>"``). Pass it as ``scoring=`` and one key as
        ``refit=``.

    Raises
    ------
    ValueError
        If a task type is unknown or does not match ``tasks``, or if a
        task gets no metric of its type.

    Examples
    --------
    >>> from sklearn_mtl.metrics import task_scorers
    >>> sorted(task_scorers(["income", "never_married"]))
    ['roc_auc_income', 'roc_auc_never_married']
    >>> sorted(task_scorers(["weeks"], metrics=("r2", "mean_squared_error")))
    ['neg_mean_squared_error_weeks', 'r2_weeks']
    >>> sorted(task_scorers(["income", "never_married"], mean=True))
    ['roc_auc_income', 'roc_auc_mean', 'roc_auc_never_married']
    >>> sorted(task_scorers(["income", "weeks"], task_types=["binary", "regression"]))
    ['r2_weeks', 'roc_auc_income']
    """
    tasks = list(tasks)
    if mean and "mean" in [str(task) for task in tasks]:
        raise ValueError(
            "A task is named 'mean', which would clash with the mean scorer's key "
            "'<metric>_mean'; rename the task or build the mean scorer with "
            "make_mean_task_scorer under a key of your choice."
        )
    kinds = _scored_task_types(tasks, task_types)
    if metrics is None:
        defaults = ("roc_auc",) if kinds is None else (TASK_TYPES[k].metrics[0] for k in kinds)
        metrics = list(dict.fromkeys(defaults))
    scorers = {}
    scored = set()
    for metric in metrics:
        spec = _get_metric(metric)
        prefix = metric if spec.greater_is_better else f"neg_{metric}"
        its_tasks = [
            t for t, task in enumerate(tasks) if kinds is None or kinds[t] == spec.task_type
        ]
        for t in its_tasks:
            scorers[f"{prefix}_{tasks[t]}"] = TaskScorer(metric, tasks[t])
        if mean and its_tasks:
            scorers[f"{prefix}_mean"] = MeanTaskScorer(metric, [tasks[t] for t in its_tasks])
        scored.update(its_tasks)
    unscored = [t for t in range(len(tasks)) if t not in scored]
    if unscored:
        types = {kinds[t] for t in unscored}
        choices = sorted(m for m, spec in TASK_METRICS.items() if spec.task_type in types)
        raise ValueError(
            f"Task(s) {[tasks[t] for t in unscored]} of type(s) {sorted(types)} get none "
            f"of the metrics {list(metrics)}; add a metric of their type: {choices}."
        )
    return scorers


def _scored_task_types(tasks, task_types):
    """``task_types`` as one type per task of ``tasks``, or None."""
    if task_types is None:
        return None
    if isinstance(task_types, dict):
        unknown = [task for task in task_types if task not in tasks]
        missing = [task for task in tasks if task not in task_types]
        if unknown or missing:
            raise ValueError(
                f"task_types must give the type of each task {tasks}; it names unknown "
                f"task(s) {unknown} and lacks {missing}."
            )
        kinds = [task_types[task] for task in tasks]
    else:
        kinds = list(task_types)
        if len(kinds) != len(tasks):
            raise ValueError(
                f"task_types has {len(kinds)} entries for {len(tasks)} tasks {tasks}; give "
                "one type per task, in the same order."
            )
    bad = sorted({str(kind) for kind in kinds if kind not in TASK_TYPES})
    if bad:
        raise ValueError(f"Unknown task type(s) {bad}; use {sorted(TASK_TYPES)}.")
    return kinds


#: ESMM's three quantities: (task, given) positions in ``Y = [click, conversion]``.
_ESMM_QUANTITIES = {"ctr": (0, None), "cvr": (1, 0), "ctcvr": (1, None)}


def esmm_scorers(metrics=("roc_auc",)):
    """Scorers of CTR, CVR and CTCVR for a click -> conversion model.

    CTR and CTCVR (click and conversion) are scored on all rows; CVR, the
    conversion rate given a click, on the clicked rows only, with the
    model's ``P(conversion) / P(click)``. Metrics are never pooled over the
    three.

    Parameters
    ----------
    metrics : sequence of str, default=("roc_auc",)
        Metric names, keys of :data:`TASK_METRICS`.

    Returns
    -------
    dict
        ``{"<metric>_ctr", "<metric>_cvr", "<metric>_ctcvr"}`` to
        :class:`TaskScorer`, for ``Y`` columns ``[click, conversion]``; log
        loss entries are prefixed ``neg_``. Pass it as ``scoring=`` and one
        key as ``refit=``.

    Examples
    --------
    >>> from sklearn_mtl.metrics import esmm_scorers
    >>> esmm_scorers()["roc_auc_cvr"]
    TaskScorer(metric='roc_auc', task=1, given=0)
    """
    scorers = {}
    for metric in metrics:
        prefix = metric if _get_metric(metric).greater_is_better else f"neg_{metric}"
        for name, (task, given) in _ESMM_QUANTITIES.items():
            scorers[f"{prefix}_{name}"] = TaskScorer(metric, task, given)
    return scorers
