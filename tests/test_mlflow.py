"""The MLflow flavour: a logged estimator or Pipeline reloads with its predictions."""

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import make_column_transformer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

from sklearn_mtl import AITMClassifier, MMoEClassifier, SharedBottomClassifier
from sklearn_mtl.inspection import predict_proba_frame
from sklearn_mtl.preprocessing import CategoricalPassthrough

from ._settings import FAST_PARAMS

mlflow = pytest.importorskip("mlflow")
sklearn_mtl_mlflow = pytest.importorskip("sklearn_mtl.mlflow")

PARAMS = {**FAST_PARAMS, "max_epochs": 1, "batch_size": 64}


@pytest.fixture
def tracking(tmp_path, monkeypatch):
    """A local file store in tmp_path: no server, no network."""
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    mlflow.set_tracking_uri((tmp_path / "mlruns").as_uri())
    yield tmp_path
    mlflow.set_tracking_uri(None)


def _data(n=120, seed=0):
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(
        {
            "age": rng.normal(40, 10, n),
            "city": rng.choice(list("abcd"), n),
            "device": rng.choice(["ios", "android"], n),
        }
    )
    click = rng.integers(0, 2, n)
    Y = pd.DataFrame({"click": click, "cart": click * rng.integers(0, 2, n)})
    return X, Y.assign(buy=Y["cart"] * rng.integers(0, 2, n))


def _pipeline(model):
    columns = make_column_transformer(
        (StandardScaler(), ["age"]),
        (CategoricalPassthrough(), ["city"]),
        (OneHotEncoder(sparse_output=False), ["device"]),
        verbose_feature_names_out=False,
    ).set_output(transform="pandas")
    return make_pipeline(columns, model)


def _assert_same_proba(loaded, fitted, X):
    for p_loaded, p_fitted in zip(loaded.predict_proba(X), fitted.predict_proba(X)):
        np.testing.assert_array_equal(p_loaded, p_fitted)


@pytest.mark.parametrize(
    "make",
    [
        lambda: _pipeline(MMoEClassifier(**PARAMS)),
        lambda: _pipeline(AITMClassifier(**PARAMS)),
        lambda: SharedBottomClassifier(categorical_features=["city", "device"], **PARAMS),
    ],
    ids=["mmoe-pipeline", "aitm-pipeline", "estimator"],
)
def test_a_logged_model_reloads_with_its_predictions(make, tracking):
    X, Y = _data()
    fitted = make().fit(X, Y)
    with mlflow.start_run():
        info = sklearn_mtl_mlflow.log_model(fitted, name="model")
    pyfunc = mlflow.pyfunc.load_model(info.model_uri)
    expected = predict_proba_frame(fitted, X.head(7))
    pd.testing.assert_frame_equal(pyfunc.predict(X.head(7)), expected)
    native = sklearn_mtl_mlflow.load_model(info.model_uri)
    assert type(native) is type(fitted)
    _assert_same_proba(native, fitted, X)
    assert type(pyfunc.get_raw_model()) is type(fitted)


def test_save_model_writes_no_pickle(tracking):
    X, Y = _data()
    fitted = _pipeline(MMoEClassifier(**PARAMS)).fit(X, Y)
    path = tracking / "saved"
    sklearn_mtl_mlflow.save_model(fitted, path)
    files = sorted(p.name for p in path.iterdir())
    assert files == ["MLmodel", "estimator.zip", "requirements.txt"]
    flavors = mlflow.models.Model.load(str(path / "MLmodel")).flavors
    assert flavors["sklearn_mtl"]["estimator_class"] == "MMoEClassifier"
    assert flavors["python_function"]["loader_module"] == "sklearn_mtl.mlflow"
    _assert_same_proba(sklearn_mtl_mlflow.load_model(str(path)), fitted, X)
    with pytest.raises(ValueError, match="exists"):
        sklearn_mtl_mlflow.save_model(fitted, path)


def test_a_step_that_is_not_data_is_named(tracking):
    X, Y = _data()
    pipe = make_pipeline(FunctionTransformer(lambda X: X), *_pipeline(MMoEClassifier(**PARAMS)))
    with pytest.raises(TypeError, match=r"the Pipeline.*the function"):
        sklearn_mtl_mlflow.save_model(pipe.fit(X, Y), tracking / "saved")


def test_a_model_of_another_flavour_is_refused(tracking):
    path = tracking / "other"
    path.mkdir()
    mlflow.models.Model().save(str(path / "MLmodel"))
    with pytest.raises(ValueError, match="no 'sklearn_mtl' flavour"):
        sklearn_mtl_mlflow.load_model(str(path))
