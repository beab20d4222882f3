"""
==============================================
Expert utilisation of MMoE and PLE gates
==============================================

Each task of :class:`~sklearn_mtl.MMoEClassifier` mixes the shared experts
with its own softmax gate; :class:`~sklearn_mtl.PLEClassifier` adds experts
of each task next to shared ones, level after level. Averaging the gate
weights over samples shows which experts each task relies on: a task with
nearly all its weight on one expert has collapsed onto it, and tasks on
disjoint experts share nothing.
"""

# %%
import matplotlib.pyplot as plt

from sklearn_mtl import MMoEClassifier, PLEClassifier
from sklearn_mtl.datasets import load_census_income
from sklearn_mtl.inspection import GateWeightsDisplay

X, Y = load_census_income(return_X_y=True)
X, Y = X[:6000], Y[:6000]
common = dict(max_epochs=6, early_stopping=False, random_state=0)

# %%
# MMoE: one gate per task over the shared experts
# -----------------------------------------------
mmoe = MMoEClassifier(num_experts=6, **common).fit(X, Y)
GateWeightsDisplay.from_estimator(mmoe, X)

# %%
# The per-sample weights behind the heatmap: how peaked each task's gate is.
weights = mmoe.gate_weights(X)
fig, ax = plt.subplots(figsize=(5, 3.5))
for t, task in enumerate(mmoe.task_names_):
    ax.hist(weights[:, t].max(axis=1), bins=20, range=(0, 1), alpha=0.6, label=task)
ax.set(xlabel="largest gate weight of a sample", ylabel="samples", title="MMoE gate peakedness")
ax.legend()

# %%
# PLE: task experts, shared experts, two levels
# ---------------------------------------------
# A task gate sees its own experts and the shared ones (zero weight on the
# other task's experts, by construction); below the last level a shared
# gate sees them all.
ple = PLEClassifier(num_levels=2, num_specific_experts=2, num_shared_experts=2, **common)
ple.fit(X, Y)
GateWeightsDisplay.from_estimator(ple, X)
plt.show()
