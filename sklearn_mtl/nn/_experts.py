"""Mixture-of-experts pieces: softmax gates and the gated mixture."""

import torch
from torch import nn

from ._layers import ParallelLinear, ParallelMLP


class SoftmaxGate(nn.Module):
    """``n_gates`` gates, each a softmax over ``n_experts`` (MMoE eq. 5).

    Gate ``k`` is ``softmax(W_k x)``: a linear map of the input followed by a
    softmax, with no normalisation layer in front of the softmax (a BatchNorm
    there rescales the gate logits per batch and changes what the gate means).

    Parameters
    ----------
    in_features : int
        Input width.
    n_experts : int
        Number of experts each gate weighs.
    n_gates : int
        Number of gates (one per task in MMoE).
    hidden_units : sequence of int, default=()
        Optional hidden layers before the linear map; empty is the paper's gate.
    bias : bool, default=False
        Whether the final linear map has a bias (the paper's has none).

    Examples
    --------
    >>> import torch
    >>> from sklearn_mtl.nn import SoftmaxGate
    >>> gate = SoftmaxGate(6, n_experts=4, n_gates=2)
    >>> weights = gate(torch.randn(3, 6))
    >>> weights.shape
    torch.Size([3, 2, 4])
    >>> bool(torch.allclose(weights.sum(-1), torch.ones(3, 2)))
    True
    """

    def __init__(self, in_features, n_experts, n_gates, *, hidden_units=(), bias=False):
        super().__init__()
        self.hidden = ParallelMLP(n_gates, in_features, hidden_units)
        self.linear = ParallelLinear(n_gates, self.hidden.out_features, n_experts, bias=bias)

    def forward(self, x):
        hidden = self.hidden(x) if len(self.hidden) else x
        return torch.softmax(self.linear(hidden), dim=-1)


def mix_experts(gate_weights, expert_outputs):
    """Weighted sum of expert outputs per gate.

    Parameters
    ----------
    gate_weights : torch.Tensor of shape (n, n_gates, n_experts)
        Rows sum to one.
    expert_outputs : torch.Tensor of shape (n, n_experts, d)
        Output of each expert.

    Returns
    -------
    torch.Tensor of shape (n, n_gates, d)

    Examples
    --------
    >>> import torch
    >>> from sklearn_mtl.nn import mix_experts
    >>> mix_experts(torch.full((1, 1, 2), 0.5), torch.tensor([[[2.0], [4.0]]]))
    tensor([[[3.]]])
    """
    return torch.bmm(gate_weights, expert_outputs)
