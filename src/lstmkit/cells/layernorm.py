"""Layer normalisation over the last dimension, forward and hand-written backward
(Ba, Kiros & Hinton 2016), without the affine part (the caller applies gain and bias).

    mu = mean(a),  var = mean((a - mu)^2),  rstd = 1 / sqrt(var + eps),  a_hat = (a - mu) rstd
    da = rstd * (d_hat - mean(d_hat) - a_hat * mean(d_hat * a_hat))
"""

from __future__ import annotations

import torch
from torch import Tensor

EPS = 1e-5


def ln_forward(a: Tensor) -> tuple[Tensor, Tensor]:
    """Normalise over the last dimension, without gain or bias.

    Args:
        a: (..., F).

    Returns:
        ``(a_hat (..., F), rstd (..., 1))``.
    """
    mu = a.mean(-1, keepdim=True)
    centred = a - mu
    rstd = torch.rsqrt((centred * centred).mean(-1, keepdim=True) + EPS)
    return centred * rstd, rstd


def ln_backward(d_hat: Tensor, a_hat: Tensor, rstd: Tensor) -> Tensor:
    """Gradient w.r.t. ``a`` given the gradient w.r.t. ``a_hat``.

    Args:
        d_hat: dL/da_hat (..., F).
        a_hat: from :func:`ln_forward` (..., F).
        rstd: from :func:`ln_forward` (..., 1).

    Returns:
        dL/da (..., F).
    """
    return rstd * (
        d_hat - d_hat.mean(-1, keepdim=True) - a_hat * (d_hat * a_hat).mean(-1, keepdim=True)
    )
