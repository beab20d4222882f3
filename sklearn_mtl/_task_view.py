"""One binary task of a fitted multi-task model as a scikit-learn binary classifier."""

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.exceptions import NotFittedError
from sklearn.utils import get_tags
from sklearn.utils.validation import check_is_fitted

from ._pipeline import final_estimator


class TaskView(ClassifierMixin, BaseEstimator):
    """A binary task of a fitted multi-task model, as a binary classifier.

    The view reads the model; it never trains it. It gives that task's
    ``classes_``, ``predict_proba`` of shape ``(n_samples, 2)``, ``predict``
    and ``decision_function``, and binary classifier tags, so that
    scikit-learn's single-output tools take it: wrap it in
    :class:`~sklearn.frozen.FrozenEstimator` for
    :class:`~sklearn.calibration.CalibratedClassifierCV` or
    :class:`~sklearn.model_selection.TunedThresholdClassifierCV` (they then
    calibrate or tune on the data they are given without refitting the
    model), or give it as is to
    :meth:`sklearn.metrics.RocCurveDisplay.from_estimator`. Their ``y`` is
    that task's label column alone, with its unobserved (NaN) rows left out.

    Parameters
    ----------
    estimator : estimator or Pipeline
        A fitted multi-task model, or a fitted Pipeline ending in one; it
        takes the same ``X`` as the view.
    task : str or int
        The task: one of the model's ``task_names_``, or its position. It
        must be a binary task. For a funnel model the task is the end-to-end
        event (``P(click & conversion)`` for ``"conversion"``).

    Attributes
    ----------
    classes_ : ndarray of shape (2,)
        The task's two classes; the second is the positive one.
    task_index_ : int
        Position of the task among the model's tasks.

    See Also
    --------
    sklearn_mtl.metrics.make_task_scorer : Score one task of the model itself.

    Notes
    -----
    ``fit`` does not train: it checks that ``estimator`` is fitted and
    returns the view. A tool that clones and refits its estimator (a
    cross-validation, a search) would clone an unfitted model, which
    ``fit`` refuses with a ``ValueError``; give such tools
    ``FrozenEstimator(view)``.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.calibration import CalibratedClassifierCV
    >>> from sklearn.frozen import FrozenEstimator
    >>> from sklearn_mtl import MMoEClassifier, TaskView
    >>> from sklearn_mtl.datasets import make_funnel
    >>> X, Y = make_funnel(400, random_state=0, return_X_y=True)
    >>> model = MMoEClassifier(max_epochs=1, random_state=0).fit(X, Y)
    >>> click = TaskView(model, "click")
    >>> click.classes_, click.predict_proba(X).shape
    (array([0, 1]), (400, 2))
    >>> calibrated = CalibratedClassifierCV(FrozenEstimator(click)).fit(X, Y["click"])
    >>> calibrated.predict_proba(X[:2]).shape
    (2, 2)
    """

    def __init__(self, estimator, task):
        self.estimator = estimator
        self.task = task

    def fit(self, X=None, y=None, **fit_params):
        """Check that the model is fitted and that the task is binary; no training.

        Parameters
        ----------
        X : object, default=None
            Ignored.
        y : object, default=None
            Ignored.
        **fit_params : dict
            Ignored.

        Returns
        -------
        self : object
            The view.
        """
        self._model()
        self.task_index_ = self._task_index()
        return self

    @property
    def classes_(self):
        try:
            index = self._task_index()
        except (TypeError, ValueError) as exc:
            # An AttributeError, so that hasattr(view, "classes_") says False.
            raise AttributeError(str(exc)) from exc
        classes = self._model().classes_
        return classes if self._n_tasks() == 1 else classes[index]

    @property
    def n_features_in_(self):
        return self.estimator.n_features_in_

    @property
    def feature_names_in_(self):
        return self.estimator.feature_names_in_

    def predict_proba(self, X):
        """Probabilities of the task's two classes.

        Parameters
        ----------
        X : {array-like, DataFrame} of shape (n_samples, n_features)
            Input of ``estimator``.

        Returns
        -------
        ndarray of shape (n_samples, 2)
            Columns ordered as ``classes_``.
        """
        index = self._task_index()
        proba = self.estimator.predict_proba(X)
        return proba if self._n_tasks() == 1 else proba[index]

    def decision_function(self, X):
        """Log-odds of the positive class, ``log(p / (1 - p))``.

        Parameters
        ----------
        X : {array-like, DataFrame} of shape (n_samples, n_features)
            Input of ``estimator``: for a Pipeline, its raw input.

        Returns
        -------
        ndarray of shape (n_samples,)
            Positive for rows predicted ``classes_[1]``; infinite where a
            probability rounds to 0 or 1 in float64.
        """
        proba = self.predict_proba(X)
        with np.errstate(divide="ignore"):
            return np.log(proba[:, 1]) - np.log(proba[:, 0])

    def predict(self, X):
        """The more probable class of the task (ties to the first class, as the model).

        Parameters
        ----------
        X : {array-like, DataFrame} of shape (n_samples, n_features)
            The same input as :meth:`predict_proba`.

        Returns
        -------
        ndarray of shape (n_samples,)
            Labels from ``classes_``.
        """
        return self.classes_[(self.predict_proba(X)[:, 1] > 0.5).astype(np.intp)]

    def score(self, X, y, sample_weight=None):
        """Accuracy of :meth:`predict` against the task's labels.

        Parameters
        ----------
        X : {array-like, DataFrame} of shape (n_samples, n_features)
            Input of ``estimator``, rows where the task is observed.
        y : array-like of shape (n_samples,)
            The task's label column, no NaN.
        sample_weight : array-like of shape (n_samples,), default=None
            Row weights.

        Returns
        -------
        score : float
        """
        # Documented here: the inherited docstring links a label of scikit-learn's own docs.
        return super().score(X, y, sample_weight=sample_weight)

    def __sklearn_is_fitted__(self):
        try:
            self._model()
        except (NotFittedError, ValueError, TypeError):
            return False
        return True

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = False
        tags.target_tags.single_output = True
        tags.target_tags.multi_output = False
        tags.input_tags = get_tags(self.estimator).input_tags
        return tags

    def _model(self):
        model = final_estimator(self.estimator)
        try:
            check_is_fitted(self.estimator)
        except NotFittedError:
            raise ValueError(
                f"TaskView reads a fitted model and never trains one, but its "
                f"{type(model).__name__} is not fitted. Fit the model first; a tool that "
                "clones and refits (cross-validation, a search) needs "
                "sklearn.frozen.FrozenEstimator(view)."
            ) from None
        if not hasattr(model, "task_names_"):
            raise TypeError(
                f"TaskView needs a multi-task model of sklearn_mtl (or a Pipeline ending "
                f"in one); got {type(model).__name__}."
            )
        return model

    def _n_tasks(self):
        return self._model().n_tasks_

    def _task_index(self):
        model = self._model()
        names = [str(name) for name in model.task_names_]
        if isinstance(self.task, (int, np.integer)) and not isinstance(self.task, bool):
            if not 0 <= self.task < len(names):
                raise ValueError(
                    f"task={self.task} is not a task position of {type(model).__name__}: it "
                    f"has {len(names)} task(s) {names}."
                )
            index = int(self.task)
        elif str(self.task) in names:
            index = names.index(str(self.task))
        else:
            raise ValueError(
                f"task={self.task!r} is not a task of {type(model).__name__}; its tasks "
                f"are {names} (give a name or a position)."
            )
        kind = model.task_types_[index]
        if kind != "binary":
            raise ValueError(
                f"Task {names[index]!r} is a {kind} task; TaskView gives binary tasks only "
                "(predict_proba of shape (n_samples, 2))."
            )
        return index
