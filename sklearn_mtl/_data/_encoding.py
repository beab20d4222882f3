"""Turn a feature matrix into category codes, bags of item codes and standardized numerics."""

import warnings
from dataclasses import KW_ONLY, dataclass
from itertools import chain
from numbers import Integral, Number
from typing import Optional, Union

import numpy as np
import pandas as pd
from sklearn.utils import Bunch

from ._keys import MISSING, KeyIndex, canonical_keys, hash_keys, unique_by_key
from .._frames import FLOAT32_MAX, beyond_float32

#: Code of every unknown or missing category; known categories start at 1.
UNKNOWN_CODE = 0

#: Rows encoded at a time, so that temporaries stay small next to the data.
_BLOCK_ROWS = 1 << 16


def _row_blocks(X):
    if X.shape[0] <= _BLOCK_ROWS:  # no slice (a new DataFrame) for the usual small input
        yield slice(None), X
        return
    for start in range(0, X.shape[0], _BLOCK_ROWS):
        rows = slice(start, start + _BLOCK_ROWS)
        yield rows, (X.iloc[rows] if isinstance(X, pd.DataFrame) else X[rows])


def _column(X, index):
    if not isinstance(X, pd.DataFrame):
        return X[:, index]
    # Selecting by label takes half the time of iloc, which counts when predicting one row.
    return X[X.columns[index]] if X.columns.is_unique else X.iloc[:, index]


def _column_name(feature_names, index):
    return repr(feature_names[index]) if feature_names is not None else f"at index {index}"


# ----------------------------------------------------------- multi-valued columns

_SEQUENCE_TYPES = (list, tuple, np.ndarray)
#: A row of weighted items: ``{item: weight}``.
_WEIGHTED_TYPES = (dict,)


def _is_arrow_list(dtype):
    if not isinstance(dtype, pd.ArrowDtype):
        return False
    import pyarrow as pa

    return pa.types.is_list(dtype.pyarrow_dtype) or pa.types.is_large_list(dtype.pyarrow_dtype)


def is_multi_valued(values):
    """Whether a column holds lists of items (object column of lists, tuples or
    arrays, or of ``{item: weight}`` dicts, or pandas' Arrow list dtype), judged
    from its first non-missing values: a column that mixes them with scalars is
    not one (it is then reported as not numeric)."""
    if _is_arrow_list(getattr(values, "dtype", None)):
        return True
    head = _present_head(values)
    return bool(len(head)) and (
        all(isinstance(v, _SEQUENCE_TYPES) for v in head)
        or all(isinstance(v, _WEIGHTED_TYPES) for v in head)
    )


def _present_head(values, n=64):
    """Up to ``n`` first non-missing values of an object column; none for other columns."""
    dtype = getattr(values, "dtype", None)
    if dtype is None or dtype.kind != "O" or isinstance(dtype, pd.CategoricalDtype):
        return []
    # Look at a growing prefix: no full-size object copy for the common case.
    size = 4 * n
    while True:
        head = np.asarray(values[:size], dtype=object)
        present = head[~pd.isna(head)]
        if len(present) >= n or size >= len(values):
            return present[:n]
        size *= 16


def multi_valued_mask(X):
    """Boolean mask of the columns of ``X`` that hold lists of items."""
    return np.array([is_multi_valued(_column(X, j)) for j in range(X.shape[1])], dtype=bool)


