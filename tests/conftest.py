import pytest

from sklearn_mtl import ESMMClassifier
from sklearn_mtl.datasets import make_funnel


@pytest.fixture(scope="session")
def funnel():
    """A small click -> conversion funnel with known true probabilities."""
    return make_funnel(n_samples=3000, random_state=0)


@pytest.fixture(scope="session")
def fitted_esmm(funnel):
    return ESMMClassifier(max_epochs=3, random_state=0).fit(funnel.data, funnel.target)
