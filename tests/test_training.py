"""Training flow: callbacks, optimizer settings, progress, and faults that must not pass silently."""

import io
import sys

import numpy as np
import pytest
import torch
from sklearn.exceptions import NotFittedError
from skorch.callbacks import (
    BatchScoring,
    Callback,
    Checkpoint,
    EarlyStopping,
    EpochScoring,
    ProgressBar,
)

from sklearn_mtl import ESCM2Classifier, ESMMClassifier, MMoEClassifier, PLEClassifier
from sklearn_mtl._training import TrainingDivergedError
from sklearn_mtl._training._callbacks import BatchProgress
from sklearn_mtl.datasets import make_funnel
from sklearn_mtl.metrics import make_task_scorer

from ._settings import ESTIMATORS, FAST_PARAMS




class RaiseAt(Callback):
    """Raises ``error`` at the given (epoch, batch) of training."""

    def __init__(self, epoch, batch, error=KeyboardInterrupt):
        self.epoch, self.batch, self.error = epoch, batch, error

    def on_batch_end(self, net, training=False, **kwargs):
        if training and len(net.history) == self.epoch and len(net.history[-1, "batches"]) == self.batch:
            raise self.error


# ------------------------------------------------------------------ callbacks


def test_checkpoint_on_the_early_stopping_criterion_saves_the_best_epoch(frame, tmp_path):
    X, Y = frame
    checkpoint = Checkpoint(monitor="valid_roc_auc_best", dirname=str(tmp_path), f_history=None)
    model = MMoEClassifier(
        early_stopping=True, n_iter_no_change=2, max_epochs=30, lr=0.05, batch_size=32,
        callbacks=[checkpoint], random_state=0,
    ).fit(X, Y)
    best = model.history_[:, "valid_roc_auc_best"]
    assert best[0] and not all(best), "the run should improve, then stop improving"
    assert model.history_[:, "event_cp"] == best
    stopper = dict(model.net_.callbacks_)["early_stopping"]
    assert [i + 1 for i, b in enumerate(best) if b][-1] == stopper.best_epoch_
    saved = torch.load(tmp_path / "params.pt")
    # early stopping restored the best epoch: the very weights the checkpoint saved
    for name, tensor in model.net_.module_.state_dict().items():
        torch.testing.assert_close(tensor, saved[name])


@pytest.mark.parametrize(
    "callback, message",
    [
        (EpochScoring("roc_auc"), "EpochScoring does not work.*history_.*sklearn_mtl.metrics"),
        (BatchScoring("roc_auc"), "BatchScoring does not work"),
        (EarlyStopping(), "EarlyStopping does not work.*early_stopping=True"),
        ("checkpoint", "callbacks must hold skorch callbacks.*'checkpoint' of type str"),
        (Checkpoint, r"a class: pass an instance, Checkpoint\(\)"),
        (("named", 3), r"\('named', 3\)"),
    ],
)
def test_callbacks_that_cannot_work_are_refused_with_the_alternative(frame, callback, message):
    X, Y = frame
    with pytest.raises(TypeError, match=message):
        MMoEClassifier(callbacks=[callback], **FAST_PARAMS).fit(X, Y)


def test_progress_bar_in_a_notebook_without_ipywidgets_falls_back_to_text(frame, monkeypatch):
    X, Y = frame
    monkeypatch.setattr(ProgressBar, "in_ipynb", lambda self: True)
    monkeypatch.setitem(sys.modules, "ipywidgets", None)  # import fails
    bar = ProgressBar()
    model = MMoEClassifier(callbacks=[("bar", bar)], **FAST_PARAMS).fit(X, Y)
    assert model.n_iter_ == FAST_PARAMS["max_epochs"]
    assert bar.detect_notebook, "the estimator's parameter must be left as given"


# ------------------------------------------------------------------ optimizer


