"""ChunkedData's preprocessor (a Pipeline's transformers, out of core), the
clear error of a Pipeline or a search handed chunks, and the search loop
that replaces them."""

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose
from sklearn.base import clone
from sklearn.compose import ColumnTransformer
from sklearn.frozen import FrozenEstimator
from sklearn.model_selection import GridSearchCV, ParameterGrid
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from sklearn_mtl import ChunkedData, ESMMClassifier, MMoEClassifier

from ._settings import FAST_PARAMS

TARGETS = ["click", "buy"]


def frame(seed, n=120):
    rng = np.random.RandomState(seed)
    X = pd.DataFrame(
        {
            "x": rng.normal(loc=seed, size=n),
            "age": rng.uniform(20, 60, n),
            "city": rng.choice(["a", "b"], n),
        }
    )
    click = (X["x"] - seed + (X["city"] == "a") > 0.5).astype(int)
    return X.assign(click=click, buy=click * (X["age"] > 40))


def write_parts(folder, n_files=3):
    folder.mkdir(exist_ok=True)
    for k in range(n_files):
        frame(k).to_parquet(folder / f"part-{k}.parquet")
    return folder


def generator_function(n_files=3):
    def chunks():
        for k in range(n_files):
            part = frame(k)
            yield part.drop(columns=TARGETS), part[TARGETS]

    return chunks


def chunked(kind, tmp_path, **kwargs):
    if kind == "parquet":
        pytest.importorskip("pyarrow")
        return ChunkedData(
            write_parts(tmp_path / "data"),
            target_columns=TARGETS,
            chunk_rows=120,
            **kwargs,
        )
    return ChunkedData(generator_function(), **kwargs)


def scaler():
    return ColumnTransformer(
        [("scale", StandardScaler(), ["x", "age"])],
        remainder="passthrough",
        verbose_feature_names_out=False,
    ).set_output(transform="pandas")


def swap(X, mapping):
    return X.assign(city=X["city"].map(mapping))


def fit(data, model=MMoEClassifier):
    return model(categorical_features=["city"], **FAST_PARAMS).fit(data)


@pytest.mark.parametrize("kind", ["parquet", "callable"])
def test_an_unfitted_preprocessor_is_fitted_on_a_clone_over_the_first_chunk(kind, tmp_path):
    preprocessor = scaler()
    data = chunked(kind, tmp_path, preprocessor=preprocessor)
    model = fit(data)
    assert not hasattr(preprocessor, "transformers_")  # the user's object is left unfitted
    first = frame(0).drop(columns=TARGETS)
    assert_allclose(
        data.preprocessor_.named_transformers_["scale"].mean_,
        first[["x", "age"]].mean(),
    )
    assert list(model.feature_names_in_) == ["x", "age", "city"]

    # Raw rows predict through the same preprocessor, frozen in a Pipeline.
    raw = frame(5).drop(columns=TARGETS)
    pipeline = make_pipeline(FrozenEstimator(data.preprocessor_), model)
    assert_allclose(
        pipeline.predict_proba(raw),
        model.predict_proba(data.preprocessor_.transform(raw)),
    )
    assert pipeline.score(raw, frame(5)[TARGETS]) == model.score(
        data.preprocessor_.transform(raw), frame(5)[TARGETS]
    )


@pytest.mark.parametrize("kind", ["parquet", "callable"])
def test_a_fitted_preprocessor_is_used_as_it_is(kind, tmp_path):
    everything = pd.concat([frame(k) for k in range(3)]).drop(columns=TARGETS)
    preprocessor = FrozenEstimator(scaler().fit(everything))
    data = chunked(kind, tmp_path, preprocessor=preprocessor)
    model = fit(data)
    assert data.preprocessor_ is preprocessor
    # Trained on what the preprocessor gives, as if the chunks were transformed first.
    transformed = ChunkedData(
        lambda: ((preprocessor.transform(X), Y) for X, Y, _ in chunked("callable", tmp_path))
    )
    raw = frame(7).drop(columns=TARGETS)
    assert_allclose(
        model.predict_proba(preprocessor.transform(raw)),
        fit(transformed).predict_proba(preprocessor.transform(raw)),
    )


def test_a_replaced_or_changed_preprocessor_is_resolved_again(tmp_path):
    data = chunked("callable", tmp_path, preprocessor=scaler())
    fit(data)
    first = data.preprocessor_
    data.preprocessor = scaler().set_params(scale__with_mean=False)
    fit(data)
    assert data.preprocessor_ is not first
    assert not data.preprocessor_.named_transformers_["scale"].with_mean
    data.preprocessor.set_params(scale__with_std=False)
    fit(data)
    assert not data.preprocessor_.named_transformers_["scale"].with_std


