"""AdaTT: Adaptive Task-to-Task Fusion Network (Li et al., KDD 2023)."""

import math

import torch
from torch import nn

from .._shared import fill_doc
from ._experts import SoftmaxGate, mix_experts
from ._checks import check_counts, check_expert_hidden_units
from ._layers import ParallelMLP
from ._levels import GatedLevelsMixin


@fill_doc
class AdaTTLevel(nn.Module):
    """One fusion level of AdaTT.

    Every task (and, with shared experts, the shared module) has its own
    experts on its own input. Module ``k``'s fusion unit weighs **all** the
    experts of the level by a softmax gate on its input, and adds a linear
    combination of its own ("native") experts: ``f_k = sum_e g_k(x_k)_e E_e
    + sum_{e of k} w_{k,e} E_e`` (the paper's eqs. 3-6).

    Parameters
    ----------
    {level_inputs}
    num_task_experts : int
        Experts of each task.
    num_shared_experts : int
        Shared experts (0: AdaTT-sp, the paper's model without them).
    expert_hidden_units : sequence of int
        Layer widths of each expert (ReLU after every layer, the last too).
    shared_unit : bool
        Whether the shared module has a fusion unit (every level but the last,
        with shared experts).
    native_residual : bool, default=True
        Add the native experts' combination (the authors call it crucial).
    dropout : float, default=0.0
        Dropout after each expert layer.
    batch_norm : bool, default=False
        BatchNorm in the experts' layers; the gates never get it.

    Attributes
    ----------
    out_features : int
        Width of each fused output.
    n_units : int
        Fusion units: ``n_tasks``, plus one with ``shared_unit``.
    n_experts : int
        ``n_tasks * num_task_experts + num_shared_experts``, ordered task 0's,
        ..., then the shared experts.

    Notes
    -----
    ``forward(x)`` takes a 2-D ``(n, in_features)`` input that every module
    shares (the first level) or ``(n, n_modules, in_features)``, module
    ``k``'s input in row ``k`` (tasks, then the shared module). It returns
    the fused outputs ``(n, n_units, out_features)`` and the gates' softmax
    weights ``(n, n_units, n_experts)``. The native weights ``w`` are
    learned when a module has more than one expert (uniform in
    ``+-1/sqrt(n_own)`` at the start, as in the authors' code) and fixed
    to one otherwise, where the residual is each module's single expert.

    Examples
    --------
    >>> import torch
    >>> from sklearn_mtl.nn import AdaTTLevel
    >>> level = AdaTTLevel(6, 2, 2, 1, (8,), shared_unit=True)
    >>> fused, gates = level(torch.randn(4, 6))
    >>> fused.shape, gates.shape
    (torch.Size([4, 3, 8]), torch.Size([4, 3, 5]))
    >>> level.native_weights().shape
    torch.Size([3, 5])
    """

    def __init__(
        self,
        in_features,
        n_tasks,
        num_task_experts,
        num_shared_experts,
        expert_hidden_units,
        *,
        shared_unit,
        native_residual=True,
        dropout=0.0,
        batch_norm=False,
    ):
        super().__init__()
        counts = [num_task_experts] * n_tasks + [num_shared_experts] * (num_shared_experts > 0)
        self.n_units = n_tasks + int(shared_unit)
        self.n_experts = sum(counts)
        module_of_expert = [m for m, count in enumerate(counts) for _ in range(count)]
        self.register_buffer("module_of_expert", torch.tensor(module_of_expert))
        self.experts = ParallelMLP(
            self.n_experts, in_features, expert_hidden_units, dropout=dropout,
            batch_norm=batch_norm,
        )
        self.out_features = self.experts.out_features
        self.gates = SoftmaxGate(in_features, self.n_experts, self.n_units, bias=True)
        # Each unit's native experts: the (unit, expert) entries the residual adds to.
        native = [(m, e) for e, m in enumerate(module_of_expert) if m < self.n_units]
        self.register_buffer("native_index", torch.tensor(native).T.contiguous())
        learned = native_residual and any(count != 1 for count in counts)
        scales = torch.tensor([1 / math.sqrt(counts[m]) for m, _ in native])
        self.native_weight = (
            nn.Parameter(scales * (2 * torch.rand(len(native)) - 1)) if learned else None
        )
        # Without learned weights the residual is fixed: each unit's single expert, or nothing.
        self.register_buffer(
            "native_fixed",
            None if learned else torch.full((len(native),), float(native_residual)),
            persistent=False,
        )

    def native_weights(self):
        """The native experts' weights as a ``(n_units, n_experts)`` matrix.

        Returns
        -------
        torch.Tensor of shape (n_units, n_experts)
            Zero outside each unit's own experts (everywhere without the
            residual).
        """
        weight = self.native_fixed if self.native_weight is None else self.native_weight
        matrix = torch.zeros(
            self.n_units, self.n_experts, dtype=weight.dtype, device=weight.device
        )
        return matrix.index_put((self.native_index[0], self.native_index[1]), weight)

    def forward(self, x):
        if x.dim() == 2:
            expert_inputs = x
            gate_inputs = x
        else:
            expert_inputs = x.index_select(1, self.module_of_expert)
            gate_inputs = x[:, : self.n_units]
        experts = self.experts(expert_inputs)
        gates = self.gates(gate_inputs)
        fused = mix_experts(gates + self.native_weights(), experts)
        return fused, gates


