"""
=====================================================
Tuning with GridSearchCV and per-task scorers
=====================================================

A multi-task model has one score per task. :func:`~sklearn_mtl.metrics.task_scorers`
gives :class:`~sklearn.model_selection.GridSearchCV` one scorer per task, so
the search records every task's cross-validated AUC; ``refit`` then picks the
candidate to refit: the best on one task, or the best on the mean over tasks.
"""

# %%
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from sklearn.model_selection import GridSearchCV

from sklearn_mtl import MMoEClassifier
from sklearn_mtl.datasets import load_census_income
from sklearn_mtl.metrics import task_scorers

X, Y = load_census_income(return_X_y=True)
X, Y = X[:4000], Y[:4000]
scoring = task_scorers(Y.columns)
list(scoring)

# %%
# Refit on one task
# -----------------
# ``refit`` names the scorer that chooses the candidate refitted on all the
# data, here the income task's AUC.
grid = {"num_experts": [2, 6], "lr": [1e-3, 5e-3]}
base = MMoEClassifier(max_epochs=4, early_stopping=False, random_state=0)
search = GridSearchCV(base, grid, scoring=scoring, refit="roc_auc_income", cv=2)
search.fit(X, Y)
print("best on income:", search.best_params_)

# %%
# Refit on the mean over tasks
# ----------------------------
# A callable ``refit`` gets the ``cv_results_`` and returns the index of the
# candidate to refit: here the best mean of the per-task AUCs.
task_columns = [f"mean_test_{name}" for name in scoring]


def best_mean_over_tasks(cv_results):
    return int(np.argmax(np.mean([cv_results[c] for c in task_columns], axis=0)))


search_mean = GridSearchCV(base, grid, scoring=scoring, refit=best_mean_over_tasks, cv=2)
search_mean.fit(X, Y)
print("best on the mean over tasks:", search_mean.best_params_)

# %%
# Every candidate on every task
# -----------------------------
results = pd.DataFrame(search.cv_results_)
labels = [f"experts={p['num_experts']}, lr={p['lr']}" for p in results["params"]]
fig, ax = plt.subplots(figsize=(6, 3.5))
width = 0.8 / len(task_columns)
for k, column in enumerate(task_columns):
    ax.bar(
        np.arange(len(results)) + k * width, results[column], width,
        yerr=results[column.replace("mean_", "std_")], label=column.removeprefix("mean_test_"),
    )
ax.set_xticks(np.arange(len(results)) + width / 2, labels, rotation=20, ha="right")
ax.set(ylabel="cross-validated AUC", ylim=(0.5, 1.0), title="per-task AUC of each candidate")
ax.legend()
fig.tight_layout()
plt.show()
