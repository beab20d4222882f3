"""MMoE: Multi-gate Mixture-of-Experts (Ma et al., KDD 2018)."""

import torch
from torch import nn

from .._base import BaseMultiTaskClassifier
from .._shared import fill_doc
from ._gated import GATED_CONSTRAINTS, GATED_PARAMS, GatedExpertsMixin, count_constraints
from ..nn import ParallelMLP, SoftmaxGate, TaskTowers, mix_experts
from ..nn._experts import GateBalanceMixin


@fill_doc
class MMoE(GateBalanceMixin, nn.Module):
    """The MMoE network.

    Every task ``k`` mixes the shared experts with its own gate and feeds the
    mixture to its tower: ``y_k = h_k(sum_i g_k(x)_i f_i(x))`` with
    ``g_k(x) = softmax(W_gk x)`` (the paper's eqs. 4-5).

    Parameters
    ----------
    embedding : MixedInputEmbedding
        Input embedding shared by experts and gates.
    n_tasks : int
        Number of tasks (gates and towers).
    num_experts : int
        Number of experts.
    {gated_module_params}

    Examples
    --------
    {module_example_inputs}
    >>> from sklearn_mtl.models import MMoE
    >>> module = MMoE(MixedInputEmbedding([5], 3, 4), 2, num_experts=4,
    ...               expert_hidden_units=(8,), tower_hidden_units=(4,))
    >>> module(categorical, numeric).shape
    torch.Size([6, 2])
    >>> module.gate_weights(categorical, numeric).shape
    torch.Size([6, 2, 4])
    """

    def __init__(
        self,
        embedding,
        n_tasks,
        *,
        num_experts,
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
        self.experts = ParallelMLP(
            num_experts, embedding.out_features, expert_hidden_units, dropout=dropout,
            batch_norm=batch_norm,
        )
        self.gates = SoftmaxGate(
            embedding.out_features, num_experts, n_tasks, hidden_units=gate_hidden_units,
            bias=gate_bias,
        )
        self.towers = TaskTowers(
            n_tasks, self.experts.out_features, tower_hidden_units, dropout=dropout,
            output_widths=output_widths, batch_norm=batch_norm,
        )

    def gate_weights(self, categorical, numeric):
        """Softmax weights of each task's gate over the experts.

        {module_inputs_returns}
        torch.Tensor of shape (n, n_tasks, num_experts)
            Each ``[i, task]`` row sums to one.
        """
        return self.gates(self.embedding(categorical, numeric))

    #: Every task's gate sees every expert.
    task_gate_weights = gate_weights

    def shared_parameters(self):
        """Parameters every task's loss depends on: the embedding, then the experts."""
        return [*self.embedding.parameters(), *self.experts.parameters()]

    def forward(self, categorical, numeric):
        x = self.embedding(categorical, numeric)
        gates = self.gates(x)
        if not torch.jit.is_scripting():  # a scripted module is for inference only
            self._keep_gates([gates])
        return self.towers(mix_experts(gates, self.experts(x)))


class MMoEClassifier(GatedExpertsMixin, BaseMultiTaskClassifier):
    """Multi-gate Mixture-of-Experts classifier (Ma et al., KDD 2018).

    Shared experts (MLPs) see the embedded input; each task has a linear
    softmax gate that weighs the experts per sample, and a tower on that
    mixture. Tasks that agree share experts; tasks that conflict learn to
    use different ones.

    Parameters
    ----------
    num_experts : int, default=8
        Number of shared experts.
    expert_hidden_units : tuple of int, default=(32,)
        Hidden layer widths of each expert; the last is the expert output.
    tower_hidden_units : tuple of int, default=(16,)
        Hidden layer widths of each task tower (before its output logit).
    gate_hidden_units : tuple of int, default=()
        Optional hidden layers in each gate; ``()`` is the paper's gate,
        ``softmax(W_k x)``.
    gate_balance_weight : float, default=0.0
        Weight of a load-balancing penalty against expert collapse (each
        task's gate putting nearly all its weight on one expert): the
        squared coefficient of variation of each gate's per-batch
        importance over the experts (Shazeer et al., ICLR 2017), averaged
        over the gates and added to the training loss. 0 (the paper's MMoE)
        switches it off. The gates' use of the experts is recorded in
        ``history_`` either way.
    gate_bias : bool, default=False
        Whether each gate's linear map has a bias: ``softmax(W x + b)``. The
        paper's gate has none; torch-rechub's and DeepCTR-Torch's have one.
        On the full census-income set with ``batch_norm=True`` it left
        MMoE's income AUC as it was (0.9491 +- 0.0009 against 0.9490 +-
        0.0013 over three seeds) and steadied PLE's (see
        ``benchmarks/README.md``).
    {gate_dropout}
    {shared}

    See Also
    --------
    SharedBottomClassifier : One shared network under the task towers.

    References
    ----------
    J. Ma, Z. Zhao, X. Yi, J. Chen, L. Hong, E. H. Chi. "Modeling Task
    Relationships in Multi-task Learning with Multi-gate Mixture-of-Experts",
    KDD 2018.

    Examples
    --------
    >>> from sklearn_mtl import MMoEClassifier
    {census_example_data}
    >>> model = MMoEClassifier(num_experts=4, max_epochs=2, random_state=0).fit(X, Y)
    >>> list(model.task_names_)
    ['income', 'never_married']
    >>> model.predict_proba_frame(X[:3]).shape
    (3, 2)
    >>> model.gate_weights(X[:3]).shape
    (3, 2, 4)
    """

    _parameter_constraints: dict = {
        **BaseMultiTaskClassifier._parameter_constraints,
        **count_constraints(num_experts=1),
        **GATED_CONSTRAINTS,
    }

    _own_params = {
        "num_experts": 8,
        **GATED_PARAMS,
    }
    _network = MMoE

    def gate_weights(self, X):
        """Each task's gate weights over the experts, per sample.

        {X_returns}
        ndarray of shape (n_samples, n_tasks, num_experts)
            Softmax weights; each ``[i, task]`` row sums to one. Average over
            samples (``.mean(axis=0)``) for each task's expert utilisation.
        """
        return self._forward(X, _gate_weights)


def _gate_weights(module, inputs):
    return module.gate_weights(**inputs)
