"""Single-task baselines: one independent network per task, in the multi-task API."""

import copy

import torch
from torch import nn

from .._base import BaseMultiTaskClassifier
from .._params import check_hidden_units
from ..nn import ParallelMLP, TaskTowers


def _fresh_copy(module):
    """A deep copy of ``module`` with every layer re-initialised."""
    module = copy.deepcopy(module)
    for layer in module.modules():
        if hasattr(layer, "reset_parameters"):
            layer.reset_parameters()
    return module


class SingleTask(nn.Module):
    """One independent embedding, bottom MLP and tower per task.

    Task ``k``'s logit is ``tower_k(bottom_k(embed_k(x)))``: the layout of
    :class:`SharedBottom`, with nothing shared. The tasks' bottoms and
    towers run as one batched matmul each.

    Parameters
    ----------
    embedding : MixedInputEmbedding
        Input embedding of the first task; every other task gets a
        re-initialised copy of it.
    n_tasks : int
        Number of tasks.
    bottom_hidden_units, tower_hidden_units : tuple of int
        Layer widths of each task's bottom and tower.
    dropout : float
        Dropout after every hidden layer.
    output_widths : sequence of int, default=None
        Each task's number of outputs (``K`` logits for a multiclass task);
        one each when None.
    batch_norm : bool, default=False
        BatchNorm in the hidden layers of the bottoms and the towers.

    Examples
    --------
    >>> import torch
    >>> from sklearn_mtl.models import SingleTask
    >>> from sklearn_mtl.nn import MixedInputEmbedding
    >>> categorical, numeric = torch.zeros(6, 1, dtype=torch.long), torch.randn(6, 3)
    >>> module = SingleTask(MixedInputEmbedding([5], 3, 4), 2,
    ...                     bottom_hidden_units=(8,), tower_hidden_units=(4,))
    >>> module(categorical, numeric).shape
    torch.Size([6, 2])
    >>> module.embeddings[0].table.weight.data_ptr() != module.embeddings[1].table.weight.data_ptr()
    True
    """

    def __init__(
        self,
        embedding,
        n_tasks,
        *,
        bottom_hidden_units,
        tower_hidden_units,
        dropout=0.0,
        output_widths=None,
        batch_norm=False,
    ):
        super().__init__()
        self.embeddings = nn.ModuleList(
            [embedding, *(_fresh_copy(embedding) for _ in range(n_tasks - 1))]
        )
        self.bottoms = ParallelMLP(
            n_tasks, embedding.out_features, bottom_hidden_units, dropout=dropout,
            batch_norm=batch_norm,
        )
        self.towers = TaskTowers(
            n_tasks, self.bottoms.out_features, tower_hidden_units, dropout=dropout,
            output_widths=output_widths, batch_norm=batch_norm,
        )

    def forward(self, categorical, numeric):
        x = torch.stack([embed(categorical, numeric) for embed in self.embeddings], dim=1)
        return self.towers(self.bottoms(x))


