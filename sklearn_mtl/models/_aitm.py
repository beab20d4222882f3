"""AITM: Adaptive Information Transfer Multi-task model (Xi et al., KDD 2021)."""

from numbers import Real

import torch
from sklearn.utils._param_validation import Interval
from torch import nn

from .._base import BaseMultiTaskClassifier
from .._params import check_hidden_units
from .._targets import check_funnel
from ..losses import MultiTaskLoss
from ..nn import MLP, ParallelLinear, ParallelMLP, TransferAttention
from ._funnel import FunnelMixin


class AITM(nn.Module):
    """The AITM network: per-step towers linked by attention-based transfer.

    Step 1's representation is its tower output ``z_1 = q_1``. For each
    later step ``t``, the previous representation is passed through a
    transfer layer, ``p_{t-1} = g_{t-1}(z_{t-1})``, and the AIT module
    (:class:`~sklearn_mtl.nn.TransferAttention`) mixes it with the step's
    own tower output: ``z_t = AIT(p_{t-1}, q_t)``. Each ``z_t`` feeds the
    step's output layer, one logit. As in the authors' N-step code, every
    step has its own transfer layer but all steps share one AIT module
    (one set of ``h1, h2, h3``); ``shared_attention=False`` gives each step
    its own.

    Parameters
    ----------
    embedding : MixedInputEmbedding
        Input embedding shared by all towers.
    n_tasks : int
        Number of funnel steps, at least 2.
    tower_hidden_units : tuple of int
        Hidden layer widths of each tower; the last one is the attention
        width ``K``.
    transfer_hidden_units : tuple of int
        Hidden layers of each transfer layer ``g`` before its final
        ``K -> K`` ReLU layer.
    dropout : float
        Dropout after every hidden layer.
    shared_attention : bool, default=True
        One AIT module for all steps (the authors' code) or one per step.
    batch_norm : bool, default=False
        BatchNorm in the towers' hidden layers (never in the transfer layers
        or the attention).

    Examples
    --------
    >>> import torch
    >>> from sklearn_mtl.models import AITM
    >>> from sklearn_mtl.nn import MixedInputEmbedding
    >>> categorical, numeric = torch.zeros(6, 1, dtype=torch.long), torch.randn(6, 3)
    >>> module = AITM(MixedInputEmbedding([5], 3, 4), 3, tower_hidden_units=(8,))
    >>> module(categorical, numeric).shape
    torch.Size([6, 3])
    >>> module.attention_weights(categorical, numeric).shape
    torch.Size([6, 2, 2])
    """

    def __init__(
        self,
        embedding,
        n_tasks,
        *,
        tower_hidden_units,
        transfer_hidden_units=(),
        dropout=0.0,
        shared_attention=True,
        batch_norm=False,
    ):
        super().__init__()
        self.embedding = embedding
        self.towers = ParallelMLP(
            n_tasks, embedding.out_features, tower_hidden_units, dropout=dropout,
            batch_norm=batch_norm,
        )
        dim = self.towers.out_features
        self.transfers = nn.ModuleList(
            MLP(dim, (*transfer_hidden_units, dim), dropout=dropout) for _ in range(n_tasks - 1)
        )
        n_attentions = 1 if shared_attention else n_tasks - 1
        self.attentions = nn.ModuleList(TransferAttention(dim) for _ in range(n_attentions))
        self.output = ParallelLinear(n_tasks, dim, 1)

    def _transfer(self, categorical, numeric):
        towers = self.towers(self.embedding(categorical, numeric))
        z, weights = [towers[:, 0]], []
        # Two loops because TorchScript indexes a ModuleList by literals only.
        if len(self.attentions) == 1:
            for t, transfer in enumerate(self.transfers, start=1):
                z_t, w_t = self.attentions[0](transfer(z[-1]), towers[:, t])
                z.append(z_t)
                weights.append(w_t)
        else:
            for t, (transfer, attention) in enumerate(
                zip(self.transfers, self.attentions), start=1
            ):
                z_t, w_t = attention(transfer(z[-1]), towers[:, t])
                z.append(z_t)
                weights.append(w_t)
        return torch.stack(z, dim=1), torch.stack(weights, dim=1)

    def attention_weights(self, categorical, numeric):
        """Weights of each later step's AIT module on ``(p_{t-1}, q_t)``.

        Parameters
        ----------
        categorical : torch.Tensor of shape (n, n_categorical)
            Category codes (int64).
        numeric : torch.Tensor of shape (n, n_numeric)
            Standardized numeric features.

        Returns
        -------
        torch.Tensor of shape (n, n_tasks - 1, 2)
            Softmax weights on the transferred, then the own information.
        """
        return self._transfer(categorical, numeric)[1]

    def shared_parameters(self):
        """Parameters every task's loss depends on: the shared embeddings."""
        return list(self.embedding.parameters())

    def forward(self, categorical, numeric):
        return self.output(self._transfer(categorical, numeric)[0]).squeeze(-1)