def _flatten(values, name):
    """The items of every row, flat, the number of items of each row (0 for an
    empty list or a missing value), and the items' weights (None for lists)."""
    if _is_arrow_list(getattr(values, "dtype", None)):
        import pyarrow as pa

        array = pa.array(pd.Series(values, copy=False))
        if isinstance(array, pa.ChunkedArray):
            array = array.combine_chunks()
        lengths = array.value_lengths().fill_null(0).to_numpy(zero_copy_only=False)
        items = array.flatten().to_numpy(zero_copy_only=False)
        return items, lengths.astype(np.int64), None
    values = np.asarray(values, dtype=object)
    missing = pd.isna(values) if values.size else np.zeros(0, dtype=bool)
    rows = values[~missing] if missing.any() else values
    # Every row is checked: a lone string would otherwise be split into characters.
    weighted = bool(len(rows)) and isinstance(rows[0], _WEIGHTED_TYPES)
    kinds = _WEIGHTED_TYPES if weighted else _SEQUENCE_TYPES
    # One isinstance per distinct type, not per row: the rows' types are few.
    if not all(issubclass(kind, kinds) for kind in set(map(type, rows))):
        is_list = np.fromiter((isinstance(v, kinds) for v in rows), dtype=bool, count=len(rows))
        raise TypeError(
            f"Multi-valued column {name} holds {rows[~is_list][0]!r} among its "
            f"{'{item: weight} dicts' if weighted else 'lists'}: give every row "
            f"{'a dict' if weighted else 'a list (e.g. [value])'}, an empty one, or a "
            "missing value."
        )
    lengths = np.zeros(len(values), dtype=np.int64)
    lengths[~missing] = np.fromiter(map(len, rows), dtype=np.int64, count=len(rows))
    count = int(lengths.sum())
    items = np.fromiter(chain.from_iterable(rows), dtype=object, count=count)
    if not weighted:
        return items, lengths, None
    weights = np.fromiter(
        chain.from_iterable(row.values() for row in rows), dtype=np.float64, count=count
    )
    if not np.isfinite(weights).all() or (weights < 0).any() or beyond_float32(weights):
        raise ValueError(
            f"Multi-valued column {name} has item weights that are negative, not finite or "
            f"beyond float32's range ({FLOAT32_MAX:.3g}); weights must be finite, "
            "non-negative and at most that."
        )
    return items, lengths, weights


# ------------------------------------------------------------- code books


def _value_kind(value):
    if isinstance(value, (str, np.str_)):
        return "string"
    # Booleans are numbers: True is the category 1, as True == 1.
    if isinstance(value, (Number, np.bool_)):
        return "number"
    return type(value).__name__


class _Vocabulary:
    """Categories seen at fit (or declared by a CategoricalDtype) -> codes 1..K,
    rare ones sharing one infrequent code as in OrdinalEncoder; anything
    else -> the reserved code."""

    def __init__(self, min_frequency, max_categories):
        self.min_frequency = min_frequency
        self.max_categories = max_categories

    @staticmethod
    def count(values):
        """Occurrences of each category (with zeros for declared, unseen ones)."""
        if isinstance(getattr(values, "dtype", None), pd.CategoricalDtype):
            # The declared categories are the vocabulary, observed or not.
            codes = values.cat.codes.to_numpy()
            counts = np.bincount(codes[codes >= 0], minlength=len(values.cat.categories))
            return pd.Series(counts, index=values.cat.categories.astype(object)), True
        return pd.Series(np.asarray(values), copy=False).value_counts(dropna=True), False

    def fit(self, counted, declared, n_samples):
        """Set the vocabulary from :meth:`count`'s result (merged over chunks)."""
        self.declared = declared
        # One entry per category key, sorted as in OrdinalEncoder (numbers, then
        # strings), so that codes depend neither on a dtype's order nor on row order.
        counted = unique_by_key(counted)
        counts = counted.to_numpy()
        self.categories = pd.Index(counted.index)
        self._index = KeyIndex(self.categories)
        infrequent = self._infrequent(counts, n_samples)
        self.infrequent_categories = self.categories[infrequent]
        # Frequent categories keep their order as codes 1..K; the infrequent share K + 1.
        code_of = np.zeros(len(self.categories), dtype=np.int64)
        code_of[~infrequent] = np.arange(1, (~infrequent).sum() + 1)
        code_of[infrequent] = (~infrequent).sum() + 1
        self.n_codes = int((~infrequent).sum()) + 1 + int(infrequent.any())
        self._lookup = np.append(code_of, UNKNOWN_CODE)
        self.kinds = {_value_kind(c) for c in self.categories[:1000]}
        return self

    def _infrequent(self, counts, n_samples):
        infrequent = np.zeros(len(counts), dtype=bool)
        if self.min_frequency is not None:
            threshold = (
                self.min_frequency
                if isinstance(self.min_frequency, Integral)
                else self.min_frequency * n_samples
            )
            infrequent |= counts < threshold
        frequent = np.flatnonzero(~infrequent)
        if self.max_categories is not None and len(frequent) >= self.max_categories:
            # max_categories counts the infrequent code; the rarest go first, ties by order.
            keep = self.max_categories - 1
            rarest = frequent[np.argsort(counts[frequent], kind="mergesort")]
            infrequent[rarest[: len(rarest) - keep]] = True
        return infrequent

    def positions(self, values):
        """Position of each value in the vocabulary; -1 for unknown or missing."""
        if isinstance(getattr(values, "dtype", None), pd.CategoricalDtype):
            # Map the few categories, then gather by integer code: no hashing per row.
            return self._dtype_info(values.dtype)[0][np.asarray(values.array.codes)]
        return self._index.get_indexer(values)

    def _dtype_info(self, dtype):
        """The positions of a CategoricalDtype's categories (-1 appended, for
        missing) and their kind when unknown (see :meth:`unknown_kind`),
        kept for the last dtype seen: rows cut from one DataFrame share its
        dtype, so that predicting row by row maps the categories once."""
        cached = self.__dict__.get("_last_dtype")
        if cached is None or cached[0] is not dtype:
            lookup = np.append(self._index.get_indexer(dtype.categories), -1)
            cached = (dtype, lookup, self._unknown_kind(dtype.categories))
            self._last_dtype = cached
        return cached[1:]

    def __getstate__(self):
        # The cache refers to prediction data: it does not travel with the model.
        return {k: v for k, v in self.__dict__.items() if k != "_last_dtype"}

    def codes(self, values):
        return self._lookup[self.positions(values)]

    def unknown_kind(self, values):
        """The kind of the values when no category of the vocabulary has it
        (e.g. strings against integer categories), else None."""
        values = np.asarray(values, dtype=object) if not hasattr(values, "dtype") else values
        if isinstance(values.dtype, pd.CategoricalDtype):
            return self._dtype_info(values.dtype)[1]
        return self._unknown_kind(values)

    def _unknown_kind(self, values):
        present = np.asarray(values[:1000], dtype=object)
        present = present[~pd.isna(present)]
        if not present.size or not self.kinds:
            return None
        kind = _value_kind(present[0])
        return None if kind in self.kinds else kind


