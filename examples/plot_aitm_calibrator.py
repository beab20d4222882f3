"""
=======================================================
AITM: funnel violations with and without the calibrator
=======================================================

:class:`~sklearn_mtl.AITMClassifier` predicts each funnel step end to end:
``p_click`` and ``p_conversion``, both over all impressions. A conversion
needs a click, so ``p_conversion > p_click`` is a violation. AITM's
behavioural expectation calibrator adds
``alpha * mean(max(p_conversion - p_click, 0))`` to the loss
(``calibration_weight=alpha``). Here: the share of impressions whose
prediction violates the funnel, with ``alpha = 0`` and with the calibrator,
and how much each step attends to what the previous one transfers.
"""

# %%
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from sklearn_mtl import AITMClassifier
from sklearn_mtl.datasets import make_funnel
from sklearn_mtl.inspection import AttentionDisplay

X, Y = make_funnel(20_000, base_rates=(0.3, 0.5), selection_bias=0.5, random_state=0,
                   return_X_y=True)
X_train, X_test, Y_train, Y_test = X[:15_000], X[15_000:], Y[:15_000], Y[15_000:]

# %%
# Two models, one calibrator weight apart
# ---------------------------------------
rows, models = [], {}
for alpha in [0.0, 1.0]:
    model = AITMClassifier(calibration_weight=alpha, max_epochs=8, early_stopping=False,
                           random_state=0).fit(X_train, Y_train)
    # Funnel columns are named by what they hold: P(click), P(click & conversion).
    proba = model.predict_proba_frame(X_test).set_axis(["click", "conversion"], axis=1)
    gap = proba["conversion"] - proba["click"]
    models[alpha] = (model, gap)
    rows.append({
        "calibration_weight": alpha,
        "share of violations": float((gap > 0).mean()),
        "AUC click": roc_auc_score(Y_test["click"], proba["click"]),
        "AUC conversion": roc_auc_score(Y_test["conversion"], proba["conversion"]),
    })
pd.DataFrame(rows).set_index("calibration_weight").round(4)

# %%
# How far the conversion probability goes above the click probability
# --------------------------------------------------------------------
fig, ax = plt.subplots(figsize=(5.5, 3.5))
bins = np.linspace(-0.6, 0.2, 41)
for alpha, (_, gap) in models.items():
    ax.hist(gap, bins=bins, alpha=0.5, label=f"calibration_weight={alpha}")
ax.axvline(0, color="k", lw=1)
ax.set(xlabel="p_conversion - p_click (> 0 violates the funnel)", ylabel="test impressions")
ax.legend()

# %%
# The transfer attention
# ----------------------
# The weight each impression's conversion step puts on the information the
# click step transfers (the rest goes to the step's own representation).
AttentionDisplay.from_estimator(models[1.0][0], X_test)
plt.show()
