"""Frames and numbers as the network takes them, for every part of the package:
polars read as pandas, and the range a float32 holds."""

import numpy as np
import pandas as pd


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
