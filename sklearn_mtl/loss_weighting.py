"""Loss balancing: how the per-task losses become one training loss.

Each strategy is a small :class:`torch.nn.Module` (pure PyTorch). The
estimator builds a fresh copy per fit from ``loss_weighting=`` (a name of
:data:`LOSS_WEIGHTINGS` or an instance) and the training step calls its
:meth:`LossWeighting.backward`. Learnable weights (uncertainty's
log-variances, GradNorm's task weights) are registered with the net, so the
estimator's optimizer trains them with the network. A model's auxiliary
``penalty`` is added outside any weighting. Each epoch the weights in use
are recorded in ``history_`` as ``loss_weight_<task>``.
"""

import copy
import math
from numbers import Real

import torch
from torch import nn

__all__ = [
    "DWA",
    "LOSS_WEIGHTINGS",
    "Fixed",
    "GradNorm",
    "LossWeighting",
    "PCGrad",
    "Progressive",
    "Uncertainty",
    "make_loss_weighting",
    "shared_parameters",
]


def shared_parameters(module):
    """The parameters that all tasks share, from a model's ``shared_parameters()``.

    Parameters
    ----------
    module : torch.nn.Module
        A model network.

    Returns
    -------
    list of torch.nn.Parameter
        Ordered from input to output.

    Examples
    --------
    >>> from torch import nn
    >>> from sklearn_mtl.loss_weighting import shared_parameters
    >>> shared_parameters(nn.Linear(2, 1))
    Traceback (most recent call last):
    ...
    ValueError: Linear defines no shared_parameters() ...
    """
    method = getattr(module, "shared_parameters", None)
    if method is None:
        raise ValueError(
            f"{type(module).__name__} defines no shared_parameters() (the parameters all "
            "tasks share), which gradient-based loss weighting needs; use "
            "loss_weighting='fixed', 'uncertainty' or 'dwa' with this model."
        )
    parameters = [p for p in method() if p.requires_grad]
    if not parameters:
        raise ValueError(
            f"{type(module).__name__} shares no trainable parameter between its tasks for "
            "this input (e.g. ESMM and AITM share only the categorical embeddings), so "
            "gradient-based loss weighting has nothing to act on; use "
            "loss_weighting='fixed', 'uncertainty' or 'dwa'."
        )
    return parameters


def _checked_number(strategy, name, value, *, positive, why):
    """``value`` as a float if it is a finite real (and positive when asked),
    else a ValueError naming the strategy's parameter and what goes wrong."""
    ok = isinstance(value, Real) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or value < 0 or (positive and value == 0):
        bound = "a finite number above 0" if positive else "a finite number, 0 or more"
        raise ValueError(
            f"{type(strategy).__name__}({name}={value!r}): {name} must be {bound}; {why}."
        )
    return float(value)


