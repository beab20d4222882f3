"""The library version a saved estimator records, and the warning when it differs.

Shared by pickling (the estimators' ``__getstate__``/``__setstate__``) and by
:mod:`sklearn_mtl.persistence`.
"""

import warnings

from sklearn.exceptions import InconsistentVersionWarning

#: The key of the version in a pickled estimator's state.
VERSION_KEY = "_sklearn_mtl_version"

#: What a pickle written before the version was recorded counts as.
UNRECORDED = "unrecorded (older than 0.1.0)"


class SklearnMtlVersionWarning(InconsistentVersionWarning):
    """scikit-learn's :class:`~sklearn.exceptions.InconsistentVersionWarning`,
    worded for sklearn_mtl's version, so that filters on it catch both."""

    def __init__(self, *, estimator_name, current_version, original_version, source):
        super().__init__(
            estimator_name=estimator_name,
            current_sklearn_version=current_version,
            original_sklearn_version=original_version,
        )
        self.source = source

    def __str__(self):
        return (
            f"{self.estimator_name} was saved ({self.source}) with sklearn_mtl "
            f"{self.original_sklearn_version} and is loaded with sklearn_mtl "
            f"{self.current_sklearn_version}: its fitted state may not mean the same in this "
            "version, which can break prediction or silently change results. Refit it with "
            "this version, or load it with the version that saved it."
        )


def current_version():
    # Imported when called: the package's __init__ is still running while
    # the estimator classes are defined.
    from . import __version__

    return __version__


def warn_if_other_version(original, estimator_name, source):
    """Warn when ``original`` is not the running sklearn_mtl version."""
    current = current_version()
    if original != current:
        warnings.warn(
            SklearnMtlVersionWarning(
                estimator_name=estimator_name,
                current_version=current,
                original_version=original,
                source=source,
            ),
            stacklevel=3,
        )


def versioned_state(state):
    """A pickled estimator's state with the running sklearn_mtl version."""
    return {**state, VERSION_KEY: current_version()}


def unversioned_state(state, estimator_name):
    """The state without its recorded version, warning when it differs."""
    state = dict(state)
    warn_if_other_version(state.pop(VERSION_KEY, UNRECORDED), estimator_name, "a pickle")
    return state
