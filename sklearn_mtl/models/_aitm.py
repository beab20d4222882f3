"""AITM: Adaptive Information Transfer Multi-task model (Xi et al., KDD 2021)."""

from numbers import Real

import torch
from sklearn.utils._param_validation import Interval
from torch import nn

from .._base import BaseMultiTaskClassifier
from .._params import layer_params
from .._shared import fill_doc
from .._targets import check_funnel
from ..losses import MultiTaskLoss
from ..nn import MLP, ParallelLinear, ParallelMLP, TransferAttention
from ._funnel import FunnelMixin


@fill_doc
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
    {module_example_inputs}
    >>> from sklearn_mtl.models import AITM
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

        {module_inputs_returns}
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
    {shared}

    See Also
    --------
    ESMMClassifier : Two-step click -> conversion model over the entire space.

    Notes
    -----
    Each step's probability is end-to-end, ``P(step reached)`` (e.g.
    ``P(click and purchase)``), and ``predict_proba_frame`` names its columns
    so (``"P(click)"``, ``"P(click & purchase)"``). :meth:`predict_cvr` gives
    each step's rate given the previous step, ``P(step_t | step_{t-1})``, as
    :class:`ESMMClassifier` does. An exported model
    (:mod:`sklearn_mtl.export`) names its outputs by the same quantities:
    ``click``, ``click_and_purchase``, ..., then ``purchase_given_click``, ...
    A rare step's positives can be weighted with ``pos_weight``, which
    weighs its end-to-end label.

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
    }

    _own_params = {
        "tower_hidden_units": (64, 32),
        "transfer_hidden_units": (),
        "calibration_weight": 0.6,
        "shared_attention": True,
    }
    _doc_layers = "task towers"
    _parameter_notes = {"dropout": "AITM also drops out after each transfer hidden layer."}

    def _build_module(self, embedding, n_tasks):
        return AITM(
            embedding,
            n_tasks,
            shared_attention=self.shared_attention,
            **layer_params(self, "tower_hidden_units", "transfer_hidden_units"),
        )

    def _build_criterion(self, n_tasks):
        return CalibratedFunnelLoss(self.calibration_weight)

    def _check_task_labels(self, Y):
        check_funnel(Y, self.task_names_, model=type(self).__name__, positives=self._positives())

    def attention_weights(self, X):
        """Each later step's attention on the transferred and its own information.

        {X_returns}
        ndarray of shape (n_samples, n_tasks - 1, 2)
            For step ``t + 1`` (``t = 0 .. n_tasks - 2``), the softmax weights
            of its AIT module on ``(p_t, q_{t+1})``: information transferred
            from the previous step, then the step's own tower output. Each
            ``[i, t]`` pair sums to one.
        """
        return self._forward(X, _attention_weights)


def _attention_weights(module, inputs):
    return module.attention_weights(**inputs)
