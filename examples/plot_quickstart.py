"""
==========================================
Quickstart: a Pipeline ending in MMoE
==========================================

From a raw DataFrame to per-task predictions: a
:class:`~sklearn.compose.ColumnTransformer` encodes the columns, an
:class:`~sklearn_mtl.MMoEClassifier` learns two tasks at once, and each task
is scored on its own (never one AUC pooled over tasks).

The data is the census-income sample bundled with the package; the two tasks
are the MMoE paper's first pair: income above 50K and never married.
"""

# %%
# Data and model
# --------------
import matplotlib.pyplot as plt
from sklearn.compose import ColumnTransformer, make_column_selector
from sklearn.metrics import RocCurveDisplay
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OrdinalEncoder, StandardScaler

from sklearn_mtl import MMoEClassifier
from sklearn_mtl.datasets import load_census_income
from sklearn_mtl.inspection import TrainingHistoryDisplay, predict_proba_frame
from sklearn_mtl.metrics import task_scorers

train = load_census_income(subset="train")
test = load_census_income(subset="test")
X_train, Y_train = train.data[:8000], train.target[:8000]
X_test, Y_test = test.data, test.target
Y_train.head()

# %%
# Categorical columns are ordinal-encoded (unknown and missing categories get
# code -1, which the model maps to its reserved "unknown" embedding) and
# declared categorical to the model by name; numeric columns are scaled.
prep = ColumnTransformer(
    [
        (
            "categories",
            OrdinalEncoder(
                handle_unknown="use_encoded_value", unknown_value=-1, encoded_missing_value=-1
            ),
            make_column_selector(dtype_include="category"),
        ),
        ("numbers", StandardScaler(), make_column_selector(dtype_exclude="category")),
    ],
    verbose_feature_names_out=False,
).set_output(transform="pandas")
model = Pipeline(
    [
        ("prep", prep),
        (
            "mtl",
            MMoEClassifier(
                num_experts=4,
                max_epochs=8,
                early_stopping=True,
                categorical_features=train.categorical_features,
                random_state=0,
            ),
        ),
    ]
)
model.fit(X_train, Y_train)

# %%
# Per-task predictions and scores
# -------------------------------
# ``predict_proba_frame`` gives each task's positive-class probability as a
# DataFrame named by task, keeping the index of ``X``.
proba = predict_proba_frame(model, X_test)   # reaches the model through the Pipeline
proba.head()

# %%
# One scorer per task: the AUC of each task on its own labels.
for name, scorer in task_scorers(model[-1].task_names_).items():
    print(f"{name}: {scorer(model, X_test, Y_test):.3f}")

# %%
# Training curves and ROC curves
# ------------------------------
TrainingHistoryDisplay.from_estimator(model, panels=["loss", "metric"])

fig, ax = plt.subplots(figsize=(5, 4))
for task in proba.columns:
    RocCurveDisplay.from_predictions(Y_test[task], proba[task], name=task, ax=ax)
ax.set_title("test ROC curve per task")
plt.show()
