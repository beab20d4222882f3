"""sklearn_mtl.persistence: archives that round-trip every estimator and refuse
anything tampered with; pickles that record the library version."""

import hashlib
import io
import json
import pickle
import warnings
import zipfile
from collections import OrderedDict

import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from sklearn.base import clone
from sklearn.compose import ColumnTransformer
from sklearn.exceptions import InconsistentVersionWarning, NotFittedError
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler
from sklearn.utils import get_tags
from skorch.callbacks import EpochScoring

import sklearn_mtl

from ._settings import ESTIMATORS
from sklearn_mtl import (
    ChunkedData,
    MMoEClassifier,
    SharedBottomClassifier,
    SingleTaskClassifier,
    persistence,
)
from sklearn_mtl.datasets import load_census_income, make_funnel
from sklearn_mtl.loss_weighting import LOSS_WEIGHTINGS, GradNorm
from sklearn_mtl.persistence import load, save
from sklearn_mtl.preprocessing import CategoricalPassthrough


PARAMS = dict(max_epochs=2, batch_size=64, random_state=0)


def _data(Model):
    if get_tags(Model()).target_tags.single_output:
        X, Y = load_census_income(return_X_y=True)
        return X.iloc[:300], Y.iloc[:300]
    funnel = make_funnel(n_samples=300, random_state=0)
    return funnel.data, funnel.target


def _proba(model, X):
    proba = model.predict_proba(X)
    return np.column_stack([p for p in (proba if isinstance(proba, list) else [proba])])


def _timeless(history):
    # Epoch durations are the one entry that two equal trainings do not share.
    return [{k: v for k, v in epoch.items() if k != "dur"} for epoch in history]


def _assert_same_model(loaded, model, X):
    np.testing.assert_array_equal(_proba(loaded, X), _proba(model, X))
    assert loaded.get_params() == model.get_params()
    assert _timeless(loaded.history_) == _timeless(model.history_)
    assert loaded.n_iter_ == model.n_iter_


def _round_trip(model, tmp_path):
    save(model, tmp_path / "model.zip")
    return load(tmp_path / "model.zip")


@pytest.fixture(scope="module", params=ESTIMATORS, ids=lambda cls: cls.__name__)
def fitted(request):
    X, Y = _data(request.param)
    return request.param(**PARAMS).fit(X, Y), X, Y


def test_every_estimator_is_discovered():
    assert len(ESTIMATORS) >= 7 and SingleTaskClassifier in ESTIMATORS


def test_round_trip_keeps_predictions_params_and_history(fitted, tmp_path):
    model, X, _ = fitted
    loaded = _round_trip(model, tmp_path)
    assert type(loaded) is type(model)
    _assert_same_model(loaded, model, X)
    assert list(loaded.history_) == list(model.history_)
    for name in ("task_names_", "n_features_in_", "feature_names_in_", "is_categorical_"):
        np.testing.assert_array_equal(getattr(loaded, name), getattr(model, name))
    for loaded_classes, classes in zip(loaded.classes_, model.classes_):
        np.testing.assert_array_equal(loaded_classes, classes)


def test_partial_fit_and_warm_start_continue_after_load(fitted, tmp_path):
    model, X, Y = fitted
    # Both paths continue from the optimizer state: they match a pickled copy step for step.
    for continue_training in (
        lambda m: m.partial_fit(X, Y),
        lambda m: m.set_params(warm_start=True, max_epochs=1).fit(X, Y),
    ):
        loaded, pickled = _round_trip(model, tmp_path), pickle.loads(pickle.dumps(model))
        continue_training(loaded)
        continue_training(pickled)
        _assert_same_model(loaded, pickled, X)
        assert loaded.n_iter_ == model.n_iter_ + 1


def test_load_leaves_torch_random_state_alone(fitted, tmp_path):
    model, _, _ = fitted
    save(model, tmp_path / "model.zip")
    before = torch.random.get_rng_state()
    load(tmp_path / "model.zip")
    assert torch.equal(torch.random.get_rng_state(), before)