class LossWeighting(nn.Module):
    """Base strategy: a weighted sum ``sum_t w_t L_t`` with all weights one.

    Subclasses change :meth:`weights`, :meth:`combine` or :meth:`backward`
    and keep their state in parameters and buffers created by :meth:`setup`.

    Examples
    --------
    >>> import torch
    >>> from sklearn_mtl.loss_weighting import LossWeighting
    >>> strategy = LossWeighting().setup(2, module=None)
    >>> strategy.combine(torch.tensor([1.0, 2.0]))
    tensor(3.)
    """

    def setup(self, n_tasks, module, task_weights=None):
        """Create the state for ``n_tasks`` tasks of ``module``.

        Parameters
        ----------
        n_tasks : int
            Number of tasks.
        module : torch.nn.Module or None
            The model being trained (gradient-based strategies read its
            shared parameters).
        task_weights : array-like of shape (n_tasks,), default=None
            Constant weights; only :class:`Fixed` takes them.

        Returns
        -------
        self : LossWeighting
            The strategy, ready to train.
        """
        if task_weights is not None:
            raise ValueError(
                f"task_weights only applies to loss_weighting='fixed' and 'progressive'; "
                f"{type(self).__name__} sets the weights itself. Set task_weights=None."
            )
        self.register_buffer("_ones", torch.ones(n_tasks))
        return self

    def weights(self):
        """The task weights currently in use.

        Returns
        -------
        torch.Tensor of shape (n_tasks,)
            One weight per task.
        """
        return self._ones

    def combine(self, task_losses):
        """The training loss from the per-task losses.

        Parameters
        ----------
        task_losses : torch.Tensor of shape (n_tasks,)
            Each task's mean loss on the batch.

        Returns
        -------
        torch.Tensor
            The scalar loss.
        """
        return (self.weights() * task_losses).sum()

    def backward(self, task_losses, penalty, module):
        """Fill the gradients of one training step.

        Parameters
        ----------
        task_losses : torch.Tensor of shape (n_tasks,)
            Each task's mean loss on the batch.
        penalty : torch.Tensor
            Scalar term added to the loss (e.g. AITM's calibrator).
        module : torch.nn.Module
            The model being trained.

        Returns
        -------
        torch.Tensor
            The scalar loss whose gradients were filled.
        """
        loss = self.combine(task_losses) + penalty
        loss.backward()
        return loss

    def epoch_end(self, mean_task_losses):
        """Hook called at the end of each training epoch.

        Parameters
        ----------
        mean_task_losses : torch.Tensor of shape (n_tasks,)
            Each task's mean training loss over the epoch.
        """


class Fixed(LossWeighting):
    """Constant task weights: the estimator's ``task_weights`` (all ones when None).

    Examples
    --------
    >>> import torch
    >>> from sklearn_mtl.loss_weighting import Fixed
    >>> strategy = Fixed().setup(2, module=None, task_weights=[2.0, 0.5])
    >>> strategy.combine(torch.tensor([1.0, 2.0]))
    tensor(3.)
    """

    def setup(self, n_tasks, module, task_weights=None):
        weights = torch.ones(n_tasks) if task_weights is None else torch.as_tensor(task_weights)
        self.register_buffer("task_weights", weights.float())
        return self

    def weights(self):
        return self.task_weights


class Uncertainty(LossWeighting):
    """Homoscedastic uncertainty weighting (Kendall, Gal and Cipolla, CVPR 2018).

    Each task has a learnable ``s_t = log(sigma_t^2)`` trained with the
    network, and the loss is ``sum_t exp(-s_t) L_t + s_t / 2``, which is the
    paper's classification form ``L / sigma^2 + log(sigma)`` (also its
    regression form up to a factor of 2 on ``L``, absorbed by ``s``). The
    recorded weights are ``exp(-s_t)``.

    Examples
    --------
    >>> import torch
    >>> from sklearn_mtl.loss_weighting import Uncertainty
    >>> strategy = Uncertainty().setup(2, module=None)
    >>> strategy.combine(torch.tensor([1.0, 2.0]))
    tensor(3., grad_fn=<SumBackward0>)
    """

    def setup(self, n_tasks, module, task_weights=None):
        super().setup(n_tasks, module, task_weights)
        self.log_vars = nn.Parameter(torch.zeros(n_tasks))
        return self

    def weights(self):
        return torch.exp(-self.log_vars)

    def combine(self, task_losses):
        return (self.weights() * task_losses + self.log_vars / 2).sum()


class _TunedWeighting(LossWeighting):
    """A strategy of one hyperparameter, named by ``_hyperparameter`` and shown
    in its repr; :meth:`setup` checks it as a number where ``_number_check``
    gives :func:`_checked_number`'s ``positive`` and ``why``."""

    _hyperparameter = None
    _number_check = None

    def __init__(self, value):
        super().__init__()
        setattr(self, self._hyperparameter, value)

    def extra_repr(self):
        return f"{self._hyperparameter}={getattr(self, self._hyperparameter)!r}"

    def setup(self, n_tasks, module, task_weights=None):
        if self._number_check is not None:
            name = self._hyperparameter
            _checked_number(self, name, getattr(self, name), **self._number_check)
        return super().setup(n_tasks, module, task_weights)


