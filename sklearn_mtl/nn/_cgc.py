"""Customized Gate Control (CGC): one extraction level of PLE (Tang et al., RecSys 2020)."""

from typing import Optional, Tuple

import torch
from torch import nn

from .._shared import fill_doc
from ._experts import SoftmaxGate, mix_experts
from ._layers import ParallelMLP


@fill_doc
class CGCLevel(nn.Module):
    """One CGC level: task-specific and shared experts under per-task gates.

    Task ``k``'s gate weighs its own ``num_specific_experts`` experts and
    the ``num_shared_experts`` shared experts (the paper's eqs. 2-4). With
    ``shared_gate=True`` (every PLE level but the last) a shared gate weighs
    all experts of the level and feeds the shared experts of the next level
    (eq. 6).

    Parameters
    ----------
    {level_inputs}
    num_specific_experts : int
        Experts per task.
    num_shared_experts : int
        Experts shared by all tasks.
    expert_hidden_units : sequence of int
        Layer widths of each expert; the last is the expert output width.
    gate_hidden_units : sequence of int, default=()
        Optional hidden layers in each gate; empty is the paper's linear gate.
    shared_gate : bool, default=False
        Whether the level has the shared gate.
    dropout : float, default=0.0
        Dropout after each expert hidden layer.
    batch_norm : bool, default=False
        BatchNorm in the experts' hidden layers; the gates never get it.
    gate_bias : bool, default=False
        Whether each gate's linear map has a bias (the paper's has none).

    Attributes
    ----------
    out_features : int
        Width of each output representation.
    n_experts : int
        Experts of the level, ordered task 0's specific experts, ...,
        task ``n_tasks - 1``'s, then the shared experts.

    Notes
    -----
    ``forward(task_inputs, shared_input)`` takes task ``k``'s input
    ``task_inputs[:, k]`` (``(n, n_tasks, in_features)``; a 2-D
    ``(n, in_features)`` input is shared by every task, as in the first
    level) and the shared input ``(n, in_features)``. It returns the task
    outputs ``(n, n_tasks, out_features)``, the shared output
    ``(n, out_features)`` (None without the shared gate) and the gate
    weights ``(n, n_gates, n_experts)``: one row per task gate (then the
    shared gate) over all experts of the level, exactly zero on the experts
    that a gate does not see. Each expert group is one batched matmul;
    when ``task_inputs`` is ``shared_input`` (the same tensor, as in PLE's
    first level), the first linear layers of all experts and of linear
    gates are a single matmul.

    Examples
    --------
    >>> import torch
    >>> from sklearn_mtl.nn import CGCLevel
    >>> level = CGCLevel(6, 2, num_specific_experts=1, num_shared_experts=2,
    ...                  expert_hidden_units=(4,), shared_gate=True)
    >>> x = torch.randn(3, 6)
    >>> tasks, shared, weights = level(x, x)
    >>> tasks.shape, shared.shape, weights.shape
    (torch.Size([3, 2, 4]), torch.Size([3, 4]), torch.Size([3, 3, 4]))
    >>> weights[0, 0]  # task 0 sees its expert and the two shared ones
    tensor([..., 0.0000, ..., ...], grad_fn=<SelectBackward0>)
    """

    def __init__(
        self,
        in_features,
        n_tasks,
        *,
        num_specific_experts,
        num_shared_experts,
        expert_hidden_units,
        gate_hidden_units=(),
        shared_gate=False,
        dropout=0.0,
        batch_norm=False,
        gate_bias=False,
    ):
        super().__init__()
        self.n_tasks = n_tasks
        self.num_specific_experts = num_specific_experts
        self.n_experts = n_tasks * num_specific_experts + num_shared_experts
        self.specific_experts = ParallelMLP(
            n_tasks * num_specific_experts, in_features, expert_hidden_units, dropout=dropout,
            batch_norm=batch_norm,
        )
        self.shared_experts = ParallelMLP(
            num_shared_experts, in_features, expert_hidden_units, dropout=dropout,
            batch_norm=batch_norm,
        )
        self.out_features = self.shared_experts.out_features
        self.linear_gates = len(gate_hidden_units) == 0
        self.task_gates = SoftmaxGate(
            in_features, num_specific_experts + num_shared_experts, n_tasks,
            hidden_units=gate_hidden_units, bias=gate_bias,
        )
        self.shared_gate = (
            SoftmaxGate(
                in_features, self.n_experts, 1, hidden_units=gate_hidden_units, bias=gate_bias
            )
            if shared_gate
            else None
        )
        # Column of the level's expert list that each task gate's output weighs:
        # its own experts, then the shared ones.
        specific = torch.arange(n_tasks * num_specific_experts).view(n_tasks, -1)
        shared = torch.arange(n_tasks * num_specific_experts, self.n_experts)
        self.register_buffer(
            "_gated_columns",
            torch.cat([specific, shared.expand(n_tasks, -1)], dim=1),
            persistent=False,
        )

    def forward(self, task_inputs, shared_input):
        if task_inputs is shared_input:
            experts, task_weights, shared_weights = self._read_one_input(shared_input)
        else:
            per_expert = task_inputs
            if task_inputs.dim() == 3:
                per_expert = task_inputs.repeat_interleave(self.num_specific_experts, dim=1)
            experts = torch.cat(
                [self.specific_experts(per_expert), self.shared_experts(shared_input)], dim=1
            )
            task_weights = self.task_gates(task_inputs)
            shared_weights = (
                self.shared_gate(shared_input) if self.shared_gate is not None else None
            )
        # Scattering each gate's weights into the level's full expert list lets one
        # bmm mix every gate, and gives gate_weights a fixed layout per level.
        # shape[0], not len(): a trace (and an ONNX export) keeps the batch size dynamic.
        n = task_weights.shape[0]
        weights = task_weights.new_zeros(n, self.n_tasks, self.n_experts)
        weights = weights.scatter(2, self._gated_columns.expand(n, -1, -1), task_weights)
        if shared_weights is not None:
            weights = torch.cat([weights, shared_weights], dim=1)
        mixed = mix_experts(weights, experts)
        shared = mixed[:, self.n_tasks] if self.shared_gate is not None else None
        return mixed[:, : self.n_tasks], shared, weights

    def _read_one_input(
        self, x: torch.Tensor
    ) -> Tuple[torch.Tensor, torch.Tensor, Optional[torch.Tensor]]:
        """Experts and gates of a level that all read ``x`` (PLE's first level),
        their first linear layers run as one GEMM: on CPU a gate's skinny GEMM
        costs nearly as much as a wide one, and each GEMM re-reads ``x`` and adds
        its own gradient of it."""
        first_layers = [self.specific_experts[0].flat_weight(), self.shared_experts[0].flat_weight()]
        if self.linear_gates:
            first_layers.append(self.task_gates.linear.flat_weight())
            if self.shared_gate is not None:
                first_layers.append(self.shared_gate.linear.flat_weight())
        parts = (x @ torch.cat(first_layers, dim=1)).split([w.shape[1] for w in first_layers], 1)
        experts = torch.cat(
            [
                self.specific_experts.after_first_linear(self.specific_experts[0].from_flat(parts[0])),
                self.shared_experts.after_first_linear(self.shared_experts[0].from_flat(parts[1])),
            ],
            dim=1,
        )
        shared_weights: Optional[torch.Tensor] = None
        if self.linear_gates:
            gates = self.task_gates
            task_weights = gates.from_logits(gates.linear.from_flat(parts[2]))
            if self.shared_gate is not None:
                gate = self.shared_gate
                shared_weights = gate.from_logits(gate.linear.from_flat(parts[3]))
        else:
            task_weights = self.task_gates(x)
            if self.shared_gate is not None:
                shared_weights = self.shared_gate(x)
        return experts, task_weights, shared_weights

    def seen_gate_weights(self, weights):
        """Each gate's weights over the experts it sees.

        Parameters
        ----------
        weights : torch.Tensor of shape (n_samples, n_gates, n_experts)
            The gate weights ``forward`` returns, zero on the experts a gate
            cannot see.

        Returns
        -------
        list of torch.Tensor
            The task gates' ``(n, n_tasks, num_specific_experts +
            num_shared_experts)`` weights (own experts, then the shared
            ones), then the shared gate's ``(n, 1, n_experts)`` if the level
            has it.
        """
        columns = self._gated_columns.expand(len(weights), -1, -1)
        seen = [weights[:, : self.n_tasks].gather(2, columns)]
        if self.shared_gate is not None:
            seen.append(weights[:, self.n_tasks :])
        return seen
