"""Behaviour of the base estimator: inputs, labels, errors, state and reproducibility."""

import pickle

import joblib
import numpy as np
import pandas as pd
import pytest
import torch
from scipy import sparse
from skorch.callbacks import Callback
from sklearn.base import clone
from sklearn.exceptions import UndefinedMetricWarning
from sklearn.model_selection import GridSearchCV

from sklearn_mtl import ChunkedData, MMoEClassifier, SharedBottomClassifier
from sklearn_mtl.losses import MultiTaskLoss
from sklearn_mtl.metrics import make_task_scorer

from ._settings import FAST_PARAMS

MODELS = [MMoEClassifier, SharedBottomClassifier]




@pytest.mark.parametrize("Model", MODELS)
def test_outputs_follow_scikit_learn_conventions(Model, frame):
    X, Y = frame
    model = Model(**FAST_PARAMS).fit(X, Y)
    assert list(model.task_names_) == ["click", "buy"]
    assert model.n_tasks_ == 2 and model.n_features_in_ == 3
    assert list(model.feature_names_in_) == ["city", "age", "income"]
    assert model.is_categorical_.tolist() == [True, False, False]
    proba = model.predict_proba(X)
    assert isinstance(proba, list) and len(proba) == 2
    for p in proba:
        assert p.shape == (300, 2)
        np.testing.assert_allclose(p.sum(1), 1.0)
    assert model.predict(X).shape == (300, 2)
    frame_proba = model.predict_proba_frame(X.set_axis(range(1000, 1300)))
    assert list(frame_proba.columns) == ["click", "buy"]
    assert frame_proba.index[0] == 1000
    np.testing.assert_allclose(frame_proba["buy"], proba[1][:, 1])
    assert 0.0 <= model.score(X, Y) <= 1.0


def test_any_two_labels_per_task(frame):
    X, Y = frame
    labelled = pd.DataFrame(
        {"click": np.where(Y["click"], "yes", "no"), "buy": Y["buy"].astype(bool)}
    )
    model = MMoEClassifier(**FAST_PARAMS).fit(X, labelled)
    assert model.classes_[0].tolist() == ["no", "yes"]
    assert model.classes_[1].tolist() == [False, True]
    pred = model.predict(X)
    assert set(pred[:, 0]) <= {"no", "yes"} and set(pred[:, 1]) <= {False, True}
    # probabilities are for classes_[task][1], the same mapping predict uses
    np.testing.assert_array_equal(pred[:, 0] == "yes", model.predict_proba(X)[0][:, 1] > 0.5)


def test_one_dimensional_y_is_one_task(frame):
    X, Y = frame
    model = MMoEClassifier(**FAST_PARAMS).fit(X, Y["click"])
    assert model.n_tasks_ == 1 and list(model.task_names_) == ["click"]
    assert model.classes_.tolist() == [0, 1]
    assert model.predict_proba(X).shape == (300, 2)
    assert model.predict(X).shape == (300,)


def test_nan_labels_are_left_out_of_the_loss():
    logits = torch.tensor([[0.3, -1.0], [2.0, 0.5], [-0.7, 1.5]])
    targets = torch.tensor([[1.0, float("nan")], [0.0, 1.0], [1.0, float("nan")]])
    weight = torch.tensor([1.0, 2.0, 3.0])
    losses = MultiTaskLoss().task_losses(logits, targets, weight)
    bce = torch.nn.functional.binary_cross_entropy_with_logits
    first = (bce(logits[:, 0], targets[:, 0], reduction="none") * weight).sum() / weight.sum()
    second = bce(logits[1, 1], targets[1, 1])  # the only observed row of task 2
    torch.testing.assert_close(losses, torch.stack([first, second]))


def test_tasks_observed_on_a_subset_of_rows_train(frame):
    """A conversion task observed only on clicked rows (NaN elsewhere)."""
    X, Y = frame
    masked = Y.astype(float)
    masked.loc[Y["click"] == 0, "buy"] = np.nan
    model = MMoEClassifier(**FAST_PARAMS).fit(X, masked)
    assert np.isfinite(model.history_[-1, "train_loss_buy"])
    assert model.classes_[1].tolist() == [0.0, 1.0]
    assert all(np.isfinite(p).all() for p in model.predict_proba(X))