class GradNorm(_TunedWeighting):
    """GradNorm (Chen et al., ICML 2018): balance the tasks' gradient norms.

    Learnable weights ``w_t`` (renormalised to sum to ``n_tasks`` before each
    step) scale the losses. On the last shared weight matrix ``W`` (the last
    matrix of the model's ``shared_parameters()``), with ``G_t = w_t
    ||grad_W L_t||``, relative inverse training rates ``r_t = (L_t / L_t(0))
    / mean_k(L_k / L_k(0))`` and the constant target ``mean(G) r_t^alpha``,
    the weights get the gradient of ``sum_t |G_t - target_t|`` and the
    network that of ``sum_t w_t L_t``. ``L_t(0)`` is task t's loss at the
    first step in which it is observed. The weights are trained by the
    estimator's optimizer, with its learning rate.

    Parameters
    ----------
    alpha : float, default=1.5
        Restoring force, a finite number, 0 or more: larger pulls the
        training rates closer together (0 equalises the gradient norms).

    Examples
    --------
    >>> from sklearn_mtl.loss_weighting import GradNorm
    >>> GradNorm(alpha=0.5)
    GradNorm(alpha=0.5)
    """

    _hyperparameter = "alpha"
    _number_check = dict(
        positive=False,
        why=(
            "it is the exponent of the target gradient norms (NaN or infinity makes "
            "them NaN and the weights with them; below 0 pushes the tasks' training rates "
            "apart instead of together)"
        ),
    )

    def __init__(self, alpha=1.5):
        super().__init__(alpha)

    def setup(self, n_tasks, module, task_weights=None):
        super().setup(n_tasks, module, task_weights)
        if self._last_shared_weight(module) is None:
            raise ValueError(
                f"GradNorm needs a shared weight matrix and {type(module).__name__} has "
                "none; use loss_weighting='pcgrad', 'uncertainty' or 'dwa'."
            )
        self.task_weight = nn.Parameter(torch.ones(n_tasks))
        self.register_buffer("initial_losses", torch.full((n_tasks,), float("nan")))
        return self

    def weights(self):
        return self.task_weight.detach()

    @staticmethod
    def _last_shared_weight(module):
        """The paper's W: the last shared layer's weight matrix. Stacked experts
        keep their biases as (n_experts, width) matrices, so rank alone would
        take a bias for it."""
        biases = {id(p) for name, p in module.named_parameters() if name.endswith("bias")}
        weights = [p for p in shared_parameters(module) if p.dim() >= 2 and id(p) not in biases]
        return weights[-1] if weights else None

    def backward(self, task_losses, penalty, module):
        with torch.no_grad():
            self.task_weight.mul_(len(self.task_weight) / self.task_weight.sum())
        layer = self._last_shared_weight(module)
        norms = torch.stack([_grad_norm(loss, [layer]) for loss in task_losses])
        G = self.task_weight * norms
        with torch.no_grad():
            losses = task_losses.detach()
            first = torch.isnan(self.initial_losses) & (losses > 0)
            self.initial_losses.copy_(torch.where(first, losses, self.initial_losses))
            # A task not yet observed has no training rate; it counts as average.
            ratio = torch.nan_to_num(losses / self.initial_losses, nan=1.0)
            target = G.mean() * (ratio / ratio.mean()) ** self.alpha
        (weight_grad,) = torch.autograd.grad((G - target).abs().sum(), self.task_weight)
        loss = (self.weights() * task_losses).sum() + penalty
        loss.backward()
        self.task_weight.grad = weight_grad
        return loss


