"""STEM: Shared and Task-specific EMbeddings (Su et al., AAAI 2024)."""

import copy
from typing import List

import torch
from torch import nn

from .._shared import fill_doc
from ._experts import SoftmaxGate, mix_experts
from ._checks import check_counts, check_expert_hidden_units
from ._layers import ParallelMLP
from ._levels import GatedLevelsMixin


@fill_doc
class STEMLevel(nn.Module):
    """One level of STEM's all-forward task-specific mixture of experts.

    Task ``k``'s experts see task ``k``'s representation, the shared experts
    the shared one. Task ``k``'s gate, on the sum of its representation
    and the shared one, weighs **all** experts, but the other tasks'
    experts enter its mixture with their gradient stopped: task ``k``'s
    loss trains its own experts, the shared experts and (through them) its
    own and the shared embeddings only. A shared gate (every level but the
    last) weighs all experts with no gradient stopped and feeds the next
    level's shared experts.

    Parameters
    ----------
    {level_inputs}
    num_specific_experts : int
        Experts of each task.
    num_shared_experts : int
        Shared experts.
    expert_hidden_units : sequence of int
        Layer widths of each expert.
    gate_hidden_units : sequence of int, default=()
        Hidden layers of each gate before its linear map.
    shared_gate : bool, default=False
        Whether the level has the shared gate.
    dropout : float, default=0.0
        Dropout after each expert hidden layer.
    batch_norm : bool, default=False
        BatchNorm in the experts' hidden layers; the gates never get it.

    Attributes
    ----------
    out_features : int
        Width of each output.
    n_experts : int
        Task 0's experts, ..., the last task's, then the shared experts.

    Notes
    -----
    ``forward(x)`` takes ``(n, n_tasks + 1, in_features)``: each task's
    representation, then the shared one. It returns ``(n, n_tasks (+ 1),
    out_features)`` in the same order (the shared row with the shared gate)
    and the gate weights ``(n, n_tasks (+ 1), n_experts)``.

    Examples
    --------
    >>> import torch
    >>> from sklearn_mtl.nn import STEMLevel
    >>> level = STEMLevel(6, 2, 2, 1, (8,), shared_gate=True)
    >>> out, gates = level(torch.randn(4, 3, 6))
    >>> out.shape, gates.shape
    (torch.Size([4, 3, 8]), torch.Size([4, 3, 5]))
    """

    def __init__(
        self,
        in_features,
        n_tasks,
        num_specific_experts,
        num_shared_experts,
        expert_hidden_units,
        *,
        gate_hidden_units=(),
        shared_gate=False,
        dropout=0.0,
        batch_norm=False,
    ):
        super().__init__()
        n_specific = n_tasks * num_specific_experts
        self.n_tasks = n_tasks
        self.n_experts = n_specific + num_shared_experts
        self.register_buffer(
            "task_of_expert", torch.arange(n_tasks).repeat_interleave(num_specific_experts)
        )
        expert_args = dict(dropout=dropout, batch_norm=batch_norm)
        self.specific_experts = ParallelMLP(n_specific, in_features, expert_hidden_units,
                                            **expert_args)
        self.shared_experts = ParallelMLP(num_shared_experts, in_features, expert_hidden_units,
                                          **expert_args)
        self.out_features = self.shared_experts.out_features
        gate_args = dict(hidden_units=gate_hidden_units, bias=True)
        self.task_gates = SoftmaxGate(in_features, self.n_experts, n_tasks, **gate_args)
        self.shared_gate = (
            SoftmaxGate(in_features, self.n_experts, 1, **gate_args) if shared_gate else None
        )
        # Which experts pass their gradient to which gate's mixture: a task gate's own
        # experts and the shared ones; the shared gate's, all of them.
        trained = (self.task_of_expert.unsqueeze(0) == torch.arange(n_tasks).unsqueeze(1)).float()
        trained = torch.cat([trained, torch.ones(n_tasks, num_shared_experts)], dim=1)
        if shared_gate:
            trained = torch.cat([trained, torch.ones(1, self.n_experts)])
        self.register_buffer("trained", trained, persistent=False)

    def forward(self, x):
        shared = x[:, self.n_tasks]
        experts = torch.cat([
            self.specific_experts(x.index_select(1, self.task_of_expert)),
            self.shared_experts(shared),
        ], dim=1)
        gates = self.task_gates(x[:, : self.n_tasks] + shared.unsqueeze(1))
        if self.shared_gate is not None:
            gates = torch.cat([gates, self.shared_gate(shared)], dim=1)
        # The detached experts carry every value; the difference, zero in value, carries
        # the gradient of the experts each gate trains.
        frozen = experts.detach()
        out = mix_experts(gates, frozen) + mix_experts(gates * self.trained, experts - frozen)
        return out, gates


