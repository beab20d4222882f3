"""Checks of the container of X, before any column is read."""

from collections.abc import Mapping

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