class DWA(_TunedWeighting):
    """Dynamic Weight Average (Liu, Johns and Davison, CVPR 2019).

    ``w_t = n_tasks softmax_t(r_t / T)`` with ``r_t = L_t(e-1) / L_t(e-2)``,
    the ratio of task t's mean training losses over the two previous
    epochs; all ones for the first two epochs.

    Parameters
    ----------
    temperature : float, default=2.0
        Softmax temperature ``T``, a finite number above 0; larger gives more
        even weights, close to 0 all the weight to the slowest task.

    Examples
    --------
    >>> import torch
    >>> from sklearn_mtl.loss_weighting import DWA
    >>> strategy = DWA(temperature=1.0).setup(2, module=None)
    >>> strategy.epoch_end(torch.tensor([1.0, 1.0]))
    >>> strategy.epoch_end(torch.tensor([1.0, 1.0]))
    >>> strategy.weights()
    tensor([1., 1.])
    """

    _hyperparameter = "temperature"
    _number_check = dict(
        positive=True,
        why=(
            "the loss ratios are divided by it (0 gives NaN weights, a negative one "
            "favours the tasks that learn fastest instead of the slowest)"
        ),
    )

    def __init__(self, temperature=2.0):
        super().__init__(temperature)

    def setup(self, n_tasks, module, task_weights=None):
        super().setup(n_tasks, module, task_weights)
        # Unseen epochs and unobserved tasks are flagged in their own buffer, not
        # stored as NaN: every buffer must stay finite for the divergence check.
        self.register_buffer("epoch_losses", torch.zeros(2, n_tasks))
        self.register_buffer("observed", torch.zeros(2, n_tasks, dtype=torch.bool))
        self.register_buffer("epochs_seen", torch.zeros((), dtype=torch.long))
        self.register_buffer("task_weights", torch.ones(n_tasks))
        return self

    def weights(self):
        return self.task_weights

    def epoch_end(self, mean_task_losses):
        latest = mean_task_losses.to(self.epoch_losses)
        seen = torch.isfinite(latest)
        self.epoch_losses.copy_(torch.stack([self.epoch_losses[1], latest.nan_to_num(0.0)]))
        self.observed.copy_(torch.stack([self.observed[1], seen]))
        self.epochs_seen += 1
        if self.epochs_seen < 2:
            return
        losses = self.epoch_losses
        # A task unobserved in either epoch has no rate of change: it counts as 1.
        rate = torch.where(self.observed.all(dim=0), losses[1] / losses[0], 1.0)
        rate = torch.nan_to_num(rate, nan=1.0, posinf=1.0)
        # Shifted by the largest rate first, so that a tiny temperature gives a
        # one-hot softmax instead of infinity over infinity.
        scaled = (rate - rate.max()) / self.temperature
        self.task_weights.copy_(len(rate) * torch.softmax(scaled, dim=0))


class Progressive(_TunedWeighting):
    """PLE's progressive task weights (Tang et al., RecSys 2020, section 5.3).

    Task k's weight in epoch ``t`` (counted from 0) is ``w_{k,0} gamma_k^t``:
    the initial weights ``w_{k,0}`` are the estimator's ``task_weights``
    (all ones when None) and each task's weight decays (or grows, for
    ``gamma_k > 1``) geometrically per epoch, e.g. to move the emphasis from
    an early funnel step to a later one as training goes on.

    Parameters
    ----------
    decay : float or sequence of float, default=0.9
        ``gamma``, one positive, finite rate for every task or one per task.

    Examples
    --------
    >>> import torch
    >>> from sklearn_mtl.loss_weighting import Progressive
    >>> strategy = Progressive(decay=[0.5, 1.0]).setup(2, module=None, task_weights=[2.0, 1.0])
    >>> strategy.epoch_end(torch.tensor([1.0, 1.0]))
    >>> strategy.weights()
    tensor([1., 1.])
    """

    _hyperparameter = "decay"

    def __init__(self, decay=0.9):
        super().__init__(decay)

    def setup(self, n_tasks, module, task_weights=None):
        decay = torch.as_tensor(self.decay, dtype=torch.float64).flatten()
        if decay.numel() == 1:
            decay = decay.expand(n_tasks)
        if (
            decay.numel() != n_tasks
            or not (decay > 0).all()
            or not torch.isfinite(decay.float()).all()
        ):
            raise ValueError(
                f"Progressive(decay={self.decay!r}) needs one positive rate, or one per "
                f"task ({n_tasks} tasks), each finite and at most "
                f"{torch.finfo(torch.float32).max:.3g} (the weights are float32): an "
                "infinite rate makes the weights, then the loss, infinite."
            )
        initial = torch.ones(n_tasks) if task_weights is None else torch.as_tensor(task_weights)
        self.register_buffer("initial_weights", initial.float())
        self.register_buffer("decay_rates", decay.float())
        self.register_buffer("epochs_done", torch.zeros(()))
        return self

    def weights(self):
        return self.initial_weights * self.decay_rates**self.epochs_done

    def epoch_end(self, mean_task_losses):
        self.epochs_done += 1


