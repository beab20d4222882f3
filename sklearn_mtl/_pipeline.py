"""Reach the multi-task estimator at the end of a fitted Pipeline."""

from sklearn.pipeline import Pipeline


def final_estimator(estimator):
    """The estimator itself, or the last step of a (nested) Pipeline."""
    while isinstance(estimator, Pipeline):
        estimator = estimator._final_estimator
    return estimator


def unwrap(estimator, X):
    """Split a fitted estimator or Pipeline into its final estimator and the
    input that estimator sees: ``X`` transformed by every step before it.

    Parameters
    ----------
    estimator : estimator or Pipeline
        A fitted multi-task estimator, or a fitted Pipeline ending in one
        (possibly nested).
    X : array-like or DataFrame
        Input of ``estimator``.

    Returns
    -------
    model : estimator
        The final estimator.
    Xt : array-like or DataFrame
        ``X`` as ``model`` receives it.
    """
    while isinstance(estimator, Pipeline):
        if len(estimator.steps) > 1:
            X = estimator[:-1].transform(X)
        estimator = estimator._final_estimator
    return estimator, X
