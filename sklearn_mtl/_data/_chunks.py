"""Training data read one chunk at a time: out-of-core ``fit``."""

import os
import pickle
from numbers import Integral

import joblib
import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import _num_samples, check_is_fitted

from ._parquet import parquet_identity, parquet_paths, parquet_units, read_parquet_chunks


def _check_positive_int(value, name):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, Integral):
        raise TypeError(f"{name} must be an int, got {value!r}.")
    if value < 1:
        raise ValueError(f"{name} must be at least 1, got {value}.")


class ChunkedData:
    """Training data that ``fit`` reads one chunk at a time, epoch after epoch.

    Pass it as ``X`` to ``fit`` (with ``y=None``) to train over data that
    does not fit in memory: memory then grows with the chunk size, not with
    the number of rows. ``fit`` reads the chunks once to learn the
    vocabularies and numeric statistics (as if the chunks were one table),
    and the tasks' classes (as if the chunks were one table), then once more
    to encode them into a cache of memory-mapped arrays on disk (``int32``
    codes, ``float32`` numbers); every epoch reads that cache, one chunk
    ahead of training in a background thread, not the source. With early
    stopping, a fixed ``validation_fraction`` of each chunk, the same rows
    every epoch, is held out. Each epoch reads the chunks in a new random
    order (drawn from the estimator's ``random_state``) and shuffles the
    rows of ``shuffle_buffer`` chunks at a time, so that a log written in
    time order does not train in time order.

    Parameters
    ----------
    chunks : callable, path-like or list of path-like
        Either a callable that returns a fresh iterable of chunks each time
        it is called (a generator function, not a generator: a pass that
        gives fewer rows than the first is an error), each chunk an
        ``(X, Y)`` or ``(X, Y, sample_weight)`` tuple as ``fit`` takes
        them; or a directory of Parquet files (its ``*.parquet`` files at
        construction, read in file-name order; a file that is a symbolic
        link to outside the directory is refused) or a list of Parquet
        files, read with pyarrow ``chunk_rows`` rows at a time.
    target_columns : list of str, default=None
        With Parquet files: the label columns, in task order. Required then.
    weight_column : str, default=None
        With Parquet files: a column of row weights, if any.
    chunk_rows : int, default=65536
        With Parquet files: rows per chunk.
    cache_dir : path-like, default=None
        Where to keep the encoded chunks. None writes them to a new
        temporary directory that is removed when ``fit`` ends. A directory
        given here keeps each cache for later fits: a cache is named by a
        fingerprint of the Parquet files (names, sizes, modification times,
        schemas), ``target_columns``, ``weight_column``, ``chunk_rows``, the
        row groups read (in a data-parallel fit) and the fitted encoding and
        tasks, so a fit reuses it only for the same
        encoded rows and writes a new one when anything changed (delete old
        ones by hand). Chunks from a callable cannot be fingerprinted without
        reading them: their cache is written anew by each fit and removed
        when it ends. A cache takes about the size of the rows as ``int32``
        codes and ``float32`` numbers.
    shuffle_buffer : int, default=4
        Chunks whose rows are shuffled together in each step of an epoch;
        memory grows with ``shuffle_buffer * chunk_rows`` encoded rows.
    preprocessor : transformer, default=None
        A scikit-learn transformer (e.g. a ``ColumnTransformer``) applied to
        each chunk's ``X`` before it is encoded, in place of a Pipeline
        step, which cannot read chunks. Its output must be a DataFrame:
        configure it with ``set_output(transform="pandas")``. A fitted
        transformer is used as it is, never refitted: the way to statistics
        over all the data (fit it beforehand, e.g. on a sample drawn from
        every file). An unfitted one is cloned and fitted on the first
        chunk's ``X`` only, a sample of the data. The fitted transformer is
        ``preprocessor_``; its fitted state is part of the cache
        fingerprint. The model is then fitted on the transformer's output:
        predict on raw rows with
        ``make_pipeline(FrozenEstimator(data.preprocessor_), model)``.

    Attributes
    ----------
    preprocessor_ : transformer
        The fitted ``preprocessor``, set by the first read of the chunks
        and again by the next read after ``preprocessor`` is replaced or
        changed (absent without a ``preprocessor``).

    Raises
    ------
    TypeError, ValueError
        At construction, for parameters that are wrong without reading
        anything: ``target_columns`` given as a string or missing,
        ``chunk_rows`` below 1, a ``preprocessor`` without
        ``transform``, a file that does not exist, a directory without
        Parquet files. When a chunk is read, naming the file and the
        chunk's index (from 0): a file that is not readable Parquet, a
        missing target or weight column, a file whose columns or column
        types differ from the first file's, a file or chunk without
        rows, a chunk whose weights are all zero, a ``preprocessor``
        that does not give a DataFrame or changes the number of rows.
        Naming the directory: a ``cache_dir`` that cannot be written
        (not a directory, not writable, full); nothing is left
        half-written there.

    Notes
    -----
    In a data-parallel fit (every process of a :mod:`torch.distributed`
    group passes the same ChunkedData, see the distributed training guide),
    each process reads only its share of the Parquet files: their row
    groups, dealt to the processes by rows, read in both passes and cached
    by each process apart (a shared ``cache_dir`` keeps one cache per
    share). What the processes read is merged into one encoding and one set
    of tasks, those that one process reading every file would fit. Each
    epoch takes as many full batches in every process as the smallest share
    holds; a larger share skips its surplus rows, different ones each
    epoch. With early stopping each process holds out its validation rows
    from its own share, and the validation losses and scores are computed
    over those of every process, the same in all of them. With fewer row
    groups than processes (a ``UserWarning`` says so), and for chunks from a
    callable, which cannot be split without reading them, every process
    reads every chunk and trains on its share of each.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from sklearn_mtl import ChunkedData, MMoEClassifier
    >>> def chunks():
    ...     for seed in range(4):
    ...         rng = np.random.RandomState(seed)
    ...         X = pd.DataFrame({"x": rng.normal(size=500)})
    ...         Y = pd.DataFrame({"click": X["x"] > 0, "like": X["x"] > 1}).astype(int)
    ...         yield X, Y
    >>> model = MMoEClassifier(max_epochs=2, random_state=0, early_stopping=True)
    >>> model.fit(ChunkedData(chunks)).n_iter_
    2
    """

    def __init__(
        self,
        chunks,
        *,
        target_columns=None,
        weight_column=None,
        chunk_rows=65536,
        cache_dir=None,
        shuffle_buffer=4,
        preprocessor=None,
    ):
        self.chunks = chunks
        self.target_columns = target_columns
        self.weight_column = weight_column
        self.chunk_rows = chunk_rows
        self.cache_dir = cache_dir
        self.shuffle_buffer = shuffle_buffer
        self.preprocessor = preprocessor
        # What needs no reading is checked now, not at the first epoch.
        _check_positive_int(shuffle_buffer, "shuffle_buffer")
        if cache_dir is not None and not isinstance(cache_dir, (str, os.PathLike)):
            raise TypeError(f"cache_dir must be a path or None, got {cache_dir!r}.")
        if preprocessor is not None and not hasattr(preprocessor, "transform"):
            raise TypeError(
                "preprocessor must be a scikit-learn transformer (with fit and transform), "
                f"got {type(preprocessor).__name__}."
            )
        if callable(chunks):
            if target_columns is not None or weight_column is not None:
                raise ValueError(
                    "target_columns and weight_column apply to Parquet files only: with a "
                    "callable, each chunk carries its labels and weights, (X, Y) or "
                    "(X, Y, sample_weight)."
                )
            self._paths = None
            return
        _check_positive_int(chunk_rows, "chunk_rows")
        if isinstance(target_columns, str):
            raise TypeError(
                f"target_columns must be a list of column names in task order, got the "
                f"string {target_columns!r}: write target_columns=[{target_columns!r}]."
            )
        if target_columns is None or not len(target_columns):
            raise ValueError(
                "ChunkedData over Parquet files needs target_columns, the label columns "
                "in task order."
            )
        if weight_column is not None and not isinstance(weight_column, str):
            raise TypeError(f"weight_column must be a column name, got {weight_column!r}.")
        self._paths = parquet_paths(chunks)

    def __iter__(self):
        return self._read()

    def _read(self, units=None):
        """The checked (and preprocessed) ``(X, Y, sample_weight)`` chunks; with
        ``units`` (``(file index, row group)`` pairs of the Parquet files),
        only the rows of those row groups."""
        if units is not None:
            # A share's first chunk is not the data's: the preprocessor is fitted
            # on the data's first chunk, as in every process.
            self._resolve_preprocessor()
        # A pass that ends with fewer rows than the first complete one means the
        # callable handed back an exhausted iterator (the same generator again):
        # training on it would silently see nothing.
        n_rows = 0
        for k, (X, Y, weight, where) in enumerate(self._chunks(units)):
            if not _num_samples(X):
                raise ValueError(f"ChunkedData: {where} has no rows.")
            if self.preprocessor is not None:
                X = self._preprocess(X, where)
            if weight is not None and not np.any(np.asarray(weight, dtype=np.float64)):
                raise ValueError(
                    f"ChunkedData: every sample weight of {where} is zero; drop the chunk, "
                    "or give some of its rows a positive weight."
                )
            n_rows += _num_samples(X)
            yield X, Y, weight
        if units is not None:
            return
        expected = self.__dict__.get("_rows_per_pass")
        if expected is None:
            self._rows_per_pass = n_rows
        elif n_rows < expected:
            raise ValueError(
                f"ChunkedData: this pass over the chunks gave {n_rows} rows, the first "
                f"gave {expected}. The callable must return a fresh iterable each time it "
                "is called (e.g. be a generator function, not return one generator "
                "object), since fit reads the chunks again every epoch."
            )

    def __array__(self, dtype=None, copy=None):
        # scikit-learn converts what it is given with numpy: a transformer
        # step of a Pipeline or a search given chunks would otherwise fail
        # with an array error that does not say what to do.
        raise TypeError(
            "ChunkedData is read only by the fit of the sklearn_mtl estimators, not "
            "by other scikit-learn estimators: pass a Pipeline's transformers as "
            "ChunkedData(..., preprocessor=...) and fit the model alone; search "
            "parameters with a loop over ParameterGrid scored on held-out rows."
        )

    def _preprocess(self, X, where):
        """``X`` transformed by the fitted preprocessor, fitting a clone of
        an unfitted one on this (the first) chunk."""
        if not self._preprocessor_is_current():
            try:
                check_is_fitted(self.preprocessor)
                self.preprocessor_ = self.preprocessor
            except NotFittedError:
                self.preprocessor_ = clone(self.preprocessor).fit(X)
            self._preprocessor_key = _state_key(self.preprocessor)
        Xt = self.preprocessor_.transform(X)
        if not isinstance(Xt, pd.DataFrame):
            raise TypeError(
                f"ChunkedData: preprocessor gave a {type(Xt).__name__} for {where}, not a "
                "DataFrame: configure it with preprocessor.set_output(transform='pandas')."
            )
        if len(Xt) != _num_samples(X):
            raise ValueError(
                f"ChunkedData: preprocessor gave {len(Xt)} rows for the {_num_samples(X)} "
                f"of {where}; it must transform each row, not drop or add rows."
            )
        return Xt

    def _preprocessor_is_current(self):
        """Whether ``preprocessor_`` came from ``preprocessor`` as it is now: a
        preprocessor replaced or changed after a read is resolved again, never
        silently kept."""
        key = self.__dict__.get("_preprocessor_key")
        return key is not None and key == _state_key(self.preprocessor)

    def _resolve_preprocessor(self):
        """Fit an unfitted preprocessor on the first chunk, unless done already."""
        if self.preprocessor is not None and not self._preprocessor_is_current():
            next(iter(self), None)

    def _fingerprint(self, units=None):
        """What identifies the rows of the Parquet files without reading them
        (each file's path, size, modification time and schema, the reading
        settings, the fitted preprocessor and the ``units`` read, if not all),
        or None for a callable."""
        if self._paths is None:
            return None
        self._resolve_preprocessor()
        preprocessor = None if self.preprocessor is None else _state_key(self.preprocessor_)
        if isinstance(preprocessor, tuple):
            return None  # a state that cannot be hashed cannot vouch for a cache
        return (
            [parquet_identity(path) for path in self._paths],
            list(self.target_columns),
            self.weight_column,
            self.chunk_rows,
            preprocessor,
            units,
        )

    def _units(self):
        """The row groups of the Parquet files, ``(file index, row group, rows)``,
        from their footers; None for a callable, which cannot be split
        without reading it."""
        if self._paths is None:
            return None
        return parquet_units(self._paths, self.target_columns, self.weight_column)

    def _description(self):
        """What every process of a data-parallel fit that reads its own share
        of the files must pass alike: the files (names and sizes) and settings."""
        return (
            [(path.name, path.stat().st_size) for path in self._paths],
            list(self.target_columns),
            self.weight_column,
            self.chunk_rows,
            self.shuffle_buffer,
        )

    def _chunks(self, units=None):
        if self._paths is not None:
            yield from read_parquet_chunks(
                self._paths, self.target_columns, self.weight_column, self.chunk_rows, units
            )
            return
        for k, chunk in enumerate(self.chunks()):
            if not isinstance(chunk, tuple) or len(chunk) not in (2, 3):
                raise TypeError(
                    "Each chunk of ChunkedData must be an (X, Y) or (X, Y, sample_weight) "
                    f"tuple, got {type(chunk).__name__} at chunk {k}."
                )
            X, Y, weight = chunk if len(chunk) == 3 else (*chunk, None)
            yield X, Y, weight, f"chunk {k}"


def _state_key(estimator):
    """A hash of ``estimator``'s parameters and fitted state; for one that
    cannot be pickled (a function defined in a notebook, say), a tuple of
    its identity and parameters, which tells a replaced or changed
    estimator but not one refitted in place."""
    try:
        return joblib.hash(estimator)
    except (pickle.PicklingError, TypeError, AttributeError):
        return (id(estimator), repr(estimator.get_params(deep=True)))
