"""One training session: from a source's data to a trained network.

Every fit runs through :class:`TrainingSession`: in memory or out of core, a
first fit, ``warm_start`` or ``partial_fit``, in one process or
data-parallel. The session checks the training parameters, splits the data,
seeds torch, builds the private skorch net around the estimator's module and
trains it; the estimator keeps the result only if training succeeded.
"""

import copy
import warnings
from contextlib import contextmanager
from functools import cached_property

import numpy as np
import torch
from skorch.helper import predefined_split
from skorch.history import History
from sklearn.utils import check_random_state

from .._data import BatchIterator, holds_out_validation
from .._params import check_device, check_optimizer, check_precision
from ..metrics import TASK_METRICS
from ._callbacks import (
    BatchProgress,
    CheckedEarlyStopping,
    DivergenceGuard,
    EpochLog,
    EpochTasks,
    TaskScoring,
    check_callback,
    check_trained_network,
)
from ._distributed import data_parallel
from ._net import MultiTaskNet
from ._tables import choose_table_optimizer

#: Smallest batch of the validation and prediction passes. Without gradients a
#: larger batch costs less per row (fewer calls, and 4,096 rows still stay in
#: cache): predict_proba on 49,881 census rows took 35-40% less time than in
#: batches of 1,024 (PLE, ESMM, AITM), and less than one pass over all rows.
INFERENCE_BATCH_SIZE = 4096

#: Fewest training steps after which BatchNorm's running statistics (momentum 0.1)
#: keep under 5% of their starting values (0.9 ** 30 = 0.04).
_BATCH_NORM_MIN_STEPS = 30

_MAX_SEED = np.iinfo(np.int32).max


