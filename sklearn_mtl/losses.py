"""Multi-task losses computed from logits, with per-row label masks."""

from functools import partial

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["ELEMENT_LOSSES", "GateBalancedLoss", "MultiTaskLoss", "masked_task_means"]


def masked_task_means(per_element, observed, sample_weight=None):
    """Weighted mean of an ``(n, n_tasks)`` loss over each task's observed rows.

    Parameters
    ----------
    per_element : torch.Tensor of shape (n, n_tasks)
        Loss of every row and task.
    observed : torch.Tensor of bool, shape (n, n_tasks)
        Whether the label of that row and task is known.
    sample_weight : torch.Tensor of shape (n,), default=None
        Row weights.

    Returns
    -------
    torch.Tensor of shape (n_tasks,)
        ``sum_i w_i m_it l_it / sum_i w_i m_it``; zero for a task with no
        observed row in the batch.

    Examples
    --------
    >>> import torch
    >>> from sklearn_mtl.losses import masked_task_means
    >>> loss = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    >>> observed = torch.tensor([[True, False], [True, False]])
    >>> masked_task_means(loss, observed)
    tensor([2., 0.])
    """
    weight = observed.to(per_element.dtype)
    if sample_weight is not None:
        weight = weight * sample_weight.unsqueeze(1)
    total = weight.sum(0)
    # Keeping 0/0 out of the graph: a NaN there would poison the gradient even
    # where the result is discarded.
    safe_total = torch.where(total > 0, total, torch.ones_like(total))
    return (per_element * weight).sum(0) / safe_total


def _bce(output, target, pos_weight=None):
    return F.binary_cross_entropy_with_logits(
        output, target, reduction="none", pos_weight=pos_weight
    )


def _mse(output, target):
    return F.mse_loss(output, target, reduction="none")


def _huber(output, target):
    return F.huber_loss(output, target, reduction="none")


def _cross_entropy(output, target):
    return F.cross_entropy(output, target.long(), reduction="none")


#: Per-element losses ``loss(output, target)``: ``"bce"`` on logits of 0/1
#: labels; ``"mse"`` and ``"huber"`` (delta 1) on standardized targets;
#: ``"cross_entropy"`` on ``(n, K)`` logits of class indices.
ELEMENT_LOSSES = {"bce": _bce, "mse": _mse, "huber": _huber, "cross_entropy": _cross_entropy}


