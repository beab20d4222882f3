"""Per-task probability calibration of a fitted multi-task model.

A network trained with a re-weighted loss (up-weighted positives, task loss
weights), stopped early or overfitted ranks well but gives probabilities
that are too high, too low or too confident. :class:`TaskCalibratedClassifier`
maps each binary task's probability through a one-dimensional calibrator
fitted on held-out rows, keeping the model's API and, for conversion
funnels, the order of the steps (pCTCVR never above pCTR).
"""

from numbers import Real

import numpy as np
from scipy.optimize import minimize, minimize_scalar
from scipy.special import expit
from sklearn.base import BaseEstimator, ClassifierMixin, MetaEstimatorMixin, _fit_context, clone
from sklearn.frozen import FrozenEstimator
from sklearn.isotonic import IsotonicRegression
from sklearn.model_selection import train_test_split
from sklearn.utils import _safe_indexing, get_tags
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import (
    _check_sample_weight,
    _num_samples,
    check_consistent_length,
    check_is_fitted,
    indexable,
)

from ._calibration_metrics import binary_labels, task_classes
from ._pipeline import final_estimator
from ._shared import fill_doc
from ._targets import align_task_columns
from .inspection import predict_cvr, predict_proba_frame
from .metrics import make_task_scorer

__all__ = ["TaskCalibratedClassifier"]

# A probability of exactly 0 or 1 has an infinite logit, which calibrators
# map to 0 or 1 again; fitting sees it at this finite logit instead. Clipping
# the probabilities instead would tie distinct saturated rows (and change the AUC).
_MAX_LOGIT = 700.0


def _logit(p):
    with np.errstate(divide="ignore"):
        return np.log(p) - np.log1p(-p)


def _fit_logit(p):
    return np.clip(_logit(p), -_MAX_LOGIT, _MAX_LOGIT)


def _weighted_log_loss(logits, y, w):
    # -[y log sigmoid(z) + (1 - y) log(1 - sigmoid(z))] = softplus(z) - y z
    return np.sum(w * (np.logaddexp(0.0, logits) - y * logits)) / np.sum(w)


class _TemperatureCalibrator:
    """``sigmoid(logit(p) / T)``: one temperature ``T > 0`` minimising the log
    loss. Strictly increasing, so the ranking (AUC) of the rows is unchanged."""

    def fit(self, p, y, w):
        z = _fit_logit(p)
        # Over log T: T stays positive; e^{+-7} covers any useful temperature.
        result = minimize_scalar(
            lambda log_t: _weighted_log_loss(z * np.exp(-log_t), y, w),
            bounds=(-7.0, 7.0),
            method="bounded",
            options={"xatol": 1e-8},
        )
        self.temperature_ = float(np.exp(result.x))
        return self

    def predict(self, p):
        return expit(_logit(p) / self.temperature_)


class _SigmoidCalibrator:
    """Platt scaling, ``sigmoid(a logit(p) + b)``: a temperature and a shift of
    the logit, the shift undoing a re-weighted loss's bias. ``a >= 0``: a
    model that ranks worse than chance on the held-out rows gets a constant,
    never a reversed ranking."""

    def fit(self, p, y, w):
        z = _fit_logit(p)
        total = np.sum(w)

        def loss_and_gradient(params):
            a, b = params
            logits = a * z + b
            residual = w * (expit(logits) - y) / total
            return _weighted_log_loss(logits, y, w), np.array(
                [np.sum(residual * z), np.sum(residual)]
            )

        result = minimize(
            loss_and_gradient, np.array([1.0, 0.0]), jac=True, method="L-BFGS-B",
            bounds=[(0.0, None), (None, None)],
        )
        self.slope_, self.intercept_ = (float(v) for v in result.x)
        return self

    def predict(self, p):
        # A zero slope times the infinite logit of a saturated row would be NaN.
        term = self.slope_ * _logit(p) if self.slope_ > 0 else 0.0
        return expit(term + self.intercept_) + np.zeros_like(p)


