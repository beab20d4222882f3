"""Embedding of mixed categorical (single- and multi-valued) and numeric inputs."""

from typing import List

import torch
from torch import nn
from torch.nn import functional as F


class CategoricalInputs:
    """Category codes of single-valued columns plus bags of multi-valued columns.

    A multi-valued column gives each row a bag of item codes of varying
    length. The items of all bags are held flat, column by column (all
    bags of the first multi-valued column, then the second's...), and
    ``starts[i, j]`` is where row ``i``'s bag of column ``j`` begins in
    ``items``: the layout that :func:`torch.nn.functional.embedding_bag`
    reads, so a batch needs no padding.

    Parameters
    ----------
    codes : torch.Tensor of shape (n, n_single)
        Integer codes of the single-valued categorical columns.
    items : torch.Tensor of shape (n_items,)
        Integer item codes of every bag.
    starts : torch.Tensor of shape (n, n_multi_valued)
        Start of each bag in ``items`` (bags are in column-major order).
    lengths : torch.Tensor of shape (n, n_multi_valued)
        Number of items of each bag.
    weights : torch.Tensor of shape (n_items,), default=None
        Weight of each item; None weighs every item 1.

    Examples
    --------
    >>> import torch
    >>> from sklearn_mtl.nn import CategoricalInputs
    >>> inputs = CategoricalInputs.from_bags(torch.tensor([[1], [2]]), [[[3, 4], []]])
    >>> len(inputs), inputs.items.tolist(), inputs.starts.tolist()
    (2, [3, 4], [[0], [2]])
    >>> inputs.take(torch.tensor([1, 0])).starts.tolist()
    [[0], [0]]
    """

    def __init__(self, codes, items, starts, lengths, weights=None):
        self.codes = codes
        self.items = items
        self.starts = starts
        self.lengths = lengths
        self.weights = weights

    @classmethod
    def from_bags(cls, codes, bags, weights=None):
        """Build from ``bags[j][i]``, the list of item codes of row ``i`` in column
        ``j`` (and ``weights[j][i]``, their weights)."""
        lengths = torch.tensor([[len(bag) for bag in column] for column in bags], dtype=torch.int64)
        flat = [item for column in bags for bag in column for item in bag]
        starts = torch.cumsum(lengths.reshape(-1), 0) - lengths.reshape(-1)
        if weights is not None:
            weights = torch.tensor([w for column in weights for bag in column for w in bag])
        return cls(
            codes,
            torch.tensor(flat, dtype=torch.int64),
            starts.reshape(lengths.shape).T,
            lengths.T,
            weights,
        )

    def __len__(self):
        return len(self.codes)

    def to(self, device):
        """A copy on ``device``.

        Parameters
        ----------
        device : str or torch.device
            Where the tensors go.

        Returns
        -------
        CategoricalInputs
        """
        return CategoricalInputs(
            *(None if t is None else t.to(device) for t in self._tensors())
        )

    def _tensors(self):
        return self.codes, self.items, self.starts, self.lengths, self.weights

    def take(self, index):
        """The rows at ``index``, their bags made contiguous.

        Parameters
        ----------
        index : slice or torch.Tensor
            Row positions.

        Returns
        -------
        CategoricalInputs
        """
        if isinstance(index, slice):
            codes, starts, lengths = self.codes[index], self.starts[index], self.lengths[index]
        else:
            # index_select gathers 1.3-2x faster than advanced indexing on CPU.
            codes, starts, lengths = (
                t.index_select(0, index) for t in (self.codes, self.starts, self.lengths)
            )
        n, n_bags = starts.shape
        starts, lengths = starts.T.reshape(-1), lengths.T.reshape(-1)
        new_starts = torch.cumsum(lengths, 0) - lengths
        # Position of every kept item in ``items``: its bag's shift plus a running count.
        bag = torch.repeat_interleave(lengths)
        positions = (starts - new_starts).index_select(0, bag) + torch.arange(
            bag.shape[0], device=lengths.device
        )
        return CategoricalInputs(
            codes,
            self.items.index_select(0, positions),
            new_starts.reshape(n_bags, n).T,
            lengths.reshape(n_bags, n).T,
            None if self.weights is None else self.weights.index_select(0, positions),
        )

    __getitem__ = take