class MultiTaskLoss(nn.Module):
    """Per-task losses from the network output, masking unobserved labels.

    A NaN target means "not observed for this row": that row does not count
    towards that task's loss (the PLE paper's per-task sample spaces).

    Parameters
    ----------
    losses : sequence of str, default=None
        Each task's per-element loss, a key of :data:`ELEMENT_LOSSES`;
        binary cross-entropy on logits for every task when None.
    widths : sequence of int, default=None
        Each task's number of columns in the network output, in task order
        (``K`` logits for a ``"cross_entropy"`` task of ``K`` classes); one
        column per task when None.

    Notes
    -----
    :meth:`weigh_positives` sets each binary task's weight of positive
    labels. ``task_losses(logits, targets, sample_weight)`` returns the ``(n_tasks,)``
    vector of per-task mean losses; how they are weighted into one loss is
    the estimator's ``loss_weighting`` strategy. ``forward`` gives their
    plain sum plus ``penalty(logits, sample_weight)``, the auxiliary term of a
    model that has one (AITM's calibrator overrides :meth:`penalty`).

    Examples
    --------
    >>> import torch
    >>> from sklearn_mtl.losses import MultiTaskLoss
    >>> loss = MultiTaskLoss()
    >>> logits = torch.zeros(2, 2)
    >>> targets = torch.tensor([[1.0, float("nan")], [0.0, 1.0]])
    >>> loss.task_losses(logits, targets)
    tensor([0.6931, 0.6931])
    >>> MultiTaskLoss(losses=["bce", "mse"]).task_losses(logits, targets)
    tensor([0.6931, 1.0000])
    >>> three_classes = MultiTaskLoss(losses=["bce", "cross_entropy"], widths=[1, 3])
    >>> three_classes.task_losses(torch.zeros(2, 4), torch.tensor([[1.0, 2.0], [0.0, 0.0]]))
    tensor([0.6931, 1.0986])
    """

    def __init__(self, losses=None, widths=None):
        super().__init__()
        self.losses = None if losses is None else list(losses)
        self.widths = None if widths is None else [int(w) for w in widths]
        # Each task's output column (an index, so that a one-column task gets a
        # 1-D output) or block of columns.
        self._columns = None
        if self.widths is not None:
            starts = [sum(self.widths[:t]) for t in range(len(self.widths))]
            self._columns = [
                start if width == 1 else slice(start, start + width)
                for start, width in zip(starts, self.widths)
            ]
        self.register_buffer("pos_weight", None)
        unknown = set(self.losses or ()) - set(ELEMENT_LOSSES)
        if unknown:
            raise ValueError(
                f"Unknown loss {sorted(unknown)}; use keys of ELEMENT_LOSSES "
                f"{sorted(ELEMENT_LOSSES)}."
            )

    def task_losses(self, logits, targets, sample_weight=None):
        """Each task's mean loss over its observed labels.

        Parameters
        ----------
        logits : torch.Tensor of shape (n_samples, n_tasks)
            The model's outputs.
        targets : torch.Tensor of shape (n_samples, n_tasks)
            Encoded labels; NaN where a label is not observed.
        sample_weight : torch.Tensor of shape (n_samples,), default=None
            Row weights.

        Returns
        -------
        torch.Tensor of shape (n_tasks,)
            The per-task losses.
        """
        observed = ~torch.isnan(targets)
        targets = torch.where(observed, targets, torch.zeros_like(targets))
        if self.losses is None:
            per_element = _bce(logits, targets, self.pos_weight)
        else:
            columns = self._columns or range(len(self.losses))
            per_element = torch.stack(
                [
                    self._element_loss(t, name)(logits[:, column], targets[:, t])
                    for t, (name, column) in enumerate(zip(self.losses, columns))
                ],
                dim=1,
            )
        return masked_task_means(per_element, observed, sample_weight)

    def _element_loss(self, t, name):
        if name == "bce" and self.pos_weight is not None:
            return partial(_bce, pos_weight=self.pos_weight[t])
        return ELEMENT_LOSSES[name]

    def weigh_positives(self, pos_weight):
        """Weigh each binary task's positive labels in its cross-entropy.

        Parameters
        ----------
        pos_weight : array-like of shape (n_tasks,) or None
            Task ``t``'s positives count ``pos_weight[t]`` times (the
            ``pos_weight`` of
            :func:`~torch.nn.functional.binary_cross_entropy_with_logits`);
            ignored for tasks that are not binary. None weighs all 1.

        Returns
        -------
        self : MultiTaskLoss

        Examples
        --------
        >>> import torch
        >>> from sklearn_mtl.losses import MultiTaskLoss
        >>> loss = MultiTaskLoss().weigh_positives([1.0, 3.0])
        >>> loss.task_losses(torch.zeros(1, 2), torch.tensor([[1.0, 1.0]]))
        tensor([0.6931, 2.0794])
        """
        self.pos_weight = None if pos_weight is None else torch.as_tensor(
            pos_weight, dtype=torch.float32
        )
        return self

    def bind(self, module):
        """Called with the network before training; returns self.

        A penalty on the network's internals (e.g. its gates) keeps the
        network here; this base loss needs none.

        Parameters
        ----------
        module : torch.nn.Module
            The network the loss trains.

        Returns
        -------
        self : MultiTaskLoss
        """
        return self

    def penalty(self, logits, sample_weight=None):
        """A term added to the weighted task losses; zero here, a hook for models.

        Parameters
        ----------
        logits : torch.Tensor of shape (n_samples, n_tasks)
            The model's outputs.
        sample_weight : torch.Tensor of shape (n_samples,), default=None
            Row weights.

        Returns
        -------
        torch.Tensor
            A scalar.
        """
        return logits.new_zeros(())

    def forward(self, logits, targets, sample_weight=None):
        task_losses = self.task_losses(logits, targets, sample_weight)
        return task_losses.sum() + self.penalty(logits, sample_weight)


class GateBalancedLoss(MultiTaskLoss):
    """Task losses plus a load-balancing penalty on a mixture-of-experts' gates.

    The penalty is ``balance_weight`` times the network's
    ``gate_balance_loss(sample_weight)``, the squared coefficient of
    variation of each gate's importance (its summed weight per expert over
    the batch), averaged over the gates: the importance loss of Shazeer et
    al. (ICLR 2017), which pushes every gate to spread its weight over its
    experts instead of collapsing onto one.

    Parameters
    ----------
    losses, widths : sequence, default=None
        Each task's per-element loss and output width; see :class:`MultiTaskLoss`.
    balance_weight : float, default=0.0
        Weight of the penalty.

    Notes
    -----
    The network records its gates in a forward pass with gradients enabled
    (training) and the penalty consumes them, so the penalty is part of the
    training loss only; the validation loss and scores are the tasks'.

    Examples
    --------
    >>> import torch
    >>> from sklearn_mtl.losses import GateBalancedLoss
    >>> from sklearn_mtl.models import MMoE
    >>> from sklearn_mtl.nn import MixedInputEmbedding
    >>> module = MMoE(MixedInputEmbedding([], 3, 2), 2, num_experts=4,
    ...               expert_hidden_units=(8,), tower_hidden_units=(4,), balance_gates=True)
    >>> loss = GateBalancedLoss(balance_weight=0.1).bind(module)
    >>> logits = module(torch.zeros(5, 0, dtype=torch.long), torch.randn(5, 3))
    >>> bool(loss.penalty(logits) > 0)
    True
    """

    def __init__(self, losses=None, widths=None, balance_weight=0.0):
        super().__init__(losses, widths)
        self.balance_weight = balance_weight

    def bind(self, module):
        # A tuple, so that the network is not registered as a submodule of the
        # loss (its parameters would reach the optimizer twice).
        self._network = (module,)
        return self

    def penalty(self, logits, sample_weight=None):
        return self.balance_weight * self._network[0].gate_balance_loss(sample_weight).to(logits)