def _tagged_frame(n=200, seed=0):
    rng = np.random.RandomState(seed)
    tags = [list(rng.choice(["a", "b", "c", "d"], size=rng.randint(0, 3), replace=False))
            for _ in range(n)]  # fmt: skip
    X = pd.DataFrame(
        {
            "x": rng.normal(size=n),
            "tags": pd.Series(tags, dtype=object),
            "user": rng.randint(0, 1000, n),
            "city": pd.Categorical(rng.choice(["paris", "rome", "oslo", "bern"], n)),
        }
    )
    Y = pd.DataFrame(
        {
            "click": np.where(X["x"] > 0, "yes", "no"),
            "stars": rng.choice([1, 2, 3], n),
            "spend": rng.lognormal(size=n),
        }
    )
    return X, Y


@pytest.mark.parametrize(
    "params",
    [
        dict(
            task_types=["binary", "multiclass", "regression"],
            categorical_features=["tags", "user", "city"],
            hash_buckets={"user": 64},
            min_frequency=5,
            loss_weighting=GradNorm(alpha=0.5),
            optimizer=torch.optim.SGD,
            optimizer_params={"momentum": 0.9},
        ),
        dict(
            task_types=["binary", "multiclass", "regression"],
            categorical_features=[False, True, True, True],
            task_weights=np.array([1.0, 0.5, 2.0]),
            loss_weighting="fixed",
            dtype="float64",
            early_stopping=True,
            validation_fraction=0.3,
        ),
    ],
    ids=["hashing-gradnorm-sgd", "weights-float64-early-stopping"],
)
def test_round_trip_of_bags_hashing_task_types_and_strategies(params, tmp_path):
    X, Y = _tagged_frame()
    model = MMoEClassifier(**PARAMS, **params).fit(X, Y)
    loaded = _round_trip(model, tmp_path)
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    assert loaded.get_params().keys() == model.get_params().keys()
    assert repr(loaded) == repr(model)
    assert list(loaded.history_) == list(model.history_)
    # Values shared by two attributes load shared, as pickle keeps them.
    shared = [k for k, v in model._structure.items() if isinstance(v, (GradNorm, np.ndarray))]
    assert shared and all(loaded._structure[k] is getattr(loaded, k) for k in shared)
    assert loaded._feature_encoder.is_categorical is loaded.is_categorical_
    loaded.partial_fit(X, Y)
    model.partial_fit(X, Y)
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))


def test_round_trip_after_an_out_of_core_fit(tmp_path):
    X, Y = _data(SharedBottomClassifier)

    def chunks():
        for start in range(0, len(X), 100):
            yield X.iloc[start : start + 100], Y.iloc[start : start + 100]

    model = SharedBottomClassifier(**PARAMS, early_stopping=True).fit(ChunkedData(chunks))
    loaded = _round_trip(model, tmp_path)
    _assert_same_model(loaded, model, X)
    loaded.set_params(warm_start=True).fit(ChunkedData(chunks))
    model.set_params(warm_start=True).fit(ChunkedData(chunks))
    _assert_same_model(loaded, model, X)


def _census_pipeline(*extra_steps):
    X, Y = load_census_income(return_X_y=True)
    X, Y = X.iloc[:300], Y.iloc[:300]
    categorical = list(X.select_dtypes("category").columns)
    numeric = [c for c in X.columns if c not in categorical]
    columns = ColumnTransformer(
        [
            ("cat", CategoricalPassthrough(), categorical[1:]),
            ("onehot", OneHotEncoder(sparse_output=False, dtype=np.float32), categorical[:1]),
            ("num", StandardScaler(), numeric[1:]),
        ],
        remainder="passthrough",
        verbose_feature_names_out=False,
    ).set_output(transform="pandas")
    return make_pipeline(columns, *extra_steps, SharedBottomClassifier(**PARAMS)).fit(X, Y), X


