"""Checks of parameter values beyond what ``_parameter_constraints`` can say.

Each function takes the parameter values and returns what training uses,
or raises a ValueError/TypeError that names the parameter and the fix.
"""

import inspect
from contextlib import contextmanager
from numbers import Integral, Real

import numpy as np
import torch

DTYPES = {"float32": torch.float32, "float64": torch.float64}

#: Mixed precision of the training steps: the dtype that autocast computes in.
PRECISIONS = {"bf16": torch.bfloat16}

OPTIMIZERS = {
    "adam": torch.optim.Adam,
    "adamw": torch.optim.AdamW,
    "sgd": torch.optim.SGD,
}


def check_hidden_units(name, units, *, allow_empty=True, empty_means=None):
    """Validate a tuple of layer widths, naming the parameter on error.

    ``allow_empty=False`` refuses ``()``, whose consequence ``empty_means``
    states (e.g. experts that would all be the identity).
    """
    units = tuple(units)
    if not all(isinstance(u, Integral) and not isinstance(u, bool) and u > 0 for u in units):
        raise ValueError(f"{name} must be a sequence of positive integers, got {units!r}.")
    if not units and not allow_empty:
        raise ValueError(f"{name}=() is not allowed: {empty_means}. Give at least one width.")
    return units


def layer_params(estimator, *hidden_units):
    """The network's keyword arguments of its layers: the estimator's
    ``hidden_units`` parameters checked, its ``dropout`` and ``batch_norm``."""
    return {
        **{name: check_hidden_units(name, getattr(estimator, name)) for name in hidden_units},
        "dropout": estimator.dropout,
        "batch_norm": estimator.batch_norm,
    }


def check_task_weights(task_weights, n_tasks):
    """``task_weights`` as float32, or None."""
    if task_weights is None:
        return None
    weights = np.asarray(task_weights, dtype=np.float32)
    valid = weights.shape == (n_tasks,) and (np.isfinite(weights) & (weights >= 0)).all()
    if not (valid and weights.sum() > 0):
        raise ValueError(
            f"task_weights must hold {n_tasks} finite, non-negative numbers (one per "
            f"task), not all zero; got {task_weights!r}."
        )
    return weights


def check_pos_weight(pos_weight, task_names, binary, train):
    """Each task's weight of positive labels as float32, 1 for the others; or None.

    ``binary[t]`` says whether task ``t`` is binary; ``train`` (the training
    rows, in memory or in chunks) gives the label counts of ``"balanced"``.
    """
    if pos_weight is None:
        return None
    names = [str(name) for name in task_names]
    if isinstance(pos_weight, dict):
        requested = {str(name): value for name, value in pos_weight.items()}
        unknown = sorted(set(requested) - set(names))
        if unknown:
            raise ValueError(
                f"pos_weight names unknown task(s) {unknown}; the tasks are {names}."
            )
        not_binary = [name for name in requested if not binary[names.index(name)]]
        if not_binary:
            raise ValueError(
                f"pos_weight weighs positive labels of binary tasks, but {not_binary} "
                "are not binary; leave them out of pos_weight."
            )
    else:
        requested = {name: pos_weight for name, is_binary in zip(names, binary) if is_binary}
    weights = np.ones(len(names), dtype=np.float32)
    for name, value in requested.items():
        t = names.index(name)
        if isinstance(value, str) and value == "balanced":
            weights[t] = _balanced_pos_weight(name, t, train)
        elif isinstance(value, Real) and not isinstance(value, bool) and 0 < value < np.inf:
            weights[t] = value
        else:
            raise ValueError(
                f"pos_weight of task {name!r} must be a positive finite float or "
                f"'balanced', got {value!r}."
            )
    return weights


