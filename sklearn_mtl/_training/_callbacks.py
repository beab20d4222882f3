"""Callbacks that record per-task losses and scores, guard training, and print progress."""

import copy
import math
import re
import sys
import time

import numpy as np
import torch
from skorch.callbacks import (
    BatchScoring,
    Callback,
    EarlyStopping,
    EpochScoring,
    PassthroughScoring,
    PrintLog,
    ProgressBar,
)

from .._data import BatchIterator

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

    def on_epoch_end(self, net, dataset_valid=None, **kwargs):
        if self._train_rows:
            mean_losses = self._train_sum / self._train_rows
            weighting = net.loss_weighting_
            weights = weighting.weights().tolist()
            for name, value, weight in zip(self.task_names, mean_losses.tolist(), weights):
                net.history.record(f"train_loss_{name}", value)
                net.history.record(f"loss_weight_{name}", weight)
            weighting.epoch_end(mean_losses)
        batches, self._valid_batches = self._valid_batches, []
        if net.shares is not None and dataset_valid is not None:
            batches = self._every_process(net, batches)
        if not batches:
            return
        logits, targets, sample_weight = (
            torch.cat(parts) if parts[0] is not None else None for parts in zip(*batches)
        )
        with torch.no_grad():
            losses = net.criterion_.task_losses(logits, targets, sample_weight).tolist()
        for name, value in zip(self.task_names, losses):
            net.history.record(f"valid_loss_{name}", value)
        def numpy(tensor):
            return None if tensor is None else tensor.double().cpu().numpy()

        scores = self.score_validation(numpy(targets), numpy(logits), numpy(sample_weight))
        for key, value in scores.items():
            net.history.record(key, value)

    @staticmethod
    def _every_process(net, batches):
        """The validation batches of every process, in rank order, here: each
        process of the fit validates on its own rows."""
        device = batches[0][0].device if batches else net.device
        mine = [tuple(None if t is None else t.cpu() for t in batch) for batch in batches]
        return [
            tuple(None if t is None else t.to(device) for t in batch)
            for part in net.shares.gather(mine)
            for batch in part
        ]

    def on_train_end(self, net, **kwargs):
        self._valid_batches = []


class SharedValidationLoss(PassthroughScoring):
    """skorch's ``valid_loss`` (the batches' mean validation loss), averaged
    over the validation batches of every process when each process of a
    data-parallel fit validates on its own rows (``net.shares``), so that
    every process records the same loss and best epoch."""

    def on_epoch_end(self, net, dataset_valid=None, **kwargs):
        if getattr(net, "shares", None) is None or dataset_valid is None:
            super().on_epoch_end(net, **kwargs)
            return
        mine = [
            (batch["valid_batch_size"], batch[self.name])
            for batch in net.history[-1]["batches"]
            if self.name in batch
        ]
        batches = [batch for part in net.shares.gather(mine) for batch in part]
        if not batches:
            return
        sizes, losses = zip(*batches)
        score = float(np.average(losses, weights=sizes))
        is_best = self._is_best_score(score)
        if is_best:
            self.best_score_ = score
        net.history.record(self.name, score)
        net.history.record(f"{self.name}_best", bool(is_best))


