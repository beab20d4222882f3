import numpy as np
import pandas as pd
import pytest
from sklearn import config_context
from sklearn.metrics import average_precision_score, get_scorer, log_loss, roc_auc_score
from sklearn.model_selection import GridSearchCV, KFold, cross_validate
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_mtl import ESMMClassifier, MMoEClassifier, SharedBottomClassifier
from sklearn_mtl._targets import BinaryTarget
from sklearn_mtl.datasets import load_census_income, make_funnel
from sklearn_mtl.metrics import (
    TaskScorer,
    conditional_proba,
    esmm_scorers,
    make_mean_task_scorer,
    make_task_scorer,
    score_task_given,
    task_scorers,
)


class _FixedProba:
    """A fitted two-task model stand-in whose probabilities are given."""

    def __init__(self, proba):
        self.proba = np.asarray(proba, dtype=float)
        self.task_names_ = np.array(["click", "conversion"], dtype=object)
        self.n_tasks_ = 2
        self.classes_ = [np.array([0, 1]), np.array([0, 1])]
        self.task_types_ = ["binary", "binary"]
        self._task_targets = [BinaryTarget(c) for c in self.classes_]

    def predict_proba(self, X):
        return [np.column_stack([1 - p, p]) for p in self.proba.T]


def test_per_task_scorers_match_sklearn_metrics_per_task(fitted_esmm, funnel):
    X, Y = funnel.data, funnel.target
    weight = np.random.default_rng(0).uniform(0.5, 2, len(X))
    proba = fitted_esmm.predict_proba(X)
    functions = {"roc_auc": roc_auc_score, "average_precision": average_precision_score}
    for t, task in enumerate(["click", "conversion"]):
        y, p = Y[task].to_numpy(), proba[t][:, 1]
        for metric, function in functions.items():
            assert make_task_scorer(metric, task)(fitted_esmm, X, Y) == pytest.approx(function(y, p))
            assert make_task_scorer(metric, t)(fitted_esmm, X, Y, weight) == pytest.approx(
                function(y, p, sample_weight=weight)
            )
        assert make_task_scorer("log_loss", task)(fitted_esmm, X, Y) == pytest.approx(-log_loss(y, p))


def test_log_loss_counts_the_negative_rows():
    # scikit-learn's neg_log_loss on a multi-label Y sums -y log p over the
    # labels: a confident positive prediction on a negative row costs nothing.
    Y = pd.DataFrame({"click": [1, 0, 0, 1], "conversion": [1, 0, 0, 0]})
    good = _FixedProba([[0.9, 0.8], [0.1, 0.1], [0.2, 0.1], [0.7, 0.2]])
    bad = _FixedProba([[0.9, 0.8], [0.1, 0.1], [0.2, 0.99], [0.7, 0.99]])
    scorer = make_task_scorer("log_loss", "conversion")
    y, p = np.array([1, 0, 0, 0]), bad.proba[:, 1]
    by_hand = -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))
    assert scorer(bad, None, Y) == pytest.approx(-by_hand)
    assert scorer(bad, None, Y) < scorer(good, None, Y) - 1.0
    positives_only = -np.mean(y * np.log(p))
    assert -scorer(bad, None, Y) > 10 * positives_only
    with pytest.warns(UserWarning, match="do not sum to one"):
        pooled = [log_loss(Y, model.proba) for model in (good, bad)]
    assert pooled[0] == pytest.approx(pooled[1])


def test_cvr_scorer_uses_clicked_rows_and_the_conditional_probability():
    Y = pd.DataFrame({"click": [1, 1, 1, 0, 0, 1], "conversion": [1, 0, 0, 0, 0, 1]})
    p_click = np.array([0.5, 0.8, 0.4, 0.9, 0.05, 0.5])
    p_cvr = np.array([0.6, 0.1, 0.3, 0.99, 0.01, 0.2])
    model = _FixedProba(np.column_stack([p_click, p_click * p_cvr]))
    scorers = esmm_scorers(metrics=("roc_auc", "log_loss"))
    clicked = Y["click"].to_numpy() == 1
    y_conv = Y["conversion"].to_numpy()
    assert scorers["roc_auc_cvr"](model, None, Y) == pytest.approx(
        roc_auc_score(y_conv[clicked], p_cvr[clicked])
    )
    assert scorers["neg_log_loss_cvr"](model, None, Y) == pytest.approx(
        -log_loss(y_conv[clicked], p_cvr[clicked])
    )
    assert scorers["roc_auc_ctcvr"](model, None, Y) == pytest.approx(
        roc_auc_score(y_conv, p_click * p_cvr)
    )
    assert scorers["roc_auc_ctr"](model, None, Y) == pytest.approx(
        roc_auc_score(Y["click"], p_click)
    )
    # On all rows, the non-clicked rows would change the CVR AUC.
    assert roc_auc_score(y_conv, p_cvr) != pytest.approx(scorers["roc_auc_cvr"](model, None, Y))
    assert score_task_given("roc_auc", y_conv, p_cvr, Y["click"].to_numpy()) == pytest.approx(
        scorers["roc_auc_cvr"](model, None, Y)
    )


