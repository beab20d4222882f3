"""The data path: data sources, checking and encoding features, holding them
as host tensors, cutting batches.

The base estimator and the training session call into this package; model
files never do.
"""

from ._chunks import ChunkedData
from ._encoding import UNKNOWN_CODE, FeatureEncoder, multi_valued_mask
from ._sources import (
    AUTO_EARLY_STOPPING_MIN_SAMPLES,
    ChunkSource,
    ChunkTensors,
    InMemorySource,
    SourceData,
    aligned_task_columns,
    check_features,
    holds_out_validation,
)
from ._tensors import BatchIterator, TensorData, module_inputs, prediction_batches

__all__ = [
    "AUTO_EARLY_STOPPING_MIN_SAMPLES",
    "UNKNOWN_CODE",
    "BatchIterator",
    "ChunkSource",
    "ChunkTensors",
    "ChunkedData",
    "FeatureEncoder",
    "InMemorySource",
    "SourceData",
    "TensorData",
    "aligned_task_columns",
    "check_features",
    "holds_out_validation",
    "module_inputs",
    "multi_valued_mask",
    "prediction_batches",
]
