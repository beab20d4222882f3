"""scikit-learn's callbacks (``set_callbacks``): the fit is a task, each epoch a subtask."""

import pickle

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.compose import ColumnTransformer
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline

from sklearn_mtl import ChunkedData, ESMMClassifier, MMoEClassifier, SingleTaskClassifier
from sklearn_mtl.datasets import make_funnel
from sklearn_mtl.metrics import task_scorers
from sklearn_mtl.persistence import load, save

from ._settings import FAST_PARAMS

callback = pytest.importorskip("sklearn.callback", reason="scikit-learn < 1.9: no callbacks")


class Progress:
    """Like ProgressBar: counts the tasks, propagated from a meta-estimator."""

    max_propagation_depth = None

    def __init__(self, stop_after=None):
        self.stop_after = stop_after
        self.events = []

    def setup(self, estimator, context):
        self.events.append(("setup", type(estimator).__name__))

    def teardown(self, estimator, context):
        self.events.append(("teardown", type(estimator).__name__))

    def on_fit_task_begin(self, estimator, context):
        self.events.append(("begin", context.task_name, context.task_id, context.max_subtasks))

    def on_fit_task_end(self, estimator, context):
        self.events.append(("end", context.task_name, context.task_id))
        return context.task_name == "epoch" and context.task_id + 1 == self.stop_after

    def epochs(self):
        return [event[2] for event in self.events if event[:2] == ("end", "epoch")]


class Monitor:
    """Like ScoringMonitor: scores the estimator as each task leaves it."""

    def __init__(self):
        self.scores = []

    def setup(self, estimator, context):
        pass

    def teardown(self, estimator, context):
        pass

    def on_fit_task_begin(self, estimator, context):
        pass

    def on_fit_task_end(self, estimator, context, *, X=None, y=None, fitted_estimator=None):
        self.scores.append((context.task_name, fitted_estimator.score(X, y)))


@pytest.fixture(scope="module")
def funnel():
    return make_funnel(600, random_state=0, return_X_y=True)


@pytest.mark.parametrize("cls", [MMoEClassifier, ESMMClassifier, SingleTaskClassifier])
def test_one_task_per_epoch_between_setup_and_teardown(cls, funnel):
    X, Y = funnel
    progress = Progress()
    model = cls(**FAST_PARAMS).set_callbacks(progress).fit(X, Y)
    epochs = FAST_PARAMS["max_epochs"]
    assert progress.events == [
        ("setup", cls.__name__),
        ("begin", "fit", 0, epochs),
        *[e for k in range(epochs) for e in [("begin", "epoch", k, 0), ("end", "epoch", k)]],
        ("end", "fit", 0),
        ("teardown", cls.__name__),
    ]
    assert model.n_iter_ == epochs
    # The fitted net does not keep the fit's data alive through the hooks.
    hooks = dict(model.net_.callbacks_)["epoch_tasks"]
    assert hooks.tasks is None and hooks.fitted_state is None


def test_monitor_scores_the_model_as_each_epoch_leaves_it(funnel):
    X, Y = funnel
    monitor = Monitor()
    model = MMoEClassifier(**FAST_PARAMS).set_callbacks(monitor).fit(X, Y)
    names = [name for name, _ in monitor.scores]
    assert names == ["epoch"] * FAST_PARAMS["max_epochs"] + ["fit"]
    scores = [score for _, score in monitor.scores]
    # Without early stopping the last epoch's network is the fitted one.
    assert scores[-2] == scores[-1] == model.score(X, Y)
    assert len(set(scores[:-1])) == len(scores) - 1  # each epoch changed the network


