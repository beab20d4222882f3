"""Host-resident data sets and the batches cut from them."""

from dataclasses import dataclass
from itertools import accumulate

import numpy as np
import torch
from sklearn.model_selection import StratifiedShuffleSplit

from ..nn import CategoricalInputs


def module_inputs(encoded, dtype):
    """The module's ``forward`` keywords for :class:`EncodedFeatures`, sharing their memory.

    Numerics are converted to ``dtype`` (no copy for float32); integer codes
    stay in their compact host dtype until a batch is cut.
    """
    codes = torch.from_numpy(encoded.codes)
    if encoded.items is not None:
        codes = CategoricalInputs(
            codes,
            torch.from_numpy(encoded.items),
            torch.from_numpy(encoded.starts),
            torch.from_numpy(encoded.lengths),
            None if encoded.weights is None else torch.from_numpy(encoded.weights),
        )
    return {"categorical": codes, "numeric": torch.from_numpy(encoded.numeric).to(dtype)}


def _rows(data, index):
    if data is None:
        return None
    # index_select gathers shuffled rows 4-7x faster than advanced indexing (which
    # also stalls under thread contention): 0.15 ms of every census batch.
    if isinstance(data, torch.Tensor) and isinstance(index, torch.Tensor):
        batch = data.index_select(0, index)
    else:
        batch = data[index]
    # Compact host codes widen to int64 per batch, as embedding lookups prefer.
    if isinstance(batch, CategoricalInputs):
        return CategoricalInputs(
            batch.codes.long(), batch.items.long(), batch.starts, batch.lengths, batch.weights
        )
    return batch.long() if batch.dtype == torch.int32 else batch


def _to_device(data, device):
    """A tensor or :class:`CategoricalInputs` (or None) on ``device``.

    A host batch bound for a GPU is copied from pinned (page-locked) memory
    without blocking, so that the host cuts the next batch while this one
    travels; the GPU runs the copy before any kernel that reads it.
    """
    if data is None:
        return None
    if isinstance(data, CategoricalInputs):
        return CategoricalInputs(
            *(
                _to_device(t, device)
                for t in (data.codes, data.items, data.starts, data.lengths, data.weights)
            )
        )
    if device.type == "cuda" and data.device.type == "cpu":
        return data.pin_memory().to(device, non_blocking=True)
    return data.to(device)


class TensorData(torch.utils.data.Dataset):
    """Model inputs, targets and row weights held as whole host tensors.

    A subset (:meth:`subset`) is a view: it keeps the row positions, not a
    copy, so a validation split costs an index array, not the data twice.

    Parameters
    ----------
    inputs : dict of str to (torch.Tensor or CategoricalInputs)
        Keyword arguments of the module's ``forward``, one row per sample.
    targets : torch.Tensor of shape (n, n_tasks), default=None
        Encoded labels, NaN where unobserved.
    sample_weight : torch.Tensor of shape (n,), default=None
        Row weights.
    rows : torch.Tensor of int64, default=None
        Positions of the rows of this view; all rows when None.
    """

    def __init__(self, inputs, targets=None, sample_weight=None, rows=None):
        self.inputs = inputs
        self.targets = targets
        self.sample_weight = sample_weight
        self.rows = rows

    def __len__(self):
        if self.rows is not None:
            return len(self.rows)
        return len(next(iter(self.inputs.values())))

    def chunks(self, shuffle=False):
        """The parts that batches are cut from: this whole data set (which
        :class:`BatchIterator` shuffles itself when ``shuffle``)."""
        yield self

    def summed_over_shares(self, values):
        """``values`` computed on these rows, which every process of a
        data-parallel fit holds alike: as they are."""
        return values

    def to(self, device):
        """This data (a batch: a view is not moved) on ``device``; None keeps it."""
        if device is None:
            return self
        device = torch.device(device)
        return TensorData(
            {name: _to_device(t, device) for name, t in self.inputs.items()},
            _to_device(self.targets, device),
            _to_device(self.sample_weight, device),
        )

    def subset(self, positions):
        """A view of the rows at ``positions`` (an int64 tensor) of this data."""
        rows = positions if self.rows is None else self.rows[positions]
        return TensorData(self.inputs, self.targets, self.sample_weight, rows)

    def take(self, index):
        """The rows at ``index`` (a slice or an index tensor) as a batch of new tensors."""
        if self.rows is not None:
            index = self.rows[index] if isinstance(index, slice) else self.rows.index_select(0, index)
        return TensorData(
            {name: _rows(t, index) for name, t in self.inputs.items()},
            _rows(self.targets, index),
            _rows(self.sample_weight, index),
        )


def _concatenate(values):
    if values[0] is None:
        return None
    if not isinstance(values[0], CategoricalInputs):
        return torch.cat(values)
    # Each part's bags start after the items of the parts before it.
    shifts = accumulate((len(v.items) for v in values[:-1]), initial=0)
    return CategoricalInputs(
        torch.cat([v.codes for v in values]),
        torch.cat([v.items for v in values]),
        torch.cat([v.starts + shift for v, shift in zip(values, shifts)]),
        torch.cat([v.lengths for v in values]),
        _concatenate([v.weights for v in values]),
    )


