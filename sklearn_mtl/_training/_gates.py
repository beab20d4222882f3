"""Gate utilisation and expert health of the mixture-of-experts models,
recorded each epoch."""

import numpy as np
import torch
from skorch.callbacks import Callback

from .._data import BatchIterator
from ..nn import ParallelMLP

#: Rows of the data on which the utilisation is measured each epoch.
_MAX_ROWS = 10_000


class GateUtilisation(Callback):
    """Record how each task's gate spreads its weight over its experts, and
    how healthy the experts are.

    At the end of each epoch, on the validation set (the first 10,000
    training rows without one), each task's gate weights are averaged over
    the rows into its share of each expert, recorded in ``history_`` as
    ``gate_shares_<task>`` (a list), ``gate_top_share_<task>`` (the largest
    share; near 1 when the gate has collapsed onto one expert) and
    ``gate_entropy_<task>`` (the entropy of the shares divided by its
    maximum, ``log(n_experts)``: 0 for one expert, 1 for an even spread).

    Expert health, on the same rows: for each group of experts (a
    :class:`~sklearn_mtl.nn.ParallelMLP` named ``*experts`` in the network,
    ``<group>`` its dotted path with ``_``), ``expert_zero_share_<group>``
    lists each expert's share of zero outputs (over rows and output units;
    its ReLU's silence) and ``expert_dead_share_<group>`` each expert's
    share of output units that were zero on every row (dead units).
    ``expert_exclusivity`` lists, for each expert that every task gate
    sees, the share of its use that comes from its main user, ``max_k
    s_k / sum_k s_k`` over the tasks' shares ``s_k``: ``1 / n_tasks`` for
    an expert all tasks use alike, 1 for one that a single task uses.

    Parameters
    ----------
    task_names : list of str
        Names used in the history keys.
    task_gate_weights : callable
        ``task_gate_weights(module, inputs)`` gives the ``(n, n_tasks,
        n_experts)`` weights of each task's gate over the experts it sees.
    shared_columns : slice, default=slice(None)
        The columns of those weights that are the same experts for every
        task, the ones ``expert_exclusivity`` describes.
    """

    def __init__(self, task_names, task_gate_weights, shared_columns=slice(None)):
        self.task_names = task_names
        self.task_gate_weights = task_gate_weights
        self.shared_columns = shared_columns

    def on_epoch_end(self, net, dataset_train=None, dataset_valid=None, **kwargs):
        data = dataset_valid if dataset_valid is not None else dataset_train
        module = net.module_
        training = module.training
        module.eval()
        health = _ExpertHealth(module)
        total, rows = 0.0, 0
        batches = BatchIterator(data, net.iterator_valid__batch_size, device=net.device)
        try:
            with torch.no_grad():
                # The first rows in order: out-of-core data reads only its first chunk(s).
                for inputs, _ in batches:
                    health.rows = _MAX_ROWS - rows
                    module(**inputs)
                    weights = self.task_gate_weights(module, inputs)[: _MAX_ROWS - rows].double()
                    total = total + weights.sum(0)
                    rows += len(weights)
                    if rows >= _MAX_ROWS:
                        break
        finally:
            health.remove()
            module.train(training)
        if getattr(net, "shares", None) is not None:
            # Each process measured its own rows: all of them count, alike everywhere.
            total, rows = health.merge(net.shares.gather((_cpu(total), rows, health.cpu())))
        shares = (total / rows).cpu().numpy()
        for name, task_shares in zip(self.task_names, shares):
            net.history.record(f"gate_shares_{name}", task_shares.tolist())
            net.history.record(f"gate_top_share_{name}", float(task_shares.max()))
            net.history.record(f"gate_entropy_{name}", normalized_entropy(task_shares))
        net.history.record("expert_exclusivity", exclusivity(shares[:, self.shared_columns]))
        for key, values in health.summary().items():
            net.history.record(key, values)


class _ExpertHealth:
    """Forward hooks counting the zero outputs of every expert group of a
    network, on at most ``rows`` rows of each pass."""

    def __init__(self, module):
        self.rows = _MAX_ROWS
        self.counts = {}
        # On each group's last layer: a level may run the groups' first linear
        # maps fused with its gates', past the group's own forward.
        self.handles = [
            group[-1].register_forward_hook(self._hook(name.replace(".", "_")))
            for name, group in module.named_modules()
            if name.rpartition(".")[2].endswith("experts")
            and isinstance(group, ParallelMLP)
            and group.n_layers
        ]

    def _hook(self, name):
        def count(group, inputs, output):
            # (n, n_experts, width): zeros per expert, and which units ever fired.
            output = output[: self.rows]
            zero = output == 0
            zeros, seen, fired = self.counts.get(name, (0, 0, False))
            self.counts[name] = (
                zeros + zero.sum((0, 2)).double(),
                seen + zero.shape[0] * zero.shape[2],
                fired | (~zero).any(0),
            )

        return count

    def remove(self):
        for handle in self.handles:
            handle.remove()

    def cpu(self):
        """The counts on the host, to send to other processes."""
        return {name: tuple(_cpu(c) for c in counts) for name, counts in self.counts.items()}

    def merge(self, parts):
        """Replace the counts by the sum of every process's ``(total, rows,
        counts)`` in ``parts``; the summed ``(total, rows)``."""
        self.counts = {}
        for _, _, counts in parts:
            for name, (zeros, seen, fired) in counts.items():
                before = self.counts.get(name, (0, 0, False))
                self.counts[name] = (before[0] + zeros, before[1] + seen, before[2] | fired)
        return sum(part[0] for part in parts), sum(part[1] for part in parts)

    def summary(self):
        """History entries: each group's zero and dead-unit shares per expert."""
        entries = {}
        for name, (zeros, seen, fired) in self.counts.items():
            entries[f"expert_zero_share_{name}"] = (zeros / seen).cpu().tolist()
            dead = (~fired).double().mean(1)
            entries[f"expert_dead_share_{name}"] = dead.cpu().tolist()
        return entries


def _cpu(value):
    return value.cpu() if isinstance(value, torch.Tensor) else value


def normalized_entropy(shares):
    """Entropy of a distribution over ``len(shares)`` outcomes, in [0, 1]."""
    shares = np.asarray(shares, dtype=np.float64)
    if len(shares) < 2:
        return 0.0
    positive = shares[shares > 0]
    return float(-(positive * np.log(positive)).sum() / np.log(len(shares)))


def exclusivity(shares):
    """Each expert's share of its use from its main user: ``max_k s_k / sum_k s_k``.

    Parameters
    ----------
    shares : array-like of shape (n_tasks, n_experts)
        Each task gate's mean weight on each expert.

    Returns
    -------
    list of float
        One per expert, in ``[1 / n_tasks, 1]``; NaN for an expert no task uses.
    """
    shares = np.asarray(shares, dtype=np.float64)
    total = shares.sum(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, shares.max(0) / total, np.nan).tolist()