class _Hashing:
    """A fixed number of buckets and no vocabulary: code ``1 + hash % n_buckets``.

    The hash is pandas' ``hash_array`` of each value's canonical key (see
    :mod:`._keys`): the same in every process, and a function of the value
    alone, so that ``5``, ``5.0``, ``np.int64(5)`` share a bucket whatever
    the other values of the column.
    """

    declared = True

    def __init__(self, n_buckets):
        self.n_buckets = int(n_buckets)
        self.n_codes = self.n_buckets + 1

    def codes(self, values):
        if isinstance(getattr(values, "dtype", None), pd.CategoricalDtype):
            # Hash the few categories, then gather by integer code.
            lookup = np.append(self.codes(values.cat.categories), UNKNOWN_CODE)
            return lookup[values.cat.codes.to_numpy()]
        keys = canonical_keys(values)
        hashed = hash_keys(keys) % np.uint64(self.n_buckets)
        return np.where(keys.kind == MISSING, UNKNOWN_CODE, hashed.astype(np.int64) + 1)


#: The most buckets of one column. Each bucket is a row of the embedding
#: table (2**31 rows of 8 float32 values are 64 GiB) and host codes are int32.
MAX_HASH_BUCKETS = 2**31 - 1


def _checked_buckets(n, name="hash_buckets"):
    # bool is an Integral: True would pass as one bucket for every category.
    if isinstance(n, (bool, np.bool_)) or not isinstance(n, Integral) or n < 1:
        raise ValueError(
            f"{name} must be a positive number of buckets (an int, not a bool), got {n!r}."
        )
    if n > MAX_HASH_BUCKETS:
        raise ValueError(
            f"{name}={n} is too large: at most 2**31 - 1 = {MAX_HASH_BUCKETS} buckets, since "
            "each bucket is a row of the embedding table (2**31 rows of embedding_dim=8 "
            "float32 values already take 64 GiB) and codes are held as 32-bit integers. "
            "Typical values are 2**16 to 2**22."
        )
    return int(n)


# ------------------------------------------------------------------ columns


