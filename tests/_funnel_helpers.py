"""Shared pieces of the funnel-model tests: real sample loaders and the
expected failures of scikit-learn's estimator checks."""

from pathlib import Path

import pandas as pd
import pytest

DATA_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "data"

#: float64 + SGD make sample weights equivalent to repetition up to rounding.
CHECK_PARAMS = dict(
    optimizer="sgd", lr=0.1, batch_size=64, max_epochs=30, dtype="float64", random_state=0
)

# These checks fit a single binary y (or assert on the error that fit gives
# it); a funnel model needs at least two steps, so fit rejects it.
_SINGLE_TASK_CHECKS = [
    "check_classifier_data_not_an_array",
    "check_classifiers_classes",
    "check_classifiers_train",
    "check_dict_unchanged",
    "check_dont_overwrite_parameters",
    "check_dtype_object",
    "check_estimators_dtypes",
    "check_estimators_fit_returns_self",
    "check_estimators_nan_inf",
    "check_estimators_overwrite_params",
    "check_estimators_partial_fit_n_features",
    "check_estimators_pickle",
    "check_f_contiguous_array_estimator",
    "check_fit2d_1feature",
    "check_fit2d_predict1d",
    "check_fit_check_is_fitted",
    "check_fit_idempotent",
    "check_fit_score_takes_y",
    "check_methods_sample_order_invariance",
    "check_methods_subset_invariance",
    "check_n_features_in",
    "check_n_features_in_after_fitting",
    "check_pipeline_consistency",
    "check_positive_only_tag_during_fit",
    "check_readonly_memmap_input",
    "check_sample_weight_equivalence_on_dense_data",
    "check_sample_weights_list",
    "check_sample_weights_not_an_array",
    "check_sample_weights_not_overwritten",
    "check_sample_weights_pandas_series",
    "check_sample_weights_shape",
    "check_supervised_y_2d",
]

# These checks fit make_multilabel_classification's independent random
# labels (3 or 5 of them): not a funnel, since rows have a later label
# positive and an earlier one negative.
_RANDOM_MULTILABEL_CHECKS = [
    "check_classifier_multioutput",
    "check_classifiers_multilabel_output_format_decision_function",
    "check_classifiers_multilabel_output_format_predict",
    "check_classifiers_multilabel_output_format_predict_proba",
    "check_classifiers_multilabel_representation_invariance",
]


def funnel_expected_failures(n_steps):
    """``expected_failed_checks`` for a funnel model; ``n_steps`` is its rule."""
    name = f"{n_steps} funnel steps"
    single = f"fits a single-task y; the model needs {name} (Y = [click, conversion, ...])"
    multilabel = (
        "fits independent random multilabel labels, which violate the funnel (a later "
        f"label positive where an earlier one is negative); the model needs {name} "
        "with each step's positives a subset of the previous step's"
    )
    return {
        **dict.fromkeys(_SINGLE_TASK_CHECKS, single),
        **dict.fromkeys(_RANDOM_MULTILABEL_CHECKS, multilabel),
    }


def _require(path):
    if not path.exists():
        pytest.skip(f"real data sample {path.name} not found next to this checkout")
    return path


def load_ali_ccp(split="train"):
    """torch-rechub's Ali-CCP sample: X (sparse fields as category), Y [click, purchase]."""
    frame = pd.read_csv(
        _require(DATA_DIR / "ali_ccp_tiny_sample" / "torch_rechub" / f"ali_ccp_{split}_sample.csv")
    )
    Y = frame[["click", "purchase"]]
    X = frame.drop(columns=["click", "purchase"])
    sparse = [c for c in X.columns if not c.startswith("D")]
    return X.astype({c: "category" for c in sparse}), Y


def load_paddlerec_aitm():
    """PaddleRec's AITM sample (train.csv): purchase without click on some rows."""
    frame = pd.read_csv(_require(DATA_DIR / "ali_ccp_tiny_sample" / "paddlerec_aitm" / "train.csv"))
    Y = frame[["click", "purchase"]]
    return frame.drop(columns=["click", "purchase"]).astype("category"), Y


def load_aliexpress(split="train"):
    """The AliExpress sample: 16 categorical, 63 numeric fields, Y [click, conversion]."""
    frame = pd.read_csv(
        _require(DATA_DIR / "aliexpress_tiny_sample" / f"aliexpress_{split}_sample.csv")
    )
    Y = frame[["click", "conversion"]]
    X = frame.drop(columns=["search_id", "click", "conversion"])
    categorical = [c for c in X.columns if c.startswith("categorical_")]
    return X.astype({c: "category" for c in categorical}), Y
