"""Preprocessing that keeps categories categorical on their way into the models."""

import warnings
from numbers import Number

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, OneToOneFeatureMixin, TransformerMixin, _fit_context
from sklearn.utils._param_validation import StrOptions
from sklearn.utils._set_output import _get_output_config
from sklearn.utils.validation import check_is_fitted, validate_data

from ._frames import as_pandas


__all__ = ["CategoricalPassthrough"]


def _kind(value):
    if isinstance(value, str):
        return "text"
    return "number" if isinstance(value, (Number, np.number)) else type(value).__name__


def _kinds(values):
    return {_kind(value) for value in values}



def _observed_categories(values):
    """The categories present in a column, sorted (first-seen order when mixed types)."""
    if isinstance(getattr(values, "dtype", None), pd.CategoricalDtype):
        codes = values.cat.codes.to_numpy()
        used = np.bincount(codes[codes >= 0], minlength=len(values.cat.categories)) > 0
        categories = values.cat.categories[used]
    else:
        categories = pd.unique(pd.Series(values, copy=False).dropna())
    try:
        return np.sort(np.asarray(categories))
    except TypeError:  # mixed types cannot be ordered
        return np.asarray(categories, dtype=object)

def _polars_enums(columns):
    """pandas Categoricals as a polars frame of ``pl.Enum`` columns.

    An Enum keeps the fitted categories as the column's vocabulary, as the
    pandas dtype does (a ``pl.Categorical`` would keep only those present);
    Enum categories are strings, so other categories travel as their ``str``.
    """
    import polars as pl

    frame = {}
    for name, values in columns.items():
        categories = [str(c) for c in values.categories]
        strings = np.asarray(values.categories.astype(str), dtype=object)[values.codes]
        strings[values.codes < 0] = None
        frame[name] = pl.Series(name, strings, dtype=pl.Enum(categories))
    return pl.DataFrame(frame)


