"""Serving: the module's inputs, the encoding, TorchScript and ONNX exports."""

import warnings

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.compose import make_column_transformer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from sklearn_mtl import (
    AdaTTClassifier,
    AITMClassifier,
    ESCM2Classifier,
    ESMMClassifier,
    MMoEClassifier,
    PLEClassifier,
    SharedBottomClassifier,
    SingleTaskClassifier,
    STEMClassifier,
)
from sklearn_mtl.export import (
    BAG_INPUT_NAMES,
    feature_encoding,
    output_names,
    serving_inputs,
    to_onnx,
    to_torchscript,
    transform_inputs,
)
from sklearn_mtl.preprocessing import CategoricalPassthrough

from ._settings import ESTIMATORS, FAST_PARAMS

PARAMS = {**FAST_PARAMS, "max_epochs": 1, "batch_size": 32}

#: Every model, with the options that change its forward code path.
MODELS = [
    SharedBottomClassifier(task_types=["binary", "multiclass", "regression"], **PARAMS),
    MMoEClassifier(gate_hidden_units=(4,), gate_balance_weight=0.1, **PARAMS),
    PLEClassifier(num_levels=2, **PARAMS),
    ESMMClassifier(**PARAMS),
    AITMClassifier(shared_attention=False, **PARAMS),
    ESCM2Classifier(counterfactual="dr", **PARAMS),
    SingleTaskClassifier(task_types=["binary", "multiclass", "regression"], **PARAMS),
    SharedBottomClassifier(batch_norm=True, **PARAMS),
    PLEClassifier(num_levels=2, batch_norm=True, **PARAMS),
    STEMClassifier(num_levels=2, gate_dropout=0.2, interaction="dcn_v2",
                   task_types=["binary", "multiclass", "regression"], **PARAMS),
    AdaTTClassifier(num_shared_experts=1, num_levels=2, gate_balance_weight=0.1,
                    interaction="fm", batch_norm=True, **PARAMS),
    MMoEClassifier(gate_dropout=0.3, interaction="dcn_v2_mix", **PARAMS),
]


def test_every_estimator_is_exported():
    assert {type(model) for model in MODELS} == set(ESTIMATORS)


def _data(n=60, seed=0):
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(
        {
            "city": pd.Categorical(rng.choice(["a", "b", "c", "d"], n)),
            "age": rng.normal(40, 10, n),
            "device": pd.Categorical(rng.choice(["ios", "android"], n)),
            "income": rng.normal(size=n),
        }
    )
    click = rng.integers(0, 2, n)
    Y = np.column_stack([click, click * rng.integers(0, 2, n)])
    return X, Y


def _fitted(model):
    X, Y = _data()
    if model.get_params().get("task_types"):
        Y = np.column_stack([Y[:, 0], np.arange(len(Y)) % 3, X["age"] * 2 + 1])
    return model.fit(X, Y), X


def _expected(model, X):
    """predict_proba's slot of each classification task, predict's value of a regression
    one, then a funnel's step rates (predict_cvr's columns)."""
    proba = model.predict_proba(X)
    Y_pred = model.predict(X)
    expected = [Y_pred[:, t] if p is None else p for t, p in enumerate(proba)]
    if hasattr(model, "predict_cvr"):
        expected += list(model.predict_cvr(X).reshape(len(X), -1).T)
    return expected


def _assert_outputs(outputs, model, X):
    expected = _expected(model, X)
    assert len(outputs) == len(expected)
    for output, value in zip(outputs, expected):
        np.testing.assert_allclose(np.asarray(output), value, rtol=1e-5, atol=1e-5)


@pytest.fixture(
    scope="module",
    params=MODELS,
    ids=lambda m: type(m).__name__ + ("-batch_norm" if m.get_params().get("batch_norm") else ""),
)
def fitted(request):
    return _fitted(request.param)


def test_torchscript_matches_predict_proba(fitted):
    model, X = fitted
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # torch.jit.script's own
        scripted = to_torchscript(model)
    for rows in (slice(0, 1), slice(0, 13)):
        outputs = scripted(**transform_inputs(model, X[rows]))
        _assert_outputs([output.numpy() for output in outputs], model, X[rows])
    assert scripted.output_names == output_names(model)


