"""ESCM²: Entire Space Counterfactual Multi-task Model (Wang et al., SIGIR 2022)."""

from numbers import Real

import torch
import torch.nn.functional as F
from sklearn.utils._param_validation import Interval, StrOptions

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
    {shared}

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

    _own_params = {
        "counterfactual": "ips",
        "counterfactual_weight": 0.5,
    }
    _doc_layers = "CTR, CVR and imputation towers"
    _parameter_notes = {
        **ESMMClassifier._parameter_notes,
        "task_weights": "The conversion's loss is the CTCVR loss plus the regulariser.",
    }
    _attribute_notes = {
        **ESMMClassifier._attribute_notes,
        "history_": "As :class:`ESMMClassifier`'s; the conversion's losses include the "
        "regulariser.",
    }

    def _build_module(self, embedding, n_tasks):
        return ESCM2(embedding, **self._tower_params(), imputation=self.counterfactual == "dr")

    def _build_criterion(self, n_tasks):
        return CounterfactualFunnelLoss(self.counterfactual, self.counterfactual_weight)

    def _divergence_hints(self, net):
        hints = super()._divergence_hints(net)
        # Inverse-propensity weights reach 1 / min pCTR: a heavy regulariser explodes first.
        if self.counterfactual_weight > 1:
            hints.insert(
                0,
                f"counterfactual_weight={self.counterfactual_weight:g} weighs the "
                "inverse-propensity-weighted regulariser above the CTCVR loss; lower it "
                "(0.5 in the authors' configuration).",
            )
        return hints

    def _proba_from_logits(self, logits):
        # Columns past the tasks' are the CVR and imputation outputs.
        return super()._proba_from_logits(logits[:, :2])