def test_optimizer_params_reach_the_optimizer(frame):
    X, Y = frame
    model = MMoEClassifier(
        optimizer="sgd", optimizer_params={"momentum": 0.9, "nesterov": True}, **FAST_PARAMS
    ).fit(X, Y)
    group = model.net_.optimizer_.param_groups[0]
    assert (group["momentum"], group["nesterov"]) == (0.9, True)


@pytest.mark.parametrize(
    "params, error, message",
    [
        (dict(optimizer_params={"momentun": 0.9}), ValueError, r"\['momentun'\], which Adam does not take; it accepts \[.*'betas'"),
        (dict(optimizer_params={"lr": 0.1}), ValueError, "may not set 'lr': use lr="),
        (dict(optimizer_params={"betas": (2.0, 0.9)}), ValueError, "Adam rejects optimizer_params.*beta"),
        (dict(optimizer=torch.nn.Linear), TypeError, "subclass of torch.optim.Optimizer, got <class"),
        (dict(optimizer=torch.optim.LBFGS, weight_decay=0.1), ValueError, "LBFGS takes no weight_decay"),
        (dict(device="tpu"), ValueError, "device='tpu' is not a torch device"),
    ],
)
def test_bad_training_settings_get_clear_errors(frame, params, error, message):
    X, Y = frame
    with pytest.raises(error, match=message):
        MMoEClassifier(**{**FAST_PARAMS, **params}).fit(X, Y)


@pytest.mark.parametrize("optimizer, optimizer_params, fused", [
    ("adam", {}, True),
    ("adamw", {}, True),
    ("adam", {"foreach": True}, None),  # the user's implementation is kept
    ("adam", {"fused": False}, False),
    ("sgd", {}, None),
])
def test_adam_takes_the_fused_kernel_unless_told_otherwise(
    frame, optimizer, optimizer_params, fused
):
    X, Y = frame
    model = MMoEClassifier(optimizer=optimizer, optimizer_params=optimizer_params, **FAST_PARAMS)
    assert model.fit(X, Y).net_.optimizer_.param_groups[0].get("fused") is fused
    assert model.get_params()["optimizer_params"] == optimizer_params


# ------------------------------------------------------------------ progress


class FakeClock:
    def __init__(self, step):
        self.now, self.step = 0.0, step

    def __call__(self):
        self.now += self.step
        return self.now


class Terminal(io.StringIO):
    def isatty(self):
        return True


@pytest.mark.parametrize("stream_type", [io.StringIO, Terminal])
def test_progress_within_an_epoch_is_throttled_and_redrawn_only_on_a_terminal(frame, stream_type):
    X, Y = frame
    stream = stream_type()
    # 10 batches per epoch; the clock advances 1 s per reading, reports at most every 3 s
    progress = BatchProgress(interval=3.0, clock=FakeClock(1.0), stream=stream)
    params = dict(FAST_PARAMS, max_epochs=2, batch_size=30)
    MMoEClassifier(callbacks=[progress], **params).fit(X, Y)
    text = stream.getvalue()
    assert text.count("epoch 1: batch ") == text.count("epoch 2: batch ") == 3
    assert "epoch 1: batch 3/10, " in text and "rows/s, train_loss " in text
    if stream_type is Terminal:
        assert "\n" not in text and text.count("\r") == 2 * 3 + 2  # each redraw, each clear
    else:
        assert "\r" not in text and "\x1b" not in text and text.count("\n") == 6


def test_verbose_2_adds_the_progress_line(frame):
    X, Y = frame
    model = MMoEClassifier(verbose=2, **FAST_PARAMS).fit(X, Y)
    assert isinstance(dict(model.net_.callbacks_)["batch_progress"], BatchProgress)


def test_the_epoch_table_shows_the_epoch_that_stopped_training(frame, capsys):
    X, Y = frame
    model = MMoEClassifier(
        early_stopping=True, n_iter_no_change=2, max_epochs=40, lr=0.05, verbose=1, random_state=0
    ).fit(X, Y)
    assert model.n_iter_ < 40
    lines = capsys.readouterr().out.splitlines()
    rows = [i for i, line in enumerate(lines) if line.strip()[:1].isdigit()]
    assert [int(lines[i].split()[0]) for i in rows] == list(range(1, model.n_iter_ + 1))
    # skorch's own stop message follows the table instead of cutting it short
    assert lines[rows[-1] + 1].startswith("Stopping since valid_roc_auc has not improved")


