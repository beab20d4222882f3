"""Gate utilisation of the mixture-of-experts models, recorded each epoch."""

import numpy as np
import torch
from skorch.callbacks import Callback

from .._data import BatchIterator

#: Rows of the data on which the utilisation is measured each epoch.
_MAX_ROWS = 10_000


class GateUtilisation(Callback):
    """Record how each task's gate spreads its weight over its experts.

    At the end of each epoch, on the validation set (the first 10,000
    training rows without one), each task's gate weights are averaged over
    the rows into its share of each expert, recorded in ``history_`` as
    ``gate_shares_<task>`` (a list), ``gate_top_share_<task>`` (the largest
    share; near 1 when the gate has collapsed onto one expert) and
    ``gate_entropy_<task>`` (the entropy of the shares divided by its
    maximum, ``log(n_experts)``: 0 for one expert, 1 for an even spread).

    Parameters
    ----------
    task_names : list of str
        Names used in the history keys.
    task_gate_weights : callable
        ``task_gate_weights(module, inputs)`` gives the ``(n, n_tasks,
        n_experts)`` weights of each task's gate over the experts it sees.
    """

    def __init__(self, task_names, task_gate_weights):
        self.task_names = task_names
        self.task_gate_weights = task_gate_weights

    def on_epoch_end(self, net, dataset_train=None, dataset_valid=None, **kwargs):
        data = dataset_valid if dataset_valid is not None else dataset_train
        module = net.module_
        training = module.training
        module.eval()
        total, rows = 0.0, 0
        batches = BatchIterator(data, net.iterator_valid__batch_size, device=net.device)
        with torch.no_grad():
            # The first rows in order: out-of-core data reads only its first chunk(s).
            for inputs, _ in batches:
                weights = self.task_gate_weights(module, inputs)[: _MAX_ROWS - rows].double()
                total = total + weights.sum(0)
                rows += len(weights)
                if rows >= _MAX_ROWS:
                    break
        module.train(training)
        shares = (total / rows).cpu().numpy()
        for name, task_shares in zip(self.task_names, shares):
            net.history.record(f"gate_shares_{name}", task_shares.tolist())
            net.history.record(f"gate_top_share_{name}", float(task_shares.max()))
            net.history.record(f"gate_entropy_{name}", normalized_entropy(task_shares))


def normalized_entropy(shares):
    """Entropy of a distribution over ``len(shares)`` outcomes, in [0, 1]."""
    shares = np.asarray(shares, dtype=np.float64)
    if len(shares) < 2:
        return 0.0
    positive = shares[shares > 0]
    return float(-(positive * np.log(positive)).sum() / np.log(len(shares)))
