"""ESCM²: Entire Space Counterfactual Multi-task Model (Wang et al., SIGIR 2022)."""

from numbers import Real

import torch
import torch.nn.functional as F
from sklearn.utils._param_validation import Interval, StrOptions

from .._params import check_hidden_units
from ..losses import MultiTaskLoss
from ..nn import product_logit
from ._esmm import ESMM, ESMMClassifier, _Tower

#: Propensities (predicted click probabilities) are clipped from below here, so
#: that no clicked row weighs more than 100 impressions in the regulariser.
MIN_PROPENSITY = 0.01


class ESCM2(ESMM):
    """The ESCM² network: ESMM's CTR and CVR towers, and for the doubly
    robust regulariser an imputation tower.

    ``forward`` returns the ``(n, 3)`` logits ``[pCTR, pCTCVR, pCVR]``, and
    with ``imputation=True`` a fourth column: the imputation tower's output,
    whose softplus is the predicted CVR error ``e_hat >= 0`` of the row.

    Parameters
    ----------
    embedding : MixedInputEmbedding
        Input embedding shared by the towers.
    ctr_hidden_units, cvr_hidden_units : tuple of int
        Hidden layer widths of the CTR and CVR towers (the imputation tower
        has the CVR tower's).
    dropout : float
        Dropout after every hidden layer.
    imputation : bool, default=False
        Whether the network has the imputation tower.
    batch_norm : bool, default=False
        BatchNorm in every hidden layer of the towers.

    Examples
    --------
    >>> import torch
    >>> from sklearn_mtl.models import ESCM2
    >>> from sklearn_mtl.nn import MixedInputEmbedding
    >>> module = ESCM2(MixedInputEmbedding([5], 3, 4), ctr_hidden_units=(8,),
    ...                cvr_hidden_units=(8,), imputation=True)
    >>> module(torch.zeros(6, 1, dtype=torch.long), torch.randn(6, 3)).shape
    torch.Size([6, 4])
    """

    def __init__(
        self,
        embedding,
        *,
        ctr_hidden_units,
        cvr_hidden_units,
        dropout=0.0,
        imputation=False,
        batch_norm=False,
    ):
        super().__init__(
            embedding,
            ctr_hidden_units=ctr_hidden_units,
            cvr_hidden_units=cvr_hidden_units,
            dropout=dropout,
            batch_norm=batch_norm,
        )
        self.imputation = (
            _Tower(embedding.out_features, cvr_hidden_units, dropout, batch_norm)
            if imputation
            else None
        )

    def forward(self, categorical, numeric):
        x = self.embedding(categorical, numeric)
        ctr, cvr = self.ctr(x), self.cvr(x)
        columns = [ctr, product_logit(ctr, cvr), cvr]
        if self.imputation is not None:
            columns.append(self.imputation(x))
        return torch.stack(columns, dim=1)


class CounterfactualFunnelLoss(MultiTaskLoss):
    """ESCM²'s loss: ESMM's CTR and CTCVR cross-entropies, and a
    counterfactual regulariser on the CVR tower added to the conversion
    task's loss.

    Over the rows ``D`` whose click is observed, with ``o`` the click,
    ``e`` the cross-entropy of pCVR against the conversion, ``p`` the
    predicted pCTR (the propensity; no gradient flows through it, and it is
    clipped at :data:`MIN_PROPENSITY`) and row weights ``w``:

    - ``"ips"``: ``R = sum_D w o e / p / sum_D w``;
    - ``"dr"``: ``R = sum_D w [e_hat + o (e - e_hat) / p] / sum_D w
      + sum_D w o (e - e_hat)^2 / p / sum_D w``, with ``e_hat`` the imputation
      tower's predicted error. As in doubly robust joint learning, the first
      (error) term trains the CVR tower with ``e_hat`` held fixed and the
      second (imputation) term trains the imputation tower with ``e`` fixed.

    The conversion task's loss is ``L_CTCVR + counterfactual_weight * R``,
    so the training objective is the paper's
    ``L_CTR + lambda_g L_CTCVR + lambda_c R`` with ``lambda_g`` the
    conversion's task weight (one by default) and ``lambda_c =
    lambda_g * counterfactual_weight``.

    Parameters
    ----------
    counterfactual : {"ips", "dr"}
        The regulariser.
    counterfactual_weight : float
        Its weight relative to the CTCVR loss.

    Examples
    --------
    >>> import torch
    >>> from sklearn_mtl.models._escm2 import CounterfactualFunnelLoss
    >>> loss = CounterfactualFunnelLoss("ips", counterfactual_weight=1.0)
    >>> logits = torch.tensor([[0.0, -1.0, 0.0], [0.0, -1.0, 0.0]])
    >>> targets = torch.tensor([[1.0, 1.0], [0.0, 0.0]])
    >>> loss.regulariser(logits, targets)  # (ln 2 / 0.5 + 0) / 2 rows
    tensor(0.6931)
    """

    def __init__(self, counterfactual, counterfactual_weight):
        super().__init__()
        self.counterfactual = counterfactual
        self.counterfactual_weight = counterfactual_weight

    def task_losses(self, logits, targets, sample_weight=None):
        losses = super().task_losses(logits[:, :2], targets, sample_weight)
        regulariser = self.counterfactual_weight * self.regulariser(logits, targets, sample_weight)
        return losses + torch.stack([torch.zeros_like(regulariser), regulariser])

    def regulariser(self, logits, targets, sample_weight=None):
        """``R``, the counterfactual CVR loss of the batch."""
        click, conversion = targets[:, 0], targets[:, 1]
        space = ~torch.isnan(click)
        o = ((click == 1) & ~torch.isnan(conversion)).to(logits.dtype)
        w = space.to(logits.dtype) if sample_weight is None else space * sample_weight
        total = w.sum()
        if total == 0:
            return logits.new_zeros(())
        p = torch.sigmoid(logits[:, 0]).detach().clamp(min=MIN_PROPENSITY)
        e = F.binary_cross_entropy_with_logits(
            logits[:, 2], torch.nan_to_num(conversion), reduction="none"
        )
        if self.counterfactual == "ips":
            return (w * o * e / p).sum() / total
        e_hat = F.softplus(logits[:, 3])
        error = e_hat.detach() + o * (e - e_hat.detach()) / p
        imputation = o * (e.detach() - e_hat) ** 2 / p
        return (w * (error + imputation)).sum() / total