def _balanced_pos_weight(name, t, train):
    """Task ``t``'s (weighted) negatives over positives among ``train``'s
    labelled rows, summed over the parts its batches are cut from (one
    part in memory; out of core, one pass over the cache) and over the
    processes of a data-parallel fit that each hold their own rows."""
    positives = negatives = 0.0
    for part in train.chunks():
        rows = slice(None) if part.rows is None else part.rows
        labels = part.targets[rows, t].double()
        weight = (
            torch.ones_like(labels) if part.sample_weight is None else part.sample_weight[rows]
        )
        positives += float(weight[labels == 1].sum())
        negatives += float(weight[labels == 0].sum())
    positives, negatives = map(float, train.summed_over_shares([positives, negatives]))
    if positives == 0 or negatives == 0:
        raise ValueError(
            f"pos_weight='balanced' for task {name!r} needs positive and negative "
            f"training labels, but they weigh {positives:g} and {negatives:g}; give a "
            "float instead."
        )
    return negatives / positives


def check_optimizer(optimizer, optimizer_params, lr, weight_decay):
    """The optimizer class and its keyword arguments beyond ``lr``."""
    optimizer_class = OPTIMIZERS.get(optimizer, optimizer)
    if not (
        isinstance(optimizer_class, type) and issubclass(optimizer_class, torch.optim.Optimizer)
    ):
        raise TypeError(
            f"optimizer must be one of {sorted(OPTIMIZERS)} or a subclass of "
            f"torch.optim.Optimizer, got {optimizer!r}."
        )
    name = optimizer_class.__name__
    params = dict(optimizer_params or {})
    for own in ("params", "lr", "weight_decay"):
        if own in params:
            raise ValueError(
                f"optimizer_params may not set {own!r}: "
                + ("it is the model's parameters." if own == "params" else f"use {own}=.")
            )
    signature = inspect.signature(optimizer_class).parameters
    takes_any = any(p.kind is p.VAR_KEYWORD for p in signature.values())
    accepted = sorted(set(signature) - {"self", "params", "lr", "weight_decay"})
    unknown = sorted(set(params) - set(signature))
    if unknown and not takes_any:
        raise ValueError(
            f"optimizer_params has {unknown}, which {name} does not take; it accepts {accepted}."
        )
    if "weight_decay" in signature or takes_any:
        params["weight_decay"] = weight_decay
    elif weight_decay:
        raise ValueError(
            f"{name} takes no weight_decay; set weight_decay=0 or use another optimizer."
        )
    try:
        optimizer_class([torch.zeros(1, requires_grad=True)], lr=lr, **params)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{name} rejects optimizer_params={optimizer_params!r}: {error}") from None
    return optimizer_class, params


def check_precision(precision, dtype):
    """The dtype that training steps autocast to, or None."""
    if precision is None:
        return None
    if dtype != "float32":
        raise ValueError(
            f"precision={precision!r} mixes bfloat16 into float32 training; with "
            f"dtype={dtype!r} set precision=None (or dtype='float32')."
        )
    return PRECISIONS[precision]


def check_device(device):
    """``device`` as a string torch accepts, checked to exist."""
    try:
        checked = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        raise ValueError(
            f"device={device!r} is not a torch device; use e.g. 'cpu', 'cuda' or 'cuda:1'."
        ) from None
    if checked.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            f"device={device!r} was requested but torch finds no CUDA device "
            "(torch.cuda.is_available() is False); use device='cpu' or install a "
            "CUDA build of torch."
        )
    if checked.type not in ("cpu", "cuda"):
        try:
            # Data must round-trip: "meta" accepts tensors but holds no values.
            torch.ones(1, device=checked).cpu()
        except (RuntimeError, AssertionError, NotImplementedError):
            raise ValueError(
                f"device={device!r} is not a device this torch build can train on; "
                "use device='cpu' or 'cuda'."
            ) from None
    return str(checked)


@contextmanager
def torch_threads(n_threads):
    """Run the body with ``n_threads`` torch intra-op threads (one for
    ``"auto"``; unchanged for None), restoring the caller's count after."""
    if n_threads is None:
        yield
        return
    if n_threads != "auto" and not (
        isinstance(n_threads, Integral) and not isinstance(n_threads, bool) and n_threads >= 1
    ):
        raise ValueError(f"n_threads must be 'auto', a positive int or None, got {n_threads!r}.")
    previous = torch.get_num_threads()
    torch.set_num_threads(1 if n_threads == "auto" else n_threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
