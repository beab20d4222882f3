"""Which input columns are categorical, and the category codes that arrive as numbers."""

import re
import warnings

import numpy as np
import pandas as pd

from ._encoding import _column

# A ColumnTransformer with verbose_feature_names_out=True names each output
# column "<transformer name>__<column>", and forbids "__" in transformer names.
_PREFIX_SEPARATOR = "__"


def resolve_categorical_mask(X, categorical_features, feature_names):
    """Boolean mask of the categorical columns, as in HistGradientBoosting.

    Parameters
    ----------
    X : ndarray or DataFrame
        The input features.
    categorical_features : "from_dtype", None, callable, or array-like of bool, int or str
        Which columns are categorical. A callable (e.g.
        ``sklearn.compose.make_column_selector(dtype_include="category")``)
        is called on ``X`` and returns one of the other forms. A name that
        is not a column of ``X`` also matches the one column named
        ``<prefix>__<name>`` (a ColumnTransformer's
        ``verbose_feature_names_out=True`` names); two such columns are an
        error.
    feature_names : ndarray of str or None
        Column names, needed when columns are given by name.

    Returns
    -------
    ndarray of bool of shape (n_features,)
    """
    if callable(categorical_features):
        return resolve_categorical_mask(
            X, _call_selector(categorical_features, X), feature_names
        )
    n_features = X.shape[1]
    if categorical_features is None:
        return np.zeros(n_features, dtype=bool)
    if isinstance(categorical_features, str):  # "from_dtype", checked by the constraints
        if not isinstance(X, pd.DataFrame):
            return np.zeros(n_features, dtype=bool)
        return np.array([isinstance(dtype, pd.CategoricalDtype) for dtype in X.dtypes])

    spec = np.asarray(categorical_features)
    if spec.size == 0:
        return np.zeros(n_features, dtype=bool)
    if spec.dtype.kind == "b":
        if spec.shape != (n_features,):
            raise ValueError(
                f"categorical_features as a boolean mask must have shape "
                f"({n_features},), got {spec.shape}."
            )
        return spec.copy()
    mask = np.zeros(n_features, dtype=bool)
    if spec.dtype.kind in "iu":
        bad = spec[(spec < 0) | (spec >= n_features)]
        if bad.size:
            raise ValueError(
                f"categorical_features indices must be in [0, {n_features - 1}], "
                f"got {bad.tolist()}."
            )
        mask[spec] = True
        return mask
    if spec.dtype.kind in "OUS":
        if feature_names is None:
            raise ValueError(
                "categorical_features names a column, but X has no column names: "
                "pass a pandas DataFrame (e.g. a ColumnTransformer with "
                "set_output(transform='pandas')) or give column indices instead."
            )
        positions = {name: _position(name, feature_names) for name in spec.tolist()}
        missing = [name for name, position in positions.items() if position is None]
        if missing:
            raise ValueError(
                f"categorical_features names columns that are not in X: {missing}. "
                f"X has columns {list(feature_names)}."
            )
        mask[list(positions.values())] = True
        return mask
    raise TypeError(
        "categorical_features must be 'from_dtype', None, a callable column selector, "
        "a boolean mask, or a list of column indices or names; got an array of dtype "
        f"{spec.dtype}."
    )


def _call_selector(selector, X):
    try:
        selected = selector(X)
    except Exception as exc:
        raise ValueError(
            f"categorical_features={selector!r} failed on X ({type(exc).__name__}: {exc}). "
            "A column selector such as make_column_selector needs a pandas DataFrame: "
            "give the ColumnTransformer before the model set_output(transform='pandas')."
        ) from exc
    if callable(selected) or isinstance(selected, str):
        raise TypeError(
            f"categorical_features={selector!r} returned {selected!r}; a column "
            "selector must return a list of column names, indices or a boolean mask."
        )
    return selected


def _position(name, feature_names):
    """Position of the column ``name``, else of the one ``<prefix>__name``; None if neither."""
    names = list(feature_names)
    if name in names:
        return names.index(name)
    suffix = f"{_PREFIX_SEPARATOR}{name}"
    prefixed = [i for i, column in enumerate(names) if str(column).endswith(suffix)]
    if len(prefixed) == 1:
        return prefixed[0]
    if prefixed:
        raise ValueError(
            f"categorical_features names {name!r}, which is ambiguous: X has the columns "
            f"{[names[i] for i in prefixed]}. Give the full column name."
        )
    return None