class CheckedEarlyStopping(EarlyStopping):
    """skorch's early stopping, with clear errors and a deferred stop.

    A monitor that is never recorded, or that is NaN (undefined on the
    validation split, e.g. ROC AUC without a positive), is an error rather
    than a silent stop. Each epoch records ``<monitor>_best`` (whether the
    epoch is the best so far, by early stopping's own criterion), so that
    e.g. ``Checkpoint(monitor="valid_roc_auc_best")`` saves the epoch that
    early stopping restores. The stop itself is requested from the net
    (``request_stop``) instead of raised, so that the callbacks after this
    one, the epoch table among them, still see the last epoch.
    """

    def on_epoch_end(self, net, dataset_valid=None, **kwargs):
        row = net.history[-1]
        if self.monitor not in row:
            recorded = sorted(k for k in row if k.startswith("valid_"))
            raise ValueError(
                f"early_stopping_monitor={self.monitor!r} is not recorded in the "
                f"history; use a task name or one of {recorded}."
            )
        if math.isnan(row[self.monitor]):
            n_valid = len(dataset_valid) if hasattr(dataset_valid, "__len__") else "?"
            raise ValueError(
                f"early_stopping_monitor={self.monitor!r} is NaN at epoch {row['epoch']}: "
                f"it is undefined on the validation split ({n_valid} rows), e.g. a task "
                "has a single class there, so it would be NaN at every epoch and early "
                "stopping could never pick one. Raise validation_fraction, monitor "
                "another task or 'valid_loss', or set early_stopping=False."
            )
        self._holding = True
        try:
            super().on_epoch_end(net, **kwargs)
        except KeyboardInterrupt:
            net.request_stop()
        finally:
            self._holding = False
        # Overwrites skorch's own valid_loss_best, which ignores the threshold.
        net.history.record(f"{self.monitor}_best", bool(self.best_epoch_ == row["epoch"]))

    def _sink(self, text, verbose):
        # The stop message waits for the end of training, after the last
        # epoch's table row.
        if getattr(self, "_holding", False):
            self._held.append((text, verbose))
        else:
            super()._sink(text, verbose)

    def on_train_begin(self, net, **kwargs):
        self._held = []
        super().on_train_begin(net, **kwargs)

    def on_train_end(self, net, **kwargs):
        for text, verbose in self._held:
            super()._sink(text, verbose)
        self._held = []
        super().on_train_end(net, **kwargs)


class DivergenceGuard(Callback):
    """Stop training with a clear error when the loss diverges.

    A non-finite training loss is caught at the batch where it appears. A
    finite explosion is caught at the end of an epoch: a task's mean
    training loss above ``max_task_loss`` (on the encoded targets, a
    constant prediction scores at most 1: ``log 2`` for a binary task, 1
    for a standardized regression target). Weights that a last optimizer
    step made non-finite, which no later loss can show, are caught when
    training ends (:func:`check_finite_weights`).

    Parameters
    ----------
    task_names : list of str
        Names of the ``train_loss_<task>`` history keys.
    max_task_loss : float, default=100.0
        Largest mean training loss of a task taken as training.
    hints : callable, default=None
        ``hints(net)`` gives the likely causes of a divergence (sentences),
        most likely first; the learning rate when None or empty.
    """

    def __init__(self, task_names, max_task_loss=100.0, hints=None):
        self.task_names = task_names
        self.max_task_loss = max_task_loss
        self.hints = hints

    def on_batch_end(self, net, training=False, **kwargs):
        if not training:
            return
        loss = net.history[-1]["batches"][-1]["train_loss"]
        if not math.isfinite(loss):
            batch = len(net.history[-1]["batches"])
            self.fail(net, f"the training loss is {loss} at epoch {len(net.history)}, batch {batch}")

    def on_epoch_end(self, net, **kwargs):
        row = net.history[-1]
        for name in self.task_names:
            loss = row.get(f"train_loss_{name}", 0.0)
            if not loss <= self.max_task_loss:
                self.fail(
                    net,
                    f"the mean training loss of task {name!r} is {loss:.4g} at epoch "
                    f"{row['epoch']} (a constant prediction scores at most 1)",
                )

    def fail(self, net, what):
        """Raise :class:`TrainingDivergedError` saying ``what`` happened and why it may have."""
        hints = list(self.hints(net)) if self.hints is not None else []
        hints.append(
            f"The learning rate may be too high (lr={net.lr:g}): lower it, e.g. tenfold."
        )
        raise TrainingDivergedError(
            f"Training diverged: {what}. {' '.join(hints)} The estimator keeps its state "
            "from before this call."
        )