# ------------------------------------------------------------------ divergence


@pytest.mark.parametrize("Model", [MMoEClassifier, ESMMClassifier])
def test_divergence_is_an_error_and_leaves_no_fitted_model(Model, frame):
    X, Y = frame
    Y = Y.assign(buy=Y["click"] * Y["buy"])  # a funnel, for ESMM
    model = Model(lr=1e6, **FAST_PARAMS)
    with pytest.raises(ValueError, match=r"Training diverged: .* at epoch \d.*lr=1e\+06"):
        model.fit(X, Y)
    with pytest.raises(NotFittedError):
        model.predict_proba(X)


def test_divergence_in_a_continued_fit_keeps_the_fitted_model(frame):
    X, Y = frame
    model = MMoEClassifier(warm_start=True, **FAST_PARAMS).fit(X, Y)
    before, n_iter = model.predict_proba(X)[0], model.n_iter_
    with pytest.raises(FloatingPointError, match="Training diverged"):
        model.set_params(lr=1e6).fit(X, Y)
    np.testing.assert_array_equal(model.predict_proba(X)[0], before)
    assert model.n_iter_ == n_iter == len(model.history_)


@pytest.fixture(scope="module")
def small_funnel():
    return make_funnel(n_samples=300, random_state=0, return_X_y=True)


@pytest.mark.parametrize("Model", ESTIMATORS, ids=lambda cls: cls.__name__)
@pytest.mark.parametrize("lr", [100.0, 1e6])
def test_divergence_on_the_last_step_is_caught(Model, lr, small_funnel):
    # One batch per epoch: the only optimizer step is the last, and no
    # loss recorded during training shows what it did to the network.
    X, Y = small_funnel
    model = Model(max_epochs=1, batch_size=len(X), lr=lr, early_stopping=False, random_state=0)
    with pytest.raises(TrainingDivergedError, match="after (the last optimizer step of )?epoch 1"):
        model.fit(X, Y)
    with pytest.raises(NotFittedError):
        model.predict_proba(X)


@pytest.mark.parametrize("Model", ESTIMATORS, ids=lambda cls: cls.__name__)
def test_partial_fit_that_diverges_keeps_the_previous_model(Model, small_funnel):
    X, Y = small_funnel
    model = Model(batch_size=len(X), random_state=0).partial_fit(X, Y)
    before, n_iter = model.predict_proba(X), model.n_iter_
    with pytest.raises(TrainingDivergedError, match="The estimator keeps its state"):
        model.set_params(lr=1e6).partial_fit(X, Y)
    for kept, old in zip(model.predict_proba(X), before):
        np.testing.assert_array_equal(kept, old)
    assert model.n_iter_ == n_iter


def test_a_learning_rate_no_network_trains_with_is_refused(small_funnel):
    X, Y = small_funnel
    with pytest.raises(ValueError, match="'lr' parameter .* range"):
        MMoEClassifier(lr=1e38).fit(X, Y)


def test_divergence_names_a_cause_besides_the_learning_rate(small_funnel):
    X, Y = small_funnel
    model = ESCM2Classifier(counterfactual_weight=1e6, max_epochs=2, random_state=0)
    with pytest.raises(TrainingDivergedError, match=r"counterfactual_weight=1e\+06 weighs"):
        model.fit(X, Y)


class SetUnknownRow(Callback):
    """Writes ``value`` into the table row of the unknown city (looked up by no
    training row) after the last training step."""

    def __init__(self, value):
        self.value = value

    def on_epoch_end(self, net, **kwargs):
        with torch.no_grad():
            net.module_.embedding.table.weight[0] = self.value


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_a_weight_no_loss_reads_is_checked_after_training(frame, value):
    X, Y = frame
    model = MMoEClassifier(callbacks=[SetUnknownRow(value)], **{**FAST_PARAMS, "max_epochs": 1})
    message = "embedding.table.weight is not finite after epoch 1"
    with pytest.raises(TrainingDivergedError, match=message):
        model.fit(X, Y)