def test_a_preprocessor_that_cannot_be_hashed_trains_without_reusing_a_cache(tmp_path):
    # A notebook's lambda cannot be pickled, so nothing vouches for a cache of its output.
    data = chunked(
        "parquet", tmp_path, cache_dir=tmp_path / "cache",
        preprocessor=FunctionTransformer(lambda X: X.assign(x=2 * X["x"])),
    )
    first = fit(data)
    assert not any((tmp_path / "cache").iterdir())
    data.preprocessor = FunctionTransformer(lambda X: X.assign(x=-X["x"]))
    raw = frame(4).drop(columns=TARGETS)
    assert not np.allclose(
        first.predict_proba(data.preprocessor_.transform(raw)),
        fit(data).predict_proba(data.preprocessor_.transform(raw)),
    )


def test_the_cache_is_reused_only_for_the_same_fitted_preprocessor(tmp_path):
    pytest.importorskip("pyarrow")
    folder, cache_dir = write_parts(tmp_path / "data"), tmp_path / "cache"
    sample = frame(0).drop(columns=TARGETS)

    def fit_with(mapping):
        # Swapping the cities keeps the vocabulary, and so the fitted encoding,
        # the same: only the preprocessor's own state tells the caches apart.
        preprocessor = FunctionTransformer(swap, kw_args={"mapping": mapping}).fit(sample)
        data = ChunkedData(
            folder,
            target_columns=TARGETS,
            chunk_rows=120,
            cache_dir=cache_dir,
            preprocessor=preprocessor,
        )
        return fit(data)

    same = {"a": "a", "b": "b"}
    first = fit_with(same)
    assert len(list(cache_dir.iterdir())) == 1
    again = fit_with(same)
    assert len(list(cache_dir.iterdir())) == 1
    swapped = fit_with({"a": "b", "b": "a"})
    assert len(list(cache_dir.iterdir())) == 2
    raw = frame(4).drop(columns=TARGETS)
    assert_allclose(first.predict_proba(raw), again.predict_proba(raw))
    assert not np.allclose(first.predict_proba(raw), swapped.predict_proba(raw))


@pytest.mark.parametrize(
    "preprocessor, error, match",
    [
        (
            StandardScaler().set_output(transform="default"),
            TypeError,
            r"preprocessor gave a ndarray for chunk 0.*set_output\(transform='pandas'\)",
        ),
        (
            FunctionTransformer(lambda X: X.iloc[:10]),
            ValueError,
            "preprocessor gave 10 rows for the 120 of chunk 0",
        ),
        ("scale", TypeError, "preprocessor must be a scikit-learn transformer"),
    ],
)
def test_a_wrong_preprocessor_is_an_error_naming_it(preprocessor, error, match):
    with pytest.raises(error, match=match):
        data = ChunkedData(
            lambda: ((X[["x", "age"]], Y) for X, Y in generator_function()()),
            preprocessor=preprocessor,
        )
        MMoEClassifier(**FAST_PARAMS).fit(data)


@pytest.mark.parametrize(
    "meta",
    [
        lambda model: Pipeline([("prep", scaler()), ("mtl", model)]),
        lambda model: GridSearchCV(model, {"batch_size": [64, 128]}, cv=2),
    ],
    ids=["Pipeline", "GridSearchCV"],
)
def test_a_pipeline_or_search_given_chunks_points_to_the_preprocessor(meta):
    data = ChunkedData(generator_function())
    with pytest.raises(TypeError, match=r"ChunkedData\(\.\.\., preprocessor=\.\.\.\)"):
        meta(ESMMClassifier(**FAST_PARAMS)).fit(data)


def test_a_search_over_chunks_is_a_loop_scored_on_held_out_rows(tmp_path):
    data = chunked("callable", tmp_path, preprocessor=scaler())
    held_out = frame(9)
    base = MMoEClassifier(categorical_features=["city"], **FAST_PARAMS)
    scores = {}
    for params in ParameterGrid({"lr": [1e-4, 1e-2]}):
        model = clone(base).set_params(**params).fit(data)
        pipeline = make_pipeline(FrozenEstimator(data.preprocessor_), model)
        scores[params["lr"]] = pipeline.score(held_out.drop(columns=TARGETS), held_out[TARGETS])
    # Three epochs at a learning rate 100 times smaller barely move from the start.
    assert scores[1e-2] > scores[1e-4]
