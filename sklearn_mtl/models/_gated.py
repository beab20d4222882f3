"""What the mixture-of-experts estimators share: their gates' utilisation in
the history, and ``gate_balance_weight``'s penalty in their loss."""

from .._training import GateUtilisation
from ..losses import GateBalancedLoss


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

    def _model_callbacks(self):
        return [
            *super()._model_callbacks(),
            ("gate_utilisation", GateUtilisation(list(self.task_names_), _task_gate_weights)),
        ]


def _task_gate_weights(module, inputs):
    return module.task_gate_weights(**inputs)
