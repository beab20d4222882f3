"""What the export and inspection modules read of a fitted estimator.

One accessor instead of reaching into the estimator's private attributes: a
change of the estimator's internals is mirrored here and nowhere else.
"""

from collections import namedtuple

from sklearn.utils.validation import check_is_fitted

from ._base import BaseMultiTaskClassifier
from ._pipeline import final_estimator

FittedParts = namedtuple(
    "FittedParts",
    ["model", "encoder", "targets", "output_columns", "module", "dtype", "funnel"],
)
FittedParts.__doc__ = """The parts of a fitted multi-task estimator.

``model``: the estimator (the final step of a Pipeline); ``encoder``: its
fitted feature encoder; ``targets``: one fitted task target per task
(encoding, link, metrics); ``output_columns``: each task's column (an int)
or columns (a slice) of the network's output; ``module``: the trained torch
module; ``dtype``: the torch dtype of its inputs; ``funnel``: whether it is
a conversion-funnel model (ESMM, ESCM2, AITM), whose task ``t`` is the
end-to-end event "steps ``0..t`` reached"."""


def fitted_parts(estimator):
    """The :class:`FittedParts` of a fitted estimator or of a fitted Pipeline's
    final estimator; NotFittedError if it is not fitted."""
    model = final_estimator(estimator)
    if not isinstance(model, BaseMultiTaskClassifier):
        raise TypeError(
            f"Expected a sklearn_mtl estimator or a Pipeline ending in one, but the final "
            f"estimator is {type(model).__name__}; export and encode the multi-task model "
            "itself (its preprocessing steps have no network to export)."
        )
    check_is_fitted(model)
    return FittedParts(
        model,
        model._feature_encoder,
        list(model._task_targets),
        model._output_columns(),
        model.net_.module_,
        model._dtype,
        # Funnel models are the ones that give step rates.
        callable(getattr(model, "predict_cvr", None)),
    )

