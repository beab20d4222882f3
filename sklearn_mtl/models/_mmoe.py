"""MMoE: Multi-gate Mixture-of-Experts (Ma et al., KDD 2018)."""

from numbers import Integral, Real

from sklearn.utils._param_validation import Interval
import torch
from torch import nn

from .._base import BaseMultiTaskClassifier
from .._params import check_hidden_units
from ._gated import GatedExpertsMixin
from ..nn import ParallelMLP, SoftmaxGate, TaskTowers, mix_experts
from ..nn._experts import GateBalanceMixin


class MMoE(GateBalanceMixin, nn.Module):
    """The MMoE network.

    Every task ``k`` mixes the shared experts with its own gate and feeds the
    mixture to its tower: ``y_k = h_k(sum_i g_k(x)_i f_i(x))`` with
    ``g_k(x) = softmax(W_gk x)`` (the paper's eqs. 4-5).

    Parameters
    ----------
    embedding : MixedInputEmbedding
        Input embedding shared by experts and gates.
    n_tasks : int
        Number of tasks (gates and towers).
    num_experts : int
        Number of experts.
    expert_hidden_units, tower_hidden_units, gate_hidden_units : tuple of int
        Layer widths; ``gate_hidden_units=()`` is the paper's linear gate.
    dropout : float
        Dropout after expert and tower hidden layers.
    output_widths : sequence of int, default=None
        Each task's number of outputs (``K`` logits for a multiclass task);
        one each when None.
    balance_gates : bool, default=False
        Keep the gate weights of each training pass for
        :meth:`gate_balance_loss`, the load-balancing penalty.
    batch_norm : bool, default=False
        BatchNorm in the hidden layers of the experts and towers (never in
        the gates).
    gate_bias : bool, default=False
        Whether each gate's linear map has a bias (the paper's has none).

    Examples
    --------
    >>> import torch
    >>> from sklearn_mtl.models import MMoE
    >>> from sklearn_mtl.nn import MixedInputEmbedding
    >>> categorical, numeric = torch.zeros(6, 1, dtype=torch.long), torch.randn(6, 3)
    >>> module = MMoE(MixedInputEmbedding([5], 3, 4), 2, num_experts=4,
    ...               expert_hidden_units=(8,), tower_hidden_units=(4,))
    >>> module(categorical, numeric).shape
    torch.Size([6, 2])
    >>> module.gate_weights(categorical, numeric).shape
    torch.Size([6, 2, 4])
    """

    def __init__(
        self,
        embedding,
        n_tasks,
        *,
        num_experts,
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
        self.experts = ParallelMLP(
            num_experts, embedding.out_features, expert_hidden_units, dropout=dropout,
            batch_norm=batch_norm,
        )
        self.gates = SoftmaxGate(
            embedding.out_features, num_experts, n_tasks, hidden_units=gate_hidden_units,
            bias=gate_bias,
        )
        self.towers = TaskTowers(
            n_tasks, self.experts.out_features, tower_hidden_units, dropout=dropout,
            output_widths=output_widths, batch_norm=batch_norm,
        )

    def gate_weights(self, categorical, numeric):
        """Softmax weights of each task's gate over the experts.

        Parameters
        ----------
        categorical : torch.Tensor of shape (n, n_categorical)
            Category codes (int64).
        numeric : torch.Tensor of shape (n, n_numeric)
            Standardized numeric features.

        Returns
        -------
        torch.Tensor of shape (n, n_tasks, num_experts)
            Each ``[i, task]`` row sums to one.
        """
        return self.gates(self.embedding(categorical, numeric))

    #: Every task's gate sees every expert.
    task_gate_weights = gate_weights

    def shared_parameters(self):
        """Parameters every task's loss depends on: the embedding, then the experts."""
        return [*self.embedding.parameters(), *self.experts.parameters()]

    def forward(self, categorical, numeric):
        x = self.embedding(categorical, numeric)
        gates = self.gates(x)
        if not torch.jit.is_scripting():  # a scripted module is for inference only
            self._keep_gates([gates])
        return self.towers(mix_experts(gates, self.experts(x)))


class MMoEClassifier(GatedExpertsMixin, BaseMultiTaskClassifier):
    """Multi-gate Mixture-of-Experts classifier (Ma et al., KDD 2018).

    Shared experts (MLPs) see the embedded input; each task has a linear
    softmax gate that weighs the experts per sample, and a tower on that
    mixture. Tasks that agree share experts; tasks that conflict learn to
    use different ones.

    Parameters
    ----------
    num_experts : int, default=8
        Number of shared experts.
    expert_hidden_units : tuple of int, default=(32,)
        Hidden layer widths of each expert; the last is the expert output.
    tower_hidden_units : tuple of int, default=(16,)
        Hidden layer widths of each task tower (before its output logit).
    gate_hidden_units : tuple of int, default=()
        Optional hidden layers in each gate; ``()`` is the paper's gate,
        ``softmax(W_k x)``.
    gate_balance_weight : float, default=0.0
        Weight of a load-balancing penalty against expert collapse (each
        task's gate putting nearly all its weight on one expert): the
        squared coefficient of variation of each gate's per-batch
        importance over the experts (Shazeer et al., ICLR 2017), averaged
        over the gates and added to the training loss. 0 (the paper's MMoE)
        switches it off. The gates' use of the experts is recorded in
        ``history_`` either way.
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
        On the full census-income set with ``batch_norm=True`` it left
        MMoE's income AUC as it was (0.9491 +- 0.0009 against 0.9490 +-
        0.0013 over three seeds) and steadied PLE's (see
        ``benchmarks/README.md``).
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
        Which columns are categorical: ``"from_dtype"`` takes pandas
        ``category`` columns; else a boolean mask, column indices, column
        names (``city`` also matches a ColumnTransformer's ``cat__city``),
        or a column selector called on ``X`` such as
        ``make_column_selector(dtype_include="category")``; ``None`` means none.
        Categorical columns are embedded; a
        category unseen at fit time, or a missing value, maps to a reserved
        code. All other columns must be numeric and finite; they are
        standardized with the training mean and standard deviation.
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
        Hold out ``validation_fraction`` of the data and stop when
        ``early_stopping_monitor`` has not improved for ``n_iter_no_change``
        epochs, restoring the best epoch's weights. ``"auto"`` enables it
        above 10,000 samples. With ``"auto"``, cross-validation folds at
        or below that size and a refit above it train differently (as in scikit-learn's
        HistGradientBoosting): fix it to True or False for model selection.
    early_stopping_monitor : str, default="valid_roc_auc"
        History key watched by early stopping: ``"valid_roc_auc"`` (mean
        over tasks), ``"valid_loss"``, ``"valid_<metric>_<task>"``, or a bare
        task name (that task's validation ROC AUC).
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
        Seeds initialisation, shuffling, dropout and the validation split,
        without changing torch's global random state.
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
        Task names: ``Y``'s columns, or ``task_0``, ``task_1``, ...
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
        Per-epoch record: losses, per-task validation losses and scores,
        and each task gate's use of the experts, on the validation set (the
        first 10,000 training rows without one): ``gate_shares_<task>``
        (mean weight on each expert), ``gate_top_share_<task>`` and
        ``gate_entropy_<task>`` (entropy of the shares over its maximum:
        0 = one expert, 1 = even).
    n_iter_ : int
        Number of epochs trained.
    net_ : skorch.NeuralNet
        The private skorch net that trained the module.

    See Also
    --------
    SharedBottomClassifier : One shared network under the task towers.

    References
    ----------
    J. Ma, Z. Zhao, X. Yi, J. Chen, L. Hong, E. H. Chi. "Modeling Task
    Relationships in Multi-task Learning with Multi-gate Mixture-of-Experts",
    KDD 2018.

    Examples
    --------
    >>> from sklearn_mtl import MMoEClassifier
    >>> from sklearn_mtl.datasets import load_census_income
    >>> X, Y = load_census_income(return_X_y=True)
    >>> X, Y = X[:2000], Y[:2000]
    >>> model = MMoEClassifier(num_experts=4, max_epochs=2, random_state=0).fit(X, Y)
    >>> list(model.task_names_)
    ['income', 'never_married']
    >>> model.predict_proba_frame(X[:3]).shape
    (3, 2)
    >>> model.gate_weights(X[:3]).shape
    (3, 2, 4)
    """

    _parameter_constraints: dict = {
        **BaseMultiTaskClassifier._parameter_constraints,
        "num_experts": [Interval(Integral, 1, None, closed="left")],
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
        num_experts=8,
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
        self.num_experts = num_experts
        self.expert_hidden_units = expert_hidden_units
        self.tower_hidden_units = tower_hidden_units
        self.gate_hidden_units = gate_hidden_units
        self.gate_balance_weight = gate_balance_weight
        self.batch_norm = batch_norm
        self.gate_bias = gate_bias

    def _build_module(self, embedding, n_tasks):
        return MMoE(
            embedding,
            n_tasks,
            num_experts=self.num_experts,
            expert_hidden_units=check_hidden_units(
                "expert_hidden_units",
                self.expert_hidden_units,
                allow_empty=False,
                empty_means="every expert would be the identity of the input, so the gates would mix identical copies and do nothing",
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
        """Each task's gate weights over the experts, per sample.

        Parameters
        ----------
        X : {array-like, DataFrame} of shape (n_samples, n_features)
            Features.

        Returns
        -------
        ndarray of shape (n_samples, n_tasks, num_experts)
            Softmax weights; each ``[i, task]`` row sums to one. Average over
            samples (``.mean(axis=0)``) for each task's expert utilisation.
        """
        return self._forward(X, _gate_weights)


def _gate_weights(module, inputs):
    return module.gate_weights(**inputs)