def test_cvr_scorer_agrees_with_predict_cvr(fitted_esmm, funnel):
    X, Y = funnel.data, funnel.target
    clicked = Y["click"].to_numpy() == 1
    expected = roc_auc_score(Y["conversion"][clicked], fitted_esmm.predict_cvr(X)[clicked])
    assert esmm_scorers()["roc_auc_cvr"](fitted_esmm, X, Y) == pytest.approx(expected, abs=1e-4)
    p_click, p_ctcvr = fitted_esmm.predict_proba(X)
    np.testing.assert_allclose(
        conditional_proba(p_ctcvr[:, 1], p_click[:, 1]), fitted_esmm.predict_cvr(X), rtol=1e-5
    )


def test_unknown_task_and_metric():
    Y = pd.DataFrame({"click": [1, 0], "conversion": [1, 0]})
    model = _FixedProba([[0.6, 0.5], [0.4, 0.1]])
    with pytest.raises(ValueError, match="Unknown task 'purchase'.*'click', 'conversion'"):
        TaskScorer("roc_auc", "conversion", given="purchase")(model, None, Y)
    with pytest.raises(ValueError, match="out of range for 2 tasks"):
        TaskScorer("roc_auc", 2)(model, None, Y)
    with pytest.raises(ValueError, match="Unknown metric 'auc'"):
        esmm_scorers(metrics=("auc",))


def test_grid_search_through_a_pipeline_multi_metric_refit():
    X, Y = make_funnel(2000, n_categorical=0, random_state=0, return_X_y=True)
    pipeline = make_pipeline(StandardScaler(), ESMMClassifier(max_epochs=2, random_state=0))
    scoring = {**esmm_scorers(), **task_scorers(["click"], metrics=("log_loss",))}
    search = GridSearchCV(
        pipeline,
        {"esmmclassifier__lr": [1e-3, 1e-2]},
        scoring=scoring,
        refit="roc_auc_cvr",
        cv=2,
        error_score="raise",
    ).fit(X, Y)
    results = search.cv_results_
    for key in ["roc_auc_ctr", "roc_auc_cvr", "roc_auc_ctcvr", "neg_log_loss_click"]:
        assert np.isfinite(results[f"mean_test_{key}"]).all(), key
    assert results["mean_test_neg_log_loss_click"].max() < 0
    best = int(np.argmax(results["mean_test_roc_auc_cvr"]))
    assert search.best_index_ == best
    assert search.best_estimator_.predict_proba(X[:5])[1].shape == (5, 2)


def test_single_metric_grid_search():
    X, Y = make_funnel(1000, random_state=0, return_X_y=True)
    search = GridSearchCV(
        ESMMClassifier(max_epochs=1, random_state=0),
        {"embedding_dim": [2, 4]},
        scoring=make_task_scorer("average_precision", "conversion", given="click"),
        cv=2,
        error_score="raise",
    ).fit(X, Y)
    assert 0 < search.best_score_ <= 1


@pytest.fixture(scope="module")
def weighted_census():
    census = load_census_income()
    return census.data[:1200], census.target[:1200], census.sample_weight[:1200]


def test_mean_task_scorer_is_the_mean_of_the_task_scorers_and_nan_when_one_is_undefined():
    Y = pd.DataFrame({"click": [1, 0, 0, 1], "conversion": [1, 0, 0, 0]})
    model = _FixedProba([[0.9, 0.8], [0.1, 0.1], [0.6, 0.3], [0.7, 0.2]])
    for metric in ("roc_auc", "log_loss"):
        per_task = [make_task_scorer(metric, t)(model, None, Y) for t in (0, 1)]
        assert make_mean_task_scorer(metric)(model, None, Y) == pytest.approx(np.mean(per_task))
        assert task_scorers(["click", "conversion"], (metric,), mean=True)[
            f"{'neg_' if metric == 'log_loss' else ''}{metric}_mean"
        ](model, None, Y) == pytest.approx(np.mean(per_task))
    one_class = Y.assign(conversion=0)
    assert np.isnan(make_mean_task_scorer("roc_auc")(model, None, one_class))
    with pytest.raises(ValueError, match="clash with the mean scorer"):
        task_scorers(["mean", "click"], mean=True)
    with pytest.raises(ValueError, match="scores regression tasks but the estimator has none"):
        make_mean_task_scorer("r2")(model, None, Y)


