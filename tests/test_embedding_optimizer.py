"""embedding_optimizer: the estimators' tables trained from sparse gradients."""

import copy
import pickle
import warnings

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.base import clone
from sklearn.compose import ColumnTransformer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from skorch.callbacks import Callback

from sklearn_mtl import MMoEClassifier
from sklearn_mtl._training._net import _Rollback
from sklearn_mtl._training._tables import AUTO_SPARSE_MIN_ROWS, SplitOptimizer, embedding_tables
from sklearn_mtl.datasets import make_click_log
from sklearn_mtl.export import to_onnx, to_torchscript, transform_inputs
from sklearn_mtl.loss_weighting import LOSS_WEIGHTINGS
from sklearn_mtl.nn import LazyAdam, RowWiseAdagrad
from sklearn_mtl.persistence import load, save
from sklearn_mtl.preprocessing import CategoricalPassthrough

from ._settings import ESTIMATORS, FAST_PARAMS

TABLE_OPTIMIZERS = {"lazy_adam": LazyAdam, "rowwise_adagrad": RowWiseAdagrad}
ID_COLUMNS = ["user_id", "item_id", "cat_0", "cat_1", "cat_2"]


def _click_log(n, seed=0, tags=False):
    log = make_click_log(n, random_state=seed)
    columns = ID_COLUMNS + ["num_0", "num_1", "num_2"] + (["tags"] if tags else [])
    categorical = [c for c in log.categorical_features if c in columns]
    return log.data[columns], log.target, categorical


def _model(categorical, buckets=1000, **params):
    return MMoEClassifier(
        categorical_features=categorical,
        hash_buckets={"user_id": buckets, "item_id": buckets},
        **{"max_epochs": 1, "random_state": 0, "early_stopping": False, **params},
    )


class _Capture(Callback):
    """The module's state when training starts and the table's gradient after
    each step (skorch zeroes gradients at the start of the next step)."""

    def initialize(self):
        self.start, self.grads = None, []
        return self

    def on_train_begin(self, net, **kwargs):
        self.start = copy.deepcopy(net.module_.state_dict())

    def on_batch_end(self, net, training=False, **kwargs):
        if training:
            grad = net.module_.embedding.table.weight.grad
            self.grads.append(grad.to_dense() if grad.is_sparse else grad.clone())


def _one_step(categorical, X, Y, embedding_optimizer, **params):
    capture = _Capture()
    model = _model(
        categorical,
        embedding_optimizer=embedding_optimizer,
        batch_size=len(X),
        dtype="float64",
        embedding_init_std=0.1,
        callbacks=[capture],
        **params,
    ).fit(X, Y)
    return model, capture


def _reference_rows(optimizer, start, grad, lr, weight_decay):
    """The table after one step of ``optimizer`` (a class of sklearn_mtl.nn) on
    the dense reference gradient's non-zero rows."""
    table = torch.nn.Parameter(start.clone())
    rows = grad.abs().sum(1).nonzero().flatten()
    table.grad = torch.sparse_coo_tensor(rows[None], grad[rows], grad.shape, check_invariants=True)
    optimizer([table], lr=lr, weight_decay=weight_decay).step()
    return table.detach(), rows


@pytest.mark.parametrize("name", sorted(TABLE_OPTIMIZERS))
@pytest.mark.parametrize("weight_decay", [0.0, 0.01])
def test_one_step_equals_the_dense_reference_on_touched_rows(name, weight_decay):
    X, Y, categorical = _click_log(96)
    lr = 0.01
    dense, dense_capture = _one_step(categorical, X, Y, "dense", lr=lr)
    sparse, capture = _one_step(categorical, X, Y, name, lr=lr, weight_decay=weight_decay)
    start = capture.start["embedding.table.weight"]
    torch.testing.assert_close(start, dense_capture.start["embedding.table.weight"])
    # The sparse gradient holds the dense one's values, row by row.
    (grad,) = capture.grads
    torch.testing.assert_close(grad, dense_capture.grads[0])
    expected, touched = _reference_rows(TABLE_OPTIMIZERS[name], start, grad, lr, weight_decay)
    table = sparse.net_.module_.embedding.table.weight.detach()
    torch.testing.assert_close(table, expected)
    untouched = np.setdiff1d(np.arange(len(table)), touched.numpy())
    assert len(untouched) > len(table) // 2
    assert torch.equal(table[untouched], start[untouched])
    assert (table[touched] != start[touched]).any(1).all()
    if weight_decay == 0.0:
        # Every other parameter took the same Adam step as on the dense path.
        for key, value in sparse.net_.module_.state_dict().items():
            if key != "embedding.table.weight":
                torch.testing.assert_close(value, dense.net_.module_.state_dict()[key])


