"""Checks of the container of X, before any column is read."""

from collections.abc import Mapping

import numpy as np
import pandas as pd

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


def _is_polars(obj):
    # The class's module, not an import: polars is optional.
    return type(obj).__module__.partition(".")[0] == "polars"


def as_pandas(data):
    """A polars DataFrame or Series as pandas, with the same names; anything else as is.

    ``pl.Categorical`` and ``pl.Enum`` become pandas ``category`` (an Enum
    keeps its declared categories, a Categorical gets those present), a
    ``pl.List`` or ``pl.Array`` column an object column of lists (missing
    rows None), other columns their NumPy values (nulls as NaN or None).
    Needs no pyarrow.

    Parameters
    ----------
    data : object
        ``X``, ``Y`` or a label column.

    Returns
    -------
    object
        A pandas DataFrame or Series for polars input, ``data`` otherwise.
    """
    if not _is_polars(data):
        return data
    import polars as pl

    if isinstance(data, pl.LazyFrame):
        raise TypeError(
            "X or Y is a polars LazyFrame, which holds no rows yet; collect it first: "
            "frame.collect()."
        )
    if isinstance(data, pl.Series):
        return pd.Series(_pandas_values(data), name=data.name or None)
    if isinstance(data, pl.DataFrame):
        return pd.DataFrame({name: _pandas_values(data[name]) for name in data.columns})
    return data


def _pandas_values(series):
    import polars as pl

    dtype = series.dtype
    if isinstance(dtype, pl.Enum):
        codes = series.to_physical().fill_null(-1).to_numpy().astype(np.int64)
        return pd.Categorical.from_codes(codes, categories=dtype.categories.to_list())
    if isinstance(dtype, pl.Categorical):
        return pd.Categorical(series.cast(pl.String).to_numpy())
    if isinstance(dtype, (pl.List, pl.Array)):
        return pd.Series(series.to_list(), dtype=object).to_numpy()
    return series.to_numpy()


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
