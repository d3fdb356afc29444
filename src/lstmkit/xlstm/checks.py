"""Input checks shared by the xLSTM cells and layers: each failure is one
:class:`lstmkit.errors.InputError` line saying what was expected, what came and what to do."""

from __future__ import annotations

import numbers

import torch
from torch import Tensor

from lstmkit.errors import InputError

FORGET_GATES = ("sigmoid", "exp")


def positive_int(name: str, value) -> int:
    """``value`` as an int.

    Args:
        name: the argument's name, for the message.
        value: what was given.

    Returns:
        The positive integer.

    Raises:
        InputError: ``value`` is not a positive integer (bools are refused).
    """
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value <= 0:
        raise InputError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def heads(hidden_size: int, num_heads) -> int:
    """``num_heads`` checked against the width it splits.

    Args:
        hidden_size: the width H.
        num_heads: NH, what was given.

    Returns:
        NH.

    Raises:
        InputError: NH is not a positive integer or does not divide H.
    """
    num_heads = positive_int("num_heads", num_heads)
    if hidden_size % num_heads:
        raise InputError(
            f"num_heads={num_heads} must divide hidden_size={hidden_size} (each head gets "
            f"hidden_size // num_heads units); choose a divisor of {hidden_size}")
    return num_heads


def forget_gate(value) -> str:
    """``value`` if it is a forget gate ("sigmoid" or "exp").

    Raises:
        InputError: any other value.
    """
    if value not in FORGET_GATES:
        raise InputError(f"forget_gate must be one of {', '.join(FORGET_GATES)}, got {value!r}")
    return value


def dropout(value) -> float:
    """``value`` as a float in [0, 1].

    Raises:
        InputError: not a number in [0, 1].
    """
    if not isinstance(value, numbers.Real) or isinstance(value, bool) or not 0 <= value <= 1:
        raise InputError(f"dropout must be a number in [0, 1], got {value!r}")
    return float(value)


def floating(x, name: str, like: Tensor | None = None) -> Tensor:
    """``x`` checked to be a floating tensor (of ``like``'s dtype when given).

    Args:
        x: what was given.
        name: its name, for the message.
        like: a parameter whose dtype ``x`` must have, or None.

    Returns:
        ``x``.

    Raises:
        InputError: not a tensor, not floating point, or another dtype than ``like``.
    """
    if not isinstance(x, Tensor):
        raise InputError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if not x.dtype.is_floating_point:
        raise InputError(f"{name} must be a floating-point tensor, got {x.dtype}; "
                         f"convert it with .float()")
    if like is not None and x.dtype != like.dtype:
        raise InputError(f"{name} has dtype {x.dtype} but the parameters are {like.dtype}; "
                         f"convert one of them (module.to({x.dtype}) or x.to({like.dtype}))")
    return x


def cell_sizes(input_size, hidden_size, num_heads, gate) -> tuple[int, int, int, str]:
    """A cell's ``input_size``, ``hidden_size``, ``num_heads`` (dividing the width) and
    forget gate (``gate``), checked.

    Returns:
        (input_size, hidden_size, num_heads, gate).

    Raises:
        InputError: a size that is not a positive integer, heads not dividing the width, or
            an unknown forget gate.
    """
    H = positive_int("hidden_size", hidden_size)
    return positive_int("input_size", input_size), H, heads(H, num_heads), forget_gate(gate)


def cell_input(x, input_size: int, like: Tensor) -> tuple[Tensor, bool]:
    """A cell's input checked: floating, ``like``'s dtype, (B, I) or unbatched (I,).

    Returns:
        (x as (B, I), whether it came unbatched).

    Raises:
        InputError: a wrong type, dtype or shape.
    """
    x = floating(x, "input", like=like)
    if x.dim() not in (1, 2) or x.shape[-1] != input_size:
        raise InputError(f"input must be (B, {input_size}) or unbatched "
                         f"({input_size},), got shape {tuple(x.shape)}")
    unbatched = x.dim() == 1
    return (x.unsqueeze(0) if unbatched else x), unbatched


def state_shape(t, name: str, shape: tuple, like: Tensor | None = None) -> Tensor:
    """Check a state tensor's type, shape and (when ``like`` is given) dtype.

    Args:
        t: the state tensor.
        name: its name ("h", "C", ...), for the message.
        shape: the shape it must have.
        like: the input, whose dtype it must have, or None.

    Returns:
        ``t``.

    Raises:
        InputError: not a tensor, another shape, or another dtype.
    """
    if not isinstance(t, Tensor):
        raise InputError(f"{name} must be a torch.Tensor of shape {shape}, got {type(t).__name__}")
    if tuple(t.shape) != tuple(shape):
        raise InputError(f"{name} must have shape {tuple(shape)}, got {tuple(t.shape)}")
    if like is not None and t.dtype != like.dtype:
        raise InputError(f"state {name} has dtype {t.dtype} but the input is {like.dtype}; "
                         f"give the state in {like.dtype}")
    return t


def lengths(value, T: int, B: int, device) -> Tensor | None:
    """Check ``lengths``: B integers in [1, T].

    Args:
        value: a tensor or sequence of B integers, or None.
        T: the padded sequence length.
        B: the batch size.
        device: where the result goes.

    Returns:
        The lengths as an int64 tensor (B,) on ``device``, or None for None.

    Raises:
        InputError: a wrong shape, a non-integer dtype, or a length outside [1, T].
    """
    if value is None:
        return None
    if not isinstance(value, Tensor):
        value = torch.as_tensor(value)
    if value.dim() != 1 or value.shape[0] != B:
        raise InputError(f"lengths must be a 1-D tensor of {B} sequence lengths (one per batch "
                         f"element), got shape {tuple(value.shape)}")
    if value.dtype.is_floating_point or value.dtype == torch.bool or value.is_complex():
        raise InputError(f"lengths must be an integer tensor, got {value.dtype}")
    if value.numel() == 0:  # an empty batch: nothing to check
        return value.to(device=device, dtype=torch.int64)
    lo, hi = int(value.min()), int(value.max())
    if lo <= 0 or hi > T:
        raise InputError(f"lengths must lie in [1, T={T}] (T the padded sequence length), "
                         f"got lengths from {lo} to {hi}")
    return value.to(device=device, dtype=torch.int64)