def test_a_pipeline_round_trips_with_its_column_transformer(tmp_path):
    pipe, X = _census_pipeline()
    save(pipe, tmp_path / "pipe.zip")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loaded = load(tmp_path / "pipe.zip")
    assert [name for name, _ in loaded.steps] == [name for name, _ in pipe.steps]
    assert type(loaded[0].transformers_[1][1]) is OneHotEncoder
    np.testing.assert_array_equal(_proba(loaded, X), _proba(pipe, X))
    manifest = json.loads(_members(tmp_path / "pipe.zip")["manifest.json"])
    assert manifest["format_version"] == 2
    # An estimator alone stays readable by the versions before pipelines.
    save(pipe[-1], tmp_path / "model.zip")
    assert json.loads(_members(tmp_path / "model.zip")["manifest.json"])["format_version"] == 1


def test_a_pipeline_step_that_is_not_data_is_refused(tmp_path):
    pipe, _ = _census_pipeline(FunctionTransformer(lambda X: X))
    with pytest.raises(TypeError, match=r"the Pipeline.*the function"):
        save(pipe, tmp_path / "pipe.zip")


@pytest.mark.parametrize("class_path", ["subprocess:Popen", "skorch.net:NeuralNet"])
def test_a_pipeline_step_of_another_library_is_refused(class_path, tmp_path):
    pipe, _ = _census_pipeline()
    save(pipe, tmp_path / "pipe.zip")
    members = _members(tmp_path / "pipe.zip")
    steps = members["pipeline.json"].decode()
    assert '"sklearn.preprocessing._data:StandardScaler"' in steps
    members["pipeline.json"] = steps.replace(
        '"sklearn.preprocessing._data:StandardScaler"', json.dumps(class_path)
    ).encode()
    _rewrite(tmp_path / "pipe.zip", members)
    with pytest.raises(ValueError, match="not a class of sklearn_mtl"):
        load(tmp_path / "pipe.zip")


class _MyAdam(torch.optim.Adam):
    pass


@pytest.fixture(scope="module")
def mmoe():
    X, Y = _data(MMoEClassifier)
    return MMoEClassifier(**PARAMS).fit(X, Y), X, Y


@pytest.mark.parametrize(
    "params, named",
    [
        ({"callbacks": [("auc", EpochScoring("roc_auc"))]}, "'callbacks'"),
        ({"categorical_features": lambda X: [False] * X.shape[1]}, "'categorical_features'"),
        ({"optimizer": _MyAdam}, "'optimizer'"),
        ({"task_weights": [1.0, object()]}, r"'task_weights'\[1\]"),
    ],
    ids=["callback", "lambda", "custom-optimizer", "object"],
)
def test_save_refuses_parameters_that_are_not_data(mmoe, params, named, tmp_path):
    model = clone(mmoe[0])
    vars(model).update({k: v for k, v in vars(mmoe[0]).items() if k.endswith("_")})
    model.set_params(**params)
    with pytest.raises(TypeError, match=rf"parameter {named}\S* holds .*cannot be stored as data"):
        save(model, tmp_path / "model.zip")
    assert not list(tmp_path.iterdir())  # nothing half-written


class _MyMMoE(MMoEClassifier):
    pass


def test_save_refuses_unfitted_and_foreign_estimators(mmoe, tmp_path):
    with pytest.raises(NotFittedError):
        save(MMoEClassifier(), tmp_path / "model.zip")
    with pytest.raises(TypeError, match="StandardScaler"):
        save(StandardScaler().fit([[0.0], [1.0]]), tmp_path / "model.zip")
    subclassed = _MyMMoE(**PARAMS).fit(*mmoe[1:])
    with pytest.raises(TypeError, match=r"tests.test_persistence:_MyMMoE subclasses .* outside"):
        save(subclassed, tmp_path / "model.zip")
    assert not list(tmp_path.iterdir())


# ------------------------------------------------------------------ refusals


def _members(path):
    with zipfile.ZipFile(path) as zf:
        return {name: zf.read(name) for name in zf.namelist()}


def _rewrite(path, members, *, fix_checksums=True):
    """Write ``members`` to ``path``, with a manifest whose checksums match
    them unless ``fix_checksums`` is False (a tampered member)."""
    members = dict(members)
    manifest = json.loads(members["manifest.json"])
    if fix_checksums:
        manifest["sha256"] = {
            name: hashlib.sha256(data).hexdigest()
            for name, data in members.items()
            if name != "manifest.json"
        }
    members["manifest.json"] = json.dumps(manifest).encode()
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)