class _IsotonicCalibrator:
    """A non-decreasing step function of ``p`` (isotonic regression): fits any
    monotone distortion, needs more rows, and ties neighbouring rows."""

    def fit(self, p, y, w):
        self.isotonic_ = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip")
        self.isotonic_.fit(p, y, sample_weight=w)
        return self

    def predict(self, p):
        return self.isotonic_.predict(p)


#: Calibrators by ``method`` name.
CALIBRATORS = {
    "temperature": _TemperatureCalibrator,
    "sigmoid": _SigmoidCalibrator,
    "isotonic": _IsotonicCalibrator,
}


class _IndependentTasks:
    """Each binary task's probability is calibrated on the rows where its
    label is observed."""

    @staticmethod
    def scores(calibrated, X):
        binary = calibrated.binary_tasks_
        proba = calibrated._model_proba(X)
        scores = np.full((_n_rows(proba), calibrated.n_tasks_), np.nan)
        scores[:, binary] = np.column_stack([proba[t][:, 1] for t in binary])
        return scores

    @staticmethod
    def fit_rows(labels, t):
        return ~np.isnan(labels[:, t])

    @staticmethod
    def end_to_end(calibrated_scores):
        return calibrated_scores


class _FunnelSteps:
    """A funnel ``Y = [click, conversion, ...]``: the first step's probability
    is calibrated on every row where it is observed; each later step's rate
    given the previous one (pCVR = pCTCVR / pCTR) on the rows where the
    previous step happened (the only rows where that rate is observed);
    the end-to-end probabilities are the running products of the calibrated
    rates, so each step stays at most as probable as the one before."""

    @staticmethod
    def scores(calibrated, X):
        inner = calibrated._inner_estimator()
        rates = predict_cvr(inner, X).reshape(_num_samples(X), -1)
        first = _as_list(inner.predict_proba(X))[0][:, 1]
        return np.column_stack([first, rates])

    @staticmethod
    def fit_rows(labels, t):
        observed = ~np.isnan(labels[:, t])
        return observed if t == 0 else observed & (labels[:, t - 1] == 1)

    @staticmethod
    def end_to_end(calibrated_scores):
        return np.cumprod(calibrated_scores, axis=1)


def _as_list(proba):
    return [proba] if isinstance(proba, np.ndarray) else list(proba)


def _n_rows(proba):
    return len(next(p for p in proba if p is not None))


def _is_funnel(model):
    # Funnel models (ESMM, ESCM2, AITM) are the ones that give step rates.
    return callable(getattr(model, "predict_cvr", None))