def test_large_finite_weights_pass_the_check_after_training(frame):
    # The table's sum overflows to inf, every value is finite.
    X, Y = frame
    model = MMoEClassifier(callbacks=[SetUnknownRow(3e38)], **{**FAST_PARAMS, "max_epochs": 1})
    assert np.isfinite(model.fit(X, Y).predict_proba(X)[0]).all()


@pytest.mark.parametrize("weights", [[np.nan, 1.0], [np.inf, 1.0], [0.0, 0.0]])
def test_task_weights_that_cannot_train_are_refused(frame, weights):
    X, Y = frame
    with pytest.raises(ValueError, match="task_weights must hold 2 finite, non-negative numbers.*not all zero"):
        MMoEClassifier(task_weights=weights, **FAST_PARAMS).fit(X, Y)


# ------------------------------------------------------------------ interrupt


@pytest.mark.parametrize("embedding_optimizer", ["dense", "lazy_adam", "rowwise_adagrad"])
def test_interrupt_keeps_the_last_complete_epoch_and_warns(frame, embedding_optimizer):
    # A table trained sparsely is rolled back from the rows its steps changed.
    X, Y = frame
    params = dict(FAST_PARAMS, batch_size=64, embedding_optimizer=embedding_optimizer)
    with pytest.warns(UserWarning, match="interrupted .* during epoch 2, which is discarded.*weights of epoch 1"):
        model = MMoEClassifier(callbacks=[RaiseAt(epoch=2, batch=3)], **params).fit(X, Y)
    assert model.n_iter_ == len(model.history_) == 1
    one_epoch = MMoEClassifier(**{**params, "max_epochs": 1}).fit(X, Y)
    np.testing.assert_array_equal(model.predict_proba(X)[0], one_epoch.predict_proba(X)[0])


def test_interrupt_in_the_first_epoch_fits_nothing(frame):
    X, Y = frame
    model = MMoEClassifier(callbacks=[RaiseAt(epoch=1, batch=1)], **FAST_PARAMS)
    with pytest.raises(KeyboardInterrupt):
        model.fit(X, Y)
    with pytest.raises(NotFittedError):
        model.predict(X)


# ------------------------------------------------------------------ continued fits


def test_warm_start_uses_the_current_training_parameters(frame):
    X, Y = frame
    model = MMoEClassifier(warm_start=True, **FAST_PARAMS).fit(X, Y)
    steps = model.net_.optimizer_.state_dict()["state"][0]["step"]
    model.set_params(lr=0.05, batch_size=100, max_epochs=2).fit(X, Y)
    assert model.net_.optimizer_.param_groups[0]["lr"] == 0.05
    assert model.net_.batch_size == 100
    assert model.n_iter_ == FAST_PARAMS["max_epochs"] + 2 == len(model.history_)
    # Adam's moments carried over: its step count went on
    assert model.net_.optimizer_.state_dict()["state"][0]["step"] == steps + 2 * 3
    model.set_params(optimizer="sgd", optimizer_params={"momentum": 0.5}).fit(X, Y)
    assert isinstance(model.net_.optimizer_, torch.optim.SGD)
    assert model.net_.optimizer_.param_groups[0]["momentum"] == 0.5


@pytest.mark.parametrize("change", [dict(num_experts=3), dict(embedding_dim=4), dict(dropout=0.3)])
def test_warm_start_refuses_a_changed_structure(frame, change):
    X, Y = frame
    model = MMoEClassifier(warm_start=True, **FAST_PARAMS).fit(X, Y)
    name = next(iter(change))
    with pytest.raises(ValueError, match=rf"\['{name}'\] changed since the network was built"):
        model.set_params(**change).fit(X, Y)
    with pytest.raises(ValueError, match=name):
        model.partial_fit(X, Y)
    model.set_params(warm_start=False).fit(X, Y)  # a new network is fine