class _NumericStats:
    """Running (weighted) mean and variance, updated chunk by chunk as in
    ``StandardScaler.partial_fit`` (Chan et al.'s pairwise update), and
    merged with the statistics of other rows by the same update."""

    def __init__(self, n_numeric):
        self.n_seen = 0.0
        self.mean = np.zeros(n_numeric)
        self.var = np.zeros(n_numeric)

    def update(self, values, sample_weight):
        if not values.shape[1]:
            return
        w = np.ones(len(values)) if sample_weight is None else sample_weight
        n = w.sum()
        if not n:  # a block of zero-weight rows adds nothing
            return
        mean = np.average(values, axis=0, weights=w)
        self._combine(n, mean, np.average((values - mean) ** 2, axis=0, weights=w))

    def merge(self, other):
        """Add the rows that ``other`` (statistics of other rows) has seen."""
        if other.n_seen:
            self._combine(other.n_seen, other.mean, other.var)
        return self

    def _combine(self, n, mean, var):
        total = self.n_seen + n
        delta = mean - self.mean
        self.var = (
            self.n_seen * self.var + n * var + delta**2 * self.n_seen * n / total
        ) / total
        self.mean = self.mean + delta * n / total
        self.n_seen = total

    @property
    def scale(self):
        scale = np.sqrt(self.var)
        return np.where(scale > 0, scale, 1.0)


def _add_counts(counts, j, counted, declared):
    """Add column ``j``'s ``counted`` categories (``declared`` by a dtype or
    not) to ``counts``."""
    if j in counts:
        counted = unique_by_key(pd.concat([counts[j][0], counted]))
        declared = declared and counts[j][1]
    counts[j] = counted, declared


@dataclass(eq=False)
class EncoderFit:
    """What fitting a :class:`FeatureEncoder` has read of some chunks, before
    the vocabularies are set: parts read apart (e.g. by the processes of a
    data-parallel fit) merge into what one read of all of them gives.

    Attributes
    ----------
    columns : dict
        How the first chunk laid out the columns (by position): ``single``,
        ``multi_valued`` and ``weighted`` categorical columns.
    counts : dict
        Per vocabulary column, ``(counts of each category, declared)`` as
        :meth:`_Vocabulary.count` gives them, merged over the chunks.
    stats : _NumericStats
        The numeric columns' statistics.
    n_samples : int
        Rows read.
    """

    columns: dict
    counts: dict
    stats: _NumericStats
    n_samples: int = 0

    def merge(self, other):
        """Add ``other``'s rows (read with the same column layout) to these."""
        for j, (counted, declared) in other.counts.items():
            _add_counts(self.counts, j, counted, declared)
        self.stats.merge(other.stats)
        self.n_samples += other.n_samples
        return self


#: What infer_dtype calls an object column that holds only numbers (or nothing).
_NUMBER_KINDS = frozenset(
    {"integer", "floating", "mixed-integer-float", "decimal", "boolean", "empty", "integer-na"}
)


def _numeric_values(values, name):
    """A numeric column as float64; dates and durations as seconds."""
    dtype = getattr(values, "dtype", None)
    if dtype is not None and (
        dtype.kind in "mM" or isinstance(dtype, pd.DatetimeTZDtype)
    ):
        # Seconds since the Unix epoch (UTC), whatever the storage resolution, so
        # that data stored at another resolution at predict encodes the same.
        series = pd.Series(values, copy=False)
        if dtype.kind == "m":
            return series.dt.total_seconds().to_numpy(dtype=np.float64, na_value=np.nan)
        if isinstance(dtype, pd.DatetimeTZDtype):
            series = series.dt.tz_convert("UTC").dt.tz_localize(None)
        since = series - pd.Timestamp("1970-01-01")
        return since.dt.total_seconds().to_numpy(dtype=np.float64, na_value=np.nan)
    if isinstance(values, pd.Series):
        # Nullable columns hold pd.NA, which only to_numpy turns into NaN.
        numbers = values.to_numpy(dtype=np.float64, na_value=np.nan)
    else:
        numbers = np.asarray(values, dtype=np.float64)
    if dtype is not None and (dtype.kind in "OSU" or pd.api.types.is_string_dtype(dtype)):
        # NumPy parses "06000" as 6000.0: a postcode or an ID read as text must
        # not turn into a number silently, whatever its digits.
        kind = pd.api.types.infer_dtype(values, skipna=True)
        if kind not in _NUMBER_KINDS:
            present = pd.Series(values, copy=False).dropna()
            raise TypeError(
                f"it holds {kind} values such as {present.iloc[0]!r}, which would be read "
                "as numbers"
            )
    return numbers