def _edit_manifest(path, **changes):
    members = _members(path)
    manifest = json.loads(members["manifest.json"])
    manifest.update(changes)
    members["manifest.json"] = json.dumps(manifest).encode()
    _rewrite(path, members, fix_checksums=False)


@pytest.fixture
def archive(mmoe, tmp_path):
    path = tmp_path / "model.zip"
    save(mmoe[0], path)
    return path


def test_a_file_that_is_not_an_archive_is_refused(tmp_path):
    path = tmp_path / "model.zip"
    path.write_text("not a zip")
    with pytest.raises(ValueError, match=r"model\.zip is not a readable sklearn_mtl archive"):
        load(path)
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("notes.txt", "a zip, but not ours")
    with pytest.raises(ValueError, match="no manifest.json"):
        load(path)


@pytest.mark.parametrize("keep", [0.3, 0.9, 0.999])
def test_a_truncated_file_is_refused(archive, keep):
    data = archive.read_bytes()
    archive.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(ValueError, match=r"model\.zip is not a readable sklearn_mtl archive"):
        load(archive)


def test_a_flipped_byte_in_the_file_is_refused(archive):
    data = bytearray(archive.read_bytes())
    with zipfile.ZipFile(archive) as zf:
        info = zf.getinfo("network.json")
    # A byte inside the compressed member: zip's own CRC (or inflate) notices.
    position = info.header_offset + 30 + len(info.filename) + info.compress_size // 2
    data[position] ^= 0xFF
    archive.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=r"model\.zip"):
        load(archive)