def test_partial_fit_matches_task_columns_by_name(frame):
    X, Y = frame
    in_order = MMoEClassifier(random_state=0).partial_fit(X, Y).partial_fit(X, Y)
    swapped = MMoEClassifier(random_state=0).partial_fit(X, Y).partial_fit(X, Y[["buy", "click"]])
    for p, q in zip(in_order.predict_proba(X), swapped.predict_proba(X)):
        np.testing.assert_array_equal(p, q)
    with pytest.raises(ValueError, match=r"Y's columns \['click', 'sale'\] are not the tasks \['click', 'buy'\]"):
        swapped.partial_fit(X, Y.rename(columns={"buy": "sale"}))
    positional = MMoEClassifier(random_state=0).partial_fit(X, Y).partial_fit(X, Y.to_numpy())
    for p, q in zip(in_order.predict_proba(X), positional.predict_proba(X)):
        np.testing.assert_array_equal(p, q)
    assert swapped.score(X, Y[["buy", "click"]]) == swapped.score(X, Y)


# ------------------------------------------------------------------ labels and tasks


def test_duplicate_task_names_are_refused(frame):
    X, Y = frame
    with pytest.raises(ValueError, match=r"duplicate task names \['1'\]"):
        MMoEClassifier(**FAST_PARAMS).fit(X, Y.set_axis([1, "1"], axis=1))


def test_labels_mixing_numbers_and_strings_are_refused(frame):
    X, Y = frame
    mixed = Y["buy"].astype(object)
    mixed.iloc[:5] = mixed.iloc[:5].astype(str)
    with pytest.raises(ValueError, match=r"Task 'buy' mixes label types \['int', 'str'\]"):
        MMoEClassifier(**FAST_PARAMS).fit(X, Y.assign(buy=mixed))


# ------------------------------------------------------------------ early stopping


def test_validation_split_is_stratified_on_the_rarest_task(frame):
    X, Y = frame
    rare = np.zeros(len(Y), dtype=int)
    rare[::30] = 1  # 10 positives in 300 rows; a 30-row validation split gets one
    for seed in range(4):
        model = MMoEClassifier(
            early_stopping=True, early_stopping_monitor="rare", max_epochs=1, random_state=seed
        ).fit(X, Y.assign(rare=rare))
        assert np.isfinite(model.history_[-1, "valid_roc_auc_rare"])


def test_a_monitor_that_is_always_nan_is_an_error(frame):
    X, Y = frame
    rare = np.full(len(Y), np.nan)
    rare[:2] = [0, 1]  # observed on two rows: no split can validate it
    model = MMoEClassifier(early_stopping=True, early_stopping_monitor="rare", max_epochs=3, random_state=0)
    with pytest.raises(ValueError, match="'valid_roc_auc_rare' is NaN at epoch 1.*30 rows"):
        model.fit(X, Y.assign(rare=rare))
    with pytest.raises(NotFittedError):
        model.predict(X)


# ------------------------------------------------------------------ parameters and fitted state


@pytest.mark.parametrize("Model", [MMoEClassifier, PLEClassifier])
def test_identity_experts_are_refused(Model, frame):
    X, Y = frame
    with pytest.raises(ValueError, match=r"expert_hidden_units=\(\) is not allowed: every expert would be the identity"):
        Model(expert_hidden_units=(), **FAST_PARAMS).fit(X, Y)


def test_predict_uses_the_fitted_state_not_changed_parameters(frame):
    X, Y = frame
    model = PLEClassifier(num_levels=2, **FAST_PARAMS).fit(X, Y)
    expected = model.predict_proba(X)[0]
    model.set_params(batch_size=0, num_levels=3, dtype="float16")
    np.testing.assert_array_equal(model.predict_proba(X)[0], expected)
    assert len(model.gate_weights(X[:3])) == 2