def _transformer_blocks(feature_names):
    """Positions of the columns each ColumnTransformer step output, step by step.

    A ColumnTransformer stacks each transformer's output side by side, every
    column named ``<step>__<column>``: a run of columns sharing a prefix is
    one step's output. The prefix only tells the steps apart; what it says
    is never read. Columns without a prefix belong to no step.
    """
    blocks = {}
    for j, name in enumerate(feature_names):
        prefix, separator, _ = str(name).partition(_PREFIX_SEPARATOR)
        if separator:
            blocks.setdefault(prefix, []).append(j)
    return list(blocks.values())


def _code_range(values):
    """``(low, high)`` of a column of category codes, None if it cannot be one.

    Codes are numeric, not boolean, and their finite values are every whole
    number from -1 (a usual unknown or missing value) or 0 up to the
    highest: an encoder numbers all categories it learned, and ``fit`` sees
    the data the encoder learned from.
    """
    values = pd.Series(values, copy=False)
    if not pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
        return None
    finite = values.to_numpy(dtype=np.float64, na_value=np.nan)
    finite = finite[np.isfinite(finite)]
    if finite.size == 0 or not np.array_equal(finite, np.round(finite)):
        return None
    low, high = finite.min(), finite.max()
    if low not in (-1, 0) or np.unique(finite).size != high - low + 1:
        return None
    return low, high


def _suspected_codes(X, is_categorical, feature_names):
    """Columns that one step of a ColumnTransformer output as category codes.

    A step is judged by all its undeclared columns at once, so that a
    whole-number quantity passed through next to other numbers is not taken
    for codes; its columns 0/1 (one-hot indicators, two-category codes) work
    as numbers and are not reported.
    """
    suspects = []
    for block in _transformer_blocks(feature_names):
        undeclared = [j for j in block if not is_categorical[j]]
        ranges = [_code_range(_column(X, j)) for j in undeclared]
        if undeclared and all(ranges):
            suspects += [j for j, (_, high) in zip(undeclared, ranges) if high >= 2]
    return suspects


def check_category_codes(X, is_categorical, feature_names):
    """Warn about category codes that would be treated as numbers.

    A column triggers this when ``X`` has column names of the form
    ``<step>__<column>`` that a ColumnTransformer gives with
    ``verbose_feature_names_out=True``, every column of its step that is not
    declared categorical holds category codes (whole numbers, every one from
    -1 or 0 up to the highest: what ``OrdinalEncoder`` outputs), and the
    column itself holds a code of 2 or more (so that one-hot indicators do
    not trigger it). The step's name plays no part: ``"ids"`` and ``"cat"``
    are judged alike. Such a column holding NaN
    (``OrdinalEncoder(encoded_missing_value=np.nan)``) is an error instead.

    Parameters
    ----------
    X : ndarray or DataFrame
        The input features.
    is_categorical : ndarray of bool of shape (n_features,)
        The resolved categorical columns.
    feature_names : ndarray of str or None
        Column names.

    Raises
    ------
    ValueError
        If a column of category codes holds missing values.
    """
    if feature_names is None:
        return
    suspects = _suspected_codes(X, is_categorical, feature_names)
    if not suspects:
        return
    names = [str(feature_names[j]) for j in suspects]
    prefixes = sorted({name.partition(_PREFIX_SEPARATOR)[0] for name in names})
    pattern = f"^({'|'.join(map(re.escape, prefixes))}){_PREFIX_SEPARATOR}"
    declare = (
        f"declare them categorical: categorical_features={names!r}, or "
        f"categorical_features=make_column_selector(pattern={pattern!r})"
    )
    with_nan = [
        name
        for j, name in zip(suspects, names)
        if pd.isna(_column(X, j)).any()
    ]
    if with_nan:
        raise ValueError(
            f"Columns {with_nan} look like category codes from an encoder in a "
            "ColumnTransformer and hold missing values (NaN). Do not impute category "
            f"codes: {declare}, and a missing value gets its own reserved code."
        )
    warnings.warn(
        f"Columns {names} look like category codes from an encoder in a ColumnTransformer "
        "(every column of their step holds the whole numbers 0, 1, 2, ... up to its "
        "highest) but are not declared categorical, so they are standardized and used as "
        f"numbers, which loses their meaning. To embed them as categories, {declare}; or "
        "keep the categories categorical with sklearn_mtl.preprocessing."
        "CategoricalPassthrough in place of the encoder. If they are quantities, ignore "
        "this warning "
        "(warnings.filterwarnings('ignore', 'Columns .* look like category codes')).",
        UserWarning,
        stacklevel=4,
    )