class TrainingSession:
    """The training of one ``fit`` or ``partial_fit`` call of ``model``.

    Parameters
    ----------
    model : BaseMultiTaskClassifier
        The estimator: its parameters steer training, its hooks build the
        module, criterion and callbacks.
    continuing : bool
        Whether training continues the fitted network (``warm_start``,
        ``partial_fit``) instead of building a new one.

    Attributes
    ----------
    device : str
        The checked device (a process's own under data-parallel training,
        once :meth:`run` has started).
    """

    def __init__(self, model, *, continuing):
        self.model = model
        self.continuing = continuing
        self.device = check_device(model.device)
        self.optimizer = check_optimizer(
            model.optimizer, model.optimizer_params, model.lr, model.weight_decay
        )
        self.callbacks = [check_callback(item) for item in model.callbacks or []]

    @cached_property
    def parallel(self):
        """The process group of a data-parallel fit (a
        :class:`~sklearn_mtl._training._distributed.DataParallel`), or None:
        the source reads its share of the rows through it."""
        return data_parallel(self.device)

    def run(self, data, *, epochs, validate, tasks=None):
        """Train on ``data`` (a :class:`~sklearn_mtl._data.SourceData`).

        ``validate=False`` never holds rows out (``partial_fit``). ``tasks``
        (a ``FitTasks``, or None without scikit-learn callbacks) calls the
        estimator's callbacks at each epoch. Returns the trained net and the
        std its embedding table started from; the estimator is not changed.
        """
        model = self.model
        device = self.device
        parallel = self.parallel
        if parallel is not None:
            device = parallel.device
            parallel.check_same_data(data.summary)
        rng = check_random_state(model.random_state)
        if parallel is not None:
            rng = parallel.shared_rng(rng)
        seed = int(rng.randint(_MAX_SEED))
        validating = validate and holds_out_validation(model, data)
        train, valid, n_train = data.split(
            model.validation_fraction if validating else None, rng
        )
        if self.continuing:
            # A continued fit must not replay the first call's shuffles and dropout masks.
            seed = (seed + model.n_iter_) % _MAX_SEED
            init_std = model.embedding_init_std_
        else:
            init_std = model._embedding_init_std(n_train, epochs, data.encoder)
        with _seeded_torch(seed if parallel is None else parallel.process_seed(seed), device):
            if self.continuing:
                parts = model._continued_parts()
            else:
                parts = model._new_parts(init_std, data.encoder, train)
            epoch_tasks = None if tasks is None else EpochTasks(
                tasks, lambda net: model._fitted_state(net, init_std, data.encoder)
            )
            net = self._build_net(
                *parts,
                n_train,
                epochs,
                valid is not None,
                device,
                parallel,
                seed,
                epoch_tasks,
                sharded_train=train if data.sharded else None,
            )
            if self.continuing:
                _continue_optimizer(net, model.net_)
            _train(net, train, valid, epochs=epochs)
        return net, init_std

    def restore(self, parts, *, batch_size, valid_batch_size, history):
        """A net around fitted ``parts`` (module, criterion, loss weighting), as
        training leaves it: for an estimator read back from a file."""
        # The training rows only choose an automatic batch size, replaced at once;
        # the epochs it ran stand for the fit's cap, which a continued fit sets anew.
        epochs = max(len(history), 1)
        net = self._build_net(*parts, batch_size, epochs, False, self.device, None, 0)
        net.batch_size = batch_size
        net.iterator_valid__batch_size = valid_batch_size
        net.history_ = History(history)
        return net

    def _build_net(
        self,
        module,
        criterion,
        loss_weighting,
        n_train,
        max_epochs,
        has_validation,
        device,
        parallel,
        seed,
        epoch_tasks=None,
        sharded_train=None,
    ):
        model = self.model
        batch_size = model._batch_size(n_train)
        shard = steps = shares = None
        if parallel is not None:
            parallel.check_loss_weighting(loss_weighting)
            if n_train < parallel.world_size:
                raise ValueError(
                    f"{n_train} training rows cannot be shared among {parallel.world_size} "
                    "processes; train on more rows or in fewer processes."
                )
            batch_size = parallel.rows_per_step(batch_size)
            if sharded_train is None:
                shard = parallel.shard(seed)
            else:
                # Each process holds its own rows, as many as its share: every one
                # takes as many steps as the smallest share's full batches.
                steps = parallel.agreed_steps(sharded_train.full_batches(batch_size), batch_size)
                shares = parallel
        task_names = list(model.task_names_)
        internal = [
            ("task_scoring", TaskScoring(task_names, model._validation_scores)),
            ("divergence_guard", DivergenceGuard(task_names, hints=model._divergence_hints)),
            *model._model_callbacks(),
        ]
        if has_validation:
            monitor = model._monitor()
            internal.append(
                (
                    "early_stopping",
                    CheckedEarlyStopping(
                        monitor=monitor,
                        lower_is_better=_lower_is_better(monitor),
                        patience=model.n_iter_no_change,
                        load_best=True,
                    ),
                )
            )
        if model.verbose >= 2:
            internal.append(("batch_progress", BatchProgress()))
        if epoch_tasks is not None:
            # Last of the package's callbacks: the epoch's history row is complete.
            internal.append(("epoch_tasks", epoch_tasks))
        optimizer_class, optimizer_params = self.optimizer
        optimizer_params = _with_fused_kernel(optimizer_class, optimizer_params, device)
        table_class = choose_table_optimizer(
            model.embedding_optimizer, optimizer_class, module, loss_weighting, parallel
        )
        net = MultiTaskNet(
            module=module,
            criterion=criterion,
            loss_weighting=loss_weighting,
            optimizer=optimizer_class,
            lr=model.lr,
            **{f"optimizer__{k}": v for k, v in optimizer_params.items()},
            max_epochs=max_epochs,
            batch_size=batch_size,
            iterator_train=BatchIterator,
            iterator_train__shuffle=True,
            iterator_train__device=device,
            iterator_train__shard=shard,
            iterator_train__steps=steps,
            iterator_train__fold_single_row=_has_batch_norm(module),
            data_parallel=parallel,
            shares=shares,
            autocast_dtype=check_precision(model.precision, model.dtype),
            table_optimizer=table_class and (table_class, {"weight_decay": model.weight_decay}),
            iterator_valid=BatchIterator,
            # Validation and prediction batches change no result (eval mode): a
            # training batch of 16 rows must not make predict crawl.
            iterator_valid__batch_size=max(batch_size, INFERENCE_BATCH_SIZE),
            iterator_valid__device=device,
            train_split=None,
            callbacks=internal + self.callbacks,
            callbacks__print_log=EpochLog(keys_shown=model._epoch_log_keys()),
            verbose=model.verbose,
            device=device,
        )
        net.initialize()
        if model.__sklearn_is_fitted__():
            # A new list of the same rows: epochs of a failed call never reach net_.
            net.history_ = type(model.net_.history_)(model.net_.history_)
        return net


#: Optimizers with a fused kernel (torch's ``fused=True``): one kernel per step
#: instead of a handful of operations per parameter, the same update up to
#: rounding. ESMM's network at its defaults on CPU: 0.2 ms an Adam step
#: against 0.76 ms, a tenth of a training step of 512 rows.
_FUSED_OPTIMIZERS = (torch.optim.Adam, torch.optim.AdamW)


