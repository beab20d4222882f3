"""
=====================================================
Training curves per task and loss balancing compared
=====================================================

A multi-task model minimises a combination of its task losses. With
``loss_weighting`` the combination adapts during training: uncertainty
weighting (Kendall et al., 2018), GradNorm (Chen et al., 2018), dynamic
weight averaging (Liu et al., 2019) or PCGrad's gradient surgery (Yu et al.,
2020). The history of each fitted model records each task's losses,
validation scores and the weights in use per epoch;
:class:`~sklearn_mtl.inspection.TrainingHistoryDisplay` draws them.
"""

# %%
import matplotlib.pyplot as plt
import pandas as pd

from sklearn_mtl import MMoEClassifier
from sklearn_mtl.datasets import load_census_income
from sklearn_mtl.inspection import TrainingHistoryDisplay

X, Y = load_census_income(return_X_y=True)
X, Y = X[:6000], Y[:6000]
common = dict(num_experts=4, max_epochs=8, early_stopping=True, n_iter_no_change=8,
              validation_fraction=0.2, random_state=0)

# %%
# Training curves of one model
# ----------------------------
# Per task: training loss (solid) and validation loss (dashed), the
# validation AUC, and the task weights (all ones with fixed weighting).
model = MMoEClassifier(loss_weighting="uncertainty", **common).fit(X, Y)
TrainingHistoryDisplay.from_estimator(model)

# %%
# The strategies compared
# -----------------------
strategies = ["fixed", "uncertainty", "gradnorm", "dwa", "pcgrad"]
fitted = {s: MMoEClassifier(loss_weighting=s, **common).fit(X, Y) for s in strategies}
tasks = list(model.task_names_)
summary = pd.DataFrame(
    {
        s: {f"best valid AUC {t}": max(m.history_[:, f"valid_roc_auc_{t}"]) for t in tasks}
        for s, m in fitted.items()
    }
).T
summary.round(4)

# %%
# The income task's weight relative to the never-married task's, per epoch:
# how each strategy shifts the balance.
fig, ax = plt.subplots(figsize=(5.5, 3.5))
for s, m in fitted.items():
    ratio = [row["loss_weight_income"] / row["loss_weight_never_married"] for row in m.history_]
    ax.plot(range(1, len(ratio) + 1), ratio, marker="o", label=s)
ax.set(xlabel="epoch", ylabel="weight income / weight never married",
       title="task weight ratio per strategy")
ax.legend()
plt.show()