def test_auto_batch_size_gives_small_tables_enough_steps():
    rng = np.random.RandomState(0)
    for n, expected in [(100, 16), (1000, 62), (9000, 512)]:
        X = rng.normal(size=(n, 2))
        Y = np.column_stack([X[:, 0] > 0, X[:, 1] > 0]).astype(int)
        model = MMoEClassifier(max_epochs=1, early_stopping=False).fit(X, Y)
        assert model.net_.batch_size == expected
        # prediction does not inherit a small training batch
        assert model.net_.iterator_valid__batch_size == 4096
    wide = MMoEClassifier(max_epochs=1, batch_size=8192, early_stopping=False).fit(X, Y)
    assert wide.net_.iterator_valid__batch_size == 8192


# ------------------------------------------------------------------ threads


@pytest.mark.parametrize("n_threads, inside", [("auto", 1), (2, 2), (None, 3)])
def test_n_threads_holds_during_fit_and_predict_and_is_restored(frame, n_threads, inside):
    X, Y = frame
    seen = []
    previous = torch.get_num_threads()
    torch.set_num_threads(3)
    try:
        model = MMoEClassifier(n_threads=n_threads, **FAST_PARAMS)
        model.fit(X, Y)
        assert torch.get_num_threads() == 3
        model.net_.module_.embedding.register_forward_hook(lambda *a: seen.append(torch.get_num_threads()))
        seen.clear()
        model.predict_proba(X)
        assert seen and set(seen) == {inside}
        assert torch.get_num_threads() == 3
    finally:
        torch.set_num_threads(previous)


def test_n_threads_is_checked_at_predict_too(frame):
    X, Y = frame
    model = MMoEClassifier(**FAST_PARAMS).fit(X, Y).set_params(n_threads=0)
    with pytest.raises(ValueError, match="n_threads must be"):
        model.predict(X)


# ------------------------------------------------------------ X_val, y_val


def test_a_given_validation_set_drives_early_stopping():
    X, Y = make_funnel(n_samples=1200, random_state=0, return_X_y=True)
    X_train, Y_train, X_val, Y_val = X[:900], Y[:900], X[900:], Y[900:]
    model = MMoEClassifier(max_epochs=3, random_state=0).fit(
        X_train, Y_train, X_val=X_val, y_val=Y_val
    )
    # 900 rows would not turn "auto" on; the given rows do, and are scored as given.
    proba = model.predict_proba(X_val)
    scorer = make_task_scorer("roc_auc", "click")
    best = int(np.argmax(model.history_[:, "valid_roc_auc"]))
    assert model.history_[best, "valid_roc_auc_click"] == pytest.approx(
        scorer(model, X_val, Y_val), abs=1e-6
    )
    assert proba[0].shape == (300, 2)
    with pytest.raises(ValueError, match="early_stopping=False turns off"):
        MMoEClassifier(early_stopping=False).fit(X_train, Y_train, X_val=X_val, y_val=Y_val)
    with pytest.raises(ValueError, match="X_val and y_val go together"):
        MMoEClassifier().fit(X_train, Y_train, X_val=X_val)


def test_x_val_is_routed_and_transformed_through_a_pipeline():
    from sklearn import config_context
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    X, Y = make_funnel(n_samples=1200, n_categorical=0, random_state=0, return_X_y=True)
    with config_context(enable_metadata_routing=True):
        model = MMoEClassifier(max_epochs=2, random_state=0).set_fit_request(
            X_val=True, y_val=True
        )
        pipe = Pipeline([("scale", StandardScaler()), ("mtl", model)], transform_input=["X_val"])
        pipe.fit(X[:900], Y[:900], X_val=X[900:], y_val=Y[900:])
    direct = MMoEClassifier(max_epochs=2, random_state=0).fit(
        pipe[0].transform(X[:900]), Y[:900], X_val=pipe[0].transform(X[900:]), y_val=Y[900:]
    )
    np.testing.assert_allclose(
        pipe[-1].history_[:, "valid_roc_auc"], direct.history_[:, "valid_roc_auc"]
    )