def check_trained_network(net, data):
    """Fail through the net's divergence guard if the last optimizer step broke
    the network, which no loss recorded during training can show: a weight
    that is not finite, or on the first rows of ``data`` a non-finite output
    or a task loss above the guard's ``max_task_loss``."""
    guard = dict(net.callbacks_)["divergence_guard"]
    parts = {"network": net.module_, "loss": net.criterion_, "loss weighting": net.loss_weighting_}
    epoch = len(net.history)
    for part, module in parts.items():
        for name, tensor in [*module.named_parameters(), *module.named_buffers()]:
            if tensor.is_floating_point() and not _all_finite(tensor):
                guard.fail(net, f"the {part}'s {name} is not finite after epoch {epoch}")
    module = net.module_
    training = module.training
    module.eval()
    try:
        inputs, (targets, sample_weight) = next(
            iter(BatchIterator(data, net.iterator_valid__batch_size, device=net.device))
        )
        with torch.no_grad():
            logits = module(**inputs).to(targets.dtype)
            losses = net.criterion_.task_losses(logits, targets, sample_weight)
    finally:
        module.train(training)
    if not bool(torch.isfinite(logits).all()):
        guard.fail(net, f"after epoch {epoch} the network's outputs on training rows are not finite")
    for name, loss in zip(guard.task_names, losses.tolist()):
        if not loss <= guard.max_task_loss:
            guard.fail(
                net,
                f"after the last optimizer step of epoch {epoch}, the training loss of task "
                f"{name!r} on the first {len(targets)} training rows is {loss:.4g}",
            )


class EpochTasks(Callback):
    """Each epoch as a task of scikit-learn's callbacks (``set_callbacks``).

    Parameters
    ----------
    tasks : FitTasks
        The fit's callback tasks (``epoch_begin``, ``epoch_end``).
    fitted_state : callable
        ``fitted_state(net)``: the estimator's fitted attributes with ``net``
        as its network.
    """

    def __init__(self, tasks, fitted_state):
        self.tasks = tasks
        self.fitted_state = fitted_state

    def on_epoch_begin(self, net, **kwargs):
        self.tasks.epoch_begin()

    def on_epoch_end(self, net, **kwargs):
        if self.tasks.epoch_end(lambda: self.fitted_state(net)):
            net.request_stop()

    def on_train_end(self, net, **kwargs):
        # The fitted net keeps its callbacks: it must not keep the estimator
        # and its training data alive (nor pickle them) through this one.
        self.tasks = self.fitted_state = None


def _all_finite(tensor):
    """Whether every value of ``tensor`` is finite.

    A sum is finite unless a term is not or the terms overflow; summing reads
    the tensor once and writes nothing, where ``isfinite`` writes a mask of
    the tensor's size (a pass over a table of millions of rows). Only a sum
    that is not finite takes the exact check.
    """
    return bool(torch.isfinite(tensor.sum())) or bool(torch.isfinite(tensor).all())


class TrainingDivergedError(ValueError, FloatingPointError):
    """Raised when the training loss diverges (non-finite or exploding)."""