class SingleTaskClassifier(BaseMultiTaskClassifier):
    """Single-task baselines: one independent network per task, in one estimator.

    Each task gets its own embeddings, bottom MLP and tower (the layout of
    :class:`SharedBottomClassifier`, with nothing shared), so its weights
    see only its own loss. It answers the first question of multi-task
    learning, whether sharing helps at all (negative transfer, the
    "seesaw"), with the same data path, settings and API as the
    multi-task models: compare it per task with them.

    Parameters
    ----------
    bottom_hidden_units : tuple of int, default=(64, 32)
        Hidden layer widths of each task's bottom MLP.
    tower_hidden_units : tuple of int, default=(16,)
        Hidden layer widths of each task's tower (before its output logit).
    batch_norm : bool, default=False
        Batch normalisation after the linear map of every hidden layer of each
        task's bottom and tower (``Linear -> BatchNorm -> activation ->
        dropout``, as in torch-rechub); the output logits never get it. In
        training it normalises with each batch's own statistics, unweighted by
        ``sample_weight`` (so weighting a row is not the same as repeating it);
        predictions use the running statistics (eval mode). A last training
        batch of one row joins the batch before it; training data of one row,
        or ``batch_size=1``, is a ValueError. On the full census-income set it
        raised held-out AUC (see the user guide); it is off by default because
        of the weighting above.
    max_epochs : int, default=20
        Passes over the training data (an upper bound with early stopping).
    batch_size : int or "auto", default="auto"
        Rows per training mini-batch; validation and prediction run in
        batches of this many rows or 4,096, whichever is larger. ``"auto"`` is
        ``clip(n_samples // 16, 16, 512)``: at least 16 optimizer steps per
        epoch on a small table, 512 rows from 8,192 training rows on.
    lr : float, default=1e-3
        Learning rate.
    optimizer : {"adam", "adamw", "sgd"} or torch optimizer class, default="adam"
        Optimizer: a name, or a subclass of ``torch.optim.Optimizer``.
    optimizer_params : dict, default=None
        Further keyword arguments of the optimizer, e.g. ``{"momentum": 0.9,
        "nesterov": True}`` for SGD or ``{"betas": (0.9, 0.99)}`` for Adam,
        checked against its signature (``lr`` and ``weight_decay`` are
        parameters of their own).
    weight_decay : float, default=0.0
        Weight decay passed to the optimizer.
    dropout : float, default=0.0
        Dropout probability after each hidden layer.
    embedding_dim : int, default=8
        Width of each categorical column's embedding.
    embedding_init_std : "auto", float or None, default="auto"
        Standard deviation of the normal distribution the embedding table
        starts from; None keeps torch's N(0, 1). ``"auto"`` takes 1e-4
        (DeepCTR-Torch's and torch-rechub's) when the fit plans at least
        200 optimizer steps (training batches per epoch times
        ``max_epochs``; one epoch for a first ``partial_fit`` call) and
        N(0, 1) below; ``embedding_init_std_`` holds the value used, kept
        by continued fits. On census income (2,000 to 199,523 rows), 1e-4
        raised held-out income AUC at every data size given 160 steps or
        more, and lost on one task or the other in fits of 100 steps or
        fewer: see :class:`~sklearn_mtl.nn.MixedInputEmbedding`.
    categorical_features : "from_dtype", array-like, callable or None, default="from_dtype"
        Which columns are categorical; see :class:`MMoEClassifier`.
    multi_valued_pooling : {"mean", "sum", "max"}, default="mean"
        How the item embeddings of a multi-valued categorical column (a
        column of lists, tuples or arrays, found by ``"from_dtype"`` or
        declared in ``categorical_features``) are pooled per row. An empty
        list or a missing value pools to zeros. A column of ``{item:
        weight}`` dicts has weighted items: weighted sum or mean.
    min_frequency : int or float, default=None
        As in :class:`~sklearn.preprocessing.OrdinalEncoder`: categories
        seen fewer times (int) or in a smaller fraction of the rows (float)
        share one infrequent code. Not applied to hashed columns.
    max_categories : int, default=None
        As in :class:`~sklearn.preprocessing.OrdinalEncoder`: at most this
        many codes per column, the infrequent code included.
    hash_buckets : int or dict, default=None
        Hash categories into this many buckets instead of learning a
        vocabulary: an int for every categorical column, or a dict from
        column name (or index) to buckets. For unbounded ID spaces and for
        categories first seen in later ``partial_fit`` chunks.
    task_weights : array-like of shape (n_tasks,), default=None
        Weight of each task's loss; all ones when None. Only with
        ``loss_weighting="fixed"`` or ``"progressive"``; with Adam it barely
        matters here, as no parameter sees two tasks' losses.
    loss_weighting : str or LossWeighting, default="fixed"
        How the task losses are balanced: ``"fixed"`` (``task_weights``),
        ``"uncertainty"``, ``"gradnorm"``, ``"dwa"``, ``"pcgrad"``,
        ``"progressive"`` (PLE's ``task_weights`` decayed per epoch), or a
        strategy of :mod:`sklearn_mtl.loss_weighting` such as
        ``GradNorm(alpha=1.5)``. The weights in use are recorded per epoch
        in ``history_`` (``loss_weight_<task>``).
    task_types : list of {"binary", "multiclass", "regression"}, default=None
        The type of each task; all ``"binary"`` when None. A multiclass
        task of ``K`` classes gets ``K`` logits and a softmax
        cross-entropy; its ``predict_proba`` slot is ``(n_samples, K)``
        and its validation metrics are ``roc_auc_ovr`` (macro one-vs-rest),
        ``accuracy`` and ``log_loss_multiclass``. A regression task is
        trained on its standardized target, ``predict`` gives its values
        in the original units, its ``predict_proba`` slot is None and
        ``score`` counts its R2; its validation metrics are ``r2`` and
        ``mean_squared_error``. NaN marks an unobserved label of any type.
    regression_loss : {"mse", "huber"}, default="mse"
        Loss of the regression tasks, on standardized targets (Huber with
        delta 1, i.e. one standard deviation).
    early_stopping : "auto" or bool, default="auto"
        Early stopping on a held-out split; ``"auto"`` above 10,000 samples.
        With ``"auto"``, cross-validation folds at or below that size and a
        refit above it train differently (as in scikit-learn's
        HistGradientBoosting): fix it to True or False for model selection.
    early_stopping_monitor : str, default="valid_roc_auc"
        History key watched by early stopping, or a task name.
    validation_fraction : float, default=0.1
        Share of the training data held out for early stopping.
    n_iter_no_change : int, default=5
        Patience of early stopping, in epochs.
    callbacks : list of skorch callbacks, default=None
        Extra skorch callbacks (instances or ``(name, callback)`` pairs),
        e.g. ``LRScheduler``, ``ProgressBar`` or
        ``Checkpoint(monitor="valid_roc_auc_best")``: with early stopping
        each epoch records ``<early_stopping_monitor>_best``. skorch's
        ``EpochScoring``, ``BatchScoring`` and ``EarlyStopping`` are refused
        with the alternative: the validation scores are in ``history_``.
    device : str, default="cpu"
        Torch device, e.g. ``"cuda"``.
    dtype : {"float32", "float64"}, default="float32"
        Floating-point precision of the network, its inputs and its loss.
        ``"float64"`` is slower; it makes results reproducible to rounding
        (e.g. weighting a row by 2 equals repeating it).
    precision : {"bf16"} or None, default=None
        Mixed precision of the training steps: ``"bf16"`` runs them under
        :func:`torch.autocast` with bfloat16, which speeds up the matrix
        products on GPUs that have bfloat16 units (and on some CPUs) at a
        small cost in accuracy; the weights, the loss, validation and
        predictions stay in ``dtype``. Needs ``dtype="float32"``. A training
        parameter: ``warm_start`` and ``partial_fit`` use its current value.
    random_state : int, RandomState instance or None, default=None
        Seeds initialisation, shuffling, dropout and the validation split.
    verbose : int, default=0
        ``1`` prints one table row per epoch; ``2`` adds a progress line
        within each epoch, at most every 5 seconds (redrawn in place on a
        terminal, plain lines elsewhere).
    warm_start : bool, default=False
        Continue from the fitted weights and optimizer state on the next
        ``fit``. The training parameters (``max_epochs``, ``batch_size``,
        ``lr``, ``optimizer``, ``optimizer_params``, ``weight_decay``, the
        early-stopping ones, ``callbacks``, ``device``, ``random_state``,
        ``verbose``) take their current values; a change of any other
        parameter (e.g. ``embedding_dim``) is a ValueError.

    Attributes
    ----------
    classes_ : list of (ndarray of shape (n_classes,) or None)
        The classes of each task (two for a binary task), None for a
        regression task (the entry itself for a single task).
    task_types_ : list of str
        The type of each task.
    task_names_ : ndarray of str
        Task names.
    n_tasks_ : int
        Number of tasks.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of str
        Names of the features seen during fit (DataFrame input only).
    is_categorical_ : ndarray of bool
        Which features were treated as categorical.
    embedding_init_std_ : float or None
        The standard deviation the embedding table started from (None:
        torch's N(0, 1)), ``embedding_init_std`` with ``"auto"`` resolved.
    history_ : skorch.History
        Per-epoch record of losses and per-task scores.
    n_iter_ : int
        Number of epochs trained.
    net_ : skorch.NeuralNet
        The private skorch net that trained the module.

    See Also
    --------
    SharedBottomClassifier : The same layout with the bottom shared.

    Notes
    -----
    The networks are trained jointly on the sum of the task losses, but
    since no parameter is shared, each task's parameters get the gradient
    of that task's loss only. Training is therefore the same as training
    each task alone with the same optimizer, on the same mini-batches in
    the same order, except that: a batch's rows whose label of a task is
    unobserved (NaN) are in that task's batch but do not count (a separate
    model would form batches of its labelled rows only); early stopping
    monitors one value (by default the mean validation ROC AUC over the
    tasks) and stops, and restores, every task at the same epoch; and the
    loss-weighting strategies that need shared parameters (``"gradnorm"``,
    ``"pcgrad"``) do not apply. Changing one task's labels leaves the other
    tasks' predictions unchanged.

    Examples
    --------
    >>> from sklearn_mtl import SingleTaskClassifier
    >>> from sklearn_mtl.datasets import load_census_income
    >>> X, Y = load_census_income(return_X_y=True)
    >>> X, Y = X[:2000], Y[:2000]
    >>> model = SingleTaskClassifier(max_epochs=2, random_state=0).fit(X, Y)
    >>> model.predict(X[:3]).shape
    (3, 2)
    """

    _parameter_constraints: dict = {
        **BaseMultiTaskClassifier._parameter_constraints,
        "bottom_hidden_units": ["array-like"],
        "tower_hidden_units": ["array-like"],
        "batch_norm": ["boolean"],
    }

    def __init__(
        self,
        *,
        bottom_hidden_units=(64, 32),
        tower_hidden_units=(16,),
        batch_norm=False,
        max_epochs=20,
        batch_size="auto",
        lr=1e-3,
        optimizer="adam",
        optimizer_params=None,
        weight_decay=0.0,
        dropout=0.0,
        embedding_dim=8,
        embedding_init_std="auto",
        categorical_features="from_dtype",
        multi_valued_pooling="mean",
        min_frequency=None,
        max_categories=None,
        hash_buckets=None,
        task_weights=None,
        loss_weighting="fixed",
        task_types=None,
        regression_loss="mse",
        early_stopping="auto",
        early_stopping_monitor="valid_roc_auc",
        validation_fraction=0.1,
        n_iter_no_change=5,
        callbacks=None,
        device="cpu",
        dtype="float32",
        precision=None,
        random_state=None,
        verbose=0,
        warm_start=False,
    ):
        super().__init__(
            max_epochs=max_epochs,
            batch_size=batch_size,
            lr=lr,
            optimizer=optimizer,
            weight_decay=weight_decay,
            dropout=dropout,
            embedding_dim=embedding_dim,
            embedding_init_std=embedding_init_std,
            categorical_features=categorical_features,
            multi_valued_pooling=multi_valued_pooling,
            min_frequency=min_frequency,
            max_categories=max_categories,
            hash_buckets=hash_buckets,
            task_weights=task_weights,
            loss_weighting=loss_weighting,
            early_stopping=early_stopping,
            early_stopping_monitor=early_stopping_monitor,
            validation_fraction=validation_fraction,
            n_iter_no_change=n_iter_no_change,
            callbacks=callbacks,
            device=device,
            dtype=dtype,
            precision=precision,
            random_state=random_state,
            verbose=verbose,
            warm_start=warm_start,
        )
        self.optimizer_params = optimizer_params
        self.task_types = task_types
        self.regression_loss = regression_loss
        self.bottom_hidden_units = bottom_hidden_units
        self.tower_hidden_units = tower_hidden_units
        self.batch_norm = batch_norm

    def _build_module(self, embedding, n_tasks):
        return SingleTask(
            embedding,
            n_tasks,
            bottom_hidden_units=check_hidden_units("bottom_hidden_units", self.bottom_hidden_units),
            tower_hidden_units=check_hidden_units("tower_hidden_units", self.tower_hidden_units),
            dropout=self.dropout,
            batch_norm=self.batch_norm,
            output_widths=self._output_widths(),
        )