class AdaTT(GatedLevelsMixin, nn.Module):
    """The AdaTT network: fusion levels of task experts, then task towers.

    With ``num_shared_experts=0`` it is the paper's AdaTT-sp; with shared
    experts it is AdaTT's general form (the authors' ``AdaTTWSharedExps``),
    where a shared module adds experts that every task's fusion unit sees
    and, below the last level, a fusion unit of its own.

    Parameters
    ----------
    embedding : MixedInputEmbedding
        Input embedding, the first level's input for every module.
    n_tasks : int
        Number of tasks (fusion units and towers).
    num_task_experts : int, default=1
        Experts of each task at each level.
    num_shared_experts : int, default=0
        Shared experts at each level.
    num_levels : int, default=1
        Number of fusion levels.
    expert_hidden_units : tuple of int, default=(32,)
        Layer widths of each expert at every level.
    tower_hidden_units : tuple of int, default=(16,)
        Hidden layers of each task tower.
    native_residual : bool, default=True
        The native-expert residual of each fusion unit.
    dropout : float, default=0.0
        Dropout after expert and tower hidden layers.
    output_widths : sequence of int, default=None
        Each task's number of outputs; one each when None.
    batch_norm : bool, default=False
        BatchNorm in the experts' and towers' hidden layers.
    balance_gates : bool, default=False
        Keep every gate's weights of each training pass for
        :meth:`gate_balance_loss`, the load-balancing penalty.

    Notes
    -----
    Each level's experts are one batched matmul. The gate weights that
    :meth:`gate_weights` reports are the softmax weights, before the
    native residual is added.

    References
    ----------
    D. Li, Z. Zhang, S. Yuan, M. Gao, W. Zhang, C. Yang, X. Liu, J. Yang.
    "AdaTT: Adaptive Task-to-Task Fusion Network for Multitask Learning in
    Recommendations", KDD 2023.

    Examples
    --------
    >>> import torch
    >>> from sklearn_mtl.nn import AdaTT, MixedInputEmbedding
    >>> categorical, numeric = torch.zeros(6, 1, dtype=torch.long), torch.randn(6, 3)
    >>> module = AdaTT(MixedInputEmbedding([5], 3, 4), 2, num_task_experts=2,
    ...                num_shared_experts=1, num_levels=2, expert_hidden_units=(8,))
    >>> module(categorical, numeric).shape
    torch.Size([6, 2])
    >>> [w.shape for w in module.gate_weights(categorical, numeric)]
    [torch.Size([6, 3, 5]), torch.Size([6, 2, 5])]
    """

    def __init__(
        self,
        embedding,
        n_tasks,
        *,
        num_task_experts=1,
        num_shared_experts=0,
        num_levels=1,
        expert_hidden_units=(32,),
        tower_hidden_units=(16,),
        native_residual=True,
        dropout=0.0,
        output_widths=None,
        batch_norm=False,
        balance_gates=False,
    ):
        super().__init__()
        self.balance_gates = balance_gates
        check_counts({"num_task_experts": (num_task_experts, 1),
                      "num_shared_experts": (num_shared_experts, 0), "num_levels": (num_levels, 1)})
        check_expert_hidden_units(expert_hidden_units)
        self.embedding = embedding
        self.n_tasks = n_tasks

        def make_level(in_features, last):
            return AdaTTLevel(
                in_features, n_tasks, num_task_experts, num_shared_experts, expert_hidden_units,
                shared_unit=num_shared_experts > 0 and not last,
                native_residual=native_residual, dropout=dropout, batch_norm=batch_norm,
            )

        self._stack_levels(make_level, embedding.out_features, num_levels, tower_hidden_units,
                           dropout=dropout, output_widths=output_widths, batch_norm=batch_norm)

    def _level_input(self, categorical, numeric):
        return self.embedding(categorical, numeric)

    def shared_parameters(self):
        """Parameters every task's loss depends on, from input to output.

        Every task's unit fuses every expert, so all experts are shared, and
        so is each level below the last whole; the last parameters are the
        last level's expert layer.
        """
        shared = [self.embedding, *self.levels[:-1], self.levels[-1].experts]
        return [p for part in shared for p in part.parameters()]
