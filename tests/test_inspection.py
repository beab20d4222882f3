"""The models' own outputs through a fitted Pipeline, and the funnel step rates."""

import numpy as np
import pytest
from sklearn.compose import ColumnTransformer, make_column_selector
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_mtl import AITMClassifier, ESMMClassifier, MMoEClassifier, PLEClassifier, SharedBottomClassifier
from sklearn_mtl.datasets import make_funnel
from sklearn_mtl.inspection import attention_weights, gate_weights, predict_cvr, predict_proba_frame
from sklearn_mtl.metrics import conditional_proba
from sklearn_mtl.preprocessing import CategoricalPassthrough

from ._settings import FAST_PARAMS


def _pipeline(model):
    prep = ColumnTransformer(
        [
            ("cat", CategoricalPassthrough(), make_column_selector(dtype_include="category")),
            ("num", StandardScaler(), make_column_selector(dtype_exclude="category")),
        ]
    ).set_output(transform="pandas")
    return Pipeline([("prep", prep), ("model", model)])


@pytest.fixture(scope="module")
def data():
    X, Y = make_funnel(800, n_steps=3, random_state=0, return_X_y=True)
    X.index = X.index + 1000  # an index that is not positions
    return X, Y


@pytest.mark.parametrize(
    "model, function",
    [
        (MMoEClassifier(num_experts=3, **FAST_PARAMS), gate_weights),
        (AITMClassifier(**FAST_PARAMS), attention_weights),
        (AITMClassifier(**FAST_PARAMS), predict_cvr),
        (AITMClassifier(**FAST_PARAMS), predict_proba_frame),
    ],
)
def test_outputs_through_a_pipeline_equal_the_model_on_transformed_input(data, model, function):
    X, Y = data
    pipe = _pipeline(model).fit(X, Y)
    expected = getattr(pipe[-1], function.__name__)(pipe[:-1].transform(X[:20]))
    np.testing.assert_allclose(np.asarray(function(pipe, X[:20])), np.asarray(expected))
    np.testing.assert_allclose(np.asarray(function(pipe[-1], pipe[:-1].transform(X[:20]))), expected)


def test_ple_gate_weights_per_level_through_a_pipeline(data):
    X, Y = data
    pipe = _pipeline(PLEClassifier(num_levels=2, **FAST_PARAMS)).fit(X, Y)
    levels = gate_weights(pipe, X[:7])
    assert len(levels) == 2 and all(level.shape[0] == 7 for level in levels)


def test_predict_proba_frame_keeps_the_index_of_x_whatever_the_steps_output(data):
    X, Y = data
    to_numpy = ColumnTransformer([("num", StandardScaler(), make_column_selector(dtype_exclude="category"))])
    for pipe in (_pipeline(AITMClassifier(**FAST_PARAMS)), Pipeline([("prep", to_numpy), ("model", AITMClassifier(**FAST_PARAMS))])):
        pipe.fit(X, Y)
        frame = predict_proba_frame(pipe, X.iloc[[5, 3]])
        assert list(frame.index) == [1005, 1003]
        assert list(frame.columns) == ["P(click)", "P(click & step_2)", "P(click & step_2 & conversion)"]


def test_a_final_model_without_the_output_is_a_clear_type_error(data):
    X, Y = data
    pipe = _pipeline(SharedBottomClassifier(**FAST_PARAMS)).fit(X, Y)
    with pytest.raises(TypeError, match=r"gate_weights needs a model.*MMoEClassifier, PLEClassifier.*SharedBottomClassifier"):
        gate_weights(pipe, X)
    with pytest.raises(TypeError, match=r"predict_cvr needs a model.*AITMClassifier, ESCM2Classifier, ESMMClassifier"):
        predict_cvr(pipe, X)
    with pytest.raises(TypeError, match=r"attention_weights needs a model.*\(AITMClassifier\)"):
        attention_weights(pipe, X)


def test_funnel_step_rates_have_one_shape_and_meaning_across_models(data):
    X, Y = data
    aitm = AITMClassifier(**FAST_PARAMS).fit(X, Y)
    proba = [p[:, 1] for p in aitm.predict_proba(X)]
    rates = aitm.predict_cvr(X)
    assert rates.shape == (len(X), 2)
    for t in (1, 2):
        np.testing.assert_allclose(rates[:, t - 1], conditional_proba(proba[t], proba[t - 1]), rtol=1e-6)
    two_steps = Y[["click", "conversion"]]
    for model in (AITMClassifier(**FAST_PARAMS), ESMMClassifier(**FAST_PARAMS)):
        pipe = _pipeline(model).fit(X, two_steps)
        p_click, p_ctcvr = (p[:, 1] for p in pipe.predict_proba(X))
        p_cvr = predict_cvr(pipe, X)
        assert p_cvr.shape == (len(X),)
        np.testing.assert_allclose(p_click * p_cvr, np.minimum(p_ctcvr, p_click), rtol=1e-5)
        assert list(predict_proba_frame(pipe, X).columns) == ["P(click)", "P(click & conversion)"]