class STEM(GatedLevelsMixin, nn.Module):
    """The STEM network: one embedding per task plus a shared one, under STEM levels.

    Each task has an embedding table of its own and all tasks share one
    more; :class:`STEMLevel` mixes task-specific and shared experts so that
    a task's loss never updates another task's embedding or experts
    (stop-gradient), which keeps each task's embeddings its own while
    letting every task read them all.

    Parameters
    ----------
    embedding : MixedInputEmbedding or sequence of them
        The shared embedding; each task's embedding is a copy of it drawn
        again by its ``redraw()`` (an :class:`InteractionEmbedding`
        draws its block again too). Or ``n_tasks + 1`` embeddings of one
        ``out_features``: the tasks', then the shared one.
    n_tasks : int
        Number of tasks.
    num_specific_experts : int, default=1
        Experts of each task at each level.
    num_shared_experts : int, default=1
        Shared experts at each level.
    num_levels : int, default=1
        Number of levels.
    expert_hidden_units : tuple of int, default=(32,)
        Layer widths of each expert.
    gate_hidden_units : tuple of int, default=()
        Hidden layers of each gate (the authors' default is ``(128, 64)``).
    tower_hidden_units : tuple of int, default=(16,)
        Hidden layers of each task tower.
    dropout : float, default=0.0
        Dropout after expert and tower hidden layers.
    output_widths : sequence of int, default=None
        Each task's number of outputs; one each when None.
    batch_norm : bool, default=False
        BatchNorm in the experts' and towers' hidden layers (never in the
        gates, unlike the authors' code).
    balance_gates : bool, default=False
        Keep every gate's weights of each training pass for
        :meth:`gate_balance_loss`, the load-balancing penalty.

    Attributes
    ----------
    embeddings : torch.nn.ModuleList
        The tasks' embeddings, then the shared one.

    Notes
    -----
    The numeric columns are part of every embedding's output, so a task
    gate, on the sum of two embeddings, sees them doubled: a fixed scale
    that its first linear map absorbs (in the authors' code each
    embedding has its own numeric embeddings instead).

    References
    ----------
    L. Su, J. Pan, X. Wang, X. Xiao, S. Quan, X. Chen, J. Jiang. "STEM:
    Unleashing the Power of Embeddings for Multi-task Recommendation",
    AAAI 2024.

    Examples
    --------
    >>> import torch
    >>> from sklearn_mtl.nn import STEM, MixedInputEmbedding
    >>> categorical, numeric = torch.zeros(6, 1, dtype=torch.long), torch.randn(6, 3)
    >>> module = STEM(MixedInputEmbedding([5], 3, 4), 2, num_specific_experts=2,
    ...               expert_hidden_units=(8,))
    >>> len(module.embeddings)
    3
    >>> module(categorical, numeric).shape
    torch.Size([6, 2])
    >>> module.task_gate_weights(categorical, numeric).shape
    torch.Size([6, 2, 5])
    """

    def __init__(
        self,
        embedding,
        n_tasks,
        *,
        num_specific_experts=1,
        num_shared_experts=1,
        num_levels=1,
        expert_hidden_units=(32,),
        gate_hidden_units=(),
        tower_hidden_units=(16,),
        dropout=0.0,
        output_widths=None,
        batch_norm=False,
        balance_gates=False,
    ):
        super().__init__()
        self.balance_gates = balance_gates
        check_counts({"num_specific_experts": (num_specific_experts, 1),
                      "num_shared_experts": (num_shared_experts, 1), "num_levels": (num_levels, 1)})
        check_expert_hidden_units(expert_hidden_units)
        self.embeddings = nn.ModuleList(_task_embeddings(embedding, n_tasks))
        self.n_tasks = n_tasks

        def make_level(in_features, last):
            return STEMLevel(
                in_features, n_tasks, num_specific_experts, num_shared_experts,
                expert_hidden_units, gate_hidden_units=gate_hidden_units, shared_gate=not last,
                dropout=dropout, batch_norm=batch_norm,
            )

        self._stack_levels(make_level, self.embeddings[-1].out_features, num_levels,
                           tower_hidden_units, dropout=dropout, output_widths=output_widths,
                           batch_norm=batch_norm)

    def _level_input(self, categorical, numeric):
        embedded: List[torch.Tensor] = []
        for embedding in self.embeddings:
            embedded.append(embedding(categorical, numeric))
        return torch.stack(embedded, dim=1)

    def shared_parameters(self):
        """Parameters every task's loss depends on, from input to output.

        The shared embedding, then each level's shared experts and shared
        gate; the last parameters are the last level's shared expert layer.
        """
        shared = [self.embeddings[-1]]
        for level in self.levels:
            shared += [level.shared_gate, level.shared_experts]
        return [p for part in shared if part is not None for p in part.parameters()]


def _task_embeddings(embedding, n_tasks):
    if isinstance(embedding, nn.Module):
        copies = [copy.deepcopy(embedding) for _ in range(n_tasks)]
        for task_embedding in copies:
            task_embedding.redraw()
        return [*copies, embedding]
    embeddings = list(embedding)
    widths = {e.out_features for e in embeddings}
    if len(embeddings) != n_tasks + 1 or len(widths) != 1:
        raise ValueError(
            f"STEM takes one embedding, or n_tasks + 1 = {n_tasks + 1} embeddings of one "
            f"out_features (the tasks', then the shared one); got {len(embeddings)} of "
            f"out_features {sorted(widths)}."
        )
    return embeddings
