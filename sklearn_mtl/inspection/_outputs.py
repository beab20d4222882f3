"""The models' own outputs, reachable through a fitted Pipeline."""

import pandas as pd

from .._base import BaseMultiTaskClassifier
from .._pipeline import final_estimator, unwrap
from .._shared import fill_doc


def _models_with(method):
    """Names of the estimator classes that have ``method``."""
    found, pending = set(), [BaseMultiTaskClassifier]
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        if "_own_params" in vars(cls) and callable(getattr(cls, method, None)):
            found.add(cls.__name__)
    return sorted(found)


def _output(method, estimator, X):
    model = final_estimator(estimator)
    if not callable(getattr(model, method, None)):
        raise TypeError(
            f"{method} needs a model that has this output ({', '.join(_models_with(method))}); "
            f"the final estimator is {type(model).__name__}, which has none."
        )
    model, Xt = unwrap(estimator, X)
    return getattr(model, method)(Xt)


@fill_doc
def predict_proba_frame(estimator, X):
    """Each task's positive-class probability as a DataFrame, through a Pipeline.

    Parameters
    ----------
    estimator : estimator or Pipeline
        A fitted multi-task estimator, or a fitted Pipeline ending in one.
    X : {array-like, DataFrame} of shape (n_samples, n_features)
        Input of ``estimator`` (the Pipeline's input, not its last step's).

    Returns
    -------
    DataFrame of shape (n_samples, n_binary_tasks)
        The final estimator's ``predict_proba_frame`` of ``X`` transformed
        by the steps before it, with the index of ``X`` when it is a
        DataFrame (whatever the steps' output). Funnel models name their
        columns by the end-to-end event, e.g. ``"P(click & conversion)"``.

    Examples
    --------
    {pipeline_example_data}
    >>> from sklearn_mtl import SharedBottomClassifier
    >>> from sklearn_mtl.inspection import predict_proba_frame
    >>> pipe = make_pipeline(StandardScaler(), SharedBottomClassifier(max_epochs=1, random_state=0))
    >>> frame = predict_proba_frame(pipe.fit(X, Y), X.iloc[10:13])
    >>> list(frame.columns), list(frame.index)
    (['click', 'conversion'], [10, 11, 12])
    """
    frame = _output("predict_proba_frame", estimator, X)
    if isinstance(X, pd.DataFrame):
        frame.index = X.index
    return frame


@fill_doc
def gate_weights(estimator, X):
    """Gate weights of a mixture-of-experts model, through a Pipeline.

    Parameters
    ----------
    estimator : estimator or Pipeline
        A fitted model with gates (:class:`~sklearn_mtl.MMoEClassifier`,
        :class:`~sklearn_mtl.PLEClassifier`), or a fitted Pipeline ending in
        one.
    X : {array-like, DataFrame} of shape (n_samples, n_features)
        Input of ``estimator``.

    Returns
    -------
    ndarray or list of ndarray
        The final estimator's ``gate_weights``: ``(n_samples, n_tasks,
        num_experts)`` for MMoE, one ``(n_samples, n_gates, n_experts)``
        array per level for PLE.

    Raises
    ------
    TypeError
        If the final estimator has no gates.

    Examples
    --------
    {pipeline_example_data}
    >>> from sklearn_mtl import MMoEClassifier
    >>> from sklearn_mtl.inspection import gate_weights
    >>> pipe = make_pipeline(StandardScaler(), MMoEClassifier(num_experts=3, max_epochs=1))
    >>> gate_weights(pipe.fit(X, Y), X[:5]).shape
    (5, 2, 3)
    """
    return _output("gate_weights", estimator, X)


@fill_doc
def predict_cvr(estimator, X):
    """Each later funnel step's rate given the previous step, through a Pipeline.

    Parameters
    ----------
    estimator : estimator or Pipeline
        A fitted funnel model (:class:`~sklearn_mtl.ESMMClassifier`,
        :class:`~sklearn_mtl.AITMClassifier`), or a fitted Pipeline ending in
        one.
    X : {array-like, DataFrame} of shape (n_samples, n_features)
        Input of ``estimator``.

    Returns
    -------
    ndarray of shape (n_samples,) or (n_samples, n_tasks - 1)
        ``P(step_t | step_{t-1})`` in column ``t - 1`` (pCVR for a click ->
        conversion funnel, one dimension for two steps).

    Raises
    ------
    TypeError
        If the final estimator is not a funnel model.

    Examples
    --------
    {pipeline_example_data}
    >>> from sklearn_mtl import ESMMClassifier
    >>> from sklearn_mtl.inspection import predict_cvr
    >>> pipe = make_pipeline(StandardScaler(), ESMMClassifier(max_epochs=1))
    >>> predict_cvr(pipe.fit(X, Y), X[:5]).shape
    (5,)
    """
    return _output("predict_cvr", estimator, X)


@fill_doc
def attention_weights(estimator, X):
    """AITM's attention on transferred and own information, through a Pipeline.

    Parameters
    ----------
    estimator : estimator or Pipeline
        A fitted :class:`~sklearn_mtl.AITMClassifier`, or a fitted Pipeline
        ending in one.
    X : {array-like, DataFrame} of shape (n_samples, n_features)
        Input of ``estimator``.

    Returns
    -------
    ndarray of shape (n_samples, n_tasks - 1, 2)
        The final estimator's ``attention_weights``.

    Raises
    ------
    TypeError
        If the final estimator has no attention.

    Examples
    --------
    {pipeline_example_data}
    >>> from sklearn_mtl import AITMClassifier
    >>> from sklearn_mtl.inspection import attention_weights
    >>> pipe = make_pipeline(StandardScaler(), AITMClassifier(max_epochs=1))
    >>> attention_weights(pipe.fit(X, Y), X[:5]).shape
    (5, 1, 2)
    """
    return _output("attention_weights", estimator, X)