@fill_doc
class TaskCalibratedClassifier(ClassifierMixin, MetaEstimatorMixin, BaseEstimator):
    """Calibrate each binary task of a multi-task classifier on held-out rows.

    Wraps a multi-task estimator (or a Pipeline ending in one) and maps each
    binary task's predicted probability through a monotone one-dimensional
    calibrator fitted on rows the model was not trained on, keeping the
    model's API: ``predict_proba`` (one array per task), ``predict``,
    ``predict_proba_frame``, ``task_names_``, ``classes_``. Multiclass and
    regression tasks pass through unchanged. Rows whose label is NaN (not
    observed) are left out of their task's calibrator.

    As with scikit-learn's :class:`~sklearn.calibration.CalibratedClassifierCV`,
    a model that is already fitted is wrapped in
    :class:`~sklearn.frozen.FrozenEstimator`: ``fit`` then fits only the
    calibrators, on all the rows it is given (the held-out rows). Any other
    estimator is cloned and fitted on a ``1 - calibration_size`` share of
    the rows, and the calibrators on the rest.

    **Funnels.** For a funnel model (:class:`~sklearn_mtl.ESMMClassifier`,
    :class:`~sklearn_mtl.ESCM2Classifier`,
    :class:`~sklearn_mtl.AITMClassifier`, whose task ``t`` is "step ``t``
    reached") calibrating each end-to-end probability on its own could put
    pCTCVR above pCTR. Instead the first step's probability (pCTR) is
    calibrated on all rows, each later step's conditional rate
    (``predict_cvr``, pCVR) on the rows where the previous step is positive
    (the clicked rows: where that rate is observed), and the end-to-end
    probabilities are their products: calibrated pCTCVR = calibrated pCTR x
    calibrated pCVR <= calibrated pCTR, on every row.

    Parameters
    ----------
    estimator : estimator or Pipeline
        A multi-task classifier of this package, or a Pipeline ending in
        one; wrap it in :class:`~sklearn.frozen.FrozenEstimator` when it is
        already fitted.
    method : {"temperature", "sigmoid", "isotonic"}, default="temperature"
        The calibrator of each task, fitted by weighted log loss (isotonic:
        squared error).
        ``"temperature"``: ``sigmoid(logit(p) / T)``, one parameter, fixes
        over- and under-confidence and keeps the ranking (AUC) of the task's
        rows exactly. ``"sigmoid"``: Platt scaling ``sigmoid(a logit(p) +
        b)``, also fixes a shift such as that of up-weighted positives.
        ``"isotonic"``: any non-decreasing map; needs thousands of positives,
        and ties rows (AUC can change).
    calibration_size : float in (0, 1), default=0.25
        Share of the rows kept for the calibrators when ``estimator`` is not
        a :class:`~sklearn.frozen.FrozenEstimator`; ignored otherwise.
    random_state : int, RandomState instance or None, default=None
        Seeds that split.

    Attributes
    ----------
    estimator_ : estimator
        The fitted estimator (``estimator`` itself when frozen).
    calibrators_ : list
        One fitted calibrator per task, None for a task that is not binary.
        A temperature calibrator has ``temperature_``; a sigmoid one
        ``slope_`` and ``intercept_``.
    funnel_ : bool
        Whether the tasks were calibrated as funnel steps (see above).
    task_names_ : ndarray of str
        The model's task names.
    task_types_ : list of str
        The model's task types.
    classes_ : list of ndarray
        The classes of each task (None for a regression task).
    n_tasks_ : int
        The number of tasks.
    binary_tasks_ : list of int
        Positions of the calibrated (binary) tasks.

    See Also
    --------
    sklearn_mtl.metrics.expected_calibration_error : The error it reduces.
    sklearn_mtl.inspection.ReliabilityDisplay : Reliability diagrams per task.

    Examples
    --------
    >>> from sklearn.frozen import FrozenEstimator
    >>> from sklearn_mtl import ESMMClassifier
    >>> from sklearn_mtl.calibration import TaskCalibratedClassifier
    >>> from sklearn_mtl.datasets import make_funnel
    >>> X, Y = make_funnel(3000, random_state=0, return_X_y=True)
    >>> model = ESMMClassifier(max_epochs=2, random_state=0).fit(X[:2000], Y[:2000])
    >>> calibrated = TaskCalibratedClassifier(FrozenEstimator(model)).fit(X[2000:], Y[2000:])
    >>> [p.shape for p in calibrated.predict_proba(X[:5])]
    [(5, 2), (5, 2)]
    >>> proba = calibrated.predict_proba_frame(X)
    >>> bool((proba["P(click & conversion)"] <= proba["P(click)"]).all())
    True
    """

    _parameter_constraints = {
        "estimator": [HasMethods(["fit", "predict_proba"])],
        "method": [StrOptions(set(CALIBRATORS))],
        "calibration_size": [Interval(Real, 0, 1, closed="neither")],
        "random_state": ["random_state"],
    }

    def __init__(self, estimator, *, method="temperature", calibration_size=0.25,
                 random_state=None):
        self.estimator = estimator
        self.method = method
        self.calibration_size = calibration_size
        self.random_state = random_state

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y, sample_weight=None):
        """Fit the calibrators (and the estimator unless it is frozen).

        Parameters
        ----------
        X : {array-like, DataFrame} of shape (n_samples, n_features)
            Features, as the estimator takes them.
        y : array-like of shape (n_samples, n_tasks)
            The label matrix ``Y``, columns matched to the model's tasks as
            in its ``score``; NaN where a label is not observed.
        sample_weight : array-like of shape (n_samples,), default=None
            Row weights, of the calibrators' loss (and of the estimator's
            fit when it is not frozen).

        Returns
        -------
        self : object
            The fitted calibrated classifier.
        """
        if y is None:
            raise ValueError(
                "TaskCalibratedClassifier requires y to be passed, but the target y is None: "
                "pass the label matrix Y of the calibration rows."
            )
        check_consistent_length(X, y)
        X, y = indexable(X, y)
        if sample_weight is not None:
            sample_weight = _check_sample_weight(sample_weight, X)
        if isinstance(self.estimator, FrozenEstimator):
            self.estimator_ = self.estimator
        else:
            train, held_out = train_test_split(
                np.arange(_num_samples(X)), test_size=self.calibration_size,
                random_state=self.random_state,
            )
            weight = {} if sample_weight is None else {
                "sample_weight": sample_weight[train]
            }
            self.estimator_ = clone(self.estimator).fit(
                _safe_indexing(X, train), _safe_indexing(y, train), **weight
            )
            X, y = _safe_indexing(X, held_out), _safe_indexing(y, held_out)
            if sample_weight is not None:
                sample_weight = sample_weight[held_out]
        model = final_estimator(self._inner_estimator())
        check_is_fitted(model)
        if not hasattr(model, "task_names_"):
            raise TypeError(
                "TaskCalibratedClassifier calibrates the tasks of a multi-task classifier of "
                f"sklearn_mtl (or a Pipeline ending in one); got {type(model).__name__}. For a "
                "single-output classifier use sklearn.calibration.CalibratedClassifierCV."
            )
        self.task_names_ = model.task_names_
        self.task_types_ = list(model.task_types_)
        self.classes_ = model.classes_
        self.n_tasks_ = model.n_tasks_
        for name in ("n_features_in_", "feature_names_in_"):
            if hasattr(self.estimator_, name):
                setattr(self, name, getattr(self.estimator_, name))
        self.binary_tasks_ = [t for t, kind in enumerate(self.task_types_) if kind == "binary"]
        if not self.binary_tasks_:
            raise ValueError(
                f"TaskCalibratedClassifier calibrates binary tasks, but the model's tasks are "
                f"{dict(zip(map(str, self.task_names_), self.task_types_))}; there is nothing "
                "to calibrate."
            )
        self.funnel_ = _is_funnel(model)

        names = [str(name) for name in self.task_names_]
        columns = align_task_columns(y, names)
        labels = np.full((_num_samples(X), self.n_tasks_), np.nan)
        for t in self.binary_tasks_:
            labels[:, t] = binary_labels(columns[t], task_classes(self)[t], names[t])
        weight = np.ones(len(labels)) if sample_weight is None else sample_weight
        structure = self._structure()
        scores = structure.scores(self, X)
        self.calibrators_ = [None] * self.n_tasks_
        for t in self.binary_tasks_:
            rows = structure.fit_rows(labels, t)
            if np.unique(labels[rows, t]).size < 2:
                where = (
                    f"rows where {names[t - 1]!r} is positive"
                    if self.funnel_ and t > 0 else "rows where it is observed"
                )
                raise ValueError(
                    f"Task {names[t]!r} needs both classes among its calibration rows ({where}: "
                    f"{int(rows.sum())} of them, positives "
                    f"{int(np.nansum(labels[rows, t]))}); calibrate on more held-out rows."
                )
            self.calibrators_[t] = CALIBRATORS[self.method]().fit(
                scores[rows, t], labels[rows, t], weight[rows]
            )
        return self

    # ---------------------------------------------------------- predictions

    def predict_proba(self, X):
        """Class probabilities of each task, binary tasks calibrated.

        {X_returns}
        proba : list of (ndarray of shape (n_samples, n_classes) or None)
            As the model's ``predict_proba``: one array per task (the array
            itself with a single task); each binary task's is
            ``[1 - p, p]`` with ``p`` calibrated.
        """
        check_is_fitted(self)
        proba = self._model_proba(X)
        calibrated = self._calibrated(X)
        for t in self.binary_tasks_:
            proba[t] = np.column_stack([1.0 - calibrated[:, t], calibrated[:, t]])
        return proba[0] if self.n_tasks_ == 1 else proba

    def predict(self, X):
        """Predicted label of each task, from the calibrated probabilities.

        {X_returns}
        Y_pred : ndarray of shape (n_samples, n_tasks)
            ``classes_[t][1]`` where the calibrated probability of a binary
            task is above 0.5; other tasks as the model predicts them.
            ``(n_samples,)`` with a single task.
        """
        check_is_fitted(self)
        Y_pred = np.array(self.estimator_.predict(X), copy=True)
        Y_pred = Y_pred.reshape(len(Y_pred), -1)
        if self.binary_tasks_:
            calibrated, classes = self._calibrated(X), task_classes(self)
            for t in self.binary_tasks_:
                Y_pred[:, t] = classes[t][(calibrated[:, t] > 0.5).astype(np.intp)]
        return Y_pred[:, 0] if self.n_tasks_ == 1 else Y_pred

    def predict_proba_frame(self, X):
        """Calibrated positive-class probability of each binary task as a DataFrame.

        {X_returns}
        DataFrame of shape (n_samples, n_binary_tasks)
            The model's ``predict_proba_frame`` (its column names, e.g.
            ``"P(click & conversion)"`` for a funnel, and the index of a
            DataFrame ``X``) with calibrated values.
        """
        check_is_fitted(self)
        frame = predict_proba_frame(self._inner_estimator(), X)
        frame.iloc[:, :] = self._calibrated(X)[:, self.binary_tasks_]
        return frame

    def _has_step_rates(self):
        check_is_fitted(self)
        return self.funnel_

    @available_if(_has_step_rates)
    @fill_doc  # the class's fill_doc does not see through available_if
    def predict_cvr(self, X):
        """Calibrated rate of each later funnel step given the previous one.

        Only for a funnel model (``funnel_`` is True).

        {X_returns}
        ndarray of shape (n_samples,) or (n_samples, n_tasks - 1)
            As the model's ``predict_cvr``, calibrated: the ratio of
            consecutive calibrated end-to-end probabilities.
        """
        rates = self._calibrated_scores(X)[:, 1:]
        return rates[:, 0] if rates.shape[1] == 1 else rates

    def score(self, X, y, sample_weight=None):
        """Mean over tasks of each task's ranking score, as the model's own ``score``.

        ROC AUC of a binary task (on the calibrated probabilities), macro
        one-vs-rest ROC AUC of a multiclass task, R2 of a regression task,
        each on its observed labels; the mean over the tasks where it is
        defined.

        Parameters
        ----------
        {X}
        {y_sample_weight}

        Returns
        -------
        score : float
        """
        check_is_fitted(self)
        align_task_columns(y, [str(name) for name in self.task_names_])  # named errors
        scores = [
            make_task_scorer(target.metrics[0], t)(self, X, y, sample_weight)
            for t, target in enumerate(self._task_targets)
        ]
        return float(np.nanmean(scores)) if np.isfinite(scores).any() else np.nan

    # ------------------------------------------------------------ internals

    @property
    def _task_targets(self):
        # The per-task scorers of sklearn_mtl.metrics read the label encoding
        # of the model they score; it is the wrapped model's.
        return final_estimator(self._inner_estimator())._task_targets

    def _inner_estimator(self):
        """The fitted estimator or Pipeline, out of its FrozenEstimator."""
        estimator = self.estimator_
        return estimator.estimator if isinstance(estimator, FrozenEstimator) else estimator

    def _structure(self):
        return _FunnelSteps if self.funnel_ else _IndependentTasks

    def _model_proba(self, X):
        return _as_list(self.estimator_.predict_proba(X))

    def _calibrated_scores(self, X):
        check_is_fitted(self)
        scores = self._structure().scores(self, X)
        for t in self.binary_tasks_:
            scores[:, t] = self.calibrators_[t].predict(scores[:, t])
        return scores

    def _calibrated(self, X):
        """``(n, n_tasks)`` calibrated positive-class probabilities (NaN for
        tasks that are not binary)."""
        return self._structure().end_to_end(self._calibrated_scores(X))

    def __sklearn_tags__(self):
        # The labels and inputs it takes are the wrapped model's.
        tags = super().__sklearn_tags__()
        inner = get_tags(self.estimator)
        tags.input_tags = inner.input_tags
        tags.target_tags = inner.target_tags
        tags.classifier_tags = inner.classifier_tags
        return tags