def _fused_kernel_devices():
    """Device types with fused optimizer kernels in this torch (a private
    helper of torch's: none where it is missing, as in older releases)."""
    try:
        from torch.utils._foreach_utils import _get_fused_kernels_supported_devices
    except ImportError:
        return []
    return _get_fused_kernels_supported_devices()


def _with_fused_kernel(optimizer_class, params, device):
    """``params`` with ``fused=True`` where the optimizer and device have a fused
    kernel and the user chose no implementation (``fused`` or ``foreach``)."""
    if (
        optimizer_class not in _FUSED_OPTIMIZERS
        or {"fused", "foreach"} & params.keys()
        or torch.device(device).type not in _fused_kernel_devices()
    ):
        return params
    return {**params, "fused": True}


@contextmanager
def _seeded_torch(seed, device):
    """Seed torch for initialisation, shuffling and dropout without touching
    the caller's global RNG state, which is restored on exit."""
    device = torch.device(device)
    forked = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=forked):
        torch.random.default_generator.manual_seed(seed)
        if forked:
            with torch.cuda.device(forked[0]):
                torch.cuda.manual_seed(seed)
        yield


def _train(net, data, valid_data, *, epochs):
    """Train ``net``. An error (e.g. divergence) or an interrupt before the
    end of the first epoch propagates, so that the estimator stays as it was."""
    net.train_split = None if valid_data is None else predefined_split(valid_data)
    n_before = len(net.history)
    try:
        net.partial_fit(data, epochs=epochs)
    finally:
        # Neither the validation tensors nor the process group may live on
        # in the fitted (pickled) model.
        net.train_split = None
        net.data_parallel = net.shares = None
        net.iterator_train__shard = None
    if net.interrupted_ is not None:
        if len(net.history) == n_before:
            raise KeyboardInterrupt
        warnings.warn(_interrupt_message(net), UserWarning, stacklevel=6)
    check_trained_network(net, data)
    _warn_unsettled_batch_norm(net.module_)


def _has_batch_norm(module):
    return any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in module.modules())


def _warn_unsettled_batch_norm(module):
    """Warn when predictions would normalise with running statistics that are
    still mostly their starting values (mean 0, variance 1)."""
    steps = [
        int(m.num_batches_tracked)
        for m in module.modules()
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm) and m.track_running_stats
    ]
    if steps and min(steps) < _BATCH_NORM_MIN_STEPS:
        warnings.warn(
            f"batch_norm=True, but the network has trained for only {min(steps)} "
            f"optimizer step(s): predictions normalise with BatchNorm's running "
            f"statistics, which after fewer than {_BATCH_NORM_MIN_STEPS} steps are still "
            "largely their starting values, so they can be far off. Train for more steps "
            "(more epochs or a smaller batch_size), or set batch_norm=False.",
            UserWarning,
            stacklevel=7,
        )


def _lower_is_better(monitor):
    for name, metric in TASK_METRICS.items():
        if monitor.startswith(f"valid_{name}"):
            return not metric.greater_is_better
    return True


def _continue_optimizer(net, fitted):
    """Carry the fitted optimizer's state (e.g. Adam's moments) over to the
    new net's, if it is of the same classes (a network and a table optimizer
    of the same classes for a split one), keeping the new settings."""
    optimizer, previous = net.optimizer_, fitted.optimizer_
    if _optimizer_classes(optimizer) != _optimizer_classes(previous):
        return
    settings = [{k: v for k, v in g.items() if k != "params"} for g in optimizer.param_groups]
    optimizer.load_state_dict(copy.deepcopy(previous.state_dict()))
    for group, setting in zip(optimizer.param_groups, settings):
        group.update(setting)


def _optimizer_classes(optimizer):
    return [type(o) for o in getattr(optimizer, "optimizers", (optimizer,))]


def _interrupt_message(net):
    last = len(net.history)
    stopper = dict(net.callbacks_).get("early_stopping")
    if stopper is not None and stopper.best_model_weights_ is not None and stopper.best_epoch_ != last:
        kept = f"of its best epoch so far, {stopper.best_epoch_}"
    else:
        kept = f"of epoch {last}"
    return (
        f"Training was interrupted (KeyboardInterrupt) during epoch {net.interrupted_}, "
        f"which is discarded: the model keeps the weights {kept}, and history_ and "
        f"n_iter_ end at epoch {last}. Call fit again to train from scratch, or set "
        "warm_start=True to continue."
    )
