"""The data path: encoding features, holding them as tensors, cutting batches.

The base estimator calls into this package; model files never do.
"""

from ._encoding import UNKNOWN_CODE, FeatureEncoder, resolve_categorical_mask
from ._tensors import BatchIterator, TensorData

__all__ = [
    "UNKNOWN_CODE",
    "BatchIterator",
    "FeatureEncoder",
    "TensorData",
    "resolve_categorical_mask",
]
