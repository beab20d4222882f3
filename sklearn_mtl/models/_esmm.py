"""ESMM: Entire Space Multi-task Model (Ma et al., SIGIR 2018)."""

import numpy as np
import torch
from torch import nn

from .._base import BaseMultiTaskClassifier
from .._params import check_hidden_units
from .._targets import BinaryTarget, check_funnel
from ..metrics import score_task_given
from ..nn import MLP, product_logit
from ._funnel import FunnelMixin, _log_sigmoid


class _Tower(nn.Sequential):
    """An MLP ending in one logit per row."""

    def __init__(self, in_features, hidden_units, dropout, batch_norm=False):
        mlp = MLP(in_features, hidden_units, dropout=dropout, batch_norm=batch_norm)
        super().__init__(mlp, nn.Linear(mlp.out_features, 1))

    def forward(self, x):
        # A loop, not super().forward: TorchScript cannot call a parent's method.
        for layer in self:
            x = layer(x)
        return x.squeeze(-1)


class ESMM(nn.Module):
    """The ESMM network: a CTR and a CVR tower over shared embeddings.

    ``forward`` returns the logits of ``[pCTR, pCTCVR]`` with
    ``pCTCVR = pCTR * pCVR`` (the paper's eq. 2), the product taken in log
    space by :func:`~sklearn_mtl.nn.product_logit`: binary cross-entropy
    with logits on these two columns over all impressions is the ESMM loss
    (eq. 3).

    Parameters
    ----------
    embedding : MixedInputEmbedding
        Input embedding shared by both towers (the paper's "embedding
        lookup" sharing).
    ctr_hidden_units, cvr_hidden_units : tuple of int
        Hidden layer widths of the two towers.
    dropout : float
        Dropout after every hidden layer.
    batch_norm : bool, default=False
        BatchNorm in every hidden layer of the towers.

    Examples
    --------
    >>> import torch
    >>> from sklearn_mtl.models import ESMM
    >>> from sklearn_mtl.nn import MixedInputEmbedding
    >>> categorical, numeric = torch.zeros(6, 1, dtype=torch.long), torch.randn(6, 3)
    >>> module = ESMM(MixedInputEmbedding([5], 3, 4), ctr_hidden_units=(8,), cvr_hidden_units=(8,))
    >>> logits = module(categorical, numeric)
    >>> p_ctr, p_ctcvr = torch.sigmoid(logits).T
    >>> p_cvr = torch.sigmoid(module.cvr_logits(categorical, numeric))
    >>> bool(torch.allclose(p_ctcvr, p_ctr * p_cvr, atol=1e-6))
    True
    """

    def __init__(
        self, embedding, *, ctr_hidden_units, cvr_hidden_units, dropout=0.0, batch_norm=False
    ):
        super().__init__()
        self.embedding = embedding
        self.ctr = _Tower(embedding.out_features, ctr_hidden_units, dropout, batch_norm)
        self.cvr = _Tower(embedding.out_features, cvr_hidden_units, dropout, batch_norm)

    def cvr_logits(self, categorical, numeric):
        """Logits of pCVR, the conversion probability given a click.

        Parameters
        ----------
        categorical : torch.Tensor of shape (n, n_categorical)
            Category codes (int64).
        numeric : torch.Tensor of shape (n, n_numeric)
            Standardized numeric features.

        Returns
        -------
        torch.Tensor of shape (n,)
            The logits.
        """
        return self.cvr(self.embedding(categorical, numeric))

    def shared_parameters(self):
        """Parameters every task's loss depends on: the shared embeddings."""
        return list(self.embedding.parameters())

    def forward(self, categorical, numeric):
        x = self.embedding(categorical, numeric)
        ctr = self.ctr(x)
        return torch.stack([ctr, product_logit(ctr, self.cvr(x))], dim=1)


