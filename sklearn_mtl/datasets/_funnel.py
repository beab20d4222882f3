"""A generator of conversion funnels with known true probabilities."""

from numbers import Integral, Real

import numpy as np
import pandas as pd
from scipy.special import expit, logit
from sklearn.utils import Bunch, check_random_state
from sklearn.utils._param_validation import Interval, validate_params


def _step_names(n_steps):
    middle = [f"step_{s}" for s in range(2, n_steps)]
    return ["click", *middle, "conversion"]


def _step_parameters(rng, n_steps, n_categorical, n_categories, n_numeric, signal):
    """Random category effects and coefficients of each step's score.

    A score is linear in its parameters ``theta_s`` (category effects centred
    per feature and scaled by ``1 / sqrt(n_categories)``, then the
    coefficients): over the feature distribution its mean is 0, its variance
    ``|theta_s|^2`` and its covariance with another step's score
    ``theta_s . theta_0``. So making every later step's ``theta`` orthogonal
    to the click's and of norm ``signal`` makes the scores' correlation
    exactly ``selection_bias`` once mixed.
    """
    effects = rng.standard_normal((n_steps, n_categorical, n_categories))
    effects -= effects.mean(-1, keepdims=True)
    n_effects = n_categorical * n_categories
    theta = np.concatenate(
        [effects.reshape(n_steps, n_effects) / np.sqrt(n_categories),
         rng.standard_normal((n_steps, n_numeric))],
        axis=1,
    )
    click = theta[0] / max(np.linalg.norm(theta[0]), np.finfo(float).tiny)
    theta[1:] -= np.outer(theta[1:] @ click, click)
    norms = np.linalg.norm(theta, axis=1, keepdims=True)
    # A single feature leaves no direction orthogonal to the click's: zero.
    theta = np.divide(signal * theta, norms, out=np.zeros_like(theta), where=norms > 1e-12)
    effects = theta[:, :n_effects].reshape(n_steps, n_categorical, n_categories)
    return effects * np.sqrt(n_categories), theta[:, n_effects:]


def _average_over_latent(logits, weight, n_nodes=40):
    """``E[sigmoid(logits + weight u)]`` over a standard normal ``u``, by
    Gauss-Hermite quadrature (exact to ~1e-10 for weights up to about 3)."""
    if weight == 0:
        return expit(logits)
    nodes, node_weights = np.polynomial.hermite.hermgauss(n_nodes)
    shifted = expit(logits[..., None] + weight * np.sqrt(2.0) * nodes)
    return shifted @ (node_weights / np.sqrt(np.pi))