def _table_state(model):
    optimizer, table = model.net_.optimizer_, model.net_.module_.embedding.table.weight
    state = optimizer.state[table]
    # The split optimizer reads it from the table optimizer, and adds it nowhere else.
    assert state is optimizer.optimizers[1].state[table]
    assert table not in optimizer.optimizers[0].state
    return state


def test_warm_start_and_partial_fit_continue_the_table_optimizer_state():
    X, Y, categorical = _click_log(400)
    model = _model(categorical, embedding_optimizer="lazy_adam", batch_size=100).fit(X, Y)
    assert isinstance(model.net_.optimizer_, SplitOptimizer)
    first = copy.deepcopy(_table_state(model))
    assert int(first["step"]) == 4
    later = X.iloc[:200].assign(user_id=X["user_id"].iloc[:200] + 10**6)
    model.set_params(warm_start=True).fit(later, Y.iloc[:200])
    assert int(_table_state(model)["step"]) == 6
    # The moments went on from the first fit's: rows the second fit did not
    # touch (the first fit's users) kept theirs.
    kept = (_table_state(model)["exp_avg"] == first["exp_avg"]).all(1) & (
        first["exp_avg"] != 0
    ).any(1)
    assert kept.sum() > 10
    model.partial_fit(later, Y.iloc[:200])
    assert int(_table_state(model)["step"]) == 8
    # Another table optimizer starts afresh.
    model.set_params(embedding_optimizer="rowwise_adagrad").fit(X, Y)
    assert set(_table_state(model)) == {"sum"}


def test_pickle_and_persistence_keep_the_table_optimizer_state(tmp_path):
    X, Y, categorical = _click_log(300)
    model = _model(categorical, embedding_optimizer="rowwise_adagrad", batch_size=100).fit(X, Y)
    state = _table_state(model)["sum"].clone()
    save(model, tmp_path / "model.zip")
    for restored in (pickle.loads(pickle.dumps(model)), load(tmp_path / "model.zip")):
        np.testing.assert_array_equal(restored.predict_proba(X)[0], model.predict_proba(X)[0])
        torch.testing.assert_close(_table_state(restored)["sum"], state)
        restored.set_params(warm_start=True).fit(X, Y)
        # Continued from the saved sums: they only grow.
        assert (_table_state(restored)["sum"] >= state).all()
        assert (_table_state(restored)["sum"] > state).any()


def test_auto_is_sparse_for_large_tables_only():
    X, Y, categorical = _click_log(200)
    small = _model(categorical, buckets=100).fit(X, Y)
    large = _model(categorical, buckets=AUTO_SPARSE_MIN_ROWS).fit(X, Y)
    assert isinstance(small.net_.optimizer_, torch.optim.Adam)
    assert isinstance(large.net_.optimizer_.optimizers[1], LazyAdam)
    # The algorithm stays the user's: SGD keeps a dense table.
    sgd = _model(categorical, buckets=AUTO_SPARSE_MIN_ROWS, optimizer="sgd").fit(X, Y)
    assert isinstance(sgd.net_.optimizer_, torch.optim.SGD)


def test_optimizer_params_and_weight_decay_reach_the_right_optimizers():
    X, Y, categorical = _click_log(200)
    model = _model(
        categorical,
        embedding_optimizer="lazy_adam",
        optimizer="adamw",
        optimizer_params={"betas": (0.8, 0.9)},
        weight_decay=0.05,
        lr=0.02,
    ).fit(X, Y)
    network, table = model.net_.optimizer_.optimizers
    assert isinstance(network, torch.optim.AdamW)
    assert network.param_groups[0]["betas"] == (0.8, 0.9)
    assert table.param_groups[0]["weight_decay"] == 0.05
    assert {g["lr"] for g in model.net_.optimizer_.param_groups} == {0.02}
    table_weight = model.net_.module_.embedding.table.weight
    assert all(p is not table_weight for g in network.param_groups for p in g["params"])


@pytest.mark.parametrize("strategy", sorted(LOSS_WEIGHTINGS))
def test_every_loss_weighting(strategy):
    X, Y, categorical = _click_log(200)
    per_task = strategy in ("gradnorm", "pcgrad")
    # Two epochs: DWA's weights come from the epochs before.
    params = dict(loss_weighting=strategy, max_epochs=2)
    auto = _model(categorical, buckets=AUTO_SPARSE_MIN_ROWS, **params).fit(X, Y)
    assert isinstance(auto.net_.optimizer_, SplitOptimizer) is not per_task
    explicit = _model(categorical, embedding_optimizer="lazy_adam", **params)
    if per_task:
        with pytest.raises(ValueError, match="embedding_optimizer='lazy_adam'.*loss_weighting"):
            explicit.fit(X, Y)
    else:
        assert np.isfinite(explicit.fit(X, Y).predict_proba(X)[0]).all()


