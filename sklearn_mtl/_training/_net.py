"""The private skorch net that trains a multi-task module on pre-built tensors."""

import torch
from skorch import NeuralNet
from skorch.dataset import unpack_data
from skorch.utils import to_device

from ._callbacks import SharedValidationLoss
from ._tables import SplitOptimizer, embedding_tables


class MultiTaskNet(NeuralNet):
    """skorch net whose loss is a combination of per-task losses.

    The criterion (a :class:`~sklearn_mtl.losses.MultiTaskLoss`) gives the
    vector of per-task losses; the loss-weighting strategy turns them into
    the gradients of each training step (adding the criterion's penalty
    outside any weighting). Each step hands the per-task losses to
    callbacks as ``task_losses`` so that they can be recorded per task.

    Parameters
    ----------
    *args, **kwargs
        Passed to :class:`skorch.NeuralNet`.
    loss_weighting : LossWeighting
        A strategy of :mod:`sklearn_mtl.loss_weighting`, already set up.
    data_parallel : DataParallel, default=None
        The process group of a data-parallel fit: training steps then run
        through :class:`~torch.nn.parallel.DistributedDataParallel` and the
        logged losses are averaged over the processes. None trains in this
        process alone.
    shares : DataParallel, default=None
        The same process group when each process holds its own share of the
        rows (a ChunkedData of Parquet files read in shares): the validation
        loss and scores are then computed over the validation rows of every
        process, the same in all of them. None when every process holds
        every row.
    autocast_dtype : torch.dtype, default=None
        Mixed precision: training steps run the module under
        :func:`torch.autocast` to this dtype; the loss is computed from
        logits cast back to the targets' dtype. None: no autocast.
    table_optimizer : (type, dict), default=None
        An optimizer class of sparse embedding-table gradients and its keyword
        arguments beyond ``lr``: the module's embedding tables then train from
        sparse gradients with it, the other parameters with ``optimizer``
        (see :class:`~sklearn_mtl._training._tables.SplitOptimizer`). None:
        ``optimizer`` trains everything, the tables from dense gradients.
    """

    def __init__(
        self,
        *args,
        loss_weighting,
        data_parallel=None,
        shares=None,
        autocast_dtype=None,
        table_optimizer=None,
        **kwargs,
    ):
        # skorch only accepts a plain torch-module attribute before its own init.
        self.loss_weighting = loss_weighting
        self.data_parallel = data_parallel
        self.shares = shares
        self.autocast_dtype = autocast_dtype
        self.table_optimizer = table_optimizer
        # A tuple while training data-parallel: skorch takes a module attribute
        # for a component of the net, which this wrapper of module_ is not.
        self._parallel_module = ()
        self._rollback = None
        self._stop_requested = False
        super().__init__(*args, **kwargs)

    def get_default_callbacks(self):
        # The validation loss over every process's validation rows, when they differ.
        return [
            (name, SharedValidationLoss("valid_loss") if name == "valid_loss" else callback)
            for name, callback in super().get_default_callbacks()
        ]

    def request_stop(self):
        """Stop training once every callback has seen the current epoch."""
        self._stop_requested = True

    def notify(self, method_name, **cb_kwargs):
        super().notify(method_name, **cb_kwargs)
        if method_name != "on_epoch_end" or self._rollback is None:
            return
        self._rollback.commit(len(self.history))
        if self._stop_requested:
            raise _StopTraining

    def fit_loop(self, X, y=None, epochs=None, **fit_params):
        """skorch's loop, told apart from an interrupt.

        Early stopping ends it normally. A ``KeyboardInterrupt`` rolls the
        history and the module back to the last epoch that every callback
        saw (a half-written epoch would be a row of the history without its
        scores and weights past that row); ``interrupted_`` then holds the
        epoch that was cut short. skorch's ``partial_fit`` swallows the
        interrupt, as before, and runs ``on_train_end``.
        """
        self._stop_requested = False
        self.interrupted_ = None
        self._rollback = _Rollback(
            self.module_, self.optimizer_.optimizers[-1] if self.table_optimizer else None
        )
        self._rollback.commit(len(self.history))
        # Sparse only while training (before the data-parallel wrapper reads the
        # flag): the fitted module predicts, exports and pickles as a dense one.
        tables = embedding_tables(self.module_) if self.table_optimizer else []
        for table in tables:
            table.sparse_gradients(True)
        if self.data_parallel is not None:
            self._parallel_module = (
                self.data_parallel.wrap(self.module_, self._own_parameters()),
            )
        try:
            return super().fit_loop(X, y, epochs=epochs, **fit_params)
        except _StopTraining:
            return self
        except KeyboardInterrupt:
            self.interrupted_ = len(self.history)
            del self.history[self._rollback.restore() :]
            raise
        finally:
            # Neither the copies nor the wrapper (it holds the process group) may
            # live on in the fitted (pickled) model.
            self._rollback.close()
            self._rollback = None
            self._parallel_module = ()
            for table in tables:
                table.sparse_gradients(False)

    def _own_parameters(self):
        """Learnable tensors outside the module (e.g. uncertainty weights),
        whose gradients the data-parallel wrapper does not average."""
        in_module = {id(p) for p in self.module_.parameters()}
        return [
            p
            for part in (self.criterion_, self.loss_weighting_)
            for p in part.parameters()
            if p.requires_grad and id(p) not in in_module
        ]

    def initialize_optimizer(self, triggered_directly=None):
        if not self.table_optimizer:
            return super().initialize_optimizer(triggered_directly)
        table_class, table_params = self.table_optimizer
        tables = [m.table.weight for m in embedding_tables(self.module_)]
        in_tables = {id(t) for t in tables}
        named = [(n, p) for n, p in self.get_all_learnable_params() if id(p) not in in_tables]
        args, kwargs = self.get_params_for_optimizer("optimizer", named)
        self.optimizer_ = SplitOptimizer(
            self.optimizer(*args, **kwargs), table_class(tables, lr=self.lr, **table_params)
        )
        return self

    def initialize_criterion(self):
        super().initialize_criterion()
        # Registered as a torch component of the net, so that its learnable
        # weights join the optimizer and follow the net's device.
        self.loss_weighting_ = self.loss_weighting
        return self

    def _set_training(self, training=True):
        # skorch sets the mode on every batch; walking every submodule each time
        # is a measurable share of a small model's step, so only switch on change.
        modules = [getattr(self, name + "_") for name in self._modules + self._criteria]
        if any(isinstance(m, torch.nn.Module) and m.training != training for m in modules):
            super()._set_training(training)

    def infer(self, x, **fit_params):
        # Batches come as tensors (multi-valued features as CategoricalInputs) cut
        # on the host; only they move to the device, never the whole data.
        # Training steps (with gradients) go through the data-parallel wrapper,
        # which averages the gradients; evaluation needs no collective.
        module = self.module_
        if self._parallel_module and torch.is_grad_enabled():
            (module,) = self._parallel_module
        return module(**self._merge_x_and_fit_params(to_device(x, self.device), fit_params))

    def get_loss(self, y_pred, y_true, X=None, training=False):
        # The validation loss is the training objective: same weighting, same penalty.
        targets, sample_weight = y_true
        task_losses = self.criterion_.task_losses(y_pred, targets, sample_weight)
        return self.loss_weighting_.combine(task_losses) + self.criterion_.penalty(
            y_pred, sample_weight
        )

    def train_step_single(self, batch, **fit_params):
        self._set_training(True)
        Xi, (targets, sample_weight) = unpack_data(batch)
        with torch.autocast(
            torch.device(self.device).type,
            dtype=self.autocast_dtype,
            enabled=self.autocast_dtype is not None,
        ):
            y_pred = self.infer(Xi, **fit_params)
        # The losses (and their penalties' logs and exponentials) in full precision.
        y_pred = y_pred.to(targets.dtype)
        task_losses = self.criterion_.task_losses(y_pred, targets, sample_weight)
        loss = self.loss_weighting_.backward(
            task_losses, self.criterion_.penalty(y_pred, sample_weight), self.module_
        )
        loss, task_losses = loss.detach(), task_losses.detach()
        if self._parallel_module:
            # One collective for the gradients outside the module and the logged
            # losses: every process then records, and decides on, the same numbers.
            others = [p.grad for p in self._own_parameters() if p.grad is not None]
            # BatchNorm's running statistics follow each process's own rows; their
            # mean keeps validation, early stopping and the fitted model the same.
            others += _running_statistics(self.module_)
            self.data_parallel.average([loss, task_losses, *others])
        return {"loss": loss, "y_pred": y_pred, "task_losses": task_losses}