class ESCM2Classifier(ESMMClassifier):
    """Entire Space Counterfactual Multi-task Model for click -> conversion
    (Wang et al., SIGIR 2022).

    ESMM (:class:`ESMMClassifier`) with a counterfactual regulariser on the
    CVR tower: ESMM trains pCVR only through pCTCVR, which the paper shows
    leaves pCVR biased (its "inherent estimation bias") and ignores that a
    conversion depends on the click. ESCM² adds the CVR cross-entropy on the
    clicked rows, each weighted by the inverse of its predicted click
    probability (inverse propensity scoring), or its doubly robust version
    with an imputation tower, so that the CVR tower is trained towards an
    unbiased estimate over the entire impression space.

    ``Y`` has two columns, ``[click, conversion]``, as for ESMM; the
    predictions and scorers are ESMM's.

    Parameters
    ----------
    ctr_hidden_units : tuple of int, default=(64, 32)
        Hidden layer widths of the CTR tower.
    cvr_hidden_units : tuple of int, default=(64, 32)
        Hidden layer widths of the CVR tower (and of the imputation tower).
    counterfactual : {"ips", "dr"}, default="ips"
        The regulariser: ``"ips"``, the inverse-propensity-weighted CVR
        loss on clicked rows (ESCM²-IPS), or ``"dr"``, its doubly robust
        version with an imputation tower predicting each row's CVR error
        (ESCM²-DR). See :class:`~sklearn_mtl.models._escm2.CounterfactualFunnelLoss`.
    counterfactual_weight : float, default=0.5
        Weight of the regulariser relative to the CTCVR loss (0.5 in
        PaddleRec's ESCM² configuration; 0 trains ESMM).
    batch_norm : bool, default=False
        Batch normalisation after the linear map of every hidden layer of the
        CTR, CVR and imputation towers (``Linear -> BatchNorm -> activation ->
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
        ``make_column_selector(dtype_include="category")``; ``None`` means none. Categorical columns are embedded; all
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
        Weights of the CTR loss and of the conversion's loss (CTCVR plus the
        regulariser); all ones when None.
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
        Per-epoch record, as :class:`ESMMClassifier`'s; the conversion's
        losses include the regulariser.
    n_iter_ : int
        Number of epochs trained.
    net_ : skorch.NeuralNet
        The private skorch net that trained the module.

    See Also
    --------
    ESMMClassifier : The same towers without the regulariser.

    References
    ----------
    H. Wang, T.-W. Chang, T. Liu, J. Huang, Z. Chen, C. Yu, R. Li, W. Chu.
    "ESCM²: Entire Space Counterfactual Multi-Task Model for Post-Click
    Conversion Rate Estimation", SIGIR 2022.

    Examples
    --------
    >>> from sklearn_mtl import ESCM2Classifier
    >>> from sklearn_mtl.datasets import make_funnel
    >>> X, Y = make_funnel(n_samples=2000, random_state=0, return_X_y=True)
    >>> model = ESCM2Classifier(counterfactual="dr", max_epochs=2, random_state=0).fit(X, Y)
    >>> p_click, p_ctcvr = model.predict_proba(X[:3])
    >>> model.predict_cvr(X[:3]).shape
    (3,)
    """

    _parameter_constraints: dict = {
        **ESMMClassifier._parameter_constraints,
        "counterfactual": [StrOptions({"ips", "dr"})],
        "counterfactual_weight": [Interval(Real, 0, None, closed="left")],
    }

    def __init__(
        self,
        *,
        ctr_hidden_units=(64, 32),
        cvr_hidden_units=(64, 32),
        counterfactual="ips",
        counterfactual_weight=0.5,
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
            ctr_hidden_units=ctr_hidden_units,
            cvr_hidden_units=cvr_hidden_units,
            batch_norm=batch_norm,
            max_epochs=max_epochs,
            batch_size=batch_size,
            lr=lr,
            optimizer=optimizer,
            optimizer_params=optimizer_params,
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
        self.counterfactual = counterfactual
        self.counterfactual_weight = counterfactual_weight

    def _build_module(self, embedding, n_tasks):
        return ESCM2(
            embedding,
            ctr_hidden_units=check_hidden_units("ctr_hidden_units", self.ctr_hidden_units),
            cvr_hidden_units=check_hidden_units("cvr_hidden_units", self.cvr_hidden_units),
            dropout=self.dropout,
            batch_norm=self.batch_norm,
            imputation=self.counterfactual == "dr",
        )

    def _build_criterion(self, n_tasks):
        return CounterfactualFunnelLoss(self.counterfactual, self.counterfactual_weight)

    def _proba_from_logits(self, logits):
        # Columns past the tasks' are the CVR and imputation outputs.
        return super()._proba_from_logits(logits[:, :2])
