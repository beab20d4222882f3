"""Checks of the container of X, before any column is read."""

from collections.abc import Mapping

import numpy as np
import pandas as pd

from .._frames import FLOAT32_MAX, as_pandas, beyond_float32
from ._chunks import ChunkedData


def check_container(X):
    """Reject containers whose rows or columns would be misread; X as read.

    A list of dicts (records) has no column order for NumPy; duplicate
    column names make a column ambiguous. A polars DataFrame comes back as
    the pandas one of :func:`as_pandas`, so that everything after this
    reads one kind of frame.
    """
    X = as_pandas(X)
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
    return X


def check_sample_weight_range(sample_weight):
    """Refuse weights that float32 cannot hold (they would train on infinity)."""
    if sample_weight is not None and beyond_float32(sample_weight):
        raise ValueError(
            f"sample_weight holds values beyond float32's range (largest "
            f"{np.abs(sample_weight).max():.3g}, limit {FLOAT32_MAX:.3g}): the network "
            "trains in float32, where they become infinity. Rescale the weights (only "
            "their ratios matter to the fitted model)."
        )