def test_max_pooling_has_no_sparse_gradient():
    X, Y, categorical = _click_log(200, tags=True)
    auto = _model(categorical, buckets=AUTO_SPARSE_MIN_ROWS, multi_valued_pooling="max")
    assert isinstance(auto.fit(X, Y).net_.optimizer_, torch.optim.Adam)
    explicit = _model(categorical, embedding_optimizer="rowwise_adagrad",
                      multi_valued_pooling="max")
    with pytest.raises(ValueError, match="embedding_optimizer=.*multi_valued_pooling='max'"):
        explicit.fit(X, Y)
    # Mean-pooled bags train from the same sparse gradient as the single IDs.
    mean = _model(categorical, embedding_optimizer="rowwise_adagrad").fit(X, Y)
    assert isinstance(mean.net_.optimizer_, SplitOptimizer)


def test_bf16_precision_and_a_scheduler():
    from skorch.callbacks import LRScheduler

    X, Y, categorical = _click_log(300)
    model = _model(
        categorical,
        embedding_optimizer="lazy_adam",
        precision="bf16",
        max_epochs=2,
        batch_size=100,
        callbacks=[LRScheduler("StepLR", step_size=1, gamma=0.5)],
    ).fit(X, Y)
    assert {g["lr"] for g in model.net_.optimizer_.param_groups} == {0.00025}
    assert np.isfinite(model.predict_proba(X)[0]).all()
    # The fitted module is dense again: it predicts, scripts and exports as before.
    assert not model.net_.module_.embedding.sparse


def test_torchscript_and_onnx_export_as_after_a_dense_fit(tmp_path):
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    X, Y, categorical = _click_log(300)
    model = _model(categorical, embedding_optimizer="lazy_adam").fit(X, Y)
    inputs = transform_inputs(model, X.iloc[:13])
    expected = model.predict_proba(X.iloc[:13])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # torch.jit.script's own
        scripted = to_torchscript(model)
    to_onnx(model, tmp_path / "model.onnx", X.head(3))
    session = ort.InferenceSession(str(tmp_path / "model.onnx"))
    onnx_outputs = session.run(None, {k: v.numpy() for k, v in inputs.items()})
    for t in range(2):
        np.testing.assert_allclose(scripted(**inputs)[t].numpy(), expected[t], rtol=1e-5)
        np.testing.assert_allclose(onnx_outputs[t], expected[t], rtol=1e-5)


def test_in_a_pipeline_with_a_column_transformer():
    X, Y, categorical = _click_log(300)
    numeric = ["num_0", "num_1", "num_2"]
    pipeline = make_pipeline(
        ColumnTransformer(
            [("ids", CategoricalPassthrough(), ID_COLUMNS), ("num", StandardScaler(), numeric)],
            verbose_feature_names_out=False,
        ).set_output(transform="pandas"),
        _model("from_dtype", embedding_optimizer="lazy_adam", max_epochs=2),
    )
    pipeline.fit(X, Y)
    model = pipeline[-1]
    assert isinstance(model.net_.optimizer_, SplitOptimizer)
    assert 0.5 < model.score(pipeline[0].transform(X), Y) <= 1.0
    assert clone(pipeline).get_params()["mmoeclassifier__embedding_optimizer"] == "lazy_adam"


@settings(max_examples=10, deadline=None)
@given(n_network=st.integers(1, 4), n_table=st.integers(1, 3), steps=st.integers(0, 3))
def test_split_state_dict_round_trips(n_network, n_table, steps):
    # For any mix of parameters and steps, the state loads back into a new
    # split optimizer (as continued fits and save/load do) and steps the same.
    torch.manual_seed(0)
    network = [torch.nn.Parameter(torch.randn(3)) for _ in range(n_network)]
    tables = [torch.nn.Parameter(torch.randn(5, 2)) for _ in range(n_table)]

    def step(optimizer, seed):
        generator = torch.Generator().manual_seed(seed)
        for p in network:
            p.grad = torch.randn(p.shape, generator=generator)
        for t in tables:
            t.grad = torch.sparse_coo_tensor(
                [[1, 3]], torch.randn(2, 2, generator=generator), t.shape, check_invariants=True
            )
        optimizer.step()

    def split():
        return SplitOptimizer(torch.optim.Adam(network, lr=0.1), LazyAdam(tables, lr=0.1))

    first = split()
    for seed in range(steps):
        step(first, seed)
    second = split()
    second.load_state_dict(copy.deepcopy(first.state_dict()))
    before = [p.detach().clone() for p in network + tables]
    step(first, 99)
    after_first = [p.detach().clone() for p in network + tables]
    with torch.no_grad():
        for p, value in zip(network + tables, before):
            p.copy_(value)
    step(second, 99)
    for p, expected in zip(network + tables, after_first):
        torch.testing.assert_close(p.detach(), expected)


