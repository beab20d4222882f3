"""Whole-tensor data sets and the batches cut from them."""

import torch


class TensorData(torch.utils.data.Dataset):
    """Model inputs, targets and row weights held as whole tensors.

    Parameters
    ----------
    inputs : dict of str to torch.Tensor
        Keyword arguments of the module's ``forward``, one row per sample.
    targets : torch.Tensor of shape (n, n_tasks), default=None
        Encoded labels, NaN where unobserved.
    sample_weight : torch.Tensor of shape (n,), default=None
        Row weights.
    """

    def __init__(self, inputs, targets=None, sample_weight=None):
        self.inputs = inputs
        self.targets = targets
        self.sample_weight = sample_weight

    def __len__(self):
        return len(next(iter(self.inputs.values())))

    def to(self, device):
        def move(tensor):
            return None if tensor is None else tensor.to(device)

        return TensorData(
            {name: move(t) for name, t in self.inputs.items()},
            move(self.targets),
            move(self.sample_weight),
        )

    def take(self, index):
        """The rows at ``index`` (a slice or an index tensor) as a new TensorData."""

        def rows(tensor):
            return None if tensor is None else tensor[index]

        return TensorData(
            {name: rows(t) for name, t in self.inputs.items()},
            rows(self.targets),
            rows(self.sample_weight),
        )


class BatchIterator:
    """Mini-batches cut from whole tensors, in a fresh random order per pass.

    Replaces ``DataLoader`` + per-row ``__getitem__`` + collate: one index
    gather per batch instead of ``batch_size`` Python calls.

    Parameters
    ----------
    dataset : TensorData
        The data.
    batch_size : int
        Rows per batch.
    shuffle : bool, default=False
        Whether each pass draws a new permutation (from torch's default
        generator, which the estimator seeds inside a forked RNG state).
    """

    def __init__(self, dataset, batch_size, shuffle=False):
        self.dataset = dataset
        self.batch_size = batch_size
        self.shuffle = shuffle

    def __len__(self):
        return -(-len(self.dataset) // self.batch_size)

    def __iter__(self):
        n = len(self.dataset)
        device = next(iter(self.dataset.inputs.values())).device
        order = torch.randperm(n, device=device) if self.shuffle else None
        for start in range(0, n, self.batch_size):
            index = slice(start, start + self.batch_size) if order is None else order[start : start + self.batch_size]
            batch = self.dataset.take(index)
            yield batch.inputs, (batch.targets, batch.sample_weight)