class CalibratedFunnelLoss(MultiTaskLoss):
    """AITM's loss: per-step cross-entropy plus the behavioural expectation calibrator.

    ``sum_t L_t + alpha * mean_i sum_{t >= 2} max(y_hat_it - y_hat_i(t-1), 0)``
    on the predicted probabilities (the paper's eqs. 6-7): a later funnel
    step should not be more probable than the one before it.

    Parameters
    ----------
    calibration_weight : float
        ``alpha``; 0 switches the calibrator off.

    Notes
    -----
    With ``sample_weight`` the calibrator's mean over rows is weighted like
    the cross-entropy terms, so weighting a row by ``k`` equals repeating it.

    Examples
    --------
    >>> import torch
    >>> from sklearn_mtl.models._aitm import CalibratedFunnelLoss
    >>> loss = CalibratedFunnelLoss(calibration_weight=0.5)
    >>> logits = torch.logit(torch.tensor([[0.2, 0.5], [0.4, 0.1]]))
    >>> loss.penalty(logits)
    tensor(0.0750)
    """

    def __init__(self, calibration_weight):
        super().__init__()
        self.calibration_weight = calibration_weight

    def penalty(self, logits, sample_weight=None):
        proba = torch.sigmoid(logits)
        excess = torch.relu(proba[:, 1:] - proba[:, :-1]).sum(1)
        if sample_weight is None:
            return self.calibration_weight * excess.mean()
        return self.calibration_weight * (excess * sample_weight).sum() / sample_weight.sum()