class CategoricalPassthrough(OneToOneFeatureMixin, TransformerMixin, BaseEstimator):
    """Pass columns through as pandas ``category`` columns with the categories seen in fit.

    The categorical step of a ``ColumnTransformer`` in front of a
    multi-task model: where an ``OrdinalEncoder`` turns categories into
    numbers that the model can only read as quantities (unless told
    otherwise by ``categorical_features``), this transformer hands them on
    as categories, which ``categorical_features="from_dtype"`` (the
    default) embeds. The categories are fixed at ``fit``; at ``transform``
    a value that is not one of them becomes a missing value, which the
    models map to their reserved unknown/missing code.

    Only a data frame can carry the ``category`` dtype through a
    ``ColumnTransformer``: give the ``ColumnTransformer`` (or this
    transformer) ``set_output(transform="pandas")``, or ``"polars"``, with
    which the columns come out as ``pl.Enum`` of the fitted categories (as
    strings). Without it, ``fit``
    warns, since the ``ColumnTransformer`` would stack the categories into
    a NumPy array of plain values.

    Parameters
    ----------
    categories : "auto" or list of array-like, default="auto"
        The categories of each column: ``"auto"`` takes the values present
        in the training data (missing values excluded), sorted when they
        can be; else one array-like per column, in column order.

    Attributes
    ----------
    categories_ : list of ndarray
        The categories of each column, in the order of the output dtype.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of str
        Names of the features seen during fit (DataFrame input only).

    See Also
    --------
    sklearn.preprocessing.OrdinalEncoder : Categories as integer codes.

    Notes
    -----
    A value at ``transform`` of another type than the column's categories
    (for instance the string ``"1"`` in a column fitted on the integers 1,
    2, 3) makes ``transform`` warn: it is unknown and becomes missing, as
    every other unknown value does without a warning.

    Examples
    --------
    >>> import pandas as pd
    >>> from sklearn.compose import ColumnTransformer
    >>> from sklearn.preprocessing import StandardScaler
    >>> from sklearn_mtl.preprocessing import CategoricalPassthrough
    >>> X = pd.DataFrame({"city": ["Paris", "Lima", "Paris"], "age": [30.0, 40.0, 50.0]})
    >>> prep = ColumnTransformer(
    ...     [("cat", CategoricalPassthrough(), ["city"]), ("num", StandardScaler(), ["age"])],
    ...     verbose_feature_names_out=False,
    ... ).set_output(transform="pandas")
    >>> prep.fit_transform(X).dtypes
    city    category
    age      float64
    dtype: object
    >>> prep.transform(pd.DataFrame({"city": ["Oslo"], "age": [35.0]}))["city"].tolist()
    [nan]
    """

    _parameter_constraints: dict = {"categories": [StrOptions({"auto"}), list]}

    def __init__(self, categories="auto"):
        self.categories = categories

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Learn the categories of each column.

        Parameters
        ----------
        X : {array-like, DataFrame} of shape (n_samples, n_features)
            The columns to pass through.
        y : None
            Ignored.

        Returns
        -------
        self : object
            The fitted transformer.
        """
        columns, _ = self._columns(X, reset=True)
        if self.categories == "auto":
            self.categories_ = [_observed_categories(column) for column in columns]
        else:
            if len(self.categories) != len(columns):
                raise ValueError(
                    f"categories has {len(self.categories)} entries but X has "
                    f"{len(columns)} columns; give one array-like of categories per column."
                )
            self.categories_ = [np.asarray(c) for c in self.categories]
            for name, categories in zip(self._names(), self.categories_):
                if pd.Index(categories).has_duplicates or pd.isna(categories).any():
                    raise ValueError(
                        f"The categories given for column {name} must be unique and "
                        f"not missing, got {categories.tolist()}."
                    )
        if _get_output_config("transform", self)["dense"] not in ("pandas", "polars"):
            warnings.warn(
                "CategoricalPassthrough returns pandas 'category' columns, but its output "
                "is not configured as pandas (or polars): inside a ColumnTransformer the "
                "categories would be stacked into a NumPy array of plain values. Call "
                "set_output(transform='pandas') on the ColumnTransformer (or on this "
                "transformer).",
                UserWarning,
                stacklevel=2,
            )
        return self

    def transform(self, X):
        """Cast each column to the ``category`` dtype of its fitted categories.

        Parameters
        ----------
        X : {array-like, DataFrame} of shape (n_samples, n_features)
            The columns to pass through.

        Returns
        -------
        DataFrame of shape (n_samples, n_features)
            ``category`` columns; values that are not a fitted category are
            missing. Keeps the index of a DataFrame ``X``.
        """
        check_is_fitted(self)
        columns, index = self._columns(X, reset=False)
        out = {}
        names = self.get_feature_names_out()
        for name, column, categories in zip(names, columns, self.categories_):
            dtype = pd.CategoricalDtype(categories)
            codes = dtype.categories.get_indexer(column)
            unknown = pd.unique(column[(codes < 0) & ~pd.isna(column)])
            known = _kinds(categories)
            strangers = [value for value in unknown if _kind(value) not in known]
            if strangers:
                warnings.warn(
                    f"Column {name!r} holds values of another type than its categories "
                    f"from fit (e.g. {strangers[0]!r}; categories start "
                    f"{categories[:3].tolist()!r}): they are unknown and become missing. "
                    "1 and '1' are different categories: convert the column.",
                    UserWarning,
                    stacklevel=2,
                )
            out[name] = pd.Categorical.from_codes(codes, dtype=dtype)
        if _get_output_config("transform", self)["dense"] == "polars":
            return _polars_enums(out)
        return pd.DataFrame(out, index=index)

    def _names(self):
        return [repr(name) for name in self.get_feature_names_out()]

    def _columns(self, X, *, reset):
        X = as_pandas(X)
        if isinstance(X, pd.DataFrame):
            validate_data(self, X, reset=reset, skip_check_array=True)
            return [X.iloc[:, j].to_numpy() for j in range(X.shape[1])], X.index
        X = validate_data(self, X, reset=reset, dtype=None, ensure_all_finite=False)
        return [X[:, j] for j in range(X.shape[1])], None

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.categorical = True
        tags.input_tags.string = True
        tags.input_tags.allow_nan = True
        return tags
