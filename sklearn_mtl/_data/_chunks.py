"""Training data read one chunk at a time: out-of-core ``fit``."""

from numbers import Integral

import numpy as np
from sklearn.utils.validation import _num_samples

from ._parquet import parquet_paths, read_parquet_chunks


class ChunkedData:
    """Training data that ``fit`` reads one chunk at a time, epoch after epoch.

    Pass it as ``X`` to ``fit`` (with ``y=None``) to train over data that
    does not fit in memory: memory then grows with the chunk size, not with
    the number of rows. ``fit`` reads the chunks once to learn the
    vocabularies and numeric statistics (as if the chunks were one table),
    then once per epoch to train, and, with early stopping, once more per
    epoch for the validation rows: a fixed ``validation_fraction`` of each
    chunk, the same rows every epoch. Rows are shuffled within each chunk;
    shuffle rows across chunks beforehand (e.g. when writing the files).
    The tasks (their names, their classes) are read from the first chunk,
    which must therefore hold both classes of every binary task.

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

    Raises
    ------
    TypeError, ValueError
        At construction, for parameters that are wrong without reading
        anything: ``target_columns`` given as a string or missing,
        ``chunk_rows`` below 1, a file that does not exist, a directory
        without Parquet files. When a chunk is read, naming the file and the
        chunk's index (from 0): a file that is not readable Parquet, a
        missing target or weight column, a file whose columns or column
        types differ from the first file's, a file or chunk without rows, a
        chunk whose weights are all zero.

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

    def __init__(self, chunks, *, target_columns=None, weight_column=None, chunk_rows=65536):
        self.chunks = chunks
        self.target_columns = target_columns
        self.weight_column = weight_column
        self.chunk_rows = chunk_rows
        # What needs no reading is checked now, not at the first epoch.
        if callable(chunks):
            if target_columns is not None or weight_column is not None:
                raise ValueError(
                    "target_columns and weight_column apply to Parquet files only: with a "
                    "callable, each chunk carries its labels and weights, (X, Y) or "
                    "(X, Y, sample_weight)."
                )
            self._paths = None
            return
        if isinstance(chunk_rows, (bool, np.bool_)) or not isinstance(chunk_rows, Integral):
            raise TypeError(f"chunk_rows must be an int, got {chunk_rows!r}.")
        if chunk_rows < 1:
            raise ValueError(f"chunk_rows must be at least 1, got {chunk_rows}.")
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
        # A pass that ends with fewer rows than the first complete one means the
        # callable handed back an exhausted iterator (the same generator again):
        # training on it would silently see nothing.
        n_rows = 0
        for k, (X, Y, weight, where) in enumerate(self._chunks()):
            if not _num_samples(X):
                raise ValueError(f"ChunkedData: {where} has no rows.")
            if weight is not None and not np.any(np.asarray(weight, dtype=np.float64)):
                raise ValueError(
                    f"ChunkedData: every sample weight of {where} is zero; drop the chunk, "
                    "or give some of its rows a positive weight."
                )
            n_rows += _num_samples(X)
            yield X, Y, weight
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

    def _chunks(self):
        if self._paths is not None:
            yield from read_parquet_chunks(
                self._paths, self.target_columns, self.weight_column, self.chunk_rows
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
