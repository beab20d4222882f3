"""PLE: Progressive Layered Extraction (Tang et al., RecSys 2020)."""

from typing import List

import torch
from torch import nn

from .._base import BaseMultiTaskClassifier
from .._shared import fill_doc
from ._gated import (
    GATE_HISTORY_NOTE,
    GATED_CONSTRAINTS,
    GATED_PARAMS,
    GatedExpertsMixin,
    count_constraints,
)
from ._levels import LevelGateWeightsMixin
from ..nn import CGCLevel, TaskTowers
from ..nn._experts import GateBalanceMixin


@fill_doc
class PLE(GateBalanceMixin, nn.Module):
    """The PLE network: stacked CGC levels under one tower per task.

    Level 1 reads the embedded input everywhere. In level ``j > 1`` task
    ``k``'s experts and gate read task ``k``'s output of level ``j - 1``,
    while the shared experts and the shared gate read the shared output. The
    last level has no shared gate; ``num_levels=1`` is CGC.

    Parameters
    ----------
    embedding : MixedInputEmbedding
        Input embedding.
    n_tasks : int
        Number of tasks.
    num_levels : int
        Number of CGC levels.
    num_specific_experts, num_shared_experts : int
        Experts per task and shared experts, in every level.
    {gated_module_params}

    Examples
    --------
    >>> import torch
    >>> from sklearn_mtl.models import PLE
    >>> from sklearn_mtl.nn import MixedInputEmbedding
    >>> module = PLE(MixedInputEmbedding([5], 3, 4), 2, num_levels=2, num_specific_experts=1,
    ...              num_shared_experts=2, expert_hidden_units=(8,), tower_hidden_units=(4,))
    >>> categorical, numeric = torch.zeros(6, 1, dtype=torch.long), torch.zeros(6, 3)
    >>> module(categorical, numeric).shape
    torch.Size([6, 2])
    >>> [tuple(w.shape) for w in module.gate_weights(categorical, numeric)]
    [(6, 3, 4), (6, 2, 4)]
    """

    def __init__(
        self,
        embedding,
        n_tasks,
        *,
        num_levels,
        num_specific_experts,
        num_shared_experts,
        expert_hidden_units,
        tower_hidden_units,
        gate_hidden_units=(),
        dropout=0.0,
        output_widths=None,
        balance_gates=False,
        batch_norm=False,
        gate_bias=False,
    ):
        super().__init__()
        self.balance_gates = balance_gates
        self.embedding = embedding
        levels = []
        in_features = embedding.out_features
        for j in range(num_levels):
            levels.append(
                CGCLevel(
                    in_features,
                    n_tasks,
                    num_specific_experts=num_specific_experts,
                    num_shared_experts=num_shared_experts,
                    expert_hidden_units=expert_hidden_units,
                    gate_hidden_units=gate_hidden_units,
                    shared_gate=j < num_levels - 1,
                    dropout=dropout,
                    batch_norm=batch_norm,
                    gate_bias=gate_bias,
                )
            )
            in_features = levels[-1].out_features
        self.levels = nn.ModuleList(levels)
        self.towers = TaskTowers(
            n_tasks, in_features, tower_hidden_units, dropout=dropout,
            output_widths=output_widths, batch_norm=batch_norm,
        )

    def _extract(self, categorical, numeric):
        x = self.embedding(categorical, numeric)
        tasks, shared, weights = x, x, []
        for level in self.levels:
            tasks, shared, level_weights = level(tasks, shared)
            weights.append(level_weights)
        if self.balance_gates and not torch.jit.is_scripting():
            self._keep_level_gates(weights)
        return tasks, weights

    @torch.jit.unused
    def _keep_level_gates(self, weights: List[torch.Tensor]):
        self._keep_gates(
            [g for level, w in zip(self.levels, weights) for g in level.seen_gate_weights(w)]
        )

    def gate_weights(self, categorical, numeric):
        """Every gate's weights over the experts of its level.

        {module_inputs_returns}
        list of torch.Tensor of shape (n, n_gates, n_experts)
            One per level; see :class:`~sklearn_mtl.nn.CGCLevel`.
        """
        return self._extract(categorical, numeric)[1]

    def task_gate_weights(self, categorical, numeric):
        """The last level's task gates' weights over the experts each sees.

        Parameters
        ----------
        categorical : torch.Tensor of shape (n_samples, n_categorical)
            Category codes.
        numeric : torch.Tensor of shape (n_samples, n_numeric)
            Standardized numeric features.

        Returns
        -------
        torch.Tensor of shape (n_samples, n_tasks, num_specific_experts + num_shared_experts)
            Each task gate's weights over its own experts, then the shared
            ones: what feeds each tower.
        """
        weights = self._extract(categorical, numeric)[1][-1]
        return self.levels[-1].seen_gate_weights(weights)[0]

    def shared_parameters(self):
        """Parameters every task's loss depends on, from input to output.

        The embedding, then each level's shared experts and shared gate; the
        last weight matrix is the last level's shared expert layer.
        """
        shared = [self.embedding]
        for level in self.levels:
            shared += [level.shared_experts, level.shared_gate]
        return [p for part in shared if part is not None for p in part.parameters()]

    def forward(self, categorical, numeric):
        return self.towers(self._extract(categorical, numeric)[0])