class ESMMClassifier(FunnelMixin, BaseMultiTaskClassifier):
    """Entire Space Multi-task Model for click -> conversion (Ma et al., SIGIR 2018).

    ``Y`` has two columns, ``[click, conversion]``; a conversion without a
    click is an error. A CTR tower and a CVR tower share the embeddings.
    Both are trained over *all* impressions through the two observable
    quantities, ``pCTR`` on the click and ``pCTCVR = pCTR * pCVR`` on click
    and conversion, which removes the sample selection bias of a CVR model
    trained on clicked rows and gives the rare conversion task the
    embeddings learnt from clicks.

    Parameters
    ----------
    ctr_hidden_units : tuple of int, default=(64, 32)
        Hidden layer widths of the CTR tower.
    cvr_hidden_units : tuple of int, default=(64, 32)
        Hidden layer widths of the CVR tower.
    batch_norm : bool, default=False
        Batch normalisation after the linear map of every hidden layer of the
        CTR and CVR towers (``Linear -> BatchNorm -> activation -> dropout``,
        as in torch-rechub); the output logits never get it. In training it
        normalises with each batch's own statistics, unweighted by
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
        Dropout probability after each tower hidden layer.
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
        Categorical columns are embedded; all
        other columns must be numeric and finite and are standardized and
        fed to both towers next to the embeddings.
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
    task_weights : array-like of shape (2,), default=None
        Weights of the CTR and CTCVR losses; all ones when None (the paper).
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
        History key watched by early stopping: ``"valid_roc_auc"`` (mean of
        CTR and CTCVR AUC), ``"valid_roc_auc_cvr"`` (CVR AUC on clicked
        rows), ``"valid_loss"``, ``"valid_<metric>_<task>"``, or a bare task
        name (that task's validation ROC AUC).
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
        The classes of the click and of the conversion.
    task_names_ : ndarray of str
        ``Y``'s column names, or ``task_0``, ``task_1``.
    n_tasks_ : int
        Always 2.
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
        Per-epoch record. With a validation set: each task's loss and
        ``valid_<metric>_<task>`` on all rows (the click's is CTR, the
        conversion's is CTCVR), and ``valid_<metric>_cvr``, pCVR scored on
        the clicked validation rows only.
    n_iter_ : int
        Number of epochs trained.
    net_ : skorch.NeuralNet
        The private skorch net that trained the module.

    See Also
    --------
    AITMClassifier : Funnels of two or more steps with learnt transfer.
    sklearn_mtl.metrics.esmm_scorers : CTR, CVR and CTCVR scorers.

    Notes
    -----
    ``predict_proba`` follows ``Y``'s columns: ``P(click)`` and
    ``P(click and conversion)`` (pCTCVR); ``predict_proba_frame`` names its
    columns so, ``"P(click)"`` and ``"P(click & conversion)"`` (with ``Y``'s
    column names). The conversion rate given a click is :meth:`predict_cvr`,
    defined for every row, clicked or not.

    References
    ----------
    X. Ma, L. Zhao, G. Huang, Z. Wang, Z. Hu, X. Zhu, K. Gai. "Entire Space
    Multi-Task Model: An Effective Approach for Estimating Post-Click
    Conversion Rate", SIGIR 2018.

    Examples
    --------
    >>> from sklearn_mtl import ESMMClassifier
    >>> from sklearn_mtl.datasets import make_funnel
    >>> X, Y = make_funnel(n_samples=2000, random_state=0, return_X_y=True)
    >>> list(Y.columns)
    ['click', 'conversion']
    >>> model = ESMMClassifier(max_epochs=2, random_state=0).fit(X, Y)
    >>> p_click, p_ctcvr = model.predict_proba(X[:3])
    >>> p_cvr = model.predict_cvr(X[:3])
    >>> bool(abs(p_ctcvr[:, 1] - p_click[:, 1] * p_cvr).max() < 1e-6)
    True
    """

    _accepts_any_label_matrix = False

    _parameter_constraints: dict = {
        **BaseMultiTaskClassifier._parameter_constraints,
        "ctr_hidden_units": ["array-like"],
        "cvr_hidden_units": ["array-like"],
        "batch_norm": ["boolean"],
    }

    def __init__(
        self,
        *,
        ctr_hidden_units=(64, 32),
        cvr_hidden_units=(64, 32),
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
        self.ctr_hidden_units = ctr_hidden_units
        self.cvr_hidden_units = cvr_hidden_units
        self.batch_norm = batch_norm

    def _build_module(self, embedding, n_tasks):
        return ESMM(
            embedding,
            ctr_hidden_units=check_hidden_units("ctr_hidden_units", self.ctr_hidden_units),
            cvr_hidden_units=check_hidden_units("cvr_hidden_units", self.cvr_hidden_units),
            dropout=self.dropout,
            batch_norm=self.batch_norm,
        )

    def _check_task_labels(self, Y):
        check_funnel(Y, self.task_names_, n_tasks=2, model=type(self).__name__)

    def _validation_scores(self, Y, logits, sample_weight):
        scores = super()._validation_scores(Y, logits, sample_weight)
        # log pCVR = log pCTCVR - log pCTR, exact in float64 however small both
        # are; the clip only absorbs the module's float32 rounding.
        p_cvr = np.exp(np.minimum(_log_sigmoid(logits[:, 1]) - _log_sigmoid(logits[:, 0]), 0.0))
        for metric in BinaryTarget.metrics:
            scores[f"valid_{metric}_cvr"] = score_task_given(
                metric, Y[:, 1], p_cvr, Y[:, 0], sample_weight
            )
        return scores

    def _epoch_log_keys(self):
        return super()._epoch_log_keys() | {"valid_roc_auc_cvr"}

    def _step_log_rates(self, X):
        # The CVR tower is pCVR itself: no ratio of two rounded probabilities.
        return _log_sigmoid(self._forward(X, _cvr_logits))[:, np.newaxis]


def _cvr_logits(module, inputs):
    return module.cvr_logits(**inputs)
