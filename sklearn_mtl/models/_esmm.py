"""ESMM: Entire Space Multi-task Model (Ma et al., SIGIR 2018)."""

import numpy as np
import torch
from torch import nn

from .._base import BaseMultiTaskClassifier
from .._params import layer_params
from .._shared import fill_doc
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


@fill_doc
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
    {module_example_inputs}
    >>> from sklearn_mtl.models import ESMM
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

        {module_inputs_returns}
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
    {shared}

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
    defined for every row, clicked or not. An exported model
    (:mod:`sklearn_mtl.export`) names its outputs by what they hold:
    ``click`` (pCTR), ``click_and_conversion`` (pCTCVR) and
    ``conversion_given_click`` (pCVR). ``pos_weight={"conversion": ...}``
    weighs the positives of the pCTCVR term, the clicked and converted rows.

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
    }

    _own_params = {
        "ctr_hidden_units": (64, 32),
        "cvr_hidden_units": (64, 32),
    }
    _doc_layers = "CTR and CVR towers"
    _parameter_notes = {
        "early_stopping_monitor": "ESMM also records ``valid_roc_auc_cvr``, the CVR AUC on "
        "the clicked validation rows.",
    }
    _attribute_notes = {
        "n_tasks_": "Always 2: the click and the conversion.",
        "history_": "The click's scores are CTR scores, the conversion's are CTCVR scores; "
        "``valid_<metric>_cvr`` scores pCVR on the clicked validation rows only.",
    }

    def _build_module(self, embedding, n_tasks):
        return ESMM(embedding, **self._tower_params())

    def _tower_params(self):
        """The towers' keyword arguments of the network, checked."""
        return layer_params(self, "ctr_hidden_units", "cvr_hidden_units")

    def _check_task_labels(self, Y):
        check_funnel(
            Y, self.task_names_, n_tasks=2, model=type(self).__name__, positives=self._positives()
        )

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