@dataclass(eq=False)
class EncodedFeatures:
    """The encoded form of a feature matrix, on the host.

    ``codes`` (n, n_single) and ``numeric`` (n, n_numeric) arrays, and for
    multi-valued columns a flat ``items`` array with per-row ``starts`` and
    ``lengths`` (n, n_multi_valued), and the items' ``weights`` when a
    column has weighted items, laid out as
    :class:`~sklearn_mtl.nn.CategoricalInputs`.
    """

    codes: np.ndarray
    numeric: np.ndarray
    items: Optional[np.ndarray] = None
    starts: Optional[np.ndarray] = None
    lengths: Optional[np.ndarray] = None
    weights: Optional[np.ndarray] = None


# Its fitted state is set by fit, so neither equality nor repr compares it.
@dataclass(eq=False, repr=False)
class FeatureEncoder:
    """Split features into category codes, bags of item codes and standardized numerics.

    Categorical columns map to codes ``1..K`` of their vocabulary: the
    declared categories of a pandas ``CategoricalDtype``, else the
    categories seen at fit, rare ones sharing one infrequent code
    (``min_frequency``, ``max_categories``, as in
    :class:`~sklearn.preprocessing.OrdinalEncoder`); a hashed column maps
    to ``1 + hash % n_buckets`` with no vocabulary. Anything else (an
    unseen category, a missing value) maps to the reserved code ``0``, so
    prediction never indexes past an embedding table. A multi-valued column
    (lists of items, or ``{item: weight}`` dicts) encodes each item this way
    and keeps each row's bag (and the items' weights).
    Numeric columns are standardized with the mean and standard deviation
    of the data (updated by :meth:`partial_fit`): their scale then does not
    depend on the units of the input, which a network trained with one
    learning rate needs. Datetime columns are seconds since the epoch.

    Parameters
    ----------
    is_categorical : ndarray of bool of shape (n_features,)
        Which columns are categorical (multi-valued ones included).
    feature_names : ndarray of str or None
        Column names, for error messages and per-column settings.
    min_frequency, max_categories : int, float or None
        As in OrdinalEncoder, for every vocabulary.
    hash_buckets : int, dict or None
        Buckets of every categorical column, or of the columns named (or
        indexed) by the dict's keys.
    """

    is_categorical: np.ndarray
    feature_names: Optional[np.ndarray] = None
    _: KW_ONLY
    min_frequency: Union[int, float, None] = None
    max_categories: Union[int, float, None] = None
    hash_buckets: Union[int, dict, None] = None

    @property
    def cardinalities(self):
        """Table size of each single-valued categorical column (reserved code included)."""
        return [self._books[j].n_codes for j in self.single_index]

    @property
    def bag_cardinalities(self):
        """Item table size of each multi-valued column (reserved code included)."""
        return [self._books[j].n_codes for j in self.multi_index]

    @property
    def n_numeric(self):
        return len(self.numeric_index)

    def encoding(self):
        """What the fitted encoder does, column by column, as a Bunch.

        Keys: ``categorical_features``, ``multi_valued_features`` and
        ``numeric_features`` (column names, or indices without names, in the
        order of the module's inputs); ``vocabularies`` (per vocabulary
        column, a Series mapping each category to its code: ``1..K``, the
        infrequent ones sharing ``K + 1``); ``infrequent_categories``;
        ``hash_buckets`` (per hashed column, its number of buckets; code
        ``1 + hash % n_buckets``); ``numeric_mean`` and ``numeric_scale``
        (a numeric input is ``(x - mean) / scale``); ``unknown_code`` (every
        unseen or missing category).
        """
        names = self.feature_names

        def name(j):
            return names[j] if names is not None else int(j)

        vocabularies, infrequent, buckets = {}, {}, {}
        for j, book in self._books.items():
            if isinstance(book, _Hashing):
                buckets[name(j)] = book.n_buckets
                continue
            vocabularies[name(j)] = pd.Series(
                book._lookup[:-1], index=book.categories, name="code"
            )
            infrequent[name(j)] = book.infrequent_categories
        return Bunch(
            categorical_features=[name(j) for j in self.single_index],
            multi_valued_features=[name(j) for j in self.multi_index],
            numeric_features=[name(j) for j in self.numeric_index],
            vocabularies=vocabularies,
            infrequent_categories=infrequent,
            hash_buckets=buckets,
            numeric_mean=self._stats.mean.copy(),
            numeric_scale=self._stats.scale,
            unknown_code=UNKNOWN_CODE,
        )

    # ------------------------------------------------------------- fitting

    def fit(self, X, sample_weight=None):
        """Learn the vocabularies and numeric statistics of ``X``.

        With ``sample_weight``, zero-weight rows contribute no category and the
        mean and standard deviation are weighted: weighting a row by ``k`` is
        then the same as repeating it ``k`` times.
        """
        return self.fit_chunks([(X, sample_weight)])

    def fit_chunks(self, chunks):
        """Learn from ``(X, sample_weight)`` chunks as from their concatenation,
        holding one chunk at a time."""
        return self.finish_fit(self.read_chunks(chunks))

    def read_chunks(self, chunks):
        """What fitting learns from ``(X, sample_weight)`` chunks, as an
        :class:`EncoderFit` to merge with other parts' and pass to
        :meth:`finish_fit`; None without chunks. The first chunk sets which
        categorical columns are multi-valued."""
        fit = None
        for X, sample_weight in chunks:
            if fit is None:
                layout = self._column_layout(X)
                self._set_columns(layout)
                fit = EncoderFit(layout, {}, self._stats)
            kept = None if sample_weight is None else sample_weight > 0
            for j in self._vocabulary_index:
                values = _column(X, j)
                if j in self.multi_index:
                    values, lengths, _ = _flatten(values, self._name(j))
                    if kept is not None:
                        values = values[np.repeat(kept, lengths)]
                elif kept is not None:
                    values = values[kept]
                try:
                    counted, declared = _Vocabulary.count(values)
                    unhashable = counted.index.dtype == object and any(
                        isinstance(c, _SEQUENCE_TYPES + _WEIGHTED_TYPES) for c in counted.index
                    )
                except TypeError:  # pandas may refuse to count unhashable values
                    unhashable = True
                if unhashable:
                    raise TypeError(
                        f"Categorical column {self._name(j)} holds lists or dicts among single "
                        "values, which cannot be categories. A multi-valued column needs a "
                        "list (or an {item: weight} dict) in every row, e.g. [value]."
                    )
                _add_counts(fit.counts, j, counted, declared)
            self._update_stats(X, sample_weight)
            fit.n_samples += X.shape[0]
        return fit

    def finish_fit(self, fit):
        """Set the vocabularies and statistics from an :class:`EncoderFit`
        (of this encoder's columns, possibly merged over parts)."""
        self._set_columns(fit.columns)
        self._stats = fit.stats
        for j, (counted, declared) in fit.counts.items():
            self._books[j] = _Vocabulary(self.min_frequency, self.max_categories).fit(
                counted, declared, fit.n_samples
            )
        self.categories_ = [
            getattr(self._books[j], "categories", None) for j in np.flatnonzero(self.is_categorical)
        ]
        return self

    def _column_layout(self, X):
        """Which categorical columns of ``X`` are multi-valued, and of those,
        which hold weighted items: read from their first values."""
        categorical_index = np.flatnonzero(self.is_categorical)
        multi = np.array([is_multi_valued(_column(X, j)) for j in categorical_index], dtype=bool)
        return {
            "single": categorical_index[~multi].tolist(),
            "multi_valued": categorical_index[multi].tolist(),
            "weighted": [
                int(j)
                for j in categorical_index[multi]
                if isinstance(_present_head(_column(X, j), 1)[0], _WEIGHTED_TYPES)
            ],
        }

    def _set_columns(self, layout):
        self.single_index = np.asarray(layout["single"], dtype=np.intp)
        self.multi_index = np.asarray(layout["multi_valued"], dtype=np.intp)
        self.weighted_columns = [self._name(j) for j in layout["weighted"]]
        self.numeric_index = np.flatnonzero(~self.is_categorical)
        buckets = self._checked_hash_buckets()
        self._books = {j: _Hashing(n) for j, n in buckets.items()}
        categorical_index = np.flatnonzero(self.is_categorical)
        self._vocabulary_index = [j for j in categorical_index if j not in buckets]
        self._stats = _NumericStats(self.n_numeric)

    def partial_fit(self, X, sample_weight=None):
        """Update what follows the data with a new chunk: the numeric statistics.

        Vocabularies stay as they are (the embedding tables have their
        size); a vocabulary learnt from the first chunk warns when a later
        chunk brings categories it does not know: declare them up front
        with a CategoricalDtype, or hash the column.
        """
        self._update_stats(X, sample_weight)
        for j, book in self._books.items():
            if isinstance(book, _Hashing):
                continue
            values = _column(X, j)
            if j in self.multi_index:
                values, _, _ = _flatten(values, self._name(j))
            if isinstance(getattr(values, "dtype", None), pd.CategoricalDtype):
                # A declared category is one the data may hold, seen in this chunk or not.
                declared = values.dtype.categories
                new = declared[book.positions(declared) < 0]
                if len(new):
                    warnings.warn(
                        f"Column {self._name(j)} declares {len(new)} categor"
                        f"{'y' if len(new) == 1 else 'ies'} in the CategoricalDtype of this "
                        f"chunk that the first call to partial_fit did not know (e.g. "
                        f"{new[0]!r}); its rows share the unknown code. Declare every "
                        "category up front in the first chunk's CategoricalDtype, or hash the "
                        "column (hash_buckets).",
                        UserWarning,
                        stacklevel=4,
                    )
                continue
            present = ~pd.isna(np.asarray(values, dtype=object))
            new = (book.positions(values) < 0) & present
            if new.any():
                warnings.warn(
                    f"Column {self._name(j)} has {int(new.sum())} value(s) in this chunk that "
                    "the first call to partial_fit did not see (e.g. "
                    f"{np.asarray(values, dtype=object)[new][0]!r}); they share the unknown "
                    "code. Declare every category up front with a pandas CategoricalDtype, "
                    "or hash the column (hash_buckets).",
                    UserWarning,
                    stacklevel=4,
                )
        return self

    def _update_stats(self, X, sample_weight):
        for rows, block in _row_blocks(X):
            self._stats.update(
                self._numeric_block(block), None if sample_weight is None else sample_weight[rows]
            )

    def _checked_hash_buckets(self):
        categorical_index = np.flatnonzero(self.is_categorical)
        if self.hash_buckets is None:
            return {}
        if not isinstance(self.hash_buckets, dict):
            return dict.fromkeys(categorical_index.tolist(), _checked_buckets(self.hash_buckets))
        names = list(self.feature_names) if self.feature_names is not None else []
        buckets = {}
        for key, n in self.hash_buckets.items():
            j = names.index(key) if key in names else key
            if not isinstance(j, Integral) or j not in categorical_index:
                raise ValueError(
                    f"hash_buckets names {key!r}, which is not a categorical column of X; "
                    "declare it in categorical_features too, or give the pandas 'category' "
                    "dtype to it."
                )
            buckets[int(j)] = _checked_buckets(n, f"hash_buckets[{key!r}]")
        return buckets

    # ------------------------------------------------------------ encoding

    def warn_unknown_kinds(self, X):
        """Warn about categorical columns whose values are of a kind no category
        of the vocabulary has (e.g. ``"3"`` against ``3``): every one of them
        would silently take the unknown code."""
        # A category column's kind follows from its dtype alone: no column is
        # taken out of the frame (the most costly step of predicting one row).
        dtypes = X.dtypes.to_numpy() if isinstance(X, pd.DataFrame) else None
        for j, book in self._books.items():
            if not isinstance(book, _Vocabulary):
                continue
            if dtypes is not None and isinstance(dtypes[j], pd.CategoricalDtype):
                kind = book._dtype_info(dtypes[j])[1]
            else:
                values = _column(X, j)
                if j in self.multi_index:
                    values, _, _ = _flatten(values[:1000], self._name(j))
                kind = book.unknown_kind(values)
            if kind is not None:
                warnings.warn(
                    f"Categorical column {self._name(j)} holds {kind} values but its "
                    f"categories at fit were {sorted(book.kinds)}: none of them is known, "
                    "so every row takes the unknown code. Convert the column to the "
                    "type it had at fit.",
                    UserWarning,
                    stacklevel=4,
                )

    def transform(self, X):
        """Encode ``X`` into an :class:`EncodedFeatures` (codes as int32 when they fit)."""
        n = X.shape[0]
        n_codes = sum(self.cardinalities + self.bag_cardinalities)
        index_dtype = np.int32 if n_codes < 2**31 else np.int64
        codes = np.empty((n, len(self.single_index)), dtype=index_dtype)
        for out, j in enumerate(self.single_index):
            codes[:, out] = self._books[j].codes(_column(X, j))
        numeric = np.empty((n, self.n_numeric), dtype=np.float32)
        mean, scale = self._stats.mean, self._stats.scale
        for rows, block in _row_blocks(X):
            standardized = (self._numeric_block(block) - mean) / scale
            self._check_float32(standardized, standardized=True)
            numeric[rows] = standardized
        if not len(self.multi_index):
            return EncodedFeatures(codes, numeric)
        items, lengths, weights = [], [], []
        for j in self.multi_index:
            flat, counts, item_weights = _flatten(_column(X, j), self._name(j))
            if item_weights is not None and self._name(j) not in self.weighted_columns:
                raise ValueError(
                    f"Multi-valued column {self._name(j)} holds {{item: weight}} dicts, but "
                    "the model was fitted on plain lists in it: its pooling has no item "
                    "weights, so they would be ignored. Give lists of items (e.g. "
                    "list(row) for a dict row), or refit on weighted items."
                )
            items.append(self._books[j].codes(flat).astype(index_dtype))
            lengths.append(counts)
            weights.append(np.ones(len(flat)) if item_weights is None else item_weights)
        lengths = np.column_stack(lengths)
        flat_lengths = lengths.T.reshape(-1)
        starts = (np.cumsum(flat_lengths) - flat_lengths).reshape(lengths.shape[::-1]).T
        weights = np.concatenate(weights).astype(np.float32) if self.weighted_columns else None
        return EncodedFeatures(codes, numeric, np.concatenate(items), starts, lengths, weights)

    def _name(self, j):
        return _column_name(self.feature_names, j)

    def _numeric_block(self, X):
        columns = []
        for j in self.numeric_index:
            try:
                columns.append(_numeric_values(_column(X, j), self._name(j)))
            except (TypeError, ValueError) as exc:
                self._raise_non_numeric(_column(X, j), j, exc)
        values = np.column_stack(columns) if columns else np.empty((X.shape[0], 0))
        self._check_finite(values)
        self._check_float32(values)
        return values

    def _check_float32(self, values, standardized=False):
        bad = beyond_float32(values, axis=0)
        if bad.any():
            names = [self._name(j) for j in self.numeric_index[bad]]
            largest = np.abs(values[:, bad]).max()
            when = (
                " after standardizing with the mean and scale of the training data"
                if standardized
                else ""
            )
            raise ValueError(
                f"Input X has values beyond float32's range in numeric column(s) "
                f"{', '.join(names)}{when} (largest {largest:.3g}, "
                f"limit {FLOAT32_MAX:.3g}): the network computes in float32, where they "
                "become infinity. Rescale or clip the column (e.g. a log transform in a "
                "Pipeline), or check it for corrupt values."
            )

    def _raise_non_numeric(self, values, j, exc):
        if is_multi_valued(values):
            raise TypeError(
                f"Column {self._name(j)} holds lists: it is a multi-valued categorical "
                "feature. Declare it in categorical_features (or leave "
                "categorical_features='from_dtype', which detects it)."
            ) from exc
        raise TypeError(
            f"Column {self._name(j)} is neither numeric nor declared categorical "
            f"({exc}). Declare it in categorical_features, give it the pandas 'category' "
            "dtype, or encode it first (e.g. sklearn.preprocessing.OrdinalEncoder)."
        ) from exc

    def _check_finite(self, values):
        for problem, test in (("NaN", np.isnan), ("infinity", np.isinf)):
            bad = test(values).any(axis=0)
            if bad.any():
                names = [self._name(j) for j in self.numeric_index[bad]]
                raise ValueError(
                    f"Input X contains {problem} in numeric column(s) {', '.join(names)}. "
                    "Numeric features must be finite: impute them first (e.g. "
                    "sklearn.impute.SimpleImputer in a Pipeline), or declare the "
                    "column categorical so that missing values get their own code."
                )
