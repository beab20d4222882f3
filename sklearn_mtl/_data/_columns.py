"""Which input columns are categorical, and the category codes that arrive as numbers."""

import re
import warnings

import numpy as np
import pandas as pd

from ._encoding import _column

# A ColumnTransformer with verbose_feature_names_out=True names each output
# column "<transformer name>__<column>", and forbids "__" in transformer names.
_PREFIX_SEPARATOR = "__"

# Transformer names that say "this step encodes categories": the names
# make_column_transformer derives from the class (``ordinalencoder``) and the
# usual hand-written ones (``cat``, ``categorical``, ``ord``, ``encoder``...).
_ENCODER_WORDS = frozenset({"cat", "cats", "ord", "enc"})
_ENCODER_STEMS = ("categ", "ordinal", "encod")


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


def _is_encoder_prefix(name):
    prefix, separator, _ = str(name).partition(_PREFIX_SEPARATOR)
    if not separator:
        return False
    words = re.findall(r"[a-z]+", prefix.lower())
    return any(
        word in _ENCODER_WORDS or word.startswith(_ENCODER_STEMS) or word.endswith("encoder")
        for word in words
    )


def _looks_like_codes(values):
    values = pd.Series(values, copy=False)
    if not pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
        return False
    finite = values.to_numpy(dtype=np.float64, na_value=np.nan)
    finite = finite[np.isfinite(finite)]
    # Codes are whole numbers from -1 (a usual unknown_value) up; 0/1 columns
    # (one-hot indicators, or a two-category code) are as good numeric as coded.
    return (
        finite.size > 0
        and np.array_equal(finite, np.round(finite))
        and finite.min() >= -1
        and finite.max() >= 2
    )


def check_category_codes(X, is_categorical, feature_names):
    """Warn about category codes that would be treated as numbers.

    A column triggers this when all of the following hold: ``X`` has column
    names; the column is not declared categorical; its name has the form
    ``<transformer>__<column>`` that a ColumnTransformer gives with
    ``verbose_feature_names_out=True``, where the transformer name says it
    encodes categories (one of its words is ``cat``, ``cats``, ``ord`` or
    ``enc``, starts with ``categ``, ``ordinal`` or ``encod``, or ends with
    ``encoder``, e.g. ``ordinalencoder``, ``cat``, ``categorical``); and its
    values are whole numbers from -1 up with at least one of 2 or more (so
    that one-hot indicators do not trigger it). Such a column holding NaN
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
    suspects = [
        j
        for j, name in enumerate(feature_names)
        if not is_categorical[j]
        and _is_encoder_prefix(name)
        and _looks_like_codes(_column(X, j))
    ]
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
        "(whole numbers in columns named '<encoder>__<column>') but are not declared "
        "categorical, so they are standardized and used as numbers, which loses their "
        f"meaning. To embed them as categories, {declare}; or keep the categories "
        "categorical with sklearn_mtl.preprocessing.CategoricalPassthrough in place of "
        "the encoder. To treat them as numbers on purpose, rename the transformer.",
        UserWarning,
        stacklevel=4,
    )
