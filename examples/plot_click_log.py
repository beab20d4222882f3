"""
=====================================================================
A click log from Parquet to a tuned, calibrated and exported ESMM
=====================================================================

The path of a click -> conversion model from logged impressions to serving:
read a log written as Parquet parts, tune :class:`~sklearn_mtl.ESMMClassifier`
with :class:`~sklearn.model_selection.GridSearchCV`, calibrate each task on
later impressions with
:class:`~sklearn_mtl.calibration.TaskCalibratedClassifier`, check the
calibration with :class:`~sklearn_mtl.inspection.ReliabilityDisplay`, and
export the network with :func:`~sklearn_mtl.export.to_torchscript`, reloaded
and checked against ``predict_proba``. The log is small here; a log too large
for memory trains out of core from the same files with
:class:`~sklearn_mtl.ChunkedData` (see the recommendation data guide).
"""

# %%
# A log in Parquet parts
# ----------------------
# :func:`~sklearn_mtl.datasets.write_click_log` writes a synthetic log, in time
# order, one file per 6,000 impressions. ``ChunkedData`` reads the files one
# chunk at a time; here each chunk is one part, kept in memory: the first two
# parts train, the third calibrates, the fourth tests.
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from sklearn.frozen import FrozenEstimator
from sklearn.model_selection import GridSearchCV

from sklearn_mtl import ChunkedData, ESMMClassifier
from sklearn_mtl.calibration import TaskCalibratedClassifier
from sklearn_mtl.datasets import write_click_log
from sklearn_mtl.export import feature_encoding, to_torchscript, transform_inputs
from sklearn_mtl.inspection import ReliabilityDisplay
from sklearn_mtl.metrics import esmm_scorers, expected_calibration_error

folder = Path(tempfile.mkdtemp())
vocabularies = dict(n_users=5_000, n_items=2_000, n_tags=100)
paths = write_click_log(folder, 24_000, rows_per_file=6_000, random_state=0, **vocabularies)
log = ChunkedData(folder, target_columns=["click", "conversion"], chunk_rows=6_000)
parts = [(X, Y) for X, Y, _ in log]
print([p.name for p in paths])
print(parts[0][0].dtypes.to_string())

# %%
# The TorchScript export below takes one code per categorical column, so this
# model leaves out the tag lists (a multi-valued column; ONNX export takes
# them as flat items and offsets, see the guide on saving and exporting); the
# IDs are hashed.
features = ["user_id", "item_id", "cat_0", "cat_1", "cat_2", "num_0", "num_1", "num_2"]
(X_train, Y_train), (X_cal, Y_cal), (X_test, Y_test) = (
    (pd.concat([X for X, _ in group])[features], pd.concat([Y for _, Y in group]))
    for group in (parts[:2], parts[2:3], parts[3:])
)
Y_train.mean()

# %%
# Tuning on the funnel's scores
# -----------------------------
# :func:`~sklearn_mtl.metrics.esmm_scorers` scores CTR and CTCVR on every row
# and CVR on the clicked rows; ``refit`` picks the candidate with the best
# CTCVR AUC, the probability a ranking by expected conversions uses.
model = ESMMClassifier(
    categorical_features=["user_id", "item_id", "cat_0", "cat_1", "cat_2"],
    hash_buckets={"user_id": 2**12, "item_id": 2**11},
    max_epochs=3,
    early_stopping=False,
    random_state=0,
)
search = GridSearchCV(
    model,
    {"embedding_dim": [4, 8]},
    scoring=esmm_scorers(),
    refit="roc_auc_ctcvr",
    cv=2,
).fit(X_train, Y_train)
columns = ["param_embedding_dim", *(f"mean_test_{key}" for key in esmm_scorers())]
pd.DataFrame(search.cv_results_)[columns].round(4)

# %%
# Calibrating each task on later impressions
# ------------------------------------------
# The tuned model is frozen: only the calibrators are fitted, on the
# calibration part. For a funnel, pCTR is calibrated on every row, pCVR on
# the clicked rows, and pCTCVR is their product.
best = search.best_estimator_
calibrated = TaskCalibratedClassifier(FrozenEstimator(best), method="sigmoid").fit(X_cal, Y_cal)
for name, estimator in [("tuned", best), ("calibrated", calibrated)]:
    proba = estimator.predict_proba(X_test)
    ece = {task: expected_calibration_error(Y_test[task], proba[t][:, 1])
           for t, task in enumerate(Y_test.columns)}
    print(f"{name:<11}", "  ".join(f"ECE {task} {value:.4f}" for task, value in ece.items()))

# %%
# Reliability on the test part
# ----------------------------
display = ReliabilityDisplay.from_estimator(best, X_test, Y_test, name="tuned")
ReliabilityDisplay.from_estimator(
    calibrated, X_test, Y_test, name="calibrated", ax=display.axes_, ref_line=False
)
display.figure_.suptitle("ESMM on the click log: reliability per task")

# %%
# Export, reload, check
# ---------------------
# The TorchScript module takes the encoded inputs (category codes,
# standardized numerics) that :func:`~sklearn_mtl.export.transform_inputs`
# gives, and :func:`~sklearn_mtl.export.feature_encoding` tells a server how
# to compute them without scikit-learn. Reloaded from its file, it gives the
# tuned model's probabilities. The calibrators are two numbers per task (a
# sigmoid calibrator's ``slope_`` and ``intercept_``): a server maps
# ``logit(pCTR)`` and ``logit(pCVR)`` through them (``pCVR = pCTCVR / pCTR``)
# and multiplies the two back into pCTCVR.
path = folder / "esmm.pt"
torch.jit.save(to_torchscript(best), path)
served = torch.jit.load(path)
with torch.no_grad():
    outputs = served(**transform_inputs(best, X_test))
for task, output, proba in zip(best.task_names_, outputs, best.predict_proba(X_test)):
    print(f"{task}: max |served - predict_proba| = {np.abs(output.numpy() - proba).max():.1e}")
encoding = feature_encoding(best)
print("hashed columns:", encoding.hash_buckets)
print("numeric mean:", np.round(encoding.numeric_mean, 3))
for task, calibrator in zip(calibrated.task_names_, calibrated.calibrators_):
    print(f"{task} calibrator: slope {calibrator.slope_:.3f}, intercept {calibrator.intercept_:.3f}")

# %%
# The log's folder was temporary.
shutil.rmtree(folder)
