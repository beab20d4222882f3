"""``interaction=`` and ``interaction_params=``: a block under every estimator."""

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.compose import ColumnTransformer, make_column_selector
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_mtl.preprocessing import CategoricalPassthrough

from sklearn_mtl import MMoEClassifier, STEMClassifier, SharedBottomClassifier
from sklearn_mtl.datasets import make_funnel
from sklearn_mtl.nn import (
    CrossNetwork,
    CrossNetworkMix,
    FactorizationMachine,
    InteractionEmbedding,
    MixedInputEmbedding,
)
from sklearn_mtl.persistence import load, save

from ._settings import ESTIMATORS, FAST_PARAMS

INTERACTIONS = {"dcn_v2": CrossNetwork, "dcn_v2_mix": CrossNetworkMix, "fm": FactorizationMachine}
PARAMS = dict(FAST_PARAMS, max_epochs=1)


@pytest.fixture(scope="module")
def funnel():
    return make_funnel(300, random_state=0, return_X_y=True)


def _embeddings(module):
    return [m for m in module.modules() if isinstance(m, InteractionEmbedding)]


@pytest.mark.parametrize("interaction", INTERACTIONS)
@pytest.mark.parametrize("Model", ESTIMATORS, ids=lambda M: M.__name__)
def test_every_estimator_fits_and_predicts_with_every_interaction(funnel, Model, interaction):
    X, Y = funnel
    model = Model(interaction=interaction, **PARAMS).fit(X, Y)
    wrapped = _embeddings(model.net_.module_)
    # STEM's task embeddings are copies of the shared one, each with its own block.
    assert wrapped and all(isinstance(e.interaction, INTERACTIONS[interaction]) for e in wrapped)
    proba = model.predict_proba_frame(X)
    assert proba.shape == (len(X), 2) and np.isfinite(proba.to_numpy()).all()
    assert 0 <= model.score(X, Y) <= 1


@pytest.mark.parametrize("interaction, params, block, combine, width", [
    ("dcn_v2", None, CrossNetwork, "replace", lambda e: e.out_features),
    ("dcn_v2", {"num_layers": 3, "combine": "concat"}, CrossNetwork, "concat",
     lambda e: 2 * e.out_features),
    ("dcn_v2_mix", {"num_experts": 2, "low_rank": 3}, CrossNetworkMix, "replace",
     lambda e: e.out_features),
    ("fm", None, FactorizationMachine, "concat", lambda e: e.out_features + e.embedding_dim),
    ("fm", {"output": "scalar", "combine": "replace"}, FactorizationMachine, "replace",
     lambda e: 1),
])
def test_interaction_params_reach_the_block(funnel, interaction, params, block, combine, width):
    X, Y = funnel
    model = MMoEClassifier(interaction=interaction, interaction_params=params, **PARAMS).fit(X, Y)
    (wrapped,) = _embeddings(model.net_.module_)
    assert isinstance(wrapped.interaction, block) and wrapped.combine == combine
    assert isinstance(wrapped.embedding, MixedInputEmbedding)
    assert wrapped.out_features == width(wrapped.embedding)
    for key, value in (params or {}).items():
        if key != "combine":
            assert getattr(wrapped.interaction, key) == value


def test_no_interaction_leaves_the_embedding_alone(funnel):
    X, Y = funnel
    model = MMoEClassifier(**PARAMS).fit(X, Y)
    assert isinstance(model.net_.module_.embedding, MixedInputEmbedding)
    assert not _embeddings(model.net_.module_)


@pytest.mark.parametrize("params, error, match", [
    (dict(interaction="dcn_v2", interaction_params={"low_rank": 4}), ValueError,
     r"\['low_rank'\].*'num_layers'"),
    (dict(interaction=None, interaction_params={"num_layers": 2}), ValueError,
     "interaction=None"),
    (dict(interaction="dcn_v2", interaction_params={"num_layers": 0}), ValueError,
     "interaction='dcn_v2'.*num_layers"),
    (dict(interaction="dcn_v2", interaction_params={"combine": "add"}), ValueError, "combine"),
    (dict(interaction="xdeepfm"), ValueError, "interaction"),
    (dict(interaction="dcn_v2", interaction_params=[("num_layers", 2)]), ValueError,
     "interaction_params"),
])
def test_bad_interactions_are_named(funnel, params, error, match):
    X, Y = funnel
    with pytest.raises(error, match=match):
        MMoEClassifier(**params, **PARAMS).fit(X, Y)


def test_fm_needs_two_fields_to_interact():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(80, 1))
    Y = rng.integers(0, 2, (80, 2))
    with pytest.raises(ValueError, match="interaction='fm'.*two fields"):
        SharedBottomClassifier(interaction="fm", **PARAMS).fit(X, Y)


@pytest.mark.parametrize("change", [dict(interaction="fm"),
                                    dict(interaction_params={"num_layers": 3})])
def test_warm_start_refuses_a_change_of_interaction(funnel, change):
    X, Y = funnel
    model = MMoEClassifier(interaction="dcn_v2", warm_start=True, **PARAMS).fit(X, Y)
    before = model.predict_proba_frame(X)
    model.set_params(**change)
    with pytest.raises(ValueError, match="interaction"):
        model.fit(X, Y)
    np.testing.assert_array_equal(model.predict_proba_frame(X), before)
    # The same interaction continues training.
    model.set_params(interaction="dcn_v2", interaction_params=None).fit(X, Y)
    assert len(model.history_) == 2


def test_a_saved_model_keeps_its_interaction(funnel, tmp_path):
    X, Y = funnel
    model = STEMClassifier(interaction="dcn_v2_mix", interaction_params={"low_rank": 4},
                           **PARAMS).fit(X, Y)
    save(model, tmp_path / "model.zip")
    loaded = load(tmp_path / "model.zip")
    np.testing.assert_array_equal(loaded.predict_proba_frame(X), model.predict_proba_frame(X))
    assert clone(model).get_params()["interaction_params"] == {"low_rank": 4}


def test_the_block_sits_between_embedding_and_model(funnel):
    X, Y = funnel
    model = MMoEClassifier(interaction="dcn_v2", **PARAMS).fit(X, Y)
    module = model.net_.module_
    wrapped = module.embedding
    from sklearn_mtl.export import transform_inputs

    inputs = transform_inputs(model, X[:7])
    with torch.no_grad():
        expected = wrapped.interaction(wrapped.embedding(**inputs))
        torch.testing.assert_close(wrapped(**inputs), expected)


def test_grid_search_over_interactions_through_a_pipeline(funnel):
    X, Y = funnel
    prep = ColumnTransformer(
        [("cat", CategoricalPassthrough(), make_column_selector(dtype_include="category")),
         ("num", StandardScaler(), make_column_selector(dtype_exclude="category"))],
    ).set_output(transform="pandas")
    pipe = Pipeline([("prep", prep), ("mtl", MMoEClassifier(num_experts=2, **PARAMS))])
    grid = {"mtl__interaction": [None, "dcn_v2", "fm"]}
    search = GridSearchCV(pipe, grid, cv=KFold(2)).fit(X, Y)
    assert search.cv_results_["mean_test_score"].shape == (3,)
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()
    best = search.best_estimator_[-1]
    # The encoder saw the categories through the passthrough, under their prefixed names.
    assert best.is_categorical_.any()
    assert (best.interaction is None) == (not _embeddings(best.net_.module_))
