"""
==============================================
Does multi-task learning beat separate models?
==============================================

Multi-task models share parameters between tasks in the hope that each task
learns from the others; when tasks conflict, sharing can hurt one of them
(negative transfer, the "seesaw"). :class:`~sklearn_mtl.SingleTaskClassifier`
trains one independent network per task with the same data path, embeddings
and towers, so the comparison with the multi-task models is like for like.

On census-income (the MMoE paper's tasks: income > 50K and never married),
each model is trained on the bundled 20,000-row sample with the same budget
and scored per task on the 10,000 test rows. Runs in well under a minute on
two CPU cores::

    python examples/single_task_baselines.py

``--train-rows`` and ``--max-epochs`` make the run smaller (the documentation
runs it so: with so little training the differences between the models say
little).
"""

import argparse
import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import time  # noqa: E402

import pandas as pd  # noqa: E402
import torch  # noqa: E402

from sklearn_mtl import (  # noqa: E402
    MMoEClassifier,
    PLEClassifier,
    SharedBottomClassifier,
    SingleTaskClassifier,
)
from sklearn_mtl.datasets import load_census_income  # noqa: E402
from sklearn_mtl.metrics import task_scorers  # noqa: E402

parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
parser.add_argument("--train-rows", type=int, default=None, help="use the first rows only")
parser.add_argument("--max-epochs", type=int, default=10)
args = parser.parse_args()
torch.set_num_threads(args.threads)

X_train, Y_train = load_census_income(subset="train", return_X_y=True)
X_train, Y_train = X_train[: args.train_rows], Y_train[: args.train_rows]
X_test, Y_test = load_census_income(subset="test", return_X_y=True)

# %%
# The same training budget for every model: a fixed number of epochs, no
# early stopping, the same seed.
budget = dict(max_epochs=args.max_epochs, batch_size=256, early_stopping=False, random_state=0)
models = {
    "single-task": SingleTaskClassifier(**budget),
    "shared bottom": SharedBottomClassifier(**budget),
    "MMoE": MMoEClassifier(**budget),
    "PLE": PLEClassifier(num_shared_experts=2, **budget),
}

# %%
# Test ROC AUC per task (and the training time).
rows = {}
for name, model in models.items():
    start = time.perf_counter()
    model.fit(X_train, Y_train)
    seconds = time.perf_counter() - start
    scores = {task: s(model, X_test, Y_test) for task, s in task_scorers(Y_train.columns).items()}
    rows[name] = {**scores, "fit seconds": seconds}

table = pd.DataFrame(rows).T
print(f"{len(X_train):,} training rows, {args.max_epochs} epochs")
print(table.round(4).to_string())

# %%
# Each multi-task model's gain (or loss) over the separate models, per task:
# a negative entry is negative transfer on that task.
scores = table.drop(columns="fit seconds")
print((scores - scores.loc["single-task"]).drop("single-task").round(4))
