"""
=================================================
MMoE, PLE, STEM and AdaTT on census income
=================================================

Four gated multi-task models on the bundled census-income sample, each task
scored by its test ROC AUC: :class:`~sklearn_mtl.MMoEClassifier` (experts all
shared), :class:`~sklearn_mtl.PLEClassifier` (task and shared experts, a task
gate blind to the other task's experts), :class:`~sklearn_mtl.STEMClassifier`
(an embedding per task, every expert readable, only one's own trained) and
:class:`~sklearn_mtl.AdaTTClassifier` (every task's experts fused per task,
plus a residual of its own). On a sample this small and a few epochs the
differences are within a seed's noise: the example shows how to compare, not
which model wins.
"""

# %%
import matplotlib.pyplot as plt
import numpy as np

from sklearn_mtl import AdaTTClassifier, MMoEClassifier, PLEClassifier, STEMClassifier
from sklearn_mtl.datasets import load_census_income
from sklearn_mtl.inspection import ExpertHealthDisplay
from sklearn_mtl.metrics import task_scorers

train = load_census_income(subset="train")
test = load_census_income(subset="test")
X, Y = train.data[:5000], train.target[:5000]
common = dict(max_epochs=4, early_stopping=False, random_state=0)
models = {
    "MMoE": MMoEClassifier(num_experts=4, **common),
    "PLE": PLEClassifier(num_levels=1, num_specific_experts=1, num_shared_experts=2, **common),
    "STEM": STEMClassifier(num_specific_experts=1, num_shared_experts=2, **common),
    "AdaTT": AdaTTClassifier(num_task_experts=2, **common),
}
scorers = task_scorers(list(Y.columns))
auc = {
    name: [scorer(model.fit(X, Y), test.data, test.target) for scorer in scorers.values()]
    for name, model in models.items()
}

# %%
# Per-task test AUC
# -----------------
fig, axes = plt.subplots(1, len(scorers), figsize=(9, 3.5), layout="constrained")
for t, (ax, task) in enumerate(zip(axes, Y.columns)):
    values = [auc[name][t] for name in models]
    ax.bar(list(models), values, color=[f"C{i}" for i in range(len(models))])
    low = min(values)
    ax.set(title=f"test ROC AUC, {task}", ylim=(low - 0.02, min(1.0, max(values) + 0.01)))
    for i, value in enumerate(values):
        ax.text(i, value, f"{value:.3f}", ha="center", va="bottom", fontsize="small")
print({name: np.round(values, 4).tolist() for name, values in auc.items()})

# %%
# Expert health of STEM
# ---------------------
# Each gated model records its experts' share of zero outputs, its task
# gates' entropy and its experts' exclusivity every epoch.
ExpertHealthDisplay.from_estimator(models["STEM"])
plt.show()