@validate_params(
    {
        "n_samples": [Interval(Integral, 1, None, closed="left")],
        "n_steps": [Interval(Integral, 2, None, closed="left")],
        "n_categorical": [Interval(Integral, 0, None, closed="left")],
        "n_categories": [Interval(Integral, 1, None, closed="left")],
        "n_numeric": [Interval(Integral, 0, None, closed="left")],
        "base_rates": ["array-like", None],
        "selection_bias": [Interval(Real, 0, 1, closed="both")],
        "signal": [Interval(Real, 0, None, closed="left")],
        "hidden_confounding": [Interval(Real, 0, None, closed="left")],
        "random_state": ["random_state"],
        "return_X_y": ["boolean"],
    },
    prefer_skip_nested_validation=True,
)
def make_funnel(
    n_samples=10_000,
    *,
    n_steps=2,
    n_categorical=4,
    n_categories=20,
    n_numeric=4,
    base_rates=None,
    selection_bias=0.5,
    signal=2.0,
    hidden_confounding=0.0,
    random_state=None,
    return_X_y=False,
):
    """Generate impressions that go through a click -> conversion funnel.

    Each impression has categorical features (a random effect per category
    and step) and standard normal numeric features (a coefficient per
    feature and step). Step ``s`` has a feature score ``f_s(x)`` of mean 0
    and standard deviation ``signal`` over the impressions, and every later
    step's score is uncorrelated with the click's. The true click
    probability is
    ``pCTR = sigmoid(logit(base_rates[0]) + f_0(x))``; each later step's true
    probability *given the previous step* is
    ``sigmoid(logit(base_rates[s]) + sqrt(1 - rho**2) f_s(x) + rho f_0(x))``
    with ``rho = selection_bias``. A row reaches step ``s`` only if it reached
    step ``s - 1``: conversions are a subset of clicks.

    With ``selection_bias > 0`` the features that drive clicks also shift
    conversion, so the clicked rows are a biased sample of the impressions:
    a CVR model trained on clicked rows only sees few of the impressions
    that rank low on clicks, where it must still predict (the sample
    selection bias of ESMM's paper).

    With ``hidden_confounding = c > 0`` every step's logit also gets
    ``c u``, where ``u`` is a standard normal variable drawn per impression
    and left out of ``X`` (e.g. the user's intent that day). Clicks then
    select impressions of high ``u``, which convert more: the labels are
    missing not at random given ``X``. Among the clicked rows the
    conversion rate is higher than the conversion rate given ``X`` averaged
    over the impressions (``true_proba_given_x``), and no function of ``X``
    can tell, since the gap is there for every ``x``: a model of the
    clicked rows over-predicts CVR on the whole space.

    Parameters
    ----------
    n_samples : int, default=10_000
        Number of impressions.
    n_steps : int, default=2
        Number of funnel steps, at least 2 (click and conversion; the steps
        in between are named ``step_2``, ``step_3``, ...).
    n_categorical : int, default=4
        Number of categorical features.
    n_categories : int, default=20
        Number of categories of each categorical feature (equally likely).
    n_numeric : int, default=4
        Number of numeric features.
    base_rates : array-like of shape (n_steps,), default=None
        Each step's probability at ``f(x) = 0`` (the click's, then each
        later step's given the previous one): about its median over the
        impressions.
        ``(0.1, 0.2, 0.2, ...)`` when None.
    selection_bias : float in [0, 1], default=0.5
        ``rho``: the correlation between the click's logit and each later
        step's logit over the impressions (exact for the population when
        there are at least two features).
    signal : float, default=2.0
        Standard deviation of each step's feature score: how predictable
        the steps are.
    hidden_confounding : float, default=0.0
        Weight ``c`` of the hidden variable ``u`` in every step's logit;
        0 draws no hidden variable (and leaves every output as without
        the option).
    random_state : int, RandomState instance or None, default=None
        Seeds the effects, the features and the labels.
    return_X_y : bool, default=False
        Return ``(X, Y)`` instead of a Bunch.

    Returns
    -------
    data : Bunch
        ``data``: DataFrame of features, categorical columns ``cat_<j>``
        (pandas ``category`` dtype) then numeric columns ``num_<j>``;
        ``target``: DataFrame of 0/1 step labels, one column per step
        (``click``, ..., ``conversion``); ``true_proba``: DataFrame, same
        columns, each step's true probability given the previous step, for
        every row (the click's is the true pCTR, the conversion's the true
        pCVR for two steps), whether or not the row reached the previous
        step, given the features and the hidden variable;
        ``true_proba_given_x``: the same probabilities averaged over the
        hidden variable, the best a model of ``X`` alone can predict for a
        random impression (the click's is ``P(click | x)``; a later step's
        the rate it would have over all impressions with features ``x`` had
        they reached the previous step); ``latent``: the hidden variable
        per row (zeros when ``hidden_confounding=0``);
        ``feature_names``, ``target_names``, ``categorical_features``.
    (X, Y) : tuple of DataFrame
        With ``return_X_y=True``.

    Examples
    --------
    >>> from sklearn_mtl.datasets import make_funnel
    >>> funnel = make_funnel(n_samples=1000, random_state=0)
    >>> funnel.data.shape, list(funnel.target.columns)
    ((1000, 8), ['click', 'conversion'])
    >>> bool((funnel.target["conversion"] <= funnel.target["click"]).all())
    True
    >>> funnel.true_proba.shape
    (1000, 2)
    >>> biased = make_funnel(n_samples=20_000, hidden_confounding=1.5, random_state=0)
    >>> clicked = biased.target["click"] == 1
    >>> cvr = biased.target["conversion"][clicked].mean()
    >>> bool(cvr > biased.true_proba_given_x["conversion"][clicked].mean() + 0.05)
    True
    >>> X, Y = make_funnel(n_samples=10, n_steps=3, random_state=0, return_X_y=True)
    >>> list(Y.columns)
    ['click', 'step_2', 'conversion']
    """
    rng = check_random_state(random_state)
    rates = np.full(n_steps, 0.2)
    rates[0] = 0.1
    if base_rates is not None:
        rates = np.asarray(base_rates, dtype=np.float64)
        if rates.shape != (n_steps,) or not ((rates > 0) & (rates < 1)).all():
            raise ValueError(
                f"base_rates must hold {n_steps} probabilities in (0, 1), one per "
                f"step (n_steps={n_steps}); got {base_rates!r}."
            )
    if n_categorical + n_numeric == 0:
        raise ValueError(
            "make_funnel needs at least one feature: set n_categorical or n_numeric above 0."
        )
    codes = rng.randint(n_categories, size=(n_samples, n_categorical))
    numeric = rng.standard_normal((n_samples, n_numeric))
    effects, coefficients = _step_parameters(
        rng, n_steps, n_categorical, n_categories, n_numeric, signal
    )
    columns = np.arange(n_categorical)
    # (n_samples, n_steps): each step's score f_s(x).
    scores = effects[:, columns, codes].sum(-1).T + numeric @ coefficients.T

    rho = selection_bias
    logits = np.sqrt(1.0 - rho**2) * scores + rho * scores[:, :1]
    logits[:, 0] = scores[:, 0]
    logits += logit(rates)
    # Drawn only when used, so that the default draws the same numbers as before.
    latent = (
        rng.standard_normal(n_samples) if hidden_confounding > 0 else np.zeros(n_samples)
    )
    true_proba = expit(logits + hidden_confounding * latent[:, None])
    true_proba_given_x = _average_over_latent(logits, hidden_confounding)
    # A step happens only if the previous one did: the running product.
    labels = np.logical_and.accumulate(rng.random_sample(true_proba.shape) < true_proba, axis=1)

    categorical_names = [f"cat_{j}" for j in range(n_categorical)]
    numeric_names = [f"num_{j}" for j in range(n_numeric)]
    categories = np.arange(n_categories)
    X = pd.DataFrame(
        {
            **{
                name: pd.Categorical.from_codes(codes[:, j], categories=categories)
                for j, name in enumerate(categorical_names)
            },
            **{name: numeric[:, j] for j, name in enumerate(numeric_names)},
        }
    )
    steps = _step_names(n_steps)
    Y = pd.DataFrame(labels.astype(np.int64), columns=steps)
    if return_X_y:
        return X, Y
    return Bunch(
        data=X,
        target=Y,
        true_proba=pd.DataFrame(true_proba, columns=steps),
        true_proba_given_x=pd.DataFrame(true_proba_given_x, columns=steps),
        latent=latent,
        feature_names=categorical_names + numeric_names,
        target_names=steps,
        categorical_features=categorical_names,
    )
