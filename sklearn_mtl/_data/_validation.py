"""Checks of the container of X, before any column is read."""

from collections.abc import Mapping

import numpy as np
import pandas as pd

from ._chunks import ChunkedData


def check_container(X):
    """Reject containers whose rows or columns would be misread.

    A list of dicts (records) has no column order for NumPy; duplicate
    column names make a column ambiguous.
    """
    if isinstance(X, ChunkedData):
        raise TypeError(
            "ChunkedData is for fit only; predict or partial_fit chunk by chunk, e.g. "
            "[model.predict(X) for X, *_ in chunked_data]."
        )
    if isinstance(X, (list, tuple)) and len(X) and isinstance(X[0], Mapping):
        raise TypeError(
            "X is a list of dicts (records); build a DataFrame from it first, e.g. "
            "pd.DataFrame(records), so that each key becomes a named column (or use "
            "sklearn.feature_extraction.DictVectorizer in a Pipeline)."
        )
    if isinstance(X, pd.DataFrame) and X.columns.duplicated().any():
        duplicated = list(dict.fromkeys(X.columns[X.columns.duplicated()]))
        raise ValueError(
            f"X has duplicate column names {duplicated}: each column must have its own "
            "name (rename or drop the duplicates)."
        )


#: The largest magnitude a float32 holds: features, weights and targets are
#: float32 in the network, where a larger value becomes infinity, then NaN.
FLOAT32_MAX = float(np.finfo(np.float32).max)


def beyond_float32(values, axis=None):
    """Whether any finite value of ``values`` (along ``axis``) overflows float32."""
    values = np.asarray(values, dtype=np.float64)
    if not values.size:
        return np.zeros(values.shape[1], dtype=bool) if axis == 0 else False
    with np.errstate(invalid="ignore"):
        return (np.abs(values) > FLOAT32_MAX).any(axis=axis)


def check_sample_weight_range(sample_weight):
    """Refuse weights that float32 cannot hold (they would train on infinity)."""
    if sample_weight is not None and beyond_float32(sample_weight):
        raise ValueError(
            f"sample_weight holds values beyond float32's range (largest "
            f"{np.abs(sample_weight).max():.3g}, limit {FLOAT32_MAX:.3g}): the network "
            "trains in float32, where they become infinity. Rescale the weights (only "
            "their ratios matter to the fitted model)."
        )
