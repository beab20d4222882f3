"""An MLflow flavour: log, save and load fitted multi-task estimators.

A fitted estimator, or a Pipeline ending in one, is stored with
:func:`sklearn_mtl.persistence.save` (JSON and ``.npy`` members, nothing
executed on load), not pickled. A logged model loads back either as itself
(:func:`load_model`) or through ``mlflow.pyfunc.load_model``, whose
``predict`` gives each binary task's positive-class probability (a funnel's
steps end to end) as a DataFrame:
:func:`sklearn_mtl.inspection.predict_proba_frame`.

Needs the ``mlflow`` extra (``mlflow`` or ``mlflow-skinny``, 3.0 or later),
imported only when a function here is called; the package root does not
import this module.
"""

import os
import sys
from pathlib import Path

from . import persistence
from ._pipeline import final_estimator
from ._versions import current_version
from .inspection import predict_proba_frame

__all__ = ["FLAVOR_NAME", "load_model", "log_model", "save_model"]

#: The flavour's name in an MLmodel file.
FLAVOR_NAME = "sklearn_mtl"

#: The estimator's archive inside the model directory.
_ARCHIVE = "estimator.zip"

#: MLflow's description of a model directory, in it.
_MLMODEL = "MLmodel"


def save_model(estimator, path, *, mlflow_model=None, signature=None):
    """Save a fitted estimator as an MLflow model directory.

    Parameters
    ----------
    estimator : estimator of sklearn_mtl or Pipeline
        A fitted multi-task estimator, or a fitted Pipeline ending in one.
    path : str or path-like
        The model directory to create; it must not exist.
    mlflow_model : mlflow.models.Model, default=None
        The model configuration the flavours are added to (``log_model``
        passes its own); a new one when None.
    signature : mlflow.models.ModelSignature, default=None
        The model's input and output schema (see
        :func:`mlflow.models.infer_signature`).

    Raises
    ------
    TypeError
        If :func:`sklearn_mtl.persistence.save` cannot store ``estimator``
        (e.g. a Pipeline step holding a function); the message names it.
    ValueError
        If ``path`` exists.

    Examples
    --------
    >>> from sklearn_mtl import ESMMClassifier
    >>> from sklearn_mtl.datasets import make_funnel
    >>> from sklearn_mtl.mlflow import load_model, save_model
    >>> X, Y = make_funnel(n_samples=500, random_state=0, return_X_y=True)
    >>> model = ESMMClassifier(max_epochs=1, random_state=0).fit(X, Y)
    >>> save_model(model, "esmm_model")  # doctest: +SKIP
    >>> load_model("esmm_model").predict_proba_frame(X[:2]).columns  # doctest: +SKIP
    Index(['P(click)', 'P(click & conversion)'], dtype='object')
    """
    import mlflow.pyfunc
    from mlflow.models import Model

    path = Path(path)
    if path.exists():
        raise ValueError(f"MLflow model directory {path} exists; give a new path.")
    path.mkdir(parents=True)
    persistence.save(estimator, path / _ARCHIVE)
    mlflow_model = Model() if mlflow_model is None else mlflow_model
    if signature is not None:
        mlflow_model.signature = signature
    mlflow.pyfunc.add_to_model(mlflow_model, loader_module=__name__, data=_ARCHIVE)
    mlflow_model.add_flavor(
        FLAVOR_NAME,
        data=_ARCHIVE,
        estimator_class=type(final_estimator(estimator)).__name__,
        sklearn_mtl_version=current_version(),
    )
    (path / "requirements.txt").write_text(f"sklearn-mtl=={current_version()}\n")
    mlflow_model.save(str(path / _MLMODEL))


def log_model(estimator, name, **kwargs):
    """Log a fitted estimator to the active MLflow run (one is started if none is).

    Parameters
    ----------
    estimator : estimator of sklearn_mtl or Pipeline
        A fitted multi-task estimator, or a fitted Pipeline ending in one.
    name : str
        The model's name in the run.
    **kwargs
        Passed to :meth:`mlflow.models.Model.log`, e.g. ``signature``,
        ``registered_model_name``, ``metadata``.

    Returns
    -------
    mlflow.models.model.ModelInfo
        Its ``model_uri`` loads the model back.

    Examples
    --------
    >>> import mlflow  # doctest: +SKIP
    >>> from sklearn_mtl import MMoEClassifier
    >>> from sklearn_mtl.datasets import load_census_income
    >>> from sklearn_mtl.mlflow import log_model
    >>> X, Y = load_census_income(return_X_y=True)
    >>> model = MMoEClassifier(max_epochs=1, random_state=0).fit(X[:500], Y[:500])
    >>> with mlflow.start_run():  # doctest: +SKIP
    ...     info = log_model(model, name="mmoe")
    >>> mlflow.pyfunc.load_model(info.model_uri).predict(X[:2]).columns  # doctest: +SKIP
    Index(['income', 'never_married'], dtype='object')
    """
    from mlflow.models import Model

    return Model.log(
        artifact_path=None, name=name, flavor=sys.modules[__name__], estimator=estimator, **kwargs
    )


def load_model(model_uri, dst_path=None):
    """Load a logged or saved estimator back as itself.

    Parameters
    ----------
    model_uri : str
        An MLflow model URI (``runs:/<run_id>/<name>``, ``models:/...``,
        a local directory).
    dst_path : str, default=None
        Where the artifacts are downloaded; a temporary directory when None.

    Returns
    -------
    estimator : estimator of sklearn_mtl or Pipeline
        The fitted estimator (or Pipeline), as
        :func:`sklearn_mtl.persistence.load` reads it.

    Raises
    ------
    ValueError
        If the MLflow model was not logged by this module.

    Examples
    --------
    >>> from sklearn_mtl.mlflow import load_model
    >>> model = load_model("runs:/<run_id>/mmoe")  # doctest: +SKIP
    >>> model.predict_proba(X)  # doctest: +SKIP
    """
    import mlflow.artifacts
    from mlflow.models import Model

    local = Path(mlflow.artifacts.download_artifacts(artifact_uri=model_uri, dst_path=dst_path))
    flavor = Model.load(str(local / _MLMODEL)).flavors.get(FLAVOR_NAME)
    if flavor is None:
        raise ValueError(
            f"The MLflow model {model_uri!r} has no {FLAVOR_NAME!r} flavour; log it with "
            "sklearn_mtl.mlflow.log_model."
        )
    return persistence.load(local / flavor["data"])


class _PyFuncModel:
    """What ``mlflow.pyfunc.load_model`` wraps: ``predict`` is
    :func:`~sklearn_mtl.inspection.predict_proba_frame`."""

    def __init__(self, estimator):
        self.estimator = estimator

    def get_raw_model(self):
        """The fitted estimator."""
        return self.estimator

    def predict(self, model_input, params=None):
        """Each binary task's positive-class probability (funnel steps end to end),
        one column per task."""
        return predict_proba_frame(self.estimator, model_input)


def _load_pyfunc(path):
    # MLflow's pyfunc loader calls this with the flavour's data path.
    return _PyFuncModel(persistence.load(os.fspath(path)))
