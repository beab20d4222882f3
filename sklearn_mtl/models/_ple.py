"""PLE: Progressive Layered Extraction (Tang et al., RecSys 2020)."""

from numbers import Integral, Real
from typing import List

from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import check_is_fitted
import torch
from torch import nn

from .._base import BaseMultiTaskClassifier
from .._params import check_hidden_units
from ._gated import GatedExpertsMixin
from ..nn import CGCLevel, TaskTowers
from ..nn._experts import GateBalanceMixin


class PLE(GateBalanceMixin, nn.Module):
    """The PLE network: stacked CGC levels under one tower per task.

    Level 1 reads the embedded input everywhere. In level ``j > 1`` task
    ``k``'s experts and gate read task ``k``'s output of level ``j - 1``,
    while the shared experts and the shared gate read the shared output. The
    last level has no shared gate; ``num_levels=1`` is CGC.

    Parameters
    ----------
    embedding : MixedInputEmbedding
        Input embedding.
    n_tasks : int
        Number of tasks.
    num_levels : int
        Number of CGC levels.
    num_specific_experts, num_shared_experts : int
        Experts per task and shared experts, in every level.
    expert_hidden_units, tower_hidden_units, gate_hidden_units : tuple of int
        Layer widths; ``gate_hidden_units=()`` is the paper's linear gate.
    dropout : float
        Dropout after expert and tower hidden layers.
    output_widths : sequence of int, default=None
        Each task's number of outputs (``K`` logits for a multiclass task);
        one each when None.
    balance_gates : bool, default=False
        Keep every gate's weights of each training pass for
        :meth:`gate_balance_loss`, the load-balancing penalty.
    batch_norm : bool, default=False
        BatchNorm in the hidden layers of the experts and towers (never in
        the gates).
    gate_bias : bool, default=False
        Whether each gate's linear map has a bias (the paper's has none).

    Examples
    --------
    >>> import torch
    >>> from sklearn_mtl.models import PLE
    >>> from sklearn_mtl.nn import MixedInputEmbedding
    >>> module = PLE(MixedInputEmbedding([5], 3, 4), 2, num_levels=2, num_specific_experts=1,
    ...              num_shared_experts=2, expert_hidden_units=(8,), tower_hidden_units=(4,))
    >>> categorical, numeric = torch.zeros(6, 1, dtype=torch.long), torch.zeros(6, 3)
    >>> module(categorical, numeric).shape
    torch.Size([6, 2])
    >>> [tuple(w.shape) for w in module.gate_weights(categorical, numeric)]
    [(6, 3, 4), (6, 2, 4)]
    """

    def __init__(
        self,
        embedding,
        n_tasks,
        *,
        num_levels,
        num_specific_experts,
        num_shared_experts,
        expert_hidden_units,
        tower_hidden_units,
        gate_hidden_units=(),
        dropout=0.0,
        output_widths=None,
        balance_gates=False,
        batch_norm=False,
        gate_bias=False,
    ):
        super().__init__()
        self.balance_gates = balance_gates
        self.embedding = embedding
        levels = []
        in_features = embedding.out_features
        for j in range(num_levels):
            levels.append(
                CGCLevel(
                    in_features,
                    n_tasks,
                    num_specific_experts=num_specific_experts,
                    num_shared_experts=num_shared_experts,
                    expert_hidden_units=expert_hidden_units,
                    gate_hidden_units=gate_hidden_units,
                    shared_gate=j < num_levels - 1,
                    dropout=dropout,
                    batch_norm=batch_norm,
                    gate_bias=gate_bias,
                )
            )
            in_features = levels[-1].out_features
        self.levels = nn.ModuleList(levels)
        self.towers = TaskTowers(
            n_tasks, in_features, tower_hidden_units, dropout=dropout,
            output_widths=output_widths, batch_norm=batch_norm,
        )

    def _extract(self, categorical, numeric):
        x = self.embedding(categorical, numeric)
        tasks, shared, weights = x, x, []
        for level in self.levels:
            tasks, shared, level_weights = level(tasks, shared)
            weights.append(level_weights)
        if self.balance_gates and not torch.jit.is_scripting():
            self._keep_level_gates(weights)
        return tasks, weights

    @torch.jit.unused
    def _keep_level_gates(self, weights: List[torch.Tensor]):
        self._keep_gates(
            [g for level, w in zip(self.levels, weights) for g in level.seen_gate_weights(w)]
        )

    def gate_weights(self, categorical, numeric):
        """Every gate's weights over the experts of its level.

        Parameters
        ----------
        categorical : torch.Tensor of shape (n, n_categorical)
            Category codes (int64).
        numeric : torch.Tensor of shape (n, n_numeric)
            Standardized numeric features.

        Returns
        -------
        list of torch.Tensor of shape (n, n_gates, n_experts)
            One per level; see :class:`~sklearn_mtl.nn.CGCLevel`.
        """
        return self._extract(categorical, numeric)[1]

    def task_gate_weights(self, categorical, numeric):
        """The last level's task gates' weights over the experts each sees.

        Parameters
        ----------
        categorical : torch.Tensor of shape (n_samples, n_categorical)
            Category codes.
        numeric : torch.Tensor of shape (n_samples, n_numeric)
            Standardized numeric features.

        Returns
        -------
        torch.Tensor of shape (n_samples, n_tasks, num_specific_experts + num_shared_experts)
            Each task gate's weights over its own experts, then the shared
            ones: what feeds each tower.
        """
        weights = self._extract(categorical, numeric)[1][-1]
        return self.levels[-1].seen_gate_weights(weights)[0]

    def shared_parameters(self):
        """Parameters every task's loss depends on, from input to output.

        The embedding, then each level's shared experts and shared gate; the
        last weight matrix is the last level's shared expert layer.
        """
        shared = [self.embedding]
        for level in self.levels:
            shared += [level.shared_experts, level.shared_gate]
        return [p for part in shared if part is not None for p in part.parameters()]

    def forward(self, categorical, numeric):
        return self.towers(self._extract(categorical, numeric)[0])


