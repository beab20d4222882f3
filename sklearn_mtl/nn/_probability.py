"""Numerically stable operations on probabilities held as logits or logs."""

import math

import torch
import torch.nn.functional as F


def log1mexp(x):
    """``log(1 - exp(x))`` for ``x <= 0``, accurate over the whole range.

    ``log(-expm1(x))`` is exact near zero, where ``1 - exp(x)`` cancels
    (``expm1`` is computed from ``tanh``, which ONNX has);
    ``log1p(-exp(x))`` is exact for very negative ``x``, where ``expm1``
    rounds to -1 (Mächler, 2012, "Accurately computing ``log(1 - exp(-|a|))``").

    Parameters
    ----------
    x : torch.Tensor
        Log-probabilities (non-positive).

    Returns
    -------
    torch.Tensor
        ``log(1 - exp(x))``, same shape.

    Examples
    --------
    >>> import torch
    >>> from sklearn_mtl.nn import log1mexp
    >>> log1mexp(torch.tensor([-1e-20, -50.0], dtype=torch.float64))
    tensor([-4.6052e+01, -1.9287e-22], dtype=torch.float64)
    """
    # A local: TorchScript cannot read a module-level float.
    log_half = -math.log(2.0)
    near_zero = x > log_half
    # Each branch sees only inputs where it is finite, so that neither the
    # value nor the gradient of the discarded branch can be NaN.
    x_near = torch.where(near_zero, x, torch.full_like(x, log_half))
    x_far = torch.where(near_zero, torch.full_like(x, log_half), x)
    # -expm1(x) as -2 tanh(x/2) / (1 - tanh(x/2)), as exact: ONNX has no Expm1 (an
    # exporter writes exp(x) - 1, which cancels near zero) but has Tanh.
    half = torch.tanh(x_near / 2)
    near = torch.log(-2 * half / (1 - half))
    return torch.where(near_zero, near, torch.log1p(-torch.exp(x_far)))


def product_logit(a, b):
    """Logit of ``sigmoid(a) * sigmoid(b)``, computed in log space.

    ESMM's pCTCVR is the product of pCTR and pCVR. Multiplying two small
    probabilities and taking a log afterwards loses everything below the
    floating-point range; here ``log p = logsigmoid(a) + logsigmoid(b)`` and
    ``log(1 - p) = log1mexp(log p)``, so a binary cross-entropy *with logits*
    on the result is the exact ESMM loss even for tiny probabilities and
    large logits.

    Parameters
    ----------
    a, b : torch.Tensor
        Logits of the two factors (same shape).

    Returns
    -------
    torch.Tensor
        ``log p - log(1 - p)`` with ``p = sigmoid(a) * sigmoid(b)``.

    Examples
    --------
    >>> import torch
    >>> from sklearn_mtl.nn import product_logit
    >>> torch.sigmoid(product_logit(torch.tensor(0.0), torch.tensor(0.0)))
    tensor(0.2500)
    """
    log_p = F.logsigmoid(a) + F.logsigmoid(b)
    return log_p - log1mexp(log_p)