class PLEClassifier(LevelGateWeightsMixin, GatedExpertsMixin, BaseMultiTaskClassifier):
    """Progressive Layered Extraction multi-task classifier (Tang et al., RecSys 2020).

    Each level (a CGC) has experts of each task and shared experts; task
    ``k``'s linear softmax gate mixes its own experts with the shared ones,
    so a task can shut out the others' experts (what MMoE cannot). Below
    the last level a shared gate mixes all experts into the shared input of
    the next level, and each task's mixture is that task's next input.

    Parameters
    ----------
    num_levels : int, default=2
        Number of extraction levels; ``1`` is CGC.
    num_specific_experts : int, default=1
        Experts of each task, per level.
    num_shared_experts : int, default=1
        Shared experts, per level.
    expert_hidden_units : tuple of int, default=(32,)
        Hidden layer widths of each expert; the last is the expert output.
    tower_hidden_units : tuple of int, default=(16,)
        Hidden layer widths of each task tower (before its output).
    gate_hidden_units : tuple of int, default=()
        Optional hidden layers in each gate; ``()`` is the paper's gate,
        ``softmax(W x)``.
    gate_balance_weight : float, default=0.0
        Weight of a load-balancing penalty against expert collapse: the
        squared coefficient of variation of each gate's per-batch
        importance over the experts it sees (Shazeer et al., ICLR 2017),
        averaged over every task and shared gate of every level and added
        to the training loss. 0 (the paper's PLE) switches it off.
    gate_bias : bool, default=False
        Whether each gate's linear map has a bias: ``softmax(W x + b)``. The
        paper's gate has none; torch-rechub's and DeepCTR-Torch's have one.
        With ``batch_norm=True`` it steadied PLE on the full census-income
        set (income AUC over three seeds 0.9485, 0.9485, 0.9479 against
        0.9448, 0.9491, 0.9330 without it; see ``benchmarks/README.md``).
    {gate_dropout}
    {shared}

    See Also
    --------
    MMoEClassifier : Experts all shared, one gate per task.

    References
    ----------
    H. Tang, J. Liu, M. Zhao, X. Gong. "Progressive Layered Extraction
    (PLE): A Novel Multi-Task Learning (MTL) Model for Personalized
    Recommendations", RecSys 2020.

    Examples
    --------
    >>> from sklearn_mtl import PLEClassifier
    {census_example_data}
    >>> model = PLEClassifier(num_levels=2, num_specific_experts=1,
    ...                       num_shared_experts=2, max_epochs=2, random_state=0)
    >>> model.fit(X, Y).predict(X[:3]).shape
    (3, 2)
    >>> [w.shape for w in model.gate_weights(X[:3])]
    [(3, 3, 4), (3, 2, 4)]
    """

    _parameter_constraints: dict = {
        **BaseMultiTaskClassifier._parameter_constraints,
        **count_constraints(num_levels=1, num_specific_experts=1, num_shared_experts=1),
        **GATED_CONSTRAINTS,
    }

    _own_params = {
        "num_levels": 2,
        "num_specific_experts": 1,
        "num_shared_experts": 1,
        **GATED_PARAMS,
    }
    _network = PLE
    _attribute_notes = {
        "history_": GATE_HISTORY_NOTE + " PLE records the last level's task gates; their "
        "shares list the task's own experts, then the shared ones."
    }

    def _shared_gate_columns(self):
        # A task gate sees its own experts first, then the shared ones.
        return slice(self.num_specific_experts, None)