def test_mean_scorer_as_refit_and_the_string_scorers_it_agrees_with(weighted_census):
    X, Y, _ = weighted_census
    search = GridSearchCV(
        SharedBottomClassifier(max_epochs=2, random_state=0),
        {"lr": [1e-4, 1e-2]},
        scoring=task_scorers(list(Y.columns), mean=True),
        refit="roc_auc_mean",
        cv=2,
    ).fit(X, Y)
    results = search.cv_results_
    np.testing.assert_allclose(
        results["mean_test_roc_auc_mean"],
        (results["mean_test_roc_auc_income"] + results["mean_test_roc_auc_never_married"]) / 2,
    )
    assert search.best_index_ == np.argmax(results["mean_test_roc_auc_mean"])
    # On fully observed 0/1 labels scikit-learn's "roc_auc" is the same macro mean;
    # "neg_log_loss" pools the tasks (and warns), which no task scorer does.
    model = search.best_estimator_
    assert get_scorer("roc_auc")(model, X, Y) == pytest.approx(make_mean_task_scorer("roc_auc")(model, X, Y))
    with pytest.warns(UserWarning, match="do not sum to one"):
        pooled = get_scorer("neg_log_loss")(model, X, Y)
    assert pooled != pytest.approx(make_mean_task_scorer("log_loss")(model, X, Y))


def test_sample_weight_reaches_the_scorers_through_metadata_routing(weighted_census):
    X, Y, weight = weighted_census
    cv = KFold(2)
    with config_context(enable_metadata_routing=True):
        scoring = task_scorers(list(Y.columns), mean=True)
        for scorer in scoring.values():
            scorer.set_score_request(sample_weight=True)
        model = SharedBottomClassifier(max_epochs=2, random_state=0).set_fit_request(sample_weight=True)
        results = cross_validate(
            model, X, Y, scoring=scoring, cv=cv, params={"sample_weight": weight}, return_estimator=True
        )
        search = GridSearchCV(model, {"lr": [1e-3]}, scoring=scoring, refit="roc_auc_mean", cv=cv)
        search.fit(X, Y, sample_weight=weight)
    for fold, (_, test) in enumerate(cv.split(X)):
        fitted, X_test, Y_test = results["estimator"][fold], X.iloc[test], Y.iloc[test]
        weighted = scoring["roc_auc_income"](fitted, X_test, Y_test, weight[test])
        assert results["test_roc_auc_income"][fold] == pytest.approx(weighted)
        assert search.cv_results_[f"split{fold}_test_roc_auc_income"][0] == pytest.approx(weighted)
        assert weighted != pytest.approx(scoring["roc_auc_income"](fitted, X_test, Y_test), abs=1e-4)
    assert results["test_roc_auc_mean"] == pytest.approx(
        (results["test_roc_auc_income"] + results["test_roc_auc_never_married"]) / 2
    )


def test_cross_validate_with_nan_labels_through_a_splitter_and_task_scorers():
    X, Y = make_funnel(n_samples=600, n_categorical=0, random_state=0, return_X_y=True)
    Y = Y.astype(float)
    Y.iloc[::3, 1] = np.nan
    model = MMoEClassifier(max_epochs=1, random_state=0)
    # The documented route: an explicit splitter (scikit-learn refuses to
    # stratify a label matrix with NaN) and one scorer per task.
    scores = cross_validate(
        model, X, Y, cv=KFold(2, shuffle=True, random_state=0), scoring=task_scorers(list(Y.columns))
    )
    assert np.isfinite(scores["test_roc_auc_conversion"]).all()
    with pytest.raises(ValueError, match="Input y contains NaN"):
        cross_validate(model, X, Y, cv=2, scoring=task_scorers(list(Y.columns)))


def test_halving_search_refuses_a_label_matrix_before_any_fit():
    from sklearn.experimental import enable_halving_search_cv  # noqa: F401
    from sklearn.model_selection import HalvingGridSearchCV

    X, Y = make_funnel(n_samples=200, n_categorical=0, random_state=0, return_X_y=True)
    search = HalvingGridSearchCV(MMoEClassifier(max_epochs=1), {"lr": [1e-3, 1e-2]}, cv=2)
    # scikit-learn's own check (documented in the scoring guide): no estimator was fitted.
    with pytest.raises(ValueError, match="y should be a 1d array"):
        search.fit(X, Y)
    assert not hasattr(search, "cv_results_")


