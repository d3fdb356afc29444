"""Random masks: the Bernoulli draws behind recurrent dropout, weight drop, zoneout and
:class:`Dropout`, in the input's dtype and device."""

from __future__ import annotations

import numbers

import torch
from torch import Tensor, nn


def rate(name: str, value, upper_open: bool = True) -> float:
    """Validate a probability.

    Args:
        name: the option's name, for the message.
        value: the value given.
        upper_open: whether 1 is excluded (dropout) or allowed (zoneout).

    Returns:
        ``value`` as a float.

    Raises:
        ValueError: not a number in [0, 1) (or [0, 1]).
    """


    ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
    if not ok or not (0 <= value < 1 if upper_open else 0 <= value <= 1):
        bound = "[0, 1)" if upper_open else "[0, 1]"
        raise ValueError(f"{name} must be a number in {bound}, got {value!r}")
    return float(value)


def bernoulli_mask(shape, p: float, like: Tensor) -> Tensor:
    """0/1 draws with P(1) = p, in ``like``'s dtype and device. ``uniform < p`` has the
    same distribution as ``torch.bernoulli`` and is 2 to 3x faster on the CPU, where a mask
    as large as W_hh (weight_drop) or as the whole sequence's state (zoneout) otherwise
    costs a sizeable share of a training step (the character model's step, A/B: x1.14
    the characters/s with weight_drop=0.3, x1.19 with zoneout, x1.06 with
    recurrent_dropout; ``examples/text_step_speed.py``, docs/text.md).

    Args:
        shape: the mask's shape.
        p: the probability of a 1.
        like: a tensor whose dtype and device the mask takes.

    Returns:
        The mask, 0.0 and 1.0 in ``like``'s dtype.
    """
    return torch.rand(shape, dtype=like.dtype, device=like.device).lt_(p)


def keep_mask(shape, keep: float, like: Tensor) -> Tensor:
    """A dropout mask: 1/keep with probability ``keep``, else 0 (its mean is 1).

    Args:
        shape: the mask's shape.
        keep: the probability of keeping an element, in (0, 1].
        like: a tensor whose dtype and device the mask takes.

    Returns:
        The mask in ``like``'s dtype.
    """
    return bernoulli_mask(shape, keep, like).div_(keep)


class Dropout(nn.Module):
    """``nn.Dropout``'s maths (each element zeroed with probability ``p`` in training, the
    rest scaled by 1/(1-p); the identity in eval) with the mask drawn by
    :func:`keep_mask`. In a character model's training step ``nn.Dropout``'s
    ``bernoulli_`` took 10% of the time on the CPU (torch.profiler, docs/text.md).

    Args:
        p: the probability of zeroing an element, in [0, 1) (default 0.5).

    Raises:
        ValueError: ``p`` outside [0, 1).

    Example:
        >>> import torch
        >>> from lstmkit.variants import Dropout
        >>> drop = Dropout(0.25)
        >>> y = drop(torch.ones(1000))
        >>> sorted(set(y.tolist()))  # dropped, or kept and scaled by 1/(1-p)
        [0.0, 1.3333333730697632]
        >>> bool(drop.eval()(torch.ones(3)).eq(1).all())
        True
    """

    def __init__(self, p: float = 0.5):
        super().__init__()
        self.p = rate("dropout", p)

    def forward(self, x: Tensor) -> Tensor:
        """``x`` with the mask applied in training; ``x`` itself in eval (any shape)."""
        if not self.training or self.p == 0.0:
            return x
        return x * keep_mask(x.shape, 1.0 - self.p, x)

    def extra_repr(self) -> str:
        """``p=...`` for the module's repr."""
        return f"p={self.p}"


def zone(rate_: float, shape: tuple, ref: Tensor, training: bool) -> Tensor | None:
    """Zoneout's weight of the previous state.

    Args:
        rate_: the zoneout rate.
        shape: (T, B, F).
        ref: a tensor whose dtype and device the weights take.
        training: Bernoulli(rate) per unit and step in training; the constant rate (the
            expectation) in eval.

    Returns:
        The weights, or None for a zero rate.
    """
    if not rate_:
        return None
    if training:
        return bernoulli_mask(shape, rate_, ref)
    return ref.new_full((1, 1, 1), rate_).expand(shape)