@pytest.mark.parametrize(
    "X, message",
    [
        (np.array([[1.0, np.nan], [2.0, 3.0]] * 5), "NaN in numeric column.*SimpleImputer"),
        (np.array([[1.0, np.inf], [2.0, 3.0]] * 5), "infinity"),
        (np.empty((0, 3)), "0 sample"),
        (np.empty((10, 0)), "0 feature"),
    ],
)
def test_bad_features_get_clear_errors(X, message):
    Y = np.tile([[0, 1], [1, 0]], (len(X) // 2, 1)) if len(X) else np.empty((0, 2))
    with pytest.raises(ValueError, match=message):
        MMoEClassifier(**FAST_PARAMS).fit(X, Y)


def test_string_column_not_declared_categorical_is_named(frame):
    X, Y = frame
    X = X.assign(note=np.where(Y["click"], "a", "b").astype(object))
    with pytest.raises(TypeError, match="'note' is neither numeric nor declared categorical"):
        MMoEClassifier(**FAST_PARAMS).fit(X, Y)
    # declared: it is embedded
    MMoEClassifier(categorical_features=["city", "note"], **FAST_PARAMS).fit(X, Y)


def test_sparse_input_is_refused_with_advice():
    X = sparse.random(20, 4, density=0.5, format="csr", random_state=0)
    with pytest.raises(TypeError, match="Sparse input is not supported.*toarray"):
        MMoEClassifier(**FAST_PARAMS).fit(X, np.tile([0, 1], 10))


@pytest.mark.parametrize(
    "Y, message",
    [
        (np.tile([[0, 1, 2]], (20, 1)).T.reshape(-1, 1).repeat(2, 1)[:20], "Only binary classification"),
        (np.linspace(0, 1, 40).reshape(20, 2), "Unknown label type: continuous"),
        (np.tile([[0, 1]], (10, 1)).reshape(20, 1).repeat(2, 1)[:15], "Y has 15 rows but X has 20"),
        (np.column_stack([np.tile([0, 1], 10), np.zeros(20)]), "Task 'task_1' has one class"),
        (np.column_stack([np.tile([0, 1], 10), np.full(20, np.nan)]), "Task 'task_1' has no observed label"),
    ],
)
def test_bad_labels_get_clear_errors(Y, message):
    X = np.random.RandomState(0).normal(size=(20, 3))
    if "multiclass" in message or "binary" in message:
        Y = np.column_stack([np.arange(20) % 3, np.arange(20) % 2])
    with pytest.raises(ValueError, match=message):
        MMoEClassifier(**FAST_PARAMS).fit(X, Y)


def test_parameter_errors_name_the_parameter(frame):
    X, Y = frame
    with pytest.raises(ValueError, match="task_weights must hold 2"):
        MMoEClassifier(task_weights=[1.0], **FAST_PARAMS).fit(X, Y)
    with pytest.raises(ValueError, match="categorical_features names columns that are not in X"):
        MMoEClassifier(categorical_features=["town"], **FAST_PARAMS).fit(X, Y)
    with pytest.raises(ValueError, match="expert_hidden_units must be a sequence of positive"):
        MMoEClassifier(expert_hidden_units=(0,), **FAST_PARAMS).fit(X, Y)
    with pytest.raises(ValueError, match="num_experts"):
        MMoEClassifier(num_experts=0).fit(X, Y)
    with pytest.raises(ValueError, match="early_stopping_monitor='valid_auc_nope' is not recorded"):
        MMoEClassifier(
            early_stopping=True, early_stopping_monitor="valid_auc_nope", max_epochs=2
        ).fit(X, Y)


def test_embedding_init_std_sets_the_table_the_fit_starts_from(frame):
    X, Y = frame
    # A vanishing learning rate leaves the table where it started.
    params = dict(FAST_PARAMS, max_epochs=1, lr=1e-12)
    stds = {
        init: SharedBottomClassifier(embedding_init_std=init, **params)
        .fit(X, Y)
        .net_.module_.embedding.table.weight.std()
        .item()
        for init in (None, 1e-4)
    }
    assert 0.5 < stds[None] < 2 and 0.5e-4 < stds[1e-4] < 2e-4, stds
    with pytest.raises(ValueError, match="embedding_init_std"):
        SharedBottomClassifier(embedding_init_std=0.0).fit(X, Y)
    with pytest.raises(ValueError, match="embedding_init_std"):
        SharedBottomClassifier(embedding_init_std="small").fit(X, Y)


# The 300-row frame in batches of 3 makes 100 optimizer steps an epoch, so
# embedding_init_std="auto"'s threshold of 200 planned steps falls between one
# and two epochs; a vanishing learning rate leaves the table where it started.
AUTO_INIT_PARAMS = dict(batch_size=3, lr=1e-12, early_stopping=False, random_state=0)


def _table_std(model):
    return model.net_.module_.embedding.table.weight.std().item()


@pytest.mark.parametrize(
    "params, expected",
    [
        (dict(max_epochs=1), None),
        (dict(max_epochs=2), 1e-4),
        # 10% held out: 270 training rows, 90 steps an epoch, 180 planned.
        (dict(max_epochs=2, early_stopping=True, validation_fraction=0.1), None),
    ],
)
def test_embedding_init_std_auto_follows_the_planned_optimizer_steps(frame, params, expected):
    X, Y = frame
    model = SharedBottomClassifier(**dict(AUTO_INIT_PARAMS, **params)).fit(X, Y)
    assert model.embedding_init_std_ == expected
    if expected is None:
        assert 0.5 < _table_std(model) < 2
    else:
        assert 0.5e-4 < _table_std(model) < 2e-4
    assert model.get_params()["embedding_init_std"] == "auto"
    fresh = clone(model)
    assert fresh.get_params()["embedding_init_std"] == "auto"
    assert not hasattr(fresh, "embedding_init_std_")


@pytest.mark.parametrize(
    "ids, hash_buckets, expected",
    [
        # 270 training rows x 2 columns against a table of 4 + 6 rows: 54
        # lookups a row an epoch, a dense table.
        (5, None, 1e-4),
        # Against 4 + 31 rows: about 15 lookups a row, a sparse table.
        (30, None, 0.05),
        # Hashed into 1,000 buckets: the table's rows count, not the IDs seen.
        (30, {"user_id": 1_000}, 0.05),
    ],
)
def test_embedding_init_std_auto_starts_a_sparse_table_wider(frame, ids, hash_buckets, expected):
    X, Y = frame
    X = X.assign(user_id=pd.Categorical(np.arange(len(X)) % ids))
    params = dict(AUTO_INIT_PARAMS, max_epochs=3, early_stopping=True, validation_fraction=0.1)
    model = SharedBottomClassifier(hash_buckets=hash_buckets, **params).fit(X, Y)
    assert model.embedding_init_std_ == expected
    assert 0.5 * expected < _table_std(model) < 2 * expected
    # Too few planned steps: N(0, 1) whatever the table.
    short = SharedBottomClassifier(hash_buckets=hash_buckets, **dict(params, max_epochs=1))
    assert short.fit(X, Y).embedding_init_std_ is None


def test_embedding_init_std_auto_is_kept_by_continued_fits(frame):
    X, Y = frame
    model = SharedBottomClassifier(max_epochs=1, **AUTO_INIT_PARAMS).fit(X, Y)
    std = _table_std(model)
    # Two epochs would start a new fit at 1e-4; a continued one keeps its table.
    model.set_params(warm_start=True, max_epochs=2).fit(X, Y)
    assert model.embedding_init_std_ is None and model.n_iter_ == 3
    assert _table_std(model) == pytest.approx(std, rel=1e-6)

    # partial_fit plans one epoch per call: its first call decides.
    model = SharedBottomClassifier(**dict(AUTO_INIT_PARAMS, batch_size=1)).partial_fit(X, Y)
    assert model.embedding_init_std_ == 1e-4
    model.set_params(batch_size=300).partial_fit(X, Y)
    assert model.embedding_init_std_ == 1e-4 and 0.5e-4 < _table_std(model) < 2e-4
    model = SharedBottomClassifier(**AUTO_INIT_PARAMS).partial_fit(X, Y)
    assert model.embedding_init_std_ is None


def test_a_failed_refit_keeps_the_embedding_init_std_of_the_kept_network(frame):
    X, Y = frame
    model = SharedBottomClassifier(**dict(AUTO_INIT_PARAMS, max_epochs=2)).fit(X, Y)
    assert model.embedding_init_std_ == 1e-4
    # One epoch would plan a fit at N(0, 1); it diverges, so the 1e-4 network stays.
    with pytest.raises(ValueError, match="Training diverged"):
        model.set_params(max_epochs=1, lr=1e6).fit(X, Y)
    assert model.embedding_init_std_ == 1e-4


# The 300-row frame in batches of 100: 3 optimizer steps an epoch once 10% is held out.
AUTO_EPOCHS_PARAMS = dict(batch_size=100, random_state=0)


@pytest.mark.parametrize(
    "params, cap",
    [
        # Without validation the cap is the only brake on overfitting.
        (dict(early_stopping=False), 20),
        # "auto" early stopping is off at 300 rows.
        (dict(), 20),
        # With it, the cap must not be what ends the fit.
        (dict(early_stopping=True), 100),
        (dict(early_stopping=True, max_epochs=7), 7),
        (dict(early_stopping=False, max_epochs=7), 7),
    ],
)
def test_max_epochs_auto_allows_more_epochs_when_the_fit_validates(frame, params, cap):
    X, Y = frame
    model = SharedBottomClassifier(**dict(AUTO_EPOCHS_PARAMS, **params)).fit(X, Y)
    assert model.net_.max_epochs == cap
    assert model.get_params()["max_epochs"] == params.get("max_epochs", "auto")
    if not params.get("early_stopping"):
        assert model.n_iter_ == cap
    else:
        assert model.n_iter_ <= cap and "valid_roc_auc" in model.history_[-1]
    # A continued fit resolves the cap anew; partial_fit runs one epoch whatever it is.
    n_iter = model.n_iter_
    model.set_params(warm_start=True, early_stopping=False).fit(X, Y)
    assert model.n_iter_ == n_iter + params.get("max_epochs", 20)
    model.partial_fit(X, Y)
    assert model.n_iter_ == n_iter + params.get("max_epochs", 20) + 1


def test_max_epochs_auto_counts_given_validation_rows_and_plans_the_embedding_init(frame):
    X, Y = frame
    # Given validation rows turn early stopping on, and with it the cap of 100.
    model = SharedBottomClassifier(**AUTO_EPOCHS_PARAMS, n_iter_no_change=1)
    model.fit(X[:270], Y[:270], X_val=X[270:], y_val=Y[270:])
    assert model.net_.max_epochs == 100 and model.n_iter_ < 100
    # The embedding table's "auto" plans the epochs the cap allows: 3 steps x 100 epochs
    # reach its 200 steps, 3 x 20 do not.
    assert model.embedding_init_std_ == 1e-4
    short = SharedBottomClassifier(**AUTO_EPOCHS_PARAMS, max_epochs=20, n_iter_no_change=1)
    assert short.fit(X[:270], Y[:270], X_val=X[270:], y_val=Y[270:]).embedding_init_std_ is None
    with pytest.raises(ValueError, match="max_epochs"):
        SharedBottomClassifier(max_epochs="many").fit(X, Y)


def test_embedding_init_std_auto_counts_the_rows_of_every_chunk(frame):
    X, Y = frame
    halves = ChunkedData(lambda: [(X[:150], Y[:150]), (X[150:], Y[150:])])
    # 2 epochs of either half alone would plan 100 steps; of both, 200.
    model = SharedBottomClassifier(max_epochs=2, **AUTO_INIT_PARAMS).fit(halves)
    assert model.embedding_init_std_ == 1e-4 and 0.5e-4 < _table_std(model) < 2e-4


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA device is present")
def test_cuda_without_a_gpu_is_a_clear_error(frame):
    X, Y = frame
    with pytest.raises(ValueError, match="no CUDA device"):
        MMoEClassifier(device="cuda", **FAST_PARAMS).fit(X, Y)


def test_unknown_and_missing_categories_use_the_reserved_code(frame):
    X, Y = frame
    model = MMoEClassifier(**FAST_PARAMS).fit(X, Y)
    new = X.head(3).copy()
    new["city"] = pd.Categorical(["tokyo", None, "rome"])
    proba = model.predict_proba(new)
    assert all(np.isfinite(p).all() for p in proba)


@pytest.mark.filterwarnings("ignore:X does not have valid feature names")
def test_other_columns_at_predict_time_are_an_error(frame):
    X, Y = frame
    model = MMoEClassifier(**FAST_PARAMS).fit(X, Y)
    with pytest.raises(ValueError, match="feature names"):
        model.predict(X.rename(columns={"age": "years"}))
    with pytest.raises(ValueError, match="X has 2 features, but MMoEClassifier is expecting 3"):
        model.predict(X[["age", "income"]].to_numpy())


def test_partial_fit_keeps_tasks_and_needs_classes_for_one_class_batches(frame):
    X, Y = frame
    model = MMoEClassifier(random_state=0)
    with pytest.raises(ValueError, match="partial_fit"):
        model.partial_fit(X[:50], Y[:50].assign(buy=0))
    model.partial_fit(X[:50], Y[:50].assign(buy=0), classes=[[0, 1], [0, 1]])
    model.partial_fit(X[50:], Y[50:])
    assert model.n_iter_ == 2
    with pytest.raises(ValueError, match="Y has 1 task.*fitted with 2"):
        model.partial_fit(X, Y[["click"]])


def test_warm_start_continues_training(frame):
    X, Y = frame
    model = MMoEClassifier(warm_start=True, **FAST_PARAMS).fit(X, Y)
    first = model.predict_proba(X)[0]
    model.fit(X, Y)
    assert model.n_iter_ == 2 * FAST_PARAMS["max_epochs"]
    assert not np.allclose(first, model.predict_proba(X)[0])


@pytest.mark.parametrize("Model", MODELS)
def test_same_random_state_same_predictions_and_global_rng_untouched(Model, frame):
    X, Y = frame
    torch.manual_seed(123)
    state = torch.get_rng_state()
    a = Model(dropout=0.2, **FAST_PARAMS).fit(X, Y).predict_proba(X)
    assert torch.equal(state, torch.get_rng_state()), "fit reseeded torch's global RNG"
    b = Model(dropout=0.2, **FAST_PARAMS).fit(X, Y).predict_proba(X)
    c = Model(dropout=0.2, **dict(FAST_PARAMS, random_state=1)).fit(X, Y).predict_proba(X)
    np.testing.assert_array_equal(a[0], b[0])
    assert not np.allclose(a[0], c[0])


@pytest.mark.parametrize("Model", MODELS)
def test_pickle_joblib_and_clone(Model, frame, tmp_path):
    X, Y = frame
    model = Model(**FAST_PARAMS).fit(X, Y)
    expected = model.predict_proba(X)
    restored = pickle.loads(pickle.dumps(model))
    joblib.dump(model, tmp_path / "model.joblib")
    loaded = joblib.load(tmp_path / "model.joblib")
    for other in (restored, loaded):
        for p, q in zip(expected, other.predict_proba(X)):
            np.testing.assert_array_equal(p, q)
    fresh = clone(model)
    assert not hasattr(fresh, "net_")
    assert fresh.get_params() == model.get_params()
    assert fresh.set_params(lr=0.01).lr == 0.01


def test_weighting_a_row_equals_repeating_it():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(40, 3))
    Y = np.column_stack([X[:, 0] > 0, X[:, 1] > 0]).astype(int)
    weight = rng.randint(0, 3, 40)
    params = dict(max_epochs=10, optimizer="sgd", lr=0.1, batch_size=1000, dtype="float64", random_state=0)
    weighted = MMoEClassifier(**params).fit(X, Y, sample_weight=weight)
    repeated = MMoEClassifier(**params).fit(X.repeat(weight, 0), Y.repeat(weight, 0))
    for p, q in zip(weighted.predict_proba(X), repeated.predict_proba(X)):
        np.testing.assert_allclose(p, q, rtol=1e-9)


def test_history_has_per_task_losses_and_scores_and_early_stopping_by_task(frame):
    X, Y = frame
    model = MMoEClassifier(
        early_stopping=True, early_stopping_monitor="click", n_iter_no_change=2,
        max_epochs=40, lr=0.05, random_state=0,
    ).fit(X, Y)
    row = model.history_[-1]
    for task in ("click", "buy"):
        for key in ("train_loss_", "valid_loss_", "valid_roc_auc_", "valid_log_loss_", "valid_average_precision_"):
            assert np.isfinite(row[key + task]), key + task
    assert row["valid_roc_auc"] == pytest.approx((row["valid_roc_auc_click"] + row["valid_roc_auc_buy"]) / 2)
    assert model.n_iter_ < 40, "early stopping on the click AUC never fired"
    stopper = dict(model.net_.callbacks_)["early_stopping"]
    assert stopper.monitor == "valid_roc_auc_click"
    assert stopper.best_epoch_ == model.n_iter_ - 2


def test_user_callbacks_run_and_verbose_prints_one_plain_row_per_epoch(frame, capsys):
    X, Y = frame

    class CountEpochs(Callback):
        def initialize(self):
            self.epochs = 0
            return self

        def on_epoch_end(self, net, **kwargs):
            self.epochs += 1

    counter = CountEpochs()
    model = MMoEClassifier(callbacks=[("count", counter)], verbose=1, early_stopping=True, max_epochs=3, random_state=0)
    model.fit(X, Y)
    assert dict(model.net_.callbacks_)["count"].epochs == 3
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2 + 3  # header, rule, one row per epoch
    assert "valid_roc_auc_click" in lines[0]
    assert "\x1b[" not in "".join(lines)


def test_missing_values_in_nullable_numeric_columns_point_to_an_imputer(frame):
    X, Y = frame
    X = X.assign(visits=pd.array([1, None] + [2] * 298, dtype="Int64"))
    with pytest.raises(ValueError, match="NaN in numeric column.*'visits'.*SimpleImputer"):
        MMoEClassifier(**FAST_PARAMS).fit(X, Y)
    MMoEClassifier(**FAST_PARAMS).fit(X.assign(visits=X["visits"].fillna(0)), Y)


# ------------------------------------------------------------ default score


def _rare_clicks(n=3000, seed=0):
    """Click data with 3% positives, learnable from the features."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({"x": rng.normal(size=n), "z": rng.normal(size=n)})
    click = (X["x"] + 0.3 * rng.normal(size=n) > 1.9).astype(int)
    buy = click * (X["z"] > 0)
    return X, pd.DataFrame({"click": click, "buy": buy})


def test_score_is_the_mean_task_auc_that_a_search_can_rank_on():
    X, Y = _rare_clicks()
    trained = SharedBottomClassifier(max_epochs=5, random_state=0, early_stopping=False).fit(X, Y)
    scores = [make_task_scorer("roc_auc", task)(trained, X, Y) for task in Y]
    assert trained.score(X, Y) == pytest.approx(np.mean(scores))
    # Accuracy would tie: the all-negative prediction is 97% right on either model.
    search = GridSearchCV(
        SharedBottomClassifier(random_state=0, early_stopping=False),
        {"max_epochs": [1, 8], "lr": [1e-6, 1e-2]},
        cv=2,
    ).fit(X, Y)
    assert search.best_params_ == {"lr": 1e-2, "max_epochs": 8}
    ranks = search.cv_results_["mean_test_score"]
    assert len(set(np.round(ranks, 6))) == len(ranks)


def test_score_skips_an_undefined_task_and_warns_when_none_is_defined():
    X, Y = _rare_clicks()
    model = SharedBottomClassifier(max_epochs=2, random_state=0, early_stopping=False).fit(X, Y)
    negatives = Y["click"] == 0  # buy is then all 0: its AUC is undefined
    assert model.score(X[negatives], Y[negatives].assign(click=np.arange(negatives.sum()) % 2)) > 0
    with pytest.warns(UndefinedMetricWarning, match="score is undefined"):
        assert np.isnan(model.score(X[negatives], Y[negatives]))