def test_task_scorers_match_y_columns_by_name(fitted_esmm, funnel):
    X, Y = funnel.data, funnel.target
    swapped = Y[list(Y.columns)[::-1]]
    for metric, task in [("roc_auc", "click"), ("log_loss", "conversion")]:
        scorer = make_task_scorer(metric, task)
        assert scorer(fitted_esmm, X, swapped) == pytest.approx(scorer(fitted_esmm, X, Y))
    with pytest.raises(ValueError, match="are not the tasks"):
        make_task_scorer("roc_auc", "click")(fitted_esmm, X, Y.set_axis(["a", "b"], axis=1))


def _mixed_tasks(n=300, seed=0):
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(
        {"age": rng.normal(40, 10, n), "city": pd.Categorical(rng.choice(list("abcd"), n))}
    )
    click = (X["age"] + rng.normal(0, 5, n) > 40).astype(int)
    spend = 0.1 * X["age"] + (X["city"] == "a") + rng.normal(0, 0.3, n)
    return X, pd.DataFrame({"click": click, "spend": spend})


def test_task_scorers_of_mixed_task_types_in_grid_search():
    from sklearn.compose import make_column_transformer
    from sklearn.metrics import r2_score

    from sklearn_mtl.preprocessing import CategoricalPassthrough

    X, Y = _mixed_tasks()
    columns = make_column_transformer(
        (StandardScaler(), ["age"]), (CategoricalPassthrough(), ["city"]),
        verbose_feature_names_out=False,
    ).set_output(transform="pandas")
    model = SharedBottomClassifier(
        task_types=["binary", "regression"], max_epochs=3, random_state=0, early_stopping=False
    )
    scoring = task_scorers(["click", "spend"], task_types={"click": "binary", "spend": "regression"})
    assert sorted(scoring) == ["r2_spend", "roc_auc_click"]
    search = GridSearchCV(
        make_pipeline(columns, model),
        {"sharedbottomclassifier__lr": [1e-3, 3e-2]},
        scoring=scoring,
        refit="r2_spend",
        cv=2,
        error_score="raise",
    ).fit(X, Y)
    results = search.cv_results_
    assert np.isfinite(results["mean_test_roc_auc_click"]).all()
    assert search.best_index_ == int(np.argmax(results["mean_test_r2_spend"]))
    assert search.best_score_ == results["mean_test_r2_spend"][search.best_index_]
    # Each task's score is its type's metric on its own output.
    best = search.best_estimator_
    assert scoring["roc_auc_click"](best, X, Y) == pytest.approx(
        roc_auc_score(Y["click"], best.predict_proba(X)[0][:, 1])
    )
    assert scoring["r2_spend"](best, X, Y) == pytest.approx(
        r2_score(Y["spend"], best.predict(X)[:, 1])
    )


@pytest.mark.parametrize(
    "kwargs, expected",
    [
        ({"task_types": ["binary", "regression", "multiclass"]},
         ["r2_spend", "roc_auc_click", "roc_auc_ovr_segment"]),
        ({"task_types": ["binary", "regression", "multiclass"], "mean": True,
          "metrics": ("log_loss", "mean_squared_error", "accuracy")},
         ["accuracy_mean", "accuracy_segment", "neg_log_loss_click", "neg_log_loss_mean",
          "neg_mean_squared_error_mean", "neg_mean_squared_error_spend"]),
        ({}, ["roc_auc_click", "roc_auc_segment", "roc_auc_spend"]),
    ],
)
def test_task_scorers_give_each_task_the_metrics_of_its_type(kwargs, expected):
    assert sorted(task_scorers(["click", "spend", "segment"], **kwargs)) == expected


@pytest.mark.parametrize(
    "task_types, match",
    [
        (["binary"], r"task_types has 1 entries for 2 tasks"),
        ({"click": "binary", "spnd": "regression"}, r"unknown task\(s\) \['spnd'\] and lacks \['spend'\]"),
        (["binary", "ordinal"], r"Unknown task type\(s\) \['ordinal'\]"),
    ],
)
def test_task_scorers_check_task_types(task_types, match):
    with pytest.raises(ValueError, match=match):
        task_scorers(["click", "spend"], task_types=task_types)
    with pytest.raises(ValueError, match=r"\['spend'\] of type\(s\) \['regression'\] get none"):
        task_scorers(["click", "spend"], metrics=("roc_auc",), task_types=["binary", "regression"])
