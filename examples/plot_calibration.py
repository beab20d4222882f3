"""
==================================================
Calibrating a funnel model after negative sampling
==================================================

Click logs are huge and mostly negatives, so models are often trained on
every click but a fraction of the non-clicked impressions. The model then
ranks as well as ever but its probabilities are too high: here
:class:`~sklearn_mtl.ESMMClassifier` is trained on all clicked impressions and
one in five of the others. :class:`~sklearn_mtl.calibration.TaskCalibratedClassifier`
calibrates it on held-out impressions (not sampled): the click probability on
every row, the conversion rate given a click on the clicked rows, and
pCTCVR as their product, so it never exceeds pCTR.
:class:`~sklearn_mtl.inspection.ReliabilityDisplay` draws each task's
reliability diagram before and after.
"""

# %%
import numpy as np
import pandas as pd
from sklearn.frozen import FrozenEstimator

from sklearn_mtl import ESMMClassifier
from sklearn_mtl.calibration import TaskCalibratedClassifier
from sklearn_mtl.datasets import make_funnel
from sklearn_mtl.inspection import ReliabilityDisplay
from sklearn_mtl.metrics import expected_calibration_error, predicted_observed_ratio

X, Y = make_funnel(24_000, random_state=0, return_X_y=True)
train, calibration, test = np.split(np.arange(len(X)), [12_000, 18_000])
rng = np.random.default_rng(0)
kept = train[(Y["click"].iloc[train].to_numpy() == 1) | (rng.random(len(train)) < 0.2)]
model = ESMMClassifier(max_epochs=5, random_state=0).fit(X.iloc[kept], Y.iloc[kept])
calibrated = TaskCalibratedClassifier(FrozenEstimator(model), method="sigmoid").fit(
    X.iloc[calibration], Y.iloc[calibration]
)

# %%
# Expected calibration error per task, on the test impressions
# ------------------------------------------------------------
# ``"temperature"`` only rescales the logit and cannot undo the shift of
# negative sampling; ``"sigmoid"`` (Platt) also shifts it; ``"isotonic"``
# fits any monotone map.
X_test, Y_test = X.iloc[test], Y.iloc[test]
candidates = {"trained on sampled negatives": model}
for method in ["temperature", "sigmoid", "isotonic"]:
    candidates[method] = TaskCalibratedClassifier(FrozenEstimator(model), method=method).fit(
        X.iloc[calibration], Y.iloc[calibration]
    )
rows = []
for name, estimator in candidates.items():
    proba = estimator.predict_proba(X_test)
    row = {"model": name}
    for t, task in enumerate(Y.columns):
        row[f"ECE {task}"] = expected_calibration_error(Y_test[task], proba[t][:, 1])
        row[f"predicted/observed {task}"] = predicted_observed_ratio(Y_test[task], proba[t][:, 1])
    rows.append(row)
table = pd.DataFrame(rows).set_index("model").round(3)
print(table.to_string())

# %%
# The funnel order holds on every row
# -----------------------------------
frame = calibrated.predict_proba_frame(X_test)
print(bool((frame["P(click & conversion)"] <= frame["P(click)"]).all()))

# %%
# Reliability diagrams before and after
# -------------------------------------
# Each point is a bin of equal mass; the number next to it counts its rows.
display = ReliabilityDisplay.from_estimator(model, X_test, Y_test, name="sampled negatives")
ReliabilityDisplay.from_estimator(
    calibrated, X_test, Y_test, name="calibrated (sigmoid)", ax=display.axes_, ref_line=False
)
display.figure_.suptitle("ESMM: reliability per task on held-out impressions")