@pytest.mark.parametrize("member", ["params.json", "state.json", "network.json", "arrays/0.npy"])
def test_a_member_that_does_not_match_its_checksum_is_refused(archive, member):
    members = _members(archive)
    data = bytearray(members[member])
    data[len(data) // 2] ^= 0x01
    members[member] = bytes(data)
    _rewrite(archive, members, fix_checksums=False)
    with pytest.raises(ValueError, match=rf"member {member} does not match its SHA-256"):
        load(archive)


def test_an_extra_or_missing_member_is_refused(archive):
    members = _members(archive)
    _rewrite(archive, {**members, "extra.py": b"import os"}, fix_checksums=False)
    with pytest.raises(ValueError, match=r"unexpected \['extra.py'\]"):
        load(archive)
    del members["state.json"]
    _rewrite(archive, members, fix_checksums=False)
    with pytest.raises(ValueError, match=r"missing \['state.json'\]"):
        load(archive)


def _first_weight_member(members):
    """The .npy member of the network's first floating-point weight."""
    network = json.loads(members["network.json"])
    module = dict((key, value) for key, value in network["items"])["module"]
    for name, tensor in module["items"]:
        array = np.load(io.BytesIO(members[tensor["npy"]]))
        if array.dtype.kind == "f":
            return name, tensor["npy"], array
    raise AssertionError("no floating-point weight")


@pytest.mark.parametrize("value", [np.nan, np.inf])
def test_a_non_finite_weight_is_refused_even_with_valid_checksums(archive, value):
    members = _members(archive)
    name, member, array = _first_weight_member(members)
    array.flat[0] = value
    buffer = io.BytesIO()
    np.save(buffer, array)
    members[member] = buffer.getvalue()
    _rewrite(archive, members)
    with pytest.raises(ValueError, match=rf"non-finite values in network {name!r}"):
        load(archive)


@pytest.mark.parametrize(
    "class_path",
    [
        "os:system",
        "builtins:eval",
        "sklearn.pipeline:Pipeline",
        "sklearn_mtl._base:torch",  # a module reached through sklearn_mtl, not a class of it
        "sklearn_mtl.persistence:load",
        "sklearn_mtl:NoSuchClassifier",
        "sklearn_mtl.no_such_module:MMoEClassifier",
    ],
)
def test_an_unknown_estimator_class_is_refused(archive, class_path):
    _edit_manifest(archive, estimator=class_path)
    with pytest.raises(ValueError, match="not a class of sklearn_mtl"):
        load(archive)


def test_a_class_of_sklearn_mtl_that_is_not_an_estimator_is_refused(archive):
    _edit_manifest(archive, estimator="sklearn_mtl._data._encoding:FeatureEncoder")
    with pytest.raises(TypeError, match="FeatureEncoder"):
        load(archive)


@pytest.mark.parametrize("class_path", ["subprocess:Popen", "sklearn_mtl.models._mmoe:MMoE"])
def test_an_unknown_class_inside_the_state_is_refused(archive, class_path):
    members = _members(archive)
    state = members["state.json"].decode()
    assert '"sklearn_mtl._data._encoding:FeatureEncoder"' in state
    members["state.json"] = state.replace(
        '"sklearn_mtl._data._encoding:FeatureEncoder"', json.dumps(class_path)
    ).encode()
    _rewrite(archive, members)
    with pytest.raises(ValueError, match=r"model\.zip"):
        load(archive)


class _Payload:
    ran = False

    def __reduce__(self):
        return (setattr, (_Payload, "ran", True))


def test_a_pickled_array_is_refused_and_never_run(archive):
    members = _members(archive)
    buffer = io.BytesIO()
    np.save(buffer, np.array([_Payload()], dtype=object), allow_pickle=True)
    members["arrays/0.npy"] = buffer.getvalue()
    _rewrite(archive, members)
    with pytest.raises(ValueError, match=r"array arrays/0\.npy does not read"):
        load(archive)
    assert not _Payload.ran


@pytest.mark.parametrize(
    "member, edit",
    [
        ("network.json", lambda text: text.replace('"batch_size"', '"batch_sizes"', 1)),
        ("network.json", lambda text: "[]"),
        ("state.json", lambda text: '{"net_":null,' + text[1:]),
        ("state.json", lambda text: text[:-1] + ',"lr":1.0}'),
        ("params.json", lambda text: text[:-1] + ',"no_such_parameter":1}'),
        ("params.json", lambda text: "{not json"),
        ("state.json", lambda text: text.replace('"$":"ndarray"', '"$":"mystery"', 1)),
    ],
)
def test_a_member_with_valid_checksums_but_not_our_layout_is_refused(archive, member, edit):
    members = _members(archive)
    edited = edit(members[member].decode())
    assert edited != members[member].decode()
    members[member] = edited.encode()
    _rewrite(archive, members)
    with pytest.raises(ValueError, match=r"model\.zip is not a readable sklearn_mtl archive"):
        load(archive)


def test_a_newer_format_is_refused(archive):
    _edit_manifest(archive, format_version=persistence.FORMAT_VERSION + 1)
    with pytest.raises(ValueError, match="format version 3, newer than"):
        load(archive)


def test_another_sklearn_mtl_version_warns(archive, mmoe):
    members = _members(archive)
    manifest = json.loads(members["manifest.json"])
    manifest["versions"]["sklearn_mtl"] = "0.0.1"
    _edit_manifest(archive, versions=manifest["versions"])
    with pytest.warns(InconsistentVersionWarning, match="sklearn_mtl 0.0.1"):
        loaded = load(archive)
    np.testing.assert_array_equal(_proba(loaded, mmoe[1]), _proba(mmoe[0], mmoe[1]))


def test_the_same_version_loads_without_warnings(archive):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load(archive)


# --------------------------------------------------------------------- pickle


def test_pickle_records_the_version_and_warns_on_another(mmoe, monkeypatch):
    model, X, _ = mmoe
    assert model.__getstate__()["_sklearn_mtl_version"] == sklearn_mtl.__version__
    payload = pickle.dumps(model)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        same = pickle.loads(payload)
    assert "_sklearn_mtl_version" not in vars(same)
    np.testing.assert_array_equal(_proba(same, X), _proba(model, X))
    monkeypatch.setattr(sklearn_mtl, "__version__", "9.9.9")
    with pytest.warns(InconsistentVersionWarning, match="sklearn_mtl 0.1.0 .* sklearn_mtl 9.9.9"):
        pickle.loads(payload)


def test_a_pickle_without_a_recorded_version_warns(mmoe):
    model = mmoe[0]
    state = {k: v for k, v in model.__getstate__().items() if k != "_sklearn_mtl_version"}
    restored = type(model).__new__(type(model))
    with pytest.warns(InconsistentVersionWarning, match="unrecorded"):
        restored.__setstate__(state)


# ----------------------------------------------------------- the state walker


def _walk(value):
    writer = persistence._ArchiveWriter()
    encoded = json.loads(json.dumps(persistence._encode(value, writer, "value")))
    return persistence._decode(encoded, persistence._ArchiveReader(writer.members, "memory"))


def _assert_same(restored, value):
    """Equal values of the same types, all the way down (NaN equals NaN)."""
    assert type(restored) is type(value)
    if isinstance(value, np.ndarray):
        assert restored.dtype == value.dtype and restored.shape == value.shape
        if value.dtype == object:
            for a, b in zip(restored.ravel(), value.ravel()):
                _assert_same(a, b)
        else:
            np.testing.assert_array_equal(restored, value)
    elif isinstance(value, torch.Tensor):
        assert restored.dtype == value.dtype
        torch.testing.assert_close(restored, value, rtol=0, atol=0, equal_nan=True)
    elif isinstance(value, dict):
        assert list(restored) == list(value)
        for key in value:
            _assert_same(restored[key], value[key])
    elif isinstance(value, (list, tuple)):
        assert len(restored) == len(value)
        for a, b in zip(restored, value):
            _assert_same(a, b)
    elif isinstance(value, (float, np.floating)) and np.isnan(value):
        assert np.isnan(restored)
    else:
        assert restored == value


_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.text(),
    st.sampled_from([np.int64, np.int32, np.uint8, np.float32, np.float64, np.bool_]).flatmap(
        lambda t: hnp.from_dtype(np.dtype(t)).map(t)
    ),
)
_KEYS = st.one_of(st.text(max_size=5), st.integers(), st.tuples(st.integers(), st.text(max_size=3)))
_ARRAYS = st.one_of(
    hnp.arrays(
        st.sampled_from(["bool", "int8", "int64", "uint32", "float32", "float64", "complex128",
                         "<U4", "datetime64[s]"]),  # fmt: skip
        hnp.array_shapes(min_dims=0, max_dims=3, max_side=4),
    ),
    st.lists(_SCALARS, max_size=6).map(lambda items: np.array(items + [None], dtype=object)),
)
_LEAVES = st.one_of(
    _SCALARS,
    _ARRAYS,
    st.sampled_from([torch.float32, torch.float64, torch.int64, torch.bool]),
    hnp.arrays("float32", hnp.array_shapes(max_dims=2, max_side=3)).map(torch.from_numpy),
)
_NESTED = st.recursive(
    _LEAVES,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.lists(inner, max_size=4).map(tuple),
        st.dictionaries(_KEYS, inner, max_size=4),
        st.dictionaries(_KEYS, inner, max_size=4).map(OrderedDict),
        st.frozensets(st.integers(), max_size=4),
    ),
    max_leaves=12,
)


@settings(max_examples=60, deadline=None)
@given(_NESTED)
def test_the_state_walker_round_trips_nested_data(value):
    _assert_same(_walk(value), value)


@pytest.mark.parametrize("strategy", sorted(LOSS_WEIGHTINGS))
def test_every_loss_weighting_parameter_round_trips(strategy):
    value = LOSS_WEIGHTINGS[strategy]()
    restored = _walk(value)
    assert type(restored) is type(value) and repr(restored) == repr(value)


@settings(max_examples=30, deadline=None)
@given(st.lists(st.one_of(st.text(), st.integers(), st.floats(allow_nan=False)), unique=True))
def test_pandas_indexes_round_trip(values):
    index = pd.Index(values, name="categories")
    restored = _walk(index)
    assert restored.dtype == index.dtype and restored.name == index.name
    assert list(restored) == list(index)


@settings(max_examples=30, deadline=None)
@given(_NESTED, st.sampled_from([len, lambda: 0, object(), pd.Series([1]), io.BytesIO()]))
def test_the_state_walker_refuses_code_anywhere(value, code):
    with pytest.raises(TypeError, match="cannot be stored as data"):
        persistence._encode([value, {"deep": (value, code)}], persistence._ArchiveWriter(), "value")