class BatchProgress(Callback):
    """A throttled progress line within each training epoch.

    At most every ``interval`` seconds: batches done out of the epoch's
    total, rows per second and the running mean training loss. On a
    terminal the line is redrawn in place (carriage return) and cleared at
    the end of the epoch; elsewhere (a notebook, a log file) each report is
    a plain line without escape codes, so a log gets at most one line per
    ``interval``. No widget: safe in a notebook without ipywidgets.

    Parameters
    ----------
    interval : float, default=5.0
        Minimum seconds between two reports.
    clock : callable, default=time.monotonic
        Source of the time in seconds.
    stream : file-like, default=None
        Where to write; ``sys.stdout`` (looked up at each write) when None.
    """

    def __init__(self, interval=5.0, clock=time.monotonic, stream=None):
        self.interval = interval
        self.clock = clock
        self.stream = stream

    def on_epoch_begin(self, net, dataset_train=None, **kwargs):
        # Out-of-core data (ChunkedData) has no length: progress then counts up.
        sized = hasattr(dataset_train, "__len__")
        self.total_ = -(-len(dataset_train) // net.batch_size) if sized else None
        self.start_ = self.last_report_ = self.clock()
        self.batches_, self.rows_, self.loss_sum_, self.drawn_ = 0, 0, 0.0, False

    def on_batch_end(self, net, batch=None, training=False, **kwargs):
        if not training:
            return
        rows = len(batch[1][0])
        self.batches_ += 1
        self.rows_ += rows
        self.loss_sum_ += net.history[-1]["batches"][-1]["train_loss"] * rows
        now = self.clock()
        unfinished = self.total_ is None or self.batches_ < self.total_
        if now - self.last_report_ >= self.interval and unfinished:
            self.last_report_ = now
            rate = self.rows_ / max(now - self.start_, 1e-9)
            of_total = "" if self.total_ is None else f"/{self.total_}"
            self._write(
                f"epoch {len(net.history)}: batch {self.batches_}{of_total}, "
                f"{rate:,.0f} rows/s, train_loss {self.loss_sum_ / self.rows_:.4f}"
            )

    def on_epoch_end(self, net, **kwargs):
        if self.drawn_:
            self._stream().write("\r\x1b[2K")
            self._stream().flush()
            self.drawn_ = False

    def _stream(self):
        return self.stream if self.stream is not None else sys.stdout

    def _write(self, line):
        stream = self._stream()
        if _is_tty(stream):
            stream.write(f"\r\x1b[2K{line}")
            self.drawn_ = True
        else:
            stream.write(f"{line}\n")
        stream.flush()


def _is_tty(stream):
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


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
        if not _is_tty(sys.stdout):
            text = _ANSI_ESCAPE.sub("", text)
        super()._sink(text, verbose)


def _refuse(reason):
    def refuse(callback):
        raise TypeError(f"{type(callback).__name__} does not work in callbacks: {reason}")

    return refuse


_SCORING_ALTERNATIVE = _refuse(
    "it scores the private skorch net with y taken from the batches, which here "
    "hold (targets, sample_weight) per task, not a label vector. Every epoch's "
    "validation scores are already in history_ (valid_roc_auc_<task>, "
    "valid_average_precision_<task>, valid_log_loss_<task>, valid_loss_<task> and "
    "their means over tasks), usable as early_stopping_monitor and with "
    "Checkpoint(monitor='<key>_best'); score a fitted estimator with the scorers "
    "of sklearn_mtl.metrics."
)


def _text_progress_bar(callback):
    # tqdm's notebook bar needs ipywidgets: without it, a text bar (a copy,
    # so that the estimator's parameter is left as given).
    if callback.detect_notebook and callback.in_ipynb():
        try:
            import ipywidgets  # noqa: F401
        except ImportError:
            callback = copy.copy(callback)
            callback.detect_notebook = False
    return callback


#: What becomes of a skorch callback of a given class in ``callbacks=``.
_CALLBACK_ADAPTERS = {
    EpochScoring: _SCORING_ALTERNATIVE,
    BatchScoring: _SCORING_ALTERNATIVE,
    EarlyStopping: _refuse(
        "use the estimator's early_stopping=True with early_stopping_monitor (a "
        "history key or a task name) and n_iter_no_change, which also restores the "
        "best epoch's weights."
    ),
    ProgressBar: _text_progress_bar,
}


def check_callback(item):
    """Validate one item of the estimator's ``callbacks``.

    Returns the callback (or ``(name, callback)`` pair) to hand to skorch,
    adapted or refused with a clear error by :data:`_CALLBACK_ADAPTERS`.
    """
    named = isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str)
    callback = item[1] if named else item
    if not isinstance(callback, Callback):
        hint = (
            f" (a class: pass an instance, {callback.__name__}())"
            if isinstance(callback, type)
            else ""
        )
        raise TypeError(
            f"callbacks must hold skorch callbacks (instances of "
            f"skorch.callbacks.Callback) or (name, callback) pairs; got {item!r} of "
            f"type {type(item).__name__}{hint}."
        )
    for klass in type(callback).__mro__:
        if klass in _CALLBACK_ADAPTERS:
            callback = _CALLBACK_ADAPTERS[klass](callback)
            break
    return (item[0], callback) if named else callback
