"""Multi-valued categorical features: columns of lists embedded and pooled per row."""

import pickle

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.compose import ColumnTransformer
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_mtl import (
    MMoEClassifier,
)
from sklearn_mtl._data import module_inputs
from sklearn_mtl.nn import CategoricalInputs, MixedInputEmbedding

from ._settings import ESTIMATORS, FAST_PARAMS

TAGS = ["sport", "news", "music", "games", "food"]


def tagged_frame(n=300, seed=0):
    """Clicks driven by the 'sport' tag, conversions by 'games' among clicks."""
    rng = np.random.RandomState(seed)
    tags = [list(rng.choice(TAGS, size=rng.randint(0, 4), replace=False)) for _ in range(n)]
    tags[0], tags[1] = [], None  # an empty list and a missing value
    x = rng.normal(size=n)
    click = np.array([t is not None and "sport" in t for t in tags]) | (x > 1.2)
    buy = click & np.array([t is not None and "games" in t for t in tags])
    X = pd.DataFrame({"x": x, "tags": pd.Series(tags, dtype=object)})
    return X, pd.DataFrame({"click": click.astype(int), "buy": buy.astype(int)})


@pytest.mark.parametrize("pooling", ["mean", "sum", "max"])
def test_pooled_embedding_matches_a_hand_computation(pooling):
    embed = MixedInputEmbedding(
        [3], n_numeric=1, embedding_dim=2, bag_cardinalities=[4, 3], pooling=pooling
    )
    table = embed.table.weight.detach()
    # Rows: codes of the single column, then two bag columns (offsets 3 and 3 + 4 in the table).
    bags = [[[1, 2, 2], [], [3]], [[0], [1, 2], []]]
    inputs = CategoricalInputs.from_bags(torch.tensor([[0], [2], [1]]), bags)
    out = embed(inputs, torch.tensor([[0.5], [1.5], [2.5]])).detach()

    reduce = {
        "mean": lambda v: v.mean(0),
        "sum": lambda v: v.sum(0),
        "max": lambda v: v.max(0).values,
    }
    for i in range(3):
        expected = [table[[0, 2, 1][i]]]
        for column, offset in zip(bags, (3, 7)):
            items = column[i]
            pooled = reduce[pooling](table[[offset + c for c in items]]) if items else None
            expected.append(torch.zeros(2) if pooled is None else pooled)
        expected.append(torch.tensor([0.5 + i]))
        torch.testing.assert_close(out[i], torch.cat(expected))


def test_taking_rows_keeps_each_rows_bags():
    no_codes = torch.zeros(3, 0, dtype=torch.int64)
    inputs = CategoricalInputs.from_bags(no_codes, [[[1, 2], [], [3, 4, 5]]])
    batch = inputs.take(torch.tensor([2, 0]))
    assert batch.items.tolist() == [3, 4, 5, 1, 2]
    assert batch.starts.tolist() == [[0], [3]] and batch.lengths.tolist() == [[3], [2]]


def test_estimator_embeds_the_mean_of_each_rows_items():
    X, Y = tagged_frame()
    model = MMoEClassifier(**FAST_PARAMS).fit(X, Y)
    assert model.is_categorical_.tolist() == [False, True]  # found from the data
    new = pd.DataFrame({"x": [0.0, 0.0, 0.0], "tags": [["news", "sport"], [], ["unseen", "food"]]})
    encoded = model._feature_encoder.transform(new)
    embedding = model.net_.module_.embedding
    out = embedding(**module_inputs(encoded, torch.float32)).detach()
    table = embedding.table.weight.detach()
    vocabulary = list(model._feature_encoder.categories_[0])
    assert vocabulary == sorted(TAGS)

    def row(tag):  # unknown items take the column's reserved code 0
        return table[vocabulary.index(tag) + 1 if tag in vocabulary else 0]

    torch.testing.assert_close(out[0, :8], (row("news") + row("sport")) / 2)
    torch.testing.assert_close(out[1, :8], torch.zeros(8))
    torch.testing.assert_close(out[2, :8], (row("unseen") + row("food")) / 2)


def test_multi_valued_features_learn():
    X, Y = tagged_frame(n=2000)
    model = MMoEClassifier(max_epochs=15, batch_size=128, random_state=0, early_stopping=False)
    proba = model.fit(X, Y).predict_proba(X)
    # click is (almost) "sport in tags": only the tags can tell.
    assert roc_auc_score(Y["click"], proba[0][:, 1]) > 0.9


@pytest.mark.parametrize("Model", ESTIMATORS, ids=lambda cls: cls.__name__)
def test_every_model_takes_multi_valued_features(Model):
    X, Y = tagged_frame()
    model = Model(**FAST_PARAMS, multi_valued_pooling="sum").fit(X, Y)
    proba = model.predict_proba(X)
    assert all(np.isfinite(p).all() for p in proba)