class PCGrad(LossWeighting):
    """Gradient surgery (Yu et al., NeurIPS 2020) on the shared parameters.

    Each task's gradient ``g_i`` on the model's ``shared_parameters()`` is
    projected, in a random task order drawn per step from torch's default
    generator, onto the normal plane of every other task's gradient ``g_j``
    it conflicts with (``g_i . g_j < 0``); the shared parameters get the
    sum of the projected gradients. Other parameters get the gradient of
    ``sum_t L_t``. The recorded weights are all one.

    Examples
    --------
    >>> from sklearn_mtl.loss_weighting import PCGrad
    >>> PCGrad()
    PCGrad()
    """

    def setup(self, n_tasks, module, task_weights=None):
        super().setup(n_tasks, module, task_weights)
        shared_parameters(module)
        return self

    def backward(self, task_losses, penalty, module):
        shared = shared_parameters(module)
        grads = torch.stack([_flat_grad(loss, shared) for loss in task_losses])
        projected = grads.clone()
        order = torch.randperm(len(grads)).tolist()
        for i in range(len(grads)):
            for j in order:
                dot = projected[i] @ grads[j]
                if j != i and dot < 0:
                    projected[i] -= dot / (grads[j] @ grads[j]) * grads[j]
        loss = task_losses.sum() + penalty
        loss.backward()
        # Swapping the plain sum of task gradients for the projected one keeps
        # the penalty's own gradient on the shared parameters.
        correction = (projected - grads).sum(0)
        offset = 0
        for p in shared:
            size = p.numel()
            p.grad += correction[offset : offset + size].view_as(p)
            offset += size
        return loss


def _flat_grad(loss, parameters):
    grads = torch.autograd.grad(loss, parameters, retain_graph=True, allow_unused=True)
    return torch.cat(
        [(torch.zeros_like(p) if g is None else g).reshape(-1) for p, g in zip(parameters, grads)]
    )


def _grad_norm(loss, parameters):
    return _flat_grad(loss, parameters).norm()


#: Strategies by name, for ``loss_weighting="<name>"``.
LOSS_WEIGHTINGS = {
    "fixed": Fixed,
    "uncertainty": Uncertainty,
    "gradnorm": GradNorm,
    "dwa": DWA,
    "pcgrad": PCGrad,
    "progressive": Progressive,
}


def make_loss_weighting(loss_weighting):
    """A fresh strategy from a name of :data:`LOSS_WEIGHTINGS` or an instance.

    An instance is deep-copied, so fitting never changes the estimator's
    parameter.

    Parameters
    ----------
    loss_weighting : str or LossWeighting
        The strategy.

    Returns
    -------
    LossWeighting

    Examples
    --------
    >>> from sklearn_mtl.loss_weighting import GradNorm, make_loss_weighting
    >>> make_loss_weighting("dwa")
    DWA(temperature=2.0)
    >>> make_loss_weighting(GradNorm(alpha=0.5))
    GradNorm(alpha=0.5)
    """
    if isinstance(loss_weighting, LossWeighting):
        return copy.deepcopy(loss_weighting)
    if loss_weighting not in LOSS_WEIGHTINGS:
        raise ValueError(
            f"Unknown loss_weighting={loss_weighting!r}; use one of "
            f"{sorted(LOSS_WEIGHTINGS)} or a sklearn_mtl.loss_weighting.LossWeighting instance."
        )
    return LOSS_WEIGHTINGS[loss_weighting]()