@settings(max_examples=25, deadline=None)
@given(
    epochs=st.lists(st.lists(st.lists(st.integers(0, 19), min_size=1, max_size=6), max_size=4),
                    min_size=1, max_size=3),
    name=st.sampled_from(sorted(TABLE_OPTIMIZERS)),
)
def test_rollback_restores_the_last_committed_weights(epochs, name):
    # Epochs of steps on any rows (repeats within and across steps and epochs),
    # committed at each epoch's end; an interrupt after the last epoch's steps
    # brings back the weights of the previous commit, table and network alike.
    torch.manual_seed(0)
    module = torch.nn.ModuleDict({"table": torch.nn.Embedding(20, 3, sparse=True),
                                  "layer": torch.nn.Linear(3, 1)})
    optimizer = SplitOptimizer(torch.optim.Adam(module["layer"].parameters(), lr=0.1),
                               TABLE_OPTIMIZERS[name]([module["table"].weight], lr=0.1))
    rollback = _Rollback(module, optimizer.optimizers[-1])
    committed = None
    for n_epochs, steps in enumerate(epochs):
        rollback.commit(n_epochs)
        committed = copy.deepcopy(module.state_dict())
        for rows in steps:
            optimizer.zero_grad()
            module["layer"](module["table"](torch.tensor(rows))).sum().backward()
            optimizer.step()
    assert rollback.restore() == len(epochs) - 1
    for name, tensor in module.state_dict().items():
        assert torch.equal(tensor, committed[name]), name
    rollback.close()
    assert not optimizer.optimizers[-1]._optimizer_step_pre_hooks


def _held_out_auc(name, seed, X, Y, categorical):
    model = _model(categorical, buckets=5000, embedding_optimizer=name, max_epochs=3,
                   random_state=seed, batch_size=128)
    model.fit(X.iloc[:3000], Y.iloc[:3000])
    return model.score(X.iloc[3000:], Y.iloc[3000:])


def test_held_out_auc_is_that_of_the_dense_path():
    # Loose: over 3 seeds the paths were within 0.01 of each other (see
    # docs/recommendation_data.md); a broken sparse path lands near 0.5.
    X, Y, categorical = _click_log(4000)
    dense = _held_out_auc("dense", 0, X, Y, categorical)
    lazy = _held_out_auc("lazy_adam", 0, X, Y, categorical)
    assert dense > 0.6
    assert lazy > dense - 0.03


@pytest.mark.parametrize("backend, sparse", [("gloo", True), ("nccl", False)])
def test_nccl_data_parallel_training_needs_dense_tables(backend, sparse):
    # nccl cannot all-reduce sparse gradients; the rule needs no GPU to check.
    from types import SimpleNamespace

    from sklearn_mtl._training._tables import choose_table_optimizer
    from sklearn_mtl.loss_weighting import Fixed
    from sklearn_mtl.nn import MixedInputEmbedding

    module = MixedInputEmbedding([AUTO_SPARSE_MIN_ROWS], n_numeric=1, embedding_dim=2)
    parallel = SimpleNamespace(backend=backend)
    auto = choose_table_optimizer("auto", torch.optim.Adam, module, Fixed(), parallel)
    assert (auto is LazyAdam) is sparse
    if sparse:
        assert choose_table_optimizer("rowwise_adagrad", torch.optim.Adam, module, Fixed(),
                                      parallel) is RowWiseAdagrad
    else:
        with pytest.raises(ValueError, match="embedding_optimizer='rowwise_adagrad'.*nccl"):
            choose_table_optimizer("rowwise_adagrad", torch.optim.Adam, module, Fixed(), parallel)


@pytest.mark.parametrize("Estimator", ESTIMATORS, ids=lambda E: E.__name__)
def test_every_estimator_trains_its_tables_sparsely(Estimator):
    X, Y, categorical = _click_log(300)
    model = Estimator(categorical_features=categorical, hash_buckets={"user_id": 5000},
                      embedding_optimizer="lazy_adam", **FAST_PARAMS)
    before = None

    class Start(Callback):
        def on_train_begin(self, net, **kwargs):
            nonlocal before
            before = [m.table.weight.detach().clone() for m in embedding_tables(net.module_)]

    model.set_params(callbacks=[Start()]).fit(X, Y)
    assert isinstance(model.net_.optimizer_, SplitOptimizer)
    tables = [m.table.weight.detach() for m in embedding_tables(model.net_.module_)]
    assert tables and len(tables) == len(before)
    for table, start in zip(tables, before):
        moved = (table != start).any(1)
        # Only looked-up rows move: most of the 5,000 user buckets are never hit.
        assert 0 < int(moved.sum()) < len(table) // 2
    assert np.isfinite(model.predict_proba(X)[0]).all()
