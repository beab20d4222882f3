"""What the mixture-of-experts estimators share: their gates' utilisation and
their experts' health in the history, ``gate_balance_weight``'s penalty in
their loss, and ``gate_dropout``."""

from numbers import Integral, Real

from sklearn.utils._param_validation import Interval

from .._params import check_hidden_units
from .._training import GateUtilisation
from ..losses import GateBalancedLoss
from ..nn import SoftmaxGate

#: Parameters of every mixture-of-experts estimator, with their defaults
#: (a model whose gates have no hidden layers or bias leaves those out).
GATED_PARAMS = {
    "expert_hidden_units": (32,),
    "tower_hidden_units": (16,),
    "gate_hidden_units": (),
    "gate_balance_weight": 0.0,
    "gate_bias": False,
    "gate_dropout": 0.0,
}

GATED_CONSTRAINTS = {
    "expert_hidden_units": ["array-like"],
    "tower_hidden_units": ["array-like"],
    "gate_hidden_units": ["array-like"],
    "gate_balance_weight": [Interval(Real, 0, None, closed="left")],
    "gate_bias": ["boolean"],
    "gate_dropout": [Interval(Real, 0, 1, closed="left")],
}

#: What the gate utilisation adds to ``history_``, in the models' docstrings.
GATE_HISTORY_NOTE = (
    "Each epoch also records each task gate's use of the experts, on the "
    "validation set (the first 10,000 training rows without one): "
    "``gate_shares_<task>`` (mean weight on each expert), ``gate_top_share_<task>`` "
    "and ``gate_entropy_<task>`` (entropy of the shares over its maximum: 0 = one "
    "expert, 1 = even); and the experts' health: ``expert_zero_share_<group>`` and "
    "``expert_dead_share_<group>`` (each expert's share of zero outputs, and of "
    "output units zero on every row), ``expert_exclusivity`` (for each expert every "
    "task gate sees, the share of its use from the task that uses it most). "
    ":class:`~sklearn_mtl.inspection.ExpertHealthDisplay` draws them."
)


def gated_defaults(*without):
    """``GATED_PARAMS`` less the parameters ``without`` (of gates a model fixes)."""
    return {name: value for name, value in GATED_PARAMS.items() if name not in without}


def gated_constraints(*without):
    """``GATED_CONSTRAINTS`` less the parameters ``without``."""
    return {name: value for name, value in GATED_CONSTRAINTS.items() if name not in without}


def count_constraints(**minimums):
    """Constraints of integer parameters (expert and level counts), by their minimum."""
    return {
        name: [Interval(Integral, minimum, None, closed="left")]
        for name, minimum in minimums.items()
    }


class GatedExpertsMixin:
    """Of a mixture-of-experts estimator: its gates' utilisation and experts'
    health in the history, ``gate_balance_weight``'s penalty in its loss,
    ``gate_dropout`` in its gates.

    The estimator names its network class as ``_network``: the network
    takes the estimator's own parameters other than :data:`GATED_PARAMS`
    (expert and level counts) by the same names. The network defines ``task_gate_weights(categorical, numeric)``, takes
    ``balance_gates`` (see ``sklearn_mtl.nn._experts.GateBalanceMixin``)
    and builds its gates from :class:`~sklearn_mtl.nn.SoftmaxGate`.
    """

    _doc_layers = "experts and the task towers"
    _attribute_notes = {"history_": GATE_HISTORY_NOTE}
    _mixes_task_types = True

    def _build_module(self, embedding, n_tasks):
        own = {name: getattr(self, name) for name in self._own_params if name not in GATED_PARAMS}
        module = self._network(embedding, n_tasks, **own, **self._gated_network_params())
        # Every gate of the network, at any depth, drops experts alike.
        for gate in module.modules():
            if isinstance(gate, SoftmaxGate):
                gate.dropout = float(self.gate_dropout)
        return module

    def _build_criterion(self, n_tasks):
        if not self.gate_balance_weight:
            return super()._build_criterion(n_tasks)
        return GateBalancedLoss(
            losses=[target.loss for target in self._task_targets],
            widths=self._output_widths(),
            balance_weight=self.gate_balance_weight,
        )

    def _gated_network_params(self):
        """The network's keyword arguments that every gated model shares, checked
        (the gates' hidden layers and bias where the model has them)."""
        params = dict(
            expert_hidden_units=check_hidden_units(
                "expert_hidden_units",
                self.expert_hidden_units,
                allow_empty=False,
                empty_means="every expert would be the identity of its input, so the "
                "gates would mix identical copies and do nothing",
            ),
            tower_hidden_units=check_hidden_units("tower_hidden_units", self.tower_hidden_units),
            dropout=self.dropout,
            batch_norm=self.batch_norm,
            output_widths=self._output_widths(),
            balance_gates=self.gate_balance_weight > 0,
        )
        own = self.get_params(deep=False)
        if "gate_hidden_units" in own:
            params["gate_hidden_units"] = check_hidden_units(
                "gate_hidden_units", self.gate_hidden_units
            )
        if "gate_bias" in own:
            params["gate_bias"] = self.gate_bias
        return params

    def _shared_gate_columns(self):
        """The columns of ``task_gate_weights`` that are the same experts for
        every task (all of them, unless a task gate sees experts of its own there)."""
        return slice(None)

    def _model_callbacks(self):
        utilisation = GateUtilisation(
            list(self.task_names_), _task_gate_weights, self._shared_gate_columns()
        )
        return [*super()._model_callbacks(), ("gate_utilisation", utilisation)]


def _task_gate_weights(module, inputs):
    return module.task_gate_weights(**inputs)
