import numpy as np
import pandas as pd
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


@pytest.fixture
def frame():
    """A small two-task table: a category, two numerics, click and buy labels."""
    rng = np.random.RandomState(0)
    n = 300
    X = pd.DataFrame(
        {
            "city": pd.Categorical(rng.choice(["paris", "rome", "oslo"], n)),
            "age": rng.normal(40, 10, n),
            "income": rng.lognormal(10, 1, n),
        }
    )
    Y = pd.DataFrame(
        {
            "click": ((X["age"] > 40) ^ (X["city"] == "rome")).astype(int),
            "buy": (X["income"] > X["income"].median()).astype(int),
        }
    )
    return X, Y
