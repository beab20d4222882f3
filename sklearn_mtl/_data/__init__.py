"""The data path: encoding features, holding them as tensors, cutting batches.

The base estimator calls into this package; model files never do.
"""

from ._columns import check_category_codes, resolve_categorical_mask
from ._encoding import UNKNOWN_CODE, FeatureEncoder
from ._tensors import BatchIterator, TensorData

__all__ = [
    "UNKNOWN_CODE",
    "BatchIterator",
    "FeatureEncoder",
    "TensorData",
    "check_category_codes",
    "resolve_categorical_mask",
]
