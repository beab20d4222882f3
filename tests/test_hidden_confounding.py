"""make_funnel's hidden confounder: clicks select on a variable left out of X."""

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit, logit
from sklearn.compose import make_column_transformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder

from sklearn_mtl.datasets import make_funnel

N = 20_000


def test_no_confounding_changes_nothing():
    default = make_funnel(2000, n_steps=3, random_state=0)
    explicit = make_funnel(2000, n_steps=3, hidden_confounding=0.0, random_state=0)
    confounded = make_funnel(2000, n_steps=3, hidden_confounding=1.0, random_state=0)
    for key in ("data", "target", "true_proba", "true_proba_given_x"):
        pd.testing.assert_frame_equal(default[key], explicit[key])
    pd.testing.assert_frame_equal(default.true_proba_given_x, default.true_proba)
    assert not default.latent.any()
    # The features come first: the hidden variable changes only the labels.
    pd.testing.assert_frame_equal(confounded.data, default.data)
    assert confounded.latent.std() == pytest.approx(1.0, abs=0.05)


def _clicked_gap(funnel):
    """Observed CVR of the clicked rows minus the mean true CVR given X on
    the same rows, and its standard error."""
    clicked = funnel.target["click"].to_numpy() == 1
    conversion = funnel.target["conversion"].to_numpy()[clicked]
    gap = conversion.mean() - funnel.true_proba_given_x["conversion"].to_numpy()[clicked].mean()
    return gap, conversion.std() / np.sqrt(clicked.sum())


@pytest.mark.parametrize("selection_bias", [0.0, 0.5])
def test_clicked_rows_overstate_the_cvr_given_x(selection_bias):
    plain = make_funnel(N, selection_bias=selection_bias, random_state=0)
    confounded = make_funnel(N, selection_bias=selection_bias, hidden_confounding=1.5,
                             random_state=0)
    # Selection on X alone is no bias given X ...
    gap, se = _clicked_gap(plain)
    assert abs(gap) < 3 * se
    # ... selection on the hidden variable is, on the same features.
    gap, se = _clicked_gap(confounded)
    assert gap > 0.08 and gap > 10 * se
    # The per-row truth, given X and the hidden variable, stays exact.
    clicked = confounded.target["click"] == 1
    assert confounded.target["conversion"][clicked].mean() == pytest.approx(
        confounded.true_proba["conversion"][clicked].mean(), abs=3 * se
    )
    # No selection at the click: its probability given X is calibrated on every row.
    click = confounded.target["click"]
    assert click.mean() == pytest.approx(
        confounded.true_proba_given_x["click"].mean(), abs=3 * click.std() / np.sqrt(N)
    )


def test_a_model_of_x_on_clicked_rows_cannot_remove_the_bias():
    # Logistic regression on one-hot categories and numerics: the true CVR's
    # form without the hidden variable. Fitted on the clicked rows, it
    # predicts the CVR of every impression.
    def fitted_cvr_bias(funnel):
        X, Y = funnel.data, funnel.target
        clicked = Y["click"] == 1
        model = make_pipeline(
            make_column_transformer(
                (OneHotEncoder(), funnel.categorical_features), remainder="passthrough"
            ),
            LogisticRegression(C=100.0, max_iter=1000),
        ).fit(X[clicked], Y["conversion"][clicked])
        predicted = model.predict_proba(X)[:, 1]
        return predicted.mean() - funnel.true_proba_given_x["conversion"].mean()

    assert abs(fitted_cvr_bias(make_funnel(N, random_state=1))) < 0.02
    assert fitted_cvr_bias(make_funnel(N, hidden_confounding=1.5, random_state=1)) > 0.08


def test_the_average_over_the_hidden_variable_matches_sampling():
    funnel = make_funnel(50, n_steps=3, hidden_confounding=2.0, random_state=0)
    # The same rows with the hidden variable drawn many times.
    u = np.random.default_rng(0).standard_normal(200_000)
    logits = logit(funnel.true_proba.to_numpy()) - 2.0 * funnel.latent[:, None]
    sampled = expit(logits[:, :, None] + 2.0 * u).mean(axis=-1)
    np.testing.assert_allclose(funnel.true_proba_given_x.to_numpy(), sampled, atol=3e-3)


def test_a_negative_weight_is_rejected():
    with pytest.raises(ValueError, match="hidden_confounding"):
        make_funnel(10, hidden_confounding=-1.0)
