"""What the export, metrics and inspection modules read of a fitted estimator.

One accessor instead of reaching into the estimator's private attributes: a
change of the estimator's internals is mirrored here and nowhere else.
"""

from collections import namedtuple

from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from ._pipeline import final_estimator

FittedParts = namedtuple(
    "FittedParts", ["model", "encoder", "targets", "output_columns", "module", "dtype"]
)
FittedParts.__doc__ = """The parts of a fitted multi-task estimator.

``model``: the estimator (the final step of a Pipeline); ``encoder``: its
fitted feature encoder; ``targets``: one fitted task target per task
(encoding, link, metrics); ``output_columns``: each task's column (an int)
or columns (a slice) of the network's output; ``module``: the trained torch
module; ``dtype``: the torch dtype of its inputs."""


def fitted_parts(estimator):
    """The :class:`FittedParts` of a fitted estimator or of a fitted Pipeline's
    final estimator; NotFittedError if it is not fitted."""
    model = final_estimator(estimator)
    check_is_fitted(model)
    return FittedParts(
        model,
        model._feature_encoder,
        list(model._task_targets),
        model._output_columns(),
        model.net_.module_,
        model._dtype,
    )


FittedTasks = namedtuple("FittedTasks", ["model", "targets"])
FittedTasks.__doc__ = """The tasks of a fitted estimator (or of a wrapper that scores like
one, such as a calibrated model): ``model`` gives ``task_names_`` and
``task_types_``, ``targets`` one fitted task target per task."""


def fitted_tasks(estimator):
    """The :class:`FittedTasks` of a fitted estimator, or of a fitted Pipeline's
    final estimator; what the scorers need of it."""
    model = final_estimator(estimator)
    if isinstance(model, BaseEstimator):  # a scorer also takes plain prediction stand-ins
        check_is_fitted(model)
    return FittedTasks(model, list(model._task_targets))