class MixedInputEmbedding(nn.Module):
    """Concatenate per-column category embeddings with numeric features.

    All categorical columns share one embedding table: each column's codes are
    shifted by an offset so that a single lookup embeds every column at once.
    Code 0 of every column is reserved for unknown or missing categories.
    Multi-valued columns (bags of items) are embedded from the same table and
    pooled over each row's items (``pooling``) in one pass over all bags: on
    CPU a gather and a segment sum (the sums of
    :func:`~torch.nn.functional.embedding_bag`, with a cheaper backward),
    elsewhere and for ``"max"`` ``embedding_bag`` itself; an empty bag pools
    to a zero vector. With
    item weights, ``"sum"`` is the weighted sum and ``"mean"`` the weighted
    mean (a bag of zero total weight pools to zeros).

    Parameters
    ----------
    cardinalities : sequence of int
        Number of codes of each single-valued categorical column, the
        reserved code included.
    n_numeric : int
        Number of numeric columns.
    embedding_dim : int
        Width of each category embedding.
    bag_cardinalities : sequence of int, default=()
        Number of item codes of each multi-valued column, the reserved code
        included.
    pooling : {"mean", "sum", "max"}, default="mean"
        How a bag's item embeddings are pooled into one vector (``"max"``
        takes no item weights).
    init_std : float or None, default=None
        Standard deviation of the normal distribution the table starts
        from; None keeps torch's N(0, 1). DeepCTR-Torch and torch-rechub
        start at N(0, 1e-4): small embeddings let the standardized numeric
        features, not the noise of unit-variance embeddings, lead the first
        layer. On the full census-income set (MMoE, SharedBottom and PLE at
        their defaults, 5 epochs, 3 seeds) 1e-4 raised the held-out income
        AUC by 0.0006 to 0.0019 (seed standard deviations 0.0002 to
        0.0009), but short fits learn the embeddings too slowly from it
        (8,000 census rows, 4 epochs: multiclass education accuracy 0.550
        against 0.448). The estimators' ``embedding_init_std="auto"``
        therefore passes 1e-4 only to fits of at least 200 optimizer steps,
        and 0.05 to a sparse table (hashed IDs: rows looked up a few times
        an epoch), which never grows out of 1e-4.
    sparse : bool, default=False
        Whether the table's gradient is a sparse tensor of the rows a batch
        looks up, for :class:`~sklearn_mtl.nn.LazyAdam` or
        :class:`~sklearn_mtl.nn.RowWiseAdagrad` (dense optimizers such as
        Adam reject it). A dense gradient has the table's size: with
        millions of IDs, writing it and updating every row each step costs
        more than the network (``benchmarks/bench_scale.py``).
        ``pooling="max"`` has no sparse gradient in torch.

    Attributes
    ----------
    out_features : int
        ``n_fields * embedding_dim + n_numeric``.
    n_fields : int
        Number of embedded fields, ``len(cardinalities) + len(bag_cardinalities)``.
    embedding_dim : int
        Width of each field's embedding.

    Notes
    -----
    ``forward(categorical, numeric)`` takes the ``(n, n_categorical)``
    integer codes (or, with multi-valued columns, a
    :class:`CategoricalInputs`) and a float tensor of shape
    ``(n, n_numeric)``. The output holds the single-valued embeddings, then
    the pooled bags, then the numeric features.

    Examples
    --------
    >>> import torch
    >>> from sklearn_mtl.nn import MixedInputEmbedding
    >>> embed = MixedInputEmbedding([3, 5], n_numeric=2, embedding_dim=4)
    >>> codes = torch.tensor([[0, 4], [2, 1]])
    >>> embed(codes, torch.zeros(2, 2)).shape
    torch.Size([2, 10])
    >>> embed.field_embeddings(codes, torch.zeros(2, 2)).shape
    torch.Size([2, 2, 4])
    """

    #: Modules pickled before the option existed have dense gradients.
    sparse = False

    def __init__(
        self,
        cardinalities,
        n_numeric,
        embedding_dim,
        *,
        bag_cardinalities=(),
        pooling="mean",
        init_std=None,
        sparse=False,
    ):
        super().__init__()
        cardinalities = [int(c) for c in cardinalities]
        bag_cardinalities = [int(c) for c in bag_cardinalities]
        n_single, n_bags = len(cardinalities), len(bag_cardinalities)
        all_offsets = torch.cumsum(torch.tensor([0, *cardinalities, *bag_cardinalities]), 0)
        self.register_buffer("offsets", all_offsets[:n_single].clone())
        self.register_buffer("bag_offsets", all_offsets[n_single : n_single + n_bags].clone())
        n_codes = int(all_offsets[-1])
        # Built around uninitialised memory and drawn once: nn.Embedding's own N(0, 1)
        # draw would be a second pass over a table of millions of rows.
        self.table = (
            nn.Embedding(n_codes, embedding_dim, _weight=torch.empty(n_codes, embedding_dim))
            if n_codes
            else None
        )
        self.init_std = init_std
        self.redraw()
        self.n_numeric = n_numeric
        self.n_single = n_single
        self.n_bags = n_bags
        self.pooling = pooling
        self.sparse = sparse
        self.n_fields = n_single + n_bags
        self.embedding_dim = embedding_dim
        self.out_features = self.n_fields * embedding_dim + n_numeric
        self.sparse_gradients(sparse)

    def sparse_gradients(self, sparse=True):
        """Switch the table's gradient between sparse and dense (``sparse``).

        Parameters
        ----------
        sparse : bool, default=True
            Whether the table's gradient is sparse from now on.

        Returns
        -------
        self : MixedInputEmbedding
        """
        if sparse and self.pooling == "max" and self.n_bags:
            raise ValueError(
                "pooling='max' has no sparse gradient (torch's embedding_bag cannot "
                "max-pool with sparse=True); use pooling='mean' or 'sum', or sparse=False."
            )
        self.sparse = sparse
        if self.table is not None:
            # DistributedDataParallel reads the table's own flag to expect a sparse gradient.
            self.table.sparse = sparse
        return self

    # Not reset_parameters: code that walks modules() calling reset_parameters reaches the
    # table's nn.Embedding too, which redraws it at N(0, 1) whatever init_std is.
    def redraw(self):
        """Draw the table again from its initial distribution (``init_std``)."""
        if self.table is not None:
            std = 1.0 if self.init_std is None else self.init_std
            nn.init.normal_(self.table.weight, 0.0, std)

    def field_embeddings(self, categorical, numeric):
        """Each field's embedding: the single-valued columns', then the pooled bags'.

        The leading ``n_fields * embedding_dim`` columns of the output,
        viewed one field per row; the numeric columns are left out (a
        factorisation machine gives them factors of its own).

        Parameters
        ----------
        categorical : torch.Tensor of shape (n, n_single) or CategoricalInputs
            Category codes, as for ``forward``.
        numeric : torch.Tensor of shape (n, n_numeric)
            Standardized numeric features.

        Returns
        -------
        torch.Tensor of shape (n, n_fields, embedding_dim)
        """
        out = self(categorical, numeric)
        width = self.n_fields * self.embedding_dim
        return out[:, :width].reshape(out.shape[0], self.n_fields, self.embedding_dim)

    def forward(self, categorical, numeric):
        # TorchScript cannot type a CategoricalInputs (a plain Python object):
        # a scripted embedding takes the codes tensor of single-valued columns.
        codes = categorical if torch.jit.is_scripting() else self._codes(categorical)
        parts: List[torch.Tensor] = []
        if self.table is not None:
            if self.n_single:
                rows = self._lookup((codes + self.offsets).flatten())
                parts.append(rows.view(codes.shape[0], codes.shape[1] * rows.shape[1]))
            if self.n_bags:
                parts.append(self._pool(categorical))
        if self.n_numeric:
            parts.append(numeric)
        return parts[0] if len(parts) == 1 else torch.cat(parts, dim=1)

    def _lookup(self, codes: torch.Tensor) -> torch.Tensor:
        if self.sparse:
            return F.embedding(codes, self.table.weight, sparse=True)
        # index_select's backward is an index_add, several times faster on CPU
        # than nn.Embedding's dense backward (same values).
        return self.table.weight.index_select(0, codes)

    @torch.jit.unused
    def _codes(self, categorical) -> torch.Tensor:
        return categorical.codes if isinstance(categorical, CategoricalInputs) else categorical

    @torch.jit.unused
    def _pool(self, bags) -> torch.Tensor:
        n, n_bags = bags.starts.shape
        lengths = bags.lengths.T.reshape(-1)
        # Every item of column j is shifted by that column's offset in the shared table.
        column_of_item = torch.repeat_interleave(
            torch.arange(n_bags, device=lengths.device), bags.lengths.sum(0)
        )
        codes = bags.items + self.bag_offsets[column_of_item]
        offsets = bags.starts.T.reshape(-1)
        if self.pooling == "max":
            if bags.weights is not None:
                raise ValueError(
                    "Weighted items cannot be max-pooled; use pooling='sum' or 'mean'."
                )
            pooled = F.embedding_bag(codes, self.table.weight, offsets, mode="max")
        else:
            pooled = self._pool_sum(codes, offsets, lengths, bags.weights)
        # Bags come column by column: (n_bags * n, dim) -> (n, n_bags * dim).
        return pooled.reshape(n_bags, n, -1).transpose(0, 1).flatten(1)

    def _pool_sum(self, codes, offsets, lengths, weights):
        table = self.table.weight
        if weights is not None:
            weights = weights.to(table.dtype)
        bag_of_item = torch.repeat_interleave(lengths)
        if table.device.type == "cpu":
            # A gather and a segment sum: the sums of embedding_bag, in its order, whose
            # CPU backward (a sort of the items, then a loop over them) costs several
            # times the forward; index_select's backward is an index_add and index_add's
            # an index_select.
            rows = self._lookup(codes)
            if weights is not None:
                rows = rows * weights.unsqueeze(1)
            pooled = rows.new_zeros(lengths.shape[0], table.shape[1])
            pooled = pooled.index_add(0, bag_of_item, rows)
        else:
            # A GPU's index_add adds in no fixed order; embedding_bag's sums repeat.
            pooled = F.embedding_bag(
                codes, table, offsets, mode="sum", per_sample_weights=weights, sparse=self.sparse
            )
        if self.pooling == "sum":
            return pooled
        if weights is None:
            total = lengths.to(table.dtype)
        else:
            total = torch.zeros(lengths.shape[0], dtype=table.dtype, device=table.device)
            total = total.index_add(0, bag_of_item, weights)
        # An empty bag (or one of zero total weight) pools to zeros.
        return pooled / torch.where(total > 0, total, torch.ones_like(total)).unsqueeze(1)
