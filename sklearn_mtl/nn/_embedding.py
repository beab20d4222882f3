"""Embedding of mixed categorical and numeric inputs."""

import torch
from torch import nn


class MixedInputEmbedding(nn.Module):
    """Concatenate per-column category embeddings with numeric features.

    All categorical columns share one embedding table: each column's codes are
    shifted by an offset so that a single lookup embeds every column at once.
    Code 0 of every column is reserved for unknown or missing categories.

    Parameters
    ----------
    cardinalities : sequence of int
        Number of codes of each categorical column, the reserved code included.
    n_numeric : int
        Number of numeric columns.
    embedding_dim : int
        Width of each category embedding.

    Attributes
    ----------
    out_features : int
        ``len(cardinalities) * embedding_dim + n_numeric``.

    Notes
    -----
    ``forward(categorical, numeric)`` takes an ``int64`` tensor of shape
    ``(n, n_categorical)`` and a ``float32`` tensor of shape ``(n, n_numeric)``.

    Examples
    --------
    >>> import torch
    >>> from sklearn_mtl.nn import MixedInputEmbedding
    >>> embed = MixedInputEmbedding([3, 5], n_numeric=2, embedding_dim=4)
    >>> codes = torch.tensor([[0, 4], [2, 1]])
    >>> embed(codes, torch.zeros(2, 2)).shape
    torch.Size([2, 10])
    """

    def __init__(self, cardinalities, n_numeric, embedding_dim):
        super().__init__()
        cardinalities = [int(c) for c in cardinalities]
        offsets = torch.zeros(len(cardinalities), dtype=torch.int64)
        if cardinalities:
            offsets[1:] = torch.cumsum(torch.tensor(cardinalities[:-1]), 0)
        self.register_buffer("offsets", offsets)
        self.table = (
            nn.Embedding(sum(cardinalities), embedding_dim) if cardinalities else None
        )
        self.n_numeric = n_numeric
        self.out_features = len(cardinalities) * embedding_dim + n_numeric

    def forward(self, categorical, numeric):
        parts = []
        if self.table is not None:
            parts.append(self.table(categorical + self.offsets).flatten(1))
        if self.n_numeric:
            parts.append(numeric)
        return parts[0] if len(parts) == 1 else torch.cat(parts, dim=1)