def test_scoring_monitor_logs_each_epoch(funnel):
    X, Y = funnel
    monitor = callback.ScoringMonitor(scoring=task_scorers(Y.columns))
    model = ESMMClassifier(**FAST_PARAMS).set_callbacks(monitor).fit(X, Y)
    log = monitor.get_logs().data_as_pandas
    epochs = log[log["task_name"] == "epoch"]
    assert epochs["task_id"].tolist() == list(range(model.n_iter_))
    final = log[log["task_name"] == "fit"].iloc[0]
    for name, scorer in task_scorers(Y.columns).items():
        assert final[name] == pytest.approx(scorer(model, X, Y))
        assert epochs[name].iloc[-1] == pytest.approx(final[name])


def test_a_callback_stops_training_after_an_epoch(funnel):
    X, Y = funnel
    progress = Progress(stop_after=2)
    model = MMoEClassifier(**{**FAST_PARAMS, "max_epochs": 5}).set_callbacks(progress)
    model.fit(X, Y)
    assert model.n_iter_ == 2 and progress.epochs() == [0, 1]


def test_propagated_through_a_pipeline_and_kept_by_clone(funnel):
    X, Y = funnel
    progress = Progress()
    step = ColumnTransformer([("keep", "passthrough", list(X.columns))])
    pipe = make_pipeline(step, MMoEClassifier(**FAST_PARAMS)).set_callbacks(progress)
    with pytest.warns(UserWarning, match="ColumnTransformer does not support callbacks"):
        pipe.fit(X, Y)
    assert progress.epochs() == list(range(FAST_PARAMS["max_epochs"]))
    # The model's fit is the Pipeline's final-step task: epochs hang below it.
    assert ("begin", "fit", 1, FAST_PARAMS["max_epochs"]) in progress.events
    assert not hasattr(pipe[-1], "_skl_callbacks")  # handed back after the fit

    model = MMoEClassifier(**FAST_PARAMS).set_callbacks(progress)
    progress.events.clear()
    clone(model).fit(X, Y)
    assert progress.epochs() == list(range(FAST_PARAMS["max_epochs"]))


def test_propagated_through_a_search(funnel):
    X, Y = funnel
    progress = Progress()
    search = GridSearchCV(MMoEClassifier(**FAST_PARAMS), {"lr": [1e-3, 1e-2]}, cv=2)
    search.set_callbacks(progress).fit(X, Y)
    # 2 candidates x 2 folds, and the refit: each fit's epochs, in order.
    assert progress.epochs() == list(range(FAST_PARAMS["max_epochs"])) * 5
    assert progress.events[0] == ("setup", "GridSearchCV")


def test_partial_fit_and_chunks(funnel, tmp_path):
    X, Y = funnel
    progress = Progress()
    model = MMoEClassifier(**FAST_PARAMS).set_callbacks(progress)
    model.partial_fit(X, Y).partial_fit(X, Y)
    assert progress.epochs() == [0, 0]  # one epoch per call, each call its own fit

    progress.events.clear()
    chunks = ChunkedData(lambda: [(X[:300], Y[:300]), (X[300:], Y[300:])])
    model = MMoEClassifier(**FAST_PARAMS).set_callbacks(progress).fit(chunks)
    assert progress.epochs() == list(range(FAST_PARAMS["max_epochs"]))


def test_pickled_with_its_callbacks_saved_without(funnel, tmp_path):
    X, Y = funnel
    model = MMoEClassifier(**FAST_PARAMS).set_callbacks(Progress()).fit(X, Y)
    restored = pickle.loads(pickle.dumps(model))
    assert isinstance(restored._skl_callbacks[0], Progress)
    save(model, tmp_path / "model.zip")
    loaded = load(tmp_path / "model.zip")
    assert not hasattr(loaded, "_skl_callbacks")
    for a, b in zip(loaded.predict_proba(X), model.predict_proba(X)):
        np.testing.assert_array_equal(a, b)


def test_input_errors_come_before_the_callbacks(funnel):
    X, Y = funnel
    progress = Progress()
    model = MMoEClassifier(**FAST_PARAMS).set_callbacks(progress)
    with pytest.raises(ValueError):
        model.fit(X, Y[:10])
    assert progress.events == []