def test_pickle_partial_fit_and_arrow_lists():
    X, Y = tagged_frame()
    model = MMoEClassifier(**FAST_PARAMS)
    model.partial_fit(X[:150], Y[:150]).partial_fit(X[150:], Y[150:])
    clone = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(clone.predict_proba(X)[0], model.predict_proba(X)[0])
    pa = pytest.importorskip("pyarrow")
    arrow = X.assign(tags=pd.Series(list(X["tags"]), dtype=pd.ArrowDtype(pa.list_(pa.string()))))
    np.testing.assert_allclose(model.predict_proba(arrow)[0], model.predict_proba(X)[0])
    MMoEClassifier(**FAST_PARAMS).fit(arrow, Y)  # found from the Arrow dtype


def test_through_a_column_transformer_passthrough():
    X, Y = tagged_frame()
    pre = ColumnTransformer([("num", StandardScaler(), ["x"]), ("tags", "passthrough", ["tags"])])
    pipe = make_pipeline(pre.set_output(transform="pandas"), MMoEClassifier(**FAST_PARAMS))
    pipe.fit(X, Y)
    assert pipe[-1].is_categorical_.tolist() == [False, True]
    assert pipe.predict(X).shape == (len(X), 2)


def test_declared_by_name_and_clear_errors():
    X, Y = tagged_frame()
    model = MMoEClassifier(categorical_features=["tags"], **FAST_PARAMS).fit(X, Y)
    assert model.is_categorical_.tolist() == [False, True]
    with pytest.raises(TypeError, match="'tags' holds lists: it is a multi-valued"):
        MMoEClassifier(categorical_features=None, **FAST_PARAMS).fit(X, Y)
    late_string = X.assign(tags=[["news"]] * (len(X) - 1) + ["sport"])  # not split into letters
    with pytest.raises(TypeError, match="'tags' holds 'sport' among its lists"):
        MMoEClassifier(**FAST_PARAMS).fit(late_string, Y)
    early_string = X.assign(tags=["sport"] + [["news"]] * (len(X) - 1))
    with pytest.raises(TypeError, match="'tags' holds lists or dicts among single values"):
        MMoEClassifier(categorical_features=["tags"], **FAST_PARAMS).fit(early_string, Y)


@pytest.mark.parametrize("pooling", ["mean", "sum"])
def test_weighted_items_pool_to_the_weighted_sum_or_mean(pooling):
    embed = MixedInputEmbedding(
        [], n_numeric=0, embedding_dim=3, bag_cardinalities=[5], pooling=pooling
    )
    table = embed.table.weight.detach()
    bags, weights = [[[1, 4], [], [2], [3]]], [[[0.5, 2.0], [], [3.0], [0.0]]]
    no_codes = torch.zeros(4, 0, dtype=torch.int64)
    out = embed(CategoricalInputs.from_bags(no_codes, bags, weights), None).detach()
    weighted_sum = 0.5 * table[1] + 2.0 * table[4]
    expected = weighted_sum / 2.5 if pooling == "mean" else weighted_sum
    torch.testing.assert_close(out[0], expected)
    torch.testing.assert_close(out[1], torch.zeros(3))  # empty bag
    torch.testing.assert_close(out[2], (3.0 if pooling == "sum" else 1.0) * table[2])
    torch.testing.assert_close(out[3], torch.zeros(3))  # zero total weight


def test_estimator_takes_item_weight_dicts():
    X, Y = tagged_frame()
    weighted = X.assign(tags=[None if t is None else {tag: 2.0 for tag in t} for t in X["tags"]])
    model = MMoEClassifier(**FAST_PARAMS).fit(weighted, Y)
    assert model.is_categorical_.tolist() == [False, True]
    new = pd.DataFrame({"x": [0.0], "tags": [{"news": 1.0, "sport": 3.0, "unseen": 1.0}]})
    embedding = model.net_.module_.embedding
    encoded = model._feature_encoder.transform(new)
    out = embedding(**module_inputs(encoded, torch.float32)).detach()
    table = embedding.table.weight.detach()
    vocabulary = list(model._feature_encoder.categories_[0])
    rows = [table[vocabulary.index(t) + 1] for t in ("news", "sport")] + [table[0]]
    torch.testing.assert_close(out[0, :8], (rows[0] + 3 * rows[1] + rows[2]) / 5)
    with pytest.raises(ValueError, match="pooling='max' cannot use item weights.*'tags'"):
        MMoEClassifier(multi_valued_pooling="max", **FAST_PARAMS).fit(weighted, Y)
    negative = weighted.assign(tags=[{"news": -1.0}] * len(X))
    with pytest.raises(ValueError, match="'tags' has item weights that are negative"):
        MMoEClassifier(**FAST_PARAMS).fit(negative, Y)
