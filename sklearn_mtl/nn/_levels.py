"""What networks of gated levels under task towers share (STEM, AdaTT)."""

from typing import List

import torch
from torch import nn

from .._shared import fill_doc
from ._experts import GateBalanceMixin
from ._layers import TaskTowers


@fill_doc
class GatedLevelsMixin(GateBalanceMixin):
    """For a network whose ``levels`` each return ``(output, gate weights)``,
    under ``towers``: its forward pass and its gates, every one of which a
    load-balancing penalty sees with ``balance_gates``.

    The network defines ``_level_input(categorical, numeric)``, the first
    level's input, and builds its levels and towers with :meth:`_stack_levels`.
    """

    def _stack_levels(self, make_level, in_features, num_levels, tower_hidden_units,
                      **tower_params):
        # make_level(in_features, last) -> the level; each level reads the one before.
        levels = []
        for level in range(num_levels):
            levels.append(make_level(in_features, level == num_levels - 1))
            in_features = levels[-1].out_features
        self.levels = nn.ModuleList(levels)
        self.towers = TaskTowers(self.n_tasks, in_features, tower_hidden_units, **tower_params)

    def _extract(self, categorical, numeric):
        x = self._level_input(categorical, numeric)
        gates: List[torch.Tensor] = []
        for level in self.levels:
            x, weights = level(x)
            gates.append(weights)
        return x, gates

    def gate_weights(self, categorical, numeric):
        """Every gate's softmax weights over the experts of its level.

        {module_inputs_returns}
        list of torch.Tensor of shape (n, n_gates, n_experts), one per level
            Rows are the task gates, then the shared gate where the level
            has one.
        """
        return self._extract(categorical, numeric)[1]

    def task_gate_weights(self, categorical, numeric):
        """The last level's task gates' weights over all its experts.

        {module_inputs_returns}
        torch.Tensor of shape (n, n_tasks, n_experts)
        """
        return self.gate_weights(categorical, numeric)[-1]

    def forward(self, categorical, numeric):
        x, gates = self._extract(categorical, numeric)
        if not torch.jit.is_scripting():  # a scripted module is for inference only
            self._keep_gates(gates)
        return self.towers(x)
