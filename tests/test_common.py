"""scikit-learn's own estimator checks over every public estimator."""

import inspect

import pytest
from sklearn.base import BaseEstimator
from sklearn.utils.estimator_checks import parametrize_with_checks

import sklearn_mtl
from sklearn_mtl import (
    AITMClassifier,
    ESCM2Classifier,
    ESMMClassifier,
    MMoEClassifier,
    PLEClassifier,
    SharedBottomClassifier,
    SingleTaskClassifier,
)

from ._settings import CHECK_PARAMS, single_task_failures

CHECKED = [
    MMoEClassifier(num_experts=3, **CHECK_PARAMS),
    SharedBottomClassifier(**CHECK_PARAMS),
    PLEClassifier(num_levels=2, **CHECK_PARAMS),
    ESMMClassifier(**CHECK_PARAMS),
    AITMClassifier(**CHECK_PARAMS),
    SingleTaskClassifier(**CHECK_PARAMS),
    ESCM2Classifier(**CHECK_PARAMS),
]

#: Only the funnel models have expected failures: the checks that fit one task.
EXPECTED_FAILURES = {
    ESMMClassifier: single_task_failures("exactly 2"),
    ESCM2Classifier: single_task_failures("exactly 2"),
    AITMClassifier: single_task_failures("at least 2"),
}


@parametrize_with_checks(
    CHECKED, expected_failed_checks=lambda estimator: EXPECTED_FAILURES.get(type(estimator), {})
)
def test_sklearn_compatible(estimator, check):
    check(estimator)


def test_every_public_estimator_is_checked():
    public = {
        name
        for name in sklearn_mtl.__all__
        if inspect.isclass(getattr(sklearn_mtl, name))
        and issubclass(getattr(sklearn_mtl, name), BaseEstimator)
    }
    checked = {type(estimator).__name__ for estimator in CHECKED}
    assert public <= checked, f"not run through parametrize_with_checks: {public - checked}"


@pytest.mark.parametrize("estimator", CHECKED, ids=lambda e: type(e).__name__)
def test_every_parameter_is_documented(estimator):
    doc = type(estimator).__doc__
    for name in estimator.get_params():
        assert f"\n    {name} : " in doc, f"{name} is not documented"