def test_scripted_and_traced_modules_are_exact(fitted):
    model, X = fitted
    module = model.net_.module_.eval()
    inputs = transform_inputs(model, X)
    args = (inputs["categorical"], inputs["numeric"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scripted = torch.jit.script(module)
        # Traced at 5 rows, run at another batch size: nothing may freeze the batch size.
        traced = torch.jit.trace(module, (args[0][:5], args[1][:5]), check_trace=False)
    with torch.inference_mode():
        expected = module(*args)
        assert torch.equal(scripted(*args), expected)
        assert torch.equal(traced(*args), expected)


def test_onnx_matches_predict_proba_at_any_batch_size(fitted, tmp_path):
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    model, X = fitted
    path = tmp_path / "model.onnx"
    to_onnx(model, path, X.head(3))
    session = ort.InferenceSession(str(path))
    assert [i.name for i in session.get_inputs()] == ["categorical", "numeric"]
    assert [o.name for o in session.get_outputs()] == output_names(model)
    for rows in (slice(0, 1), slice(0, 17)):
        _assert_outputs(session.run(None, serving_inputs(model, X[rows])), model, X[rows])


def test_output_names_say_what_funnel_outputs_hold():
    X, Y = _data()
    Y = pd.DataFrame(Y, columns=["click", "buy"])
    assert output_names(SharedBottomClassifier(**PARAMS).fit(X, Y)) == ["click", "buy"]
    for funnel in (ESMMClassifier(**PARAMS), ESCM2Classifier(**PARAMS)):
        assert output_names(funnel.fit(X, Y)) == ["click", "click_and_buy", "buy_given_click"]
    Y3 = Y.assign(pay=Y["buy"])
    assert output_names(AITMClassifier(**PARAMS).fit(X, Y3)) == [
        "click", "click_and_buy", "click_and_buy_and_pay", "buy_given_click", "pay_given_buy",
    ]


def test_export_leaves_the_fitted_model_as_it_was():
    model, X = _fitted(SharedBottomClassifier(**PARAMS))
    model.net_.module_.train()
    before = model.net_.module_.state_dict()["towers.output.weight"].clone()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        to_torchscript(model)
    assert model.net_.module_.training
    assert all(p.requires_grad for p in model.net_.module_.parameters())
    assert torch.equal(model.net_.module_.state_dict()["towers.output.weight"], before)


def test_transform_inputs_through_a_pipeline():
    X, Y = _data()
    double = FunctionTransformer(lambda X: X.assign(age=X["age"] * 2))
    pipe = make_pipeline(double, SharedBottomClassifier(**PARAMS)).fit(X, Y)
    inputs = transform_inputs(pipe, X)
    direct = transform_inputs(pipe[-1], double.transform(X))
    assert inputs["categorical"].dtype == torch.int64
    assert torch.equal(inputs["categorical"], direct["categorical"])
    assert torch.equal(inputs["numeric"], direct["numeric"])
    logits = pipe[-1].net_.module_.eval()(**inputs)
    np.testing.assert_allclose(
        torch.sigmoid(logits[:, 0]).detach().numpy(), pipe.predict_proba(X)[0][:, 1], atol=1e-6
    )
    assert feature_encoding(pipe).numeric_features == ["age", "income"]


def test_feature_encoding_reproduces_the_inputs():
    X, Y = _data()
    X = X.astype({"city": object, "device": object})
    X.loc[:4, "city"] = "rare"  # 5 rows: infrequent below min_frequency=6
    model = SharedBottomClassifier(
        categorical_features=["city", "device"],
        min_frequency=6,
        hash_buckets={"device": 7},
        **PARAMS,
    ).fit(X, Y)
    encoding = feature_encoding(model)
    assert encoding.categorical_features == ["city", "device"]
    assert encoding.numeric_features == ["age", "income"]
    assert encoding.multi_valued_features == []
    assert encoding.hash_buckets == {"device": 7}
    assert list(encoding.infrequent_categories["city"]) == ["rare"]
    vocabulary = encoding.vocabularies["city"]
    assert vocabulary.to_dict() == {"a": 1, "b": 2, "c": 3, "d": 4, "rare": 5}

    X_new = X.head(6).copy()
    X_new.loc[0, "city"] = "unseen"
    inputs = transform_inputs(model, X_new)
    expected_city = X_new["city"].map(vocabulary).fillna(encoding.unknown_code)
    np.testing.assert_array_equal(inputs["categorical"][:, 0].numpy(), expected_city)
    numeric = (X_new[encoding.numeric_features] - encoding.numeric_mean) / encoding.numeric_scale
    np.testing.assert_allclose(inputs["numeric"].numpy(), numeric, rtol=1e-6)


def test_feature_encoding_of_an_array_names_columns_by_index():
    X, Y = _data()
    array = np.column_stack([X["city"].cat.codes, X["age"], X["income"]])
    model = SharedBottomClassifier(categorical_features=[0], **PARAMS).fit(array, Y)
    encoding = feature_encoding(model)
    assert encoding.categorical_features == [0]
    assert encoding.numeric_features == [1, 2]
    assert list(encoding.vocabularies) == [0]


def _bag_data(weighted):
    """Two multi-valued columns, with empty bags and rows whose bags are all empty."""
    X, Y = _data()
    X["tags"] = [["x", "y", "z"][: i % 4] for i in range(len(X))]
    genres = [["rock", "jazz"][: (i // 2) % 3] for i in range(len(X))]
    X["genres"] = [{g: 0.5 + i % 3 for g in bag} for i, bag in enumerate(genres)] if weighted else genres
    return X, Y


def _bag_pipeline(model):
    columns = make_column_transformer(
        (StandardScaler(), ["age", "income"]),
        (CategoricalPassthrough(), ["city", "device"]),
        remainder="passthrough",
        verbose_feature_names_out=False,
    ).set_output(transform="pandas")
    return make_pipeline(columns, model)


@pytest.mark.parametrize(
    "model, pooling, weighted",
    [
        (SharedBottomClassifier, "mean", True),
        (ESMMClassifier, "sum", False),
        (MMoEClassifier, "max", False),
    ],
)
def test_bags_export_to_onnx_through_a_pipeline(pooling, weighted, model, tmp_path):
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    X, Y = _bag_data(weighted)
    pipe = _bag_pipeline(model(multi_valued_pooling=pooling, **PARAMS)).fit(X, Y)
    names = ["categorical", "numeric", *BAG_INPUT_NAMES[: 3 if weighted else 2]]
    to_onnx(pipe, tmp_path / "bags.onnx", X.head(1))
    session = ort.InferenceSession(str(tmp_path / "bags.onnx"))
    assert [i.name for i in session.get_inputs()] == names
    assert [o.name for o in session.get_outputs()] == output_names(pipe)
    # Any batch size, bags of any length, a batch without a single item.
    for rows in ([0], [3, 0, 5, 1, 2], list(range(30)), [0, 12]):
        feeds = serving_inputs(pipe, X.iloc[rows])
        assert list(feeds) == names
        _assert_outputs(session.run(None, feeds), pipe[-1], pipe[0].transform(X.iloc[rows]))


def test_bag_inputs_are_embedding_bag_offsets():
    X, Y = _bag_data(weighted=False)
    model = SharedBottomClassifier(**PARAMS).fit(X, Y)
    feeds = serving_inputs(model, X.head(4))
    tags = feature_encoding(model).vocabularies["tags"]
    genres = feature_encoding(model).vocabularies["genres"]
    # Column by column: the four rows' tags, then their genres.
    expected = [tags[t] for row in X["tags"][:4] for t in row]
    expected += [genres[g] for row in X["genres"][:4] for g in row]
    assert feeds["bag_items"].tolist() == expected
    assert feeds["bag_offsets"].tolist() == [[0, 6], [0, 6], [1, 6], [3, 7]]
    with pytest.raises(ValueError, match=r"multi-valued \(bag\) columns \['tags', 'genres'\].*to_onnx"):
        to_torchscript(model)


def test_unfitted_estimator_is_rejected():
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        feature_encoding(MMoEClassifier())
    with pytest.raises(NotFittedError):
        transform_inputs(make_pipeline(MMoEClassifier()), np.zeros((2, 2)))


def test_log1mexp_stays_exact_near_zero_in_onnx(tmp_path):
    # ONNX has no Expm1: exp(x) - 1 would give log(0) = -inf at x = -1e-8.
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    from sklearn_mtl.nn import log1mexp

    class Log1mexp(torch.nn.Module):
        def forward(self, x):
            return log1mexp(x)

    x = -torch.logspace(-8, 1.5, 50)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        program = torch.onnx.export(
            Log1mexp(), (x,), dynamo=True, dynamic_shapes=({0: torch.export.Dim("n")},),
            verbose=False,
        )
    program.save(tmp_path / "log1mexp.onnx")
    session = ort.InferenceSession(str(tmp_path / "log1mexp.onnx"))
    got = session.run(None, {session.get_inputs()[0].name: x.numpy()})[0]
    exact = torch.log(-torch.expm1(x.double())).numpy()
    # Far from zero log1p(-exp(x)) is exact to an absolute exp(x) (< 1e-7 here), which
    # is nothing next to the log-probability it is subtracted from in product_logit.
    np.testing.assert_allclose(got, exact, rtol=1e-6, atol=1e-7)
