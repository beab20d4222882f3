"""The data path: checking and encoding features, holding them as host tensors,
cutting batches.

The base estimator calls into this package; model files never do.
"""

from ._chunks import ChunkedData, ChunkTensors
from ._columns import check_category_codes, resolve_categorical_mask
from ._encoding import UNKNOWN_CODE, FeatureEncoder, multi_valued_mask
from ._tensors import (
    BatchIterator,
    TensorData,
    module_inputs,
    prediction_batches,
    split_validation,
)
from ._validation import check_container, check_sample_weight_range

__all__ = [
    "UNKNOWN_CODE",
    "BatchIterator",
    "ChunkTensors",
    "ChunkedData",
    "FeatureEncoder",
    "TensorData",
    "check_category_codes",
    "check_container",
    "check_sample_weight_range",
    "module_inputs",
    "multi_valued_mask",
    "prediction_batches",
    "resolve_categorical_mask",
    "split_validation",
]