class _StopTraining(Exception):
    """Ends the fit loop after the epoch in which a callback asked to stop."""


def _running_statistics(module):
    return [
        t
        for m in module.modules()
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm) and m.track_running_stats
        for t in (m.running_mean, m.running_var)
    ]


class _Rollback:
    """The module's weights at the end of the last complete epoch, for an interrupt.

    :meth:`commit` copies every tensor of the module but the embedding tables
    that ``table_optimizer`` trains. Of those, a hook copies the rows that a
    step is about to change, once per epoch (an undo log): a table of millions
    of rows costs the rows the epoch touches, not a copy of the table per epoch.

    Parameters
    ----------
    module : torch.nn.Module
        The module being trained.
    table_optimizer : torch.optim.Optimizer or None
        The optimizer of the tables, which steps on sparse gradients.
    """

    def __init__(self, module, table_optimizer):
        self.module = module
        self.tables = [] if table_optimizer is None else [
            p for group in table_optimizer.param_groups for p in group["params"]
        ]
        # Whether a row is in the undo log already.
        self._logged = {
            p: torch.zeros(p.shape[:1], dtype=torch.bool, device=p.device) for p in self.tables
        }
        self._point = None
        self._hook = None
        if table_optimizer is not None:
            self._hook = table_optimizer.register_step_pre_hook(self._log_rows)

    def commit(self, n_epochs):
        """Make the current weights, after ``n_epochs`` rows of history, the rollback point."""
        tables = {id(p) for p in self.tables}
        state = {
            name: t.detach().clone()
            for name, t in self.module.state_dict(keep_vars=True).items()
            if id(t) not in tables
        }
        previous, self._point = self._point, (n_epochs, state, [])
        # After the one assignment above: an interrupt sees either point whole.
        for param, rows, _ in previous[2] if previous else ():
            self._logged[param].index_fill_(0, rows, False)

    def _log_rows(self, optimizer, args, kwargs):
        for param in self.tables:
            if param.grad is None:
                continue
            # Coalesced once here; the optimizer's own coalesce is then free.
            param.grad = param.grad.coalesce()
            rows = param.grad.indices()[0]
            logged = self._logged[param]
            rows = rows[~logged[rows]]
            self._point[2].append((param, rows, param.detach().index_select(0, rows)))
            logged.index_fill_(0, rows, True)

    @torch.no_grad()
    def restore(self):
        """Put the weights of the rollback point back; returns its number of history rows."""
        n_epochs, state, log = self._point
        self.module.load_state_dict(state, strict=False)
        for param, rows, values in log:
            param.index_copy_(0, rows, values)
        return n_epochs

    def close(self):
        """Drop the copies and the hook."""
        if self._hook is not None:
            self._hook.remove()
        self._point = self._logged = None
