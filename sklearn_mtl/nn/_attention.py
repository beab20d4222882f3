"""AITM's attention-based information transfer between funnel steps."""

import math

import torch
from torch import nn


class TransferAttention(nn.Module):
    """The AIT module of AITM (Xi et al., KDD 2021, eqs. 2-4).

    Attends over two ``K``-wide inputs, the information ``p`` transferred
    from the previous funnel step and the task's own tower output ``q``:
    ``w_u = softmax_u(<h1(u), h2(u)> / sqrt(K))`` over ``u in {p, q}``, and
    the output is ``sum_u w_u h3(u)``. ``h1``, ``h2``, ``h3`` are bias-free
    ``K x K`` maps shared by both inputs.

    Parameters
    ----------
    dim : int
        Width ``K`` of both inputs and of the output.

    Notes
    -----
    ``forward(p, q)`` takes two ``(n, K)`` tensors and returns the
    ``(n, K)`` output and the ``(n, 2)`` attention weights on ``(p, q)``.

    Examples
    --------
    >>> import torch
    >>> from sklearn_mtl.nn import TransferAttention
    >>> ait = TransferAttention(4)
    >>> z, weights = ait(torch.randn(3, 4), torch.randn(3, 4))
    >>> z.shape, weights.shape
    (torch.Size([3, 4]), torch.Size([3, 2]))
    >>> bool(torch.allclose(weights.sum(1), torch.ones(3)))
    True
    """

    def __init__(self, dim):
        super().__init__()
        self.dim = dim
        self.h1 = nn.Linear(dim, dim, bias=False)
        self.h2 = nn.Linear(dim, dim, bias=False)
        self.h3 = nn.Linear(dim, dim, bias=False)

    def forward(self, p, q):
        u = torch.stack([p, q], dim=1)
        scores = (self.h1(u) * self.h2(u)).sum(-1) / math.sqrt(self.dim)
        weights = torch.softmax(scores, dim=1)
        return (weights.unsqueeze(-1) * self.h3(u)).sum(1), weights
