"""Mixture-of-experts pieces: softmax gates and the gated mixture."""

from typing import List

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
    dropout : float, default=0.0
        Gate dropout: in training, each gate drops each expert from its
        mixture of a row with this probability and spreads the weight
        over the experts it kept (a row that would drop them all keeps
        them all), so that no gate leans on one expert alone. The
        weights are those of the softmax in evaluation.

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

    def __init__(self, in_features, n_experts, n_gates, *, hidden_units=(), bias=False,
                 dropout=0.0):
        super().__init__()
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout!r}.")
        self.dropout = float(dropout)
        self.hidden = ParallelMLP(n_gates, in_features, hidden_units)
        self.linear = ParallelLinear(n_gates, self.hidden.out_features, n_experts, bias=bias)

    def forward(self, x):
        hidden = self.hidden(x) if len(self.hidden) else x
        return self.from_logits(self.linear(hidden))

    def from_logits(self, logits):
        """The gate weights from the output of the gate's last linear map.

        Parameters
        ----------
        logits : torch.Tensor of shape (n, n_gates, n_experts)
            Output of the last linear map.

        Returns
        -------
        torch.Tensor of shape (n, n_gates, n_experts)
            Each row sums to one.
        """
        # torch.softmax over a last dimension of a few experts runs 2-4x slower on
        # CPU than these elementwise steps (forward and backward); the max is a
        # constant shift, which the softmax ignores, so it needs no gradient.
        exp = (logits - logits.detach().amax(dim=-1, keepdim=True)).exp()
        if self.training and self.dropout > 0.0:
            keep = torch.rand_like(exp) >= self.dropout
            # A mixture needs an expert: a row that dropped every one keeps them all.
            keep = keep | ~keep.any(dim=-1, keepdim=True)
            exp = exp * keep.to(exp.dtype)
        return exp / exp.sum(dim=-1, keepdim=True)


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
    n_gates, n_experts = gate_weights.shape[1], gate_weights.shape[2]
    # 400: the smallest rows x inner x columns that ATen's CPU bmm multiplies with a GEMM.
    missing_rows = -(-400 // (n_experts * expert_outputs.shape[2])) - n_gates
    if missing_rows <= 0 or not gate_weights.is_cpu:
        return torch.bmm(gate_weights, expert_outputs)
    # CPU bmm sends each product of gates x experts x width under 400 to a scalar
    # loop 3-4x slower than its GEMM path, forward and backward alike (PLE's levels,
    # MMoE with few experts); zero gates lift it onto the GEMM path. shape[0], not
    # len(): a trace keeps the batch size dynamic.
    padding = gate_weights.new_zeros(gate_weights.shape[0], missing_rows, n_experts)
    padded = torch.bmm(torch.cat([gate_weights, padding], dim=1), expert_outputs)
    return padded[:, :n_gates]


def importance_cv2(gate_weights, sample_weight=None):
    """Squared coefficient of variation of each gate's importance over its experts.

    The importance of an expert to a gate is the gate's summed weight on
    it over a batch; its squared coefficient of variation (variance over
    mean squared, across the experts) is the load-balancing loss of
    Shazeer et al. (ICLR 2017): zero when the gate spreads its weight
    evenly, ``n_experts - 1`` when one expert takes all of it.

    Parameters
    ----------
    gate_weights : torch.Tensor of shape (n, n_gates, n_experts)
        Softmax weights of each gate.
    sample_weight : torch.Tensor of shape (n,), default=None
        Row weights.

    Returns
    -------
    torch.Tensor of shape (n_gates,)

    Examples
    --------
    >>> import torch
    >>> from sklearn_mtl.nn import importance_cv2
    >>> even = torch.full((4, 1, 2), 0.5)
    >>> collapsed = torch.tensor([[[1.0, 0.0]]]).expand(4, 1, 2)
    >>> importance_cv2(torch.cat([even, collapsed], dim=1))
    tensor([0., 1.])
    """
    if sample_weight is not None:
        gate_weights = gate_weights * sample_weight.view(-1, 1, 1)
    importance = gate_weights.sum(0)
    mean = importance.mean(-1)
    variance = ((importance - mean.unsqueeze(-1)) ** 2).mean(-1)
    return variance / (mean**2 + 1e-10)


class GateBalanceMixin:
    """For a mixture-of-experts network: keeps the gate weights of the
    training forward pass for a load-balancing penalty.

    A network sets ``balance_gates`` and calls :meth:`_keep_gates` in its
    ``forward``; a loss reads :meth:`gate_balance_loss` once per step. Only
    training passes (train mode, gradients enabled) are kept, and reading
    releases them, so a fitted network holds no batch's gates, even after an
    eval-mode pass with gradients (e.g. a trace).
    """

    balance_gates = False
    _kept_gates = None

    @torch.jit.unused
    def _keep_gates(self, gates: List[torch.Tensor]):
        if self.balance_gates and self.training and torch.is_grad_enabled():
            self._kept_gates = gates

    def gate_balance_loss(self, sample_weight=None):
        """Mean over the gates of :func:`importance_cv2` in the last training pass.

        Parameters
        ----------
        sample_weight : torch.Tensor of shape (n_samples,), default=None
            Row weights of that pass's batch.

        Returns
        -------
        torch.Tensor
            A scalar; zero when no pass was kept.
        """
        gates, self._kept_gates = self._kept_gates, None
        if gates is None:
            return torch.zeros(())
        return torch.cat([importance_cv2(g, sample_weight) for g in gates]).mean()
