"""Callbacks that record per-task losses and scores, and print one row per epoch."""

import re
import sys

import numpy as np
import torch
from skorch.callbacks import Callback, EarlyStopping, PrintLog

_ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*m")


class TaskScoring(Callback):
    """Record per-task training losses and validation losses and scores.

    Training: the running mean of each task's loss over the epoch's batches
    (``train_loss_<task>``) and the loss-weighting strategy's task weights at
    the end of the epoch (``loss_weight_<task>``); the strategy's
    ``epoch_end`` hook then gets the mean losses. Validation: the logits of
    the whole validation set are kept for the epoch, then each task's loss
    and the scores given by ``score_validation`` are recorded
    (``valid_loss_<task>`` and the keys it returns).

    Parameters
    ----------
    task_names : list of str
        Names used in the history keys.
    score_validation : callable
        ``score_validation(Y, logits, sample_weight) -> dict`` of history
        key to value, on the whole validation set (float64 NumPy arrays).
    """

    def __init__(self, task_names, score_validation):
        self.task_names = task_names
        self.score_validation = score_validation

    def on_epoch_begin(self, net, **kwargs):
        self._train_sum, self._train_rows = 0.0, 0
        self._valid_batches = []

    def on_batch_end(self, net, batch=None, training=False, **kwargs):
        _, (targets, sample_weight) = batch
        if training:
            rows = len(targets)
            self._train_sum = self._train_sum + kwargs["task_losses"] * rows
            self._train_rows += rows
        else:
            self._valid_batches.append((kwargs["y_pred"].detach(), targets, sample_weight))

    def on_epoch_end(self, net, **kwargs):
        if self._train_rows:
            mean_losses = self._train_sum / self._train_rows
            weighting = net.loss_weighting_
            weights = weighting.weights().tolist()
            for name, value, weight in zip(self.task_names, mean_losses.tolist(), weights):
                net.history.record(f"train_loss_{name}", value)
                net.history.record(f"loss_weight_{name}", weight)
            weighting.epoch_end(mean_losses)
        if not self._valid_batches:
            return
        logits, targets, sample_weight = (
            torch.cat(parts) if parts[0] is not None else None
            for parts in zip(*self._valid_batches)
        )
        self._valid_batches = []
        with torch.no_grad():
            losses = net.criterion_.task_losses(logits, targets, sample_weight).tolist()
        for name, value in zip(self.task_names, losses):
            net.history.record(f"valid_loss_{name}", value)
        def numpy(tensor):
            return None if tensor is None else tensor.double().cpu().numpy()

        scores = self.score_validation(numpy(targets), numpy(logits), numpy(sample_weight))
        for key, value in scores.items():
            net.history.record(key, value)

    def on_train_end(self, net, **kwargs):
        self._valid_batches = []


class CheckedEarlyStopping(EarlyStopping):
    """skorch's early stopping, with a clear error for a monitor never recorded."""

    def on_epoch_end(self, net, **kwargs):
        if self.monitor not in net.history[-1]:
            recorded = sorted(k for k in net.history[-1] if k.startswith("valid_"))
            raise ValueError(
                f"early_stopping_monitor={self.monitor!r} is not recorded in the "
                f"history; use a task name or one of {recorded}."
            )
        super().on_epoch_end(net, **kwargs)


class _AllExcept:
    """A set of every key but ``kept`` (for PrintLog's ``keys_ignored_``)."""

    def __init__(self, kept):
        self.kept = set(kept)

    def __contains__(self, key):
        return key not in self.kept

    def add(self, key):
        self.kept.discard(key)


class EpochLog(PrintLog):
    """skorch's one-row-per-epoch table, with colours only on a terminal.

    A notebook or a CI log gets the same plain table row per epoch, no
    progress-bar redraws and no escape codes.

    Parameters
    ----------
    keys_shown : collection of str, default=None
        History keys to show; all (but skorch's usual exclusions) when None.
    **kwargs
        Passed to :class:`skorch.callbacks.PrintLog`.
    """

    def __init__(self, keys_shown=None, **kwargs):
        super().__init__(**kwargs)
        self.keys_shown = keys_shown

    def initialize(self):
        super().initialize()
        if self.keys_shown is not None:
            self.keys_ignored_ = _AllExcept(self.keys_shown)
        return self

    def _sink(self, text, verbose):
        stream = getattr(sys.stdout, "isatty", None)
        if not (stream and stream()):
            text = _ANSI_ESCAPE.sub("", text)
        super()._sink(text, verbose)


def nanmean(values):
    values = np.asarray(values, dtype=float)
    return float(np.nanmean(values)) if np.isfinite(values).any() else np.nan
