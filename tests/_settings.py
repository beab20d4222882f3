"""Estimator settings shared by the tests."""

# float64 + plain SGD: weighting a row by k then equals repeating it k times to
# rounding, which scikit-learn's sample-weight check compares at rtol=1e-7
# (Adam rescales near-zero gradient noise into full steps, float32 rounds).
CHECK_PARAMS = dict(
    max_epochs=30, optimizer="sgd", lr=0.1, batch_size=64, dtype="float64", random_state=0
)

#: Quick training for behaviour tests.
FAST_PARAMS = dict(max_epochs=3, batch_size=256, random_state=0, early_stopping=False)

# scikit-learn's checks that fit a single binary y (or assert on the error
# fit gives it). A funnel model needs at least two steps, so fit rejects it.
SINGLE_TASK_CHECKS = [
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


def single_task_failures(rule):
    """``expected_failed_checks`` of a funnel model; ``rule`` says how many steps it needs."""
    reason = f"fits a single-task y; the model needs {rule} funnel steps (Y = [click, conversion, ...])"
    return dict.fromkeys(SINGLE_TASK_CHECKS, reason)


def _discover_estimators():
    import sklearn_mtl
    from sklearn_mtl._base import BaseMultiTaskClassifier

    found = (getattr(sklearn_mtl, name) for name in sklearn_mtl.__all__)
    return sorted(
        (obj for obj in found if isinstance(obj, type) and issubclass(obj, BaseMultiTaskClassifier)),
        key=lambda cls: cls.__name__,
    )


#: Every public estimator, found from the package's ``__all__``.
ESTIMATORS = _discover_estimators()


def is_funnel(Estimator):
    """Whether ``Y`` must be funnel steps (click, conversion, ...), not any label matrix."""
    from sklearn.utils import get_tags

    return not get_tags(Estimator()).target_tags.single_output
