"""Turn a feature matrix into int64 category codes and standardized float32 numerics."""

import numpy as np
import pandas as pd

#: Code of every unknown or missing category; known categories start at 1.
UNKNOWN_CODE = 0


def _column(X, index):
    return X.iloc[:, index] if isinstance(X, pd.DataFrame) else X[:, index]


def _column_name(feature_names, index):
    return repr(feature_names[index]) if feature_names is not None else f"at index {index}"


def _observed_categories(values):
    if isinstance(getattr(values, "dtype", None), pd.CategoricalDtype):
        codes = values.cat.codes.to_numpy()
        used = np.bincount(codes[codes >= 0], minlength=len(values.cat.categories)) > 0
        categories = values.cat.categories[used]
    else:
        categories = pd.unique(pd.Series(values, copy=False).dropna())
    try:
        return np.sort(np.asarray(categories))
    except TypeError:  # mixed types cannot be ordered; keep first-seen order
        return np.asarray(categories, dtype=object)


def _positions(values, categories):
    """Position of each value in ``categories``; -1 for unknown or missing."""
    if isinstance(getattr(values, "dtype", None), pd.CategoricalDtype):
        # Map the few categories, then gather by integer code: no hashing per row.
        lookup = np.append(categories.get_indexer(values.cat.categories), -1)
        return lookup[values.cat.codes.to_numpy()]
    return categories.get_indexer(np.asarray(values))


class FeatureEncoder:
    """Split features into category codes and standardized numerics.

    Categorical columns map to codes ``1..K`` of the categories seen at fit
    time; anything else (an unseen category, a missing value) maps to the
    reserved code ``0``, so prediction never indexes past an embedding table.
    Numeric columns are standardized with the training mean and standard
    deviation: their scale then does not depend on the units of the input,
    which a network trained with one learning rate needs.

    Parameters
    ----------
    is_categorical : ndarray of bool of shape (n_features,)
        Which columns are categorical.
    feature_names : ndarray of str or None
        Column names, for error messages.
    """

    def __init__(self, is_categorical, feature_names=None):
        self.is_categorical = is_categorical
        self.feature_names = feature_names

    @property
    def cardinalities(self):
        """Embedding table size of each categorical column (reserved code included)."""
        return [len(categories) + 1 for categories in self.categories_]

    @property
    def n_numeric(self):
        return int((~self.is_categorical).sum())

    def fit_transform(self, X, sample_weight=None):
        """Learn categories and scaling, then encode ``X``.

        With ``sample_weight``, zero-weight rows contribute no category and the
        mean and standard deviation are weighted: weighting a row by ``k`` is
        then the same as repeating it ``k`` times.
        """
        weighted = slice(None) if sample_weight is None else sample_weight > 0
        categorical_index = np.flatnonzero(self.is_categorical)
        self.categories_ = [
            _observed_categories(_column(X, j)[weighted]) for j in categorical_index
        ]
        numeric = self._numeric_block(X)
        if numeric.shape[1]:
            self.mean_ = np.average(numeric, axis=0, weights=sample_weight)
            variance = np.average((numeric - self.mean_) ** 2, axis=0, weights=sample_weight)
            scale = np.sqrt(variance)
        else:
            self.mean_ = scale = np.zeros(0)
        self.scale_ = np.where(scale > 0, scale, 1.0)
        return self._codes(X), self._standardize(numeric)

    def transform(self, X):
        return self._codes(X), self._standardize(self._numeric_block(X))

    def _codes(self, X):
        categorical_index = np.flatnonzero(self.is_categorical)
        codes = np.empty((X.shape[0], len(categorical_index)), dtype=np.int64)
        for out, (j, categories) in enumerate(zip(categorical_index, self.categories_)):
            codes[:, out] = _positions(_column(X, j), pd.Index(categories)) + 1
        return codes

    def _standardize(self, numeric):
        return ((numeric - self.mean_) / self.scale_).astype(np.float32)

    def _numeric_block(self, X):
        numeric_index = np.flatnonzero(~self.is_categorical)
        try:
            if isinstance(X, pd.DataFrame):
                # Nullable columns hold pd.NA, which only to_numpy turns into NaN.
                values = X.iloc[:, numeric_index].to_numpy(dtype=np.float64, na_value=np.nan)
            else:
                values = np.asarray(X[:, numeric_index], dtype=np.float64)
        except (TypeError, ValueError) as exc:
            self._raise_non_numeric(X, numeric_index, exc)
        self._check_finite(values, numeric_index)
        return values

    def _raise_non_numeric(self, X, numeric_index, exc):
        for j in numeric_index:
            try:
                np.asarray(_column(X, j), dtype=np.float64)
            except (TypeError, ValueError) as column_exc:
                raise TypeError(
                    f"Column {_column_name(self.feature_names, j)} is neither numeric "
                    f"nor declared categorical ({column_exc}). Declare it in "
                    "categorical_features, give it the pandas 'category' dtype, or "
                    "encode it first (e.g. sklearn.preprocessing.OrdinalEncoder)."
                ) from exc
        raise exc

    def _check_finite(self, values, numeric_index):
        for problem, test in (("NaN", np.isnan), ("infinity", np.isinf)):
            bad = test(values).any(axis=0)
            if bad.any():
                names = [_column_name(self.feature_names, j) for j in numeric_index[bad]]
                raise ValueError(
                    f"Input X contains {problem} in numeric column(s) {', '.join(names)}. "
                    "Numeric features must be finite: impute them first (e.g. "
                    "sklearn.impute.SimpleImputer in a Pipeline), or declare the "
                    "column categorical so that missing values get their own code."
                )

