"""Batches moved to the device, and mixed precision of the training steps."""

import numpy as np
import pytest
import torch
from skorch.callbacks import Callback
from sklearn.metrics import roc_auc_score

from sklearn_mtl import MMoEClassifier
from sklearn_mtl._data import BatchIterator, TensorData
from sklearn_mtl.nn import CategoricalInputs

from ._settings import FAST_PARAMS

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")


def _data(n=1200):
    rng = np.random.RandomState(0)
    X = rng.normal(size=(n, 5)).astype(np.float32)
    Y = np.column_stack([X[:, 0] + X[:, 1] > 0, X[:, 2] - X[:, 0] > 0.3]).astype(float)
    return X, Y


class _AutocastDtypes(Callback):
    """Records the CPU autocast dtype (None when off) of each forward pass,
    in training steps and in validation."""

    def on_train_begin(self, net, **kwargs):
        self.dtypes = {True: set(), False: set()}

        def record(module, inputs, output):
            on = torch.is_autocast_enabled("cpu")
            self.dtypes[module.training].add(torch.get_autocast_dtype("cpu") if on else None)

        net.module_.register_forward_hook(record)


def _mean_auc(model, X, Y):
    proba = model.predict_proba(X)
    return np.mean([roc_auc_score(Y[:, t], p[:, 1]) for t, p in enumerate(proba)])


def test_bf16_autocasts_training_steps_only_and_scores_as_float32():
    X, Y = _data()
    params = {**FAST_PARAMS, "max_epochs": 5}
    recorder = _AutocastDtypes()
    mixed = MMoEClassifier(
        precision="bf16", callbacks=[recorder], **{**params, "early_stopping": True}
    ).fit(X, Y)
    assert recorder.dtypes == {True: {torch.bfloat16}, False: {None}}
    # The weights, and so predictions, stay float32.
    assert all(p.dtype == torch.float32 for p in mixed.net_.module_.parameters())
    proba = mixed.predict_proba(X)
    assert all(np.isfinite(p).all() for p in proba)
    plain = MMoEClassifier(**params).fit(X, Y)
    assert abs(_mean_auc(mixed, X, Y) - _mean_auc(plain, X, Y)) < 0.02


def test_bf16_with_float64_is_a_clear_error():
    X, Y = _data(200)
    with pytest.raises(ValueError, match="precision='bf16'.*dtype='float64'"):
        MMoEClassifier(precision="bf16", dtype="float64", **FAST_PARAMS).fit(X, Y)


def test_unknown_precision_names_the_parameter():
    X, Y = _data(200)
    with pytest.raises(ValueError, match="'precision' parameter"):
        MMoEClassifier(precision="fp8", **FAST_PARAMS).fit(X, Y)


@needs_cuda
def test_batches_reach_the_gpu_from_host_data():
    codes = torch.zeros(6, 1, dtype=torch.int32)
    bags = CategoricalInputs.from_bags(codes, [[[1, 2], [], [3], [1], [2, 3], []]])
    data = TensorData({"categorical": bags, "numeric": torch.randn(6, 2)}, torch.ones(6, 1))
    for inputs, (targets, _) in BatchIterator(data, 4, device="cuda"):
        assert inputs["numeric"].is_cuda and targets.is_cuda
        assert inputs["categorical"].items.is_cuda
    # The host data stays where it was.
    assert not data.inputs["numeric"].is_cuda


@needs_cuda
def test_bf16_on_the_gpu_scores_like_float32():
    X, Y = _data()
    params = {**FAST_PARAMS, "max_epochs": 5, "device": "cuda"}
    mixed = MMoEClassifier(precision="bf16", **params).fit(X, Y)
    plain = MMoEClassifier(**params).fit(X, Y)
    assert abs(_mean_auc(mixed, X, Y) - _mean_auc(plain, X, Y)) < 0.02