class PLEClassifier(GatedExpertsMixin, BaseMultiTaskClassifier):
    """Progressive Layered Extraction multi-task classifier (Tang et al., RecSys 2020).

    Each level (a CGC) has experts of each task and shared experts; task
    ``k``'s linear softmax gate mixes its own experts with the shared ones,
    so a task can shut out the others' experts (what MMoE cannot). Below
    the last level a shared gate mixes all experts into the shared input of
    the next level, and each task's mixture is that task's next input.

    Parameters
    ----------
    num_levels : int, default=2
        Number of extraction levels; ``1`` is CGC.
    num_specific_experts : int, default=1
        Experts of each task, per level.
    num_shared_experts : int, default=1
        Shared experts, per level.
    expert_hidden_units : tuple of int, default=(32,)
        Hidden layer widths of each expert; the last is the expert output.
    tower_hidden_units : tuple of int, default=(16,)
        Hidden layer widths of each task tower (before its output).
    gate_hidden_units : tuple of int, default=()
        Optional hidden layers in each gate; ``()`` is the paper's gate,
        ``softmax(W x)``.
    gate_balance_weight : float, default=0.0
        Weight of a load-balancing penalty against expert collapse: the
        squared coefficient of variation of each gate's per-batch
        importance over the experts it sees (Shazeer et al., ICLR 2017),
        averaged over every task and shared gate of every level and added
        to the training loss. 0 (the paper's PLE) switches it off.
    batch_norm : bool, default=False
        Batch normalisation after the linear map of every hidden layer of the
        experts and the task towers (``Linear -> BatchNorm -> activation ->
        dropout``, as in torch-rechub); the gates never get it (before their
        softmax it would rescale the gate logits per batch), nor do the output
        logits. In training it normalises with each batch's own statistics,
        unweighted by ``sample_weight`` (so weighting a row is not the same as
        repeating it); predictions use the running statistics (eval mode). A
        last training batch of one row joins the batch before it; training data
        of one row, or ``batch_size=1``, is a ValueError. On the full
        census-income set it raised held-out AUC (see the user guide); it is
        off by default because of the weighting above.
    gate_bias : bool, default=False
        Whether each gate's linear map has a bias: ``softmax(W x + b)``. The
        paper's gate has none; torch-rechub's and DeepCTR-Torch's have one.
        With ``batch_norm=True`` it steadied PLE on the full census-income
        set (income AUC over three seeds 0.9485, 0.9485, 0.9479 against
        0.9448, 0.9491, 0.9330 without it; see ``benchmarks/README.md``).
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
        Dropout probability after each expert and tower hidden layer.
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
        ``loss_weighting="fixed"``.
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
        With ``"auto"``, cross-validation folds at or below that size
        and a refit above it train differently (as in scikit-learn's
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
        Per-epoch record of losses and per-task scores, and the last
        level's task gates' use of their experts, on the validation set
        (the first 10,000 training rows without one):
        ``gate_shares_<task>`` (mean weight on each expert it sees: its
        own, then the shared ones), ``gate_top_share_<task>`` and
        ``gate_entropy_<task>`` (entropy of the shares over its maximum).
    n_iter_ : int
        Number of epochs trained.
    net_ : skorch.NeuralNet
        The private skorch net that trained the module.

    See Also
    --------
    MMoEClassifier : Experts all shared, one gate per task.

    References
    ----------
    H. Tang, J. Liu, M. Zhao, X. Gong. "Progressive Layered Extraction
    (PLE): A Novel Multi-Task Learning (MTL) Model for Personalized
    Recommendations", RecSys 2020.

    Examples
    --------
    >>> from sklearn_mtl import PLEClassifier
    >>> from sklearn_mtl.datasets import load_census_income
    >>> X, Y = load_census_income(return_X_y=True)
    >>> X, Y = X[:2000], Y[:2000]
    >>> model = PLEClassifier(num_levels=2, num_specific_experts=1,
    ...                       num_shared_experts=2, max_epochs=2, random_state=0)
    >>> model.fit(X, Y).predict(X[:3]).shape
    (3, 2)
    >>> [w.shape for w in model.gate_weights(X[:3])]
    [(3, 3, 4), (3, 2, 4)]
    """

    _parameter_constraints: dict = {
        **BaseMultiTaskClassifier._parameter_constraints,
        "num_levels": [Interval(Integral, 1, None, closed="left")],
        "num_specific_experts": [Interval(Integral, 1, None, closed="left")],
        "num_shared_experts": [Interval(Integral, 1, None, closed="left")],
        "expert_hidden_units": ["array-like"],
        "tower_hidden_units": ["array-like"],
        "gate_hidden_units": ["array-like"],
        "gate_balance_weight": [Interval(Real, 0, None, closed="left")],
        "batch_norm": ["boolean"],
        "gate_bias": ["boolean"],
    }

    def __init__(
        self,
        *,
        num_levels=2,
        num_specific_experts=1,
        num_shared_experts=1,
        expert_hidden_units=(32,),
        tower_hidden_units=(16,),
        gate_hidden_units=(),
        gate_balance_weight=0.0,
        batch_norm=False,
        gate_bias=False,
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
        self.num_levels = num_levels
        self.num_specific_experts = num_specific_experts
        self.num_shared_experts = num_shared_experts
        self.expert_hidden_units = expert_hidden_units
        self.tower_hidden_units = tower_hidden_units
        self.gate_hidden_units = gate_hidden_units
        self.gate_balance_weight = gate_balance_weight
        self.batch_norm = batch_norm
        self.gate_bias = gate_bias

    def _build_module(self, embedding, n_tasks):
        return PLE(
            embedding,
            n_tasks,
            num_levels=self.num_levels,
            num_specific_experts=self.num_specific_experts,
            num_shared_experts=self.num_shared_experts,
            expert_hidden_units=check_hidden_units(
                "expert_hidden_units",
                self.expert_hidden_units,
                allow_empty=False,
                empty_means="every expert would be the identity of its input, so the gates would mix identical copies and do nothing",
            ),
            tower_hidden_units=check_hidden_units("tower_hidden_units", self.tower_hidden_units),
            gate_hidden_units=check_hidden_units("gate_hidden_units", self.gate_hidden_units),
            dropout=self.dropout,
            batch_norm=self.batch_norm,
            gate_bias=self.gate_bias,
            output_widths=self._output_widths(),
            balance_gates=self.gate_balance_weight > 0,
        )

    def gate_weights(self, X):
        """Every gate's weights over the experts of its level, per sample.

        Parameters
        ----------
        X : {array-like, DataFrame} of shape (n_samples, n_features)
            Features.

        Returns
        -------
        list of ndarray, one per level
            Level ``j``'s array has shape ``(n_samples, n_gates, n_experts)``
            with ``n_experts = n_tasks * num_specific_experts +
            num_shared_experts``, ordered task 0's experts, task 1's, ...,
            then the shared experts. Rows ``0 .. n_tasks - 1`` are the task
            gates; below the last level a last row is the shared gate
            (``n_gates = n_tasks + 1``; ``n_tasks`` at the last level). Each
            row sums to one and is exactly zero on the experts its gate does
            not see (another task's experts).
        """
        check_is_fitted(self)
        # The fitted network's levels: num_levels may have been changed since.
        levels = len(self.net_.module_.levels)
        return [self._forward(X, _level_gate_weights(j)) for j in range(levels)]


def _level_gate_weights(level):
    def gate_weights(module, inputs):
        return module.gate_weights(**inputs)[level]

    return gate_weights