class AITMClassifier(FunnelMixin, BaseMultiTaskClassifier):
    """Adaptive Information Transfer Multi-task classifier for funnels (Xi et al., KDD 2021).

    ``Y``'s columns are the steps of a conversion funnel in order (e.g.
    impression -> click -> purchase): each step's positives must be among
    the previous step's. Every step has a tower over the shared embeddings;
    each later step adaptively mixes its own tower output with information
    transferred from the step before it (an attention over the two), and a
    calibrator penalises predicting a later step as more probable than the
    previous one.

    Parameters
    ----------
    tower_hidden_units : tuple of int, default=(64, 32)
        Hidden layer widths of each step's tower; the last width is the
        attention width ``K``.
    transfer_hidden_units : tuple of int, default=()
        Extra hidden layers of each transfer layer, before its ``K -> K``
        ReLU layer (the paper's and authors' code: none).
    calibration_weight : float, default=0.6
        ``alpha``, the weight of the behavioural expectation calibrator
        ``mean_i sum_{t>=2} max(y_hat_t - y_hat_{t-1}, 0)``; 0 switches it off.
    shared_attention : bool, default=True
        With three or more steps, whether all steps share one attention
        (AIT) module, as in the authors' N-step code, or each later step
        learns its own. Two-step funnels have one either way.
    batch_norm : bool, default=False
        Batch normalisation after the linear map of every hidden layer of the
        task towers (``Linear -> BatchNorm -> activation -> dropout``, as in
        torch-rechub); the transfer layers, the attention and the output logits
        never get it. In training it normalises with each batch's own
        statistics, unweighted by ``sample_weight`` (so weighting a row is not
        the same as repeating it); predictions use the running statistics (eval
        mode). A last training batch of one row joins the batch before it;
        training data of one row, or ``batch_size=1``, is a ValueError. On the
        full census-income set it raised held-out AUC (see the user guide); it
        is off by default because of the weighting above.
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
        Dropout probability after each tower and transfer hidden layer.
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
        All other columns must be numeric and
        finite; they are standardized.
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
        Weight of each step's cross-entropy; all ones when None.
    loss_weighting : str or LossWeighting, default="fixed"
        How the task losses are balanced: ``"fixed"`` (``task_weights``),
        ``"uncertainty"``, ``"gradnorm"``, ``"dwa"``, ``"pcgrad"``,
        ``"progressive"`` (PLE's ``task_weights`` decayed per epoch), or a
        strategy of :mod:`sklearn_mtl.loss_weighting` such as
        ``GradNorm(alpha=1.5)``. The weights in use are recorded per epoch
        in ``history_`` (``loss_weight_<task>``).
    early_stopping : "auto" or bool, default="auto"
        Hold out ``validation_fraction`` of the data and stop when
        ``early_stopping_monitor`` has not improved for ``n_iter_no_change``
        epochs, restoring the best epoch's weights. ``"auto"`` enables it
        above 10,000 samples. With ``"auto"``, cross-validation folds at
        or below that size and a refit above it train differently (as in scikit-learn's
        HistGradientBoosting): fix it to True or False for model selection.
    early_stopping_monitor : str, default="valid_roc_auc"
        History key watched by early stopping: ``"valid_roc_auc"`` (mean
        over steps), ``"valid_loss"``, ``"valid_<metric>_<task>"``, or a
        bare task name (that step's validation ROC AUC).
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
    classes_ : list of ndarray of shape (2,)
        The classes of each step.
    task_names_ : ndarray of str
        ``Y``'s column names (the steps), or ``task_0``, ``task_1``, ...
    n_tasks_ : int
        Number of funnel steps.
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
        Per-epoch record: losses, per-step validation losses and scores.
    n_iter_ : int
        Number of epochs trained.
    net_ : skorch.NeuralNet
        The private skorch net that trained the module.

    See Also
    --------
    ESMMClassifier : Two-step click -> conversion model over the entire space.

    Notes
    -----
    Each step's probability is end-to-end, ``P(step reached)`` (e.g.
    ``P(click and purchase)``), and ``predict_proba_frame`` names its columns
    so (``"P(click)"``, ``"P(click & purchase)"``). :meth:`predict_cvr` gives
    each step's rate given the previous step, ``P(step_t | step_{t-1})``, as
    :class:`ESMMClassifier` does.

    References
    ----------
    D. Xi, Z. Chen, P. Yan, Y. Zhang, Y. Zhu, F. Zhuang, Y. Chen. "Modeling
    the Sequential Dependence among Audience Multi-step Conversions with
    Multi-task Learning in Targeted Display Advertising", KDD 2021.

    Examples
    --------
    >>> from sklearn_mtl import AITMClassifier
    >>> from sklearn_mtl.datasets import make_funnel
    >>> X, Y = make_funnel(n_samples=2000, n_steps=3, random_state=0, return_X_y=True)
    >>> model = AITMClassifier(max_epochs=2, random_state=0).fit(X, Y)
    >>> list(model.task_names_)
    ['click', 'step_2', 'conversion']
    >>> list(model.predict_proba_frame(X[:3]).columns)
    ['P(click)', 'P(click & step_2)', 'P(click & step_2 & conversion)']
    >>> model.predict_cvr(X[:3]).shape  # P(step_2 | click), P(conversion | step_2)
    (3, 2)
    >>> model.attention_weights(X[:3]).shape
    (3, 2, 2)
    """

    _accepts_any_label_matrix = False

    _parameter_constraints: dict = {
        **BaseMultiTaskClassifier._parameter_constraints,
        "tower_hidden_units": ["array-like"],
        "transfer_hidden_units": ["array-like"],
        "calibration_weight": [Interval(Real, 0, None, closed="left")],
        "shared_attention": ["boolean"],
        "batch_norm": ["boolean"],
    }

    def __init__(
        self,
        *,
        tower_hidden_units=(64, 32),
        transfer_hidden_units=(),
        calibration_weight=0.6,
        shared_attention=True,
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
        self.tower_hidden_units = tower_hidden_units
        self.transfer_hidden_units = transfer_hidden_units
        self.calibration_weight = calibration_weight
        self.shared_attention = shared_attention
        self.batch_norm = batch_norm

    def _build_module(self, embedding, n_tasks):
        return AITM(
            embedding,
            n_tasks,
            tower_hidden_units=check_hidden_units("tower_hidden_units", self.tower_hidden_units),
            transfer_hidden_units=check_hidden_units(
                "transfer_hidden_units", self.transfer_hidden_units
            ),
            dropout=self.dropout,
            batch_norm=self.batch_norm,
            shared_attention=self.shared_attention,
        )

    def _build_criterion(self, n_tasks):
        return CalibratedFunnelLoss(self.calibration_weight)

    def _check_task_labels(self, Y):
        check_funnel(Y, self.task_names_, model=type(self).__name__)

    def attention_weights(self, X):
        """Each later step's attention on the transferred and its own information.

        Parameters
        ----------
        X : {array-like, DataFrame} of shape (n_samples, n_features)
            Features.

        Returns
        -------
        ndarray of shape (n_samples, n_tasks - 1, 2)
            For step ``t + 1`` (``t = 0 .. n_tasks - 2``), the softmax weights
            of its AIT module on ``(p_t, q_{t+1})``: information transferred
            from the previous step, then the step's own tower output. Each
            ``[i, t]`` pair sums to one.
        """
        return self._forward(X, _attention_weights)


def _attention_weights(module, inputs):
    return module.attention_weights(**inputs)
