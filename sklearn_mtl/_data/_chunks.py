"""Training data read one chunk at a time: out-of-core ``fit``."""

import os
from pathlib import Path


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
        it is called, each chunk an ``(X, Y)`` or ``(X, Y, sample_weight)``
        tuple as ``fit`` takes them; or a directory of Parquet files (read
        in file-name order) or a list of Parquet files, read with pyarrow
        ``chunk_rows`` rows at a time.
    target_columns : list of str, default=None
        With Parquet files: the label columns, in task order. Required then.
    weight_column : str, default=None
        With Parquet files: a column of row weights, if any.
    chunk_rows : int, default=65536
        With Parquet files: rows per chunk.

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

    def __iter__(self):
        if callable(self.chunks):
            for chunk in self.chunks():
                if not isinstance(chunk, tuple) or len(chunk) not in (2, 3):
                    raise TypeError(
                        "Each chunk of ChunkedData must be an (X, Y) or (X, Y, sample_weight) "
                        f"tuple, got {type(chunk).__name__}."
                    )
                yield chunk if len(chunk) == 3 else (*chunk, None)
            return
        yield from self._parquet_chunks()

    def _parquet_chunks(self):
        import pyarrow.parquet as pq

        if not self.target_columns:
            raise ValueError(
                "ChunkedData over Parquet files needs target_columns, the label columns "
                "in task order."
            )
        paths = self.chunks
        if isinstance(paths, (str, os.PathLike)):
            paths = sorted(Path(paths).glob("*.parquet")) if Path(paths).is_dir() else [paths]
        if not paths:
            raise ValueError(f"ChunkedData found no Parquet file in {self.chunks!r}.")
        targets = list(self.target_columns)
        dropped = targets + ([self.weight_column] if self.weight_column else [])
        for path in paths:
            for batch in pq.ParquetFile(path).iter_batches(batch_size=self.chunk_rows):
                frame = batch.to_pandas()
                weight = None if not self.weight_column else frame[self.weight_column].to_numpy()
                yield frame.drop(columns=dropped), frame[targets], weight
