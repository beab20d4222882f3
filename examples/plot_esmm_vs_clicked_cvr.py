"""
=================================================================
ESMM against a CVR model trained on clicked impressions only
=================================================================

A conversion can only be observed after a click, so the obvious CVR model is
trained on the clicked impressions. It is then used on *all* impressions,
most of which look unlike the clicked ones: the sample selection bias that
ESMM (Ma et al., SIGIR 2018) removes by learning pCVR through
``pCTCVR = pCTR x pCVR`` over the entire space of impressions.

:func:`~sklearn_mtl.datasets.make_funnel` knows each impression's true pCVR,
so both models can be compared against it directly.
"""

# %%
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from sklearn_mtl import ESMMClassifier, SharedBottomClassifier
from sklearn_mtl.datasets import make_funnel

funnel = make_funnel(30_000, selection_bias=1.0, random_state=0)
X, Y, true = funnel.data, funnel.target, funnel.true_proba
clicked = Y["click"] == 1
print(f"{clicked.mean():.1%} of the impressions are clicked")

# %%
# Two models
# ----------
# ESMM sees every impression. The clicked-only model is a single-task
# network of the same size trained on the clicked rows, with the conversion
# as its label. Both start their embeddings alike: ``embedding_init_std="auto"``
# would start ESMM's 590 steps at 1e-4 and the clicked-only model's 170 at
# N(0, 1), which learns slower and would flatter ESMM.
common = dict(embedding_init_std=1e-4, max_epochs=10, early_stopping=False, random_state=0)
esmm = ESMMClassifier(**common).fit(X, Y)
clicked_only = SharedBottomClassifier(**common).fit(X[clicked], Y.loc[clicked, "conversion"])

pcvr = pd.DataFrame(
    {
        "ESMM": esmm.predict_cvr(X),
        "clicked only": clicked_only.predict_proba(X)[:, 1],
    }
)

# %%
# Against the true pCVR, on all impressions
# -----------------------------------------
# The AUC of each model's pCVR against conversions drawn from the true pCVR
# on every impression, and its mean bias.
rng = np.random.default_rng(0)
would_convert = rng.random(len(X)) < true["conversion"]
for name, p in pcvr.items():
    print(
        f"{name:>12}: AUC over all impressions {roc_auc_score(would_convert, p):.3f}, "
        f"mean pCVR {p.mean():.3f} (true {true['conversion'].mean():.3f})"
    )

# %%
# By how likely a click is: the clicked-only model is fine where the clicks
# are, and off where it saw few of them (the least clickable impressions).
deciles = pd.qcut(true["click"], 10, labels=False)
by_decile = pcvr.assign(true=true["conversion"]).groupby(deciles).mean()
fig, ax = plt.subplots(figsize=(6, 4))
for column, style in [("true", "k-"), ("ESMM", "o-"), ("clicked only", "s--")]:
    ax.plot(by_decile.index + 1, by_decile[column], style, label=column)
ax.set(
    xlabel="decile of the true pCTR", ylabel="mean pCVR",
    title="pCVR over all impressions, by click propensity",
)
ax.legend()
plt.show()