def concatenate(parts):
    """The rows of :class:`TensorData` ``parts`` (whole, not views) as one."""
    if len(parts) == 1:
        return parts[0]
    return TensorData(
        {name: _concatenate([p.inputs[name] for p in parts]) for name in parts[0].inputs},
        _concatenate([p.targets for p in parts]),
        _concatenate([p.sample_weight for p in parts]),
    )


def split_validation(data, fraction, rng, strata=None):
    """Views of the training and validation rows of ``data`` (a random ``fraction``).

    With ``strata`` (one label per row), the split is stratified on them, as
    scikit-learn's classifiers stratify their validation split; a stratum too
    small to split falls back to a plain random split.
    """
    n_valid = int(round(fraction * len(data)))
    if n_valid < 1 or n_valid >= len(data):
        raise ValueError(
            f"validation_fraction={fraction} leaves an empty training or validation set "
            f"with {len(data)} samples; change it or set early_stopping=False."
        )
    if strata is not None:
        split = StratifiedShuffleSplit(n_splits=1, test_size=n_valid, random_state=rng)
        try:
            train, valid = next(split.split(np.zeros(len(data)), strata))
        except ValueError:  # a stratum too small to split
            strata = None
    if strata is None:
        order = rng.permutation(len(data))
        train, valid = order[n_valid:], order[:n_valid]

    def rows(index):
        return torch.from_numpy(np.asarray(index, dtype=np.int64))

    return data.subset(rows(train)), data.subset(rows(valid))


@dataclass(eq=False, repr=False)
class BatchIterator:
    """Mini-batches cut from host tensors, in a fresh random order per pass.

    Replaces ``DataLoader`` + per-row ``__getitem__`` + collate: one index
    gather per batch instead of ``batch_size`` Python calls. The data stays
    on the host; only each batch moves to ``device``.

    Parameters
    ----------
    dataset : TensorData or ChunkTensors
        The data.
    batch_size : int
        Rows per batch.
    shuffle : bool, default=False
        Whether each pass draws a new permutation (from torch's default
        generator, which the estimator seeds inside a forked RNG state).
    device : str or torch.device, default=None
        Where batches go; None leaves them on the host.
    shard : RowShard, default=None
        In data-parallel training, this process's share of the rows of each
        pass (with its own permutations); None takes every row.
    fold_single_row : bool, default=False
        Whether a trailing batch of one row joins the batch before it (one
        batch of ``batch_size + 1`` rows): BatchNorm in train mode cannot
        normalise a single row. A part of one row in all, or
        ``batch_size=1``, is then a ValueError.
    steps : int, default=None
        Full batches that each pass yields, and no other: the first
        ``steps`` full batches of its parts (each part's last, shorter batch
        skipped), which the parts must hold. In data-parallel training over
        shares of unequal sizes, every process then takes the same number of
        steps. None yields every row.
    """

    dataset: object
    batch_size: int
    shuffle: bool = False
    device: object = None
    shard: object = None
    fold_single_row: bool = False
    steps: int = None

    def __len__(self):
        if self.steps is not None:
            return self.steps
        n = len(self.dataset)
        if self.shard is not None:
            n //= self.shard.world_size
        return len(range(0, self._end_of_starts(n), self.batch_size))

    def _end_of_starts(self, n):
        """Where batch starts stop for a part of ``n`` rows."""
        if not self.fold_single_row:
            return n
        if self.batch_size < 2 or n < 2:
            raise ValueError(
                f"BatchNorm layers (batch_norm=True) need training batches of at least 2 "
                f"rows, but batch_size={self.batch_size} and the training data (or a chunk "
                f"of it) has {n} row(s): train on at least 2 rows in batches of at least "
                "2, or set batch_norm=False."
            )
        return n - 1 if n % self.batch_size == 1 else n

    def __iter__(self):
        batches = self._batches()
        if self.steps is None:
            yield from batches
            return
        try:
            for _, batch in zip(range(self.steps), batches):
                yield batch
        finally:
            batches.close()  # stops the reading of the parts ahead

    def _batches(self):
        # Chunked data (read out of core) gives one part per chunk, or per group of
        # chunks when shuffling; batches never span two parts.
        for part in self.dataset.chunks(shuffle=self.shuffle):
            n = len(part)
            if self.shard is not None:
                order = self.shard.rows(n, self.shuffle)
                n = len(order)
            else:
                order = torch.randperm(n) if self.shuffle else None
            if self.steps is None:
                end, last = self._end_of_starts(n), n
            else:
                if self.fold_single_row:
                    self._end_of_starts(self.batch_size)  # refuses batches of one row
                end = last = n - n % self.batch_size  # full batches only
            for start in range(0, end, self.batch_size):
                stop = start + self.batch_size if start + self.batch_size < end else last
                index = slice(start, stop) if order is None else order[start:stop]
                batch = part.take(index).to(self.device)
                yield batch.inputs, (batch.targets, batch.sample_weight)


def prediction_batches(encoder, X, batch_size, dtype, device, block_rows):
    """Module inputs for ``X`` in batches, encoding ``block_rows`` rows at a time
    so that memory stays bounded whatever the number of rows."""
    block_rows = max(batch_size, block_rows // batch_size * batch_size)
    for start in range(0, X.shape[0], block_rows):
        rows = slice(start, start + block_rows)
        block = X.iloc[rows] if hasattr(X, "iloc") else X[rows]
        data = TensorData(module_inputs(encoder.transform(block), dtype))
        for inputs, _ in BatchIterator(data, batch_size, device=device):
            yield inputs
