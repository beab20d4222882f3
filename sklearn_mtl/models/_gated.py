"""What the mixture-of-experts estimators share: their gates' utilisation in
the history, and ``gate_balance_weight``'s penalty in their loss."""

from numbers import Real

from sklearn.utils._param_validation import Interval

from .._params import check_hidden_units
from .._training import GateUtilisation
from ..losses import GateBalancedLoss

#: Parameters of every mixture-of-experts estimator, with their defaults.
GATED_PARAMS = {
    "expert_hidden_units": (32,),
    "tower_hidden_units": (16,),
    "gate_hidden_units": (),
    "gate_balance_weight": 0.0,
    "gate_bias": False,
}

GATED_CONSTRAINTS = {
    "expert_hidden_units": ["array-like"],
    "tower_hidden_units": ["array-like"],
    "gate_hidden_units": ["array-like"],
    "gate_balance_weight": [Interval(Real, 0, None, closed="left")],
    "gate_bias": ["boolean"],
}

#: What the gate utilisation adds to ``history_``, in the models' docstrings.
GATE_HISTORY_NOTE = (
    "Each epoch also records each task gate's use of the experts, on the "
    "validation set (the first 10,000 training rows without one): "
    "``gate_shares_<task>`` (mean weight on each expert), ``gate_top_share_<task>`` "
    "and ``gate_entropy_<task>`` (entropy of the shares over its maximum: 0 = one "
    "expert, 1 = even)."
)


class GatedExpertsMixin:
    """Of a mixture-of-experts estimator: its gates' utilisation in the
    history, and ``gate_balance_weight``'s penalty in its loss.

    The network defines ``task_gate_weights(categorical, numeric)`` and
    takes ``balance_gates``; see ``sklearn_mtl.nn._experts.GateBalanceMixin``.
    """

    def _build_criterion(self, n_tasks):
        if not self.gate_balance_weight:
            return super()._build_criterion(n_tasks)
        return GateBalancedLoss(
            losses=[target.loss for target in self._task_targets],
            widths=self._output_widths(),
            balance_weight=self.gate_balance_weight,
        )

    def _gated_network_params(self):
        """The network's keyword arguments that every gated model shares, checked."""
        return dict(
            expert_hidden_units=check_hidden_units(
                "expert_hidden_units",
                self.expert_hidden_units,
                allow_empty=False,
                empty_means="every expert would be the identity of its input, so the "
                "gates would mix identical copies and do nothing",
            ),
            tower_hidden_units=check_hidden_units("tower_hidden_units", self.tower_hidden_units),
            gate_hidden_units=check_hidden_units("gate_hidden_units", self.gate_hidden_units),
            dropout=self.dropout,
            batch_norm=self.batch_norm,
            gate_bias=self.gate_bias,
            output_widths=self._output_widths(),
            balance_gates=self.gate_balance_weight > 0,
        )

    def _model_callbacks(self):
        return [
            *super()._model_callbacks(),
            ("gate_utilisation", GateUtilisation(list(self.task_names_), _task_gate_weights)),
        ]


def _task_gate_weights(module, inputs):
    return module.task_gate_weights(**inputs)
