"""What both ConvLSTM loops share: the parameters of one layer, the input convolution
for all steps, the layout changes between images and pixel rows, and the step mask.

The gate math is :class:`lstmkit.cells.LSTMMath`, the same object the LSTM layers use:
it works on rows of gates (N, G), so a convolutional step lays its (B, G, Y, X) gate
images out as N = B*Y*X rows of G gates (one row per pixel), runs the cell, and lays
the new states back out as images for the next convolution.

Shapes: T time, B batch, C input channels, K hidden channels, Y, X frame height and
width, G = 4K gates (i, f, g, o as torch.nn.LSTM), N = B*Y*X pixel rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from lstmkit.backends.tools import CAPTURING, active_tools, describe
from lstmkit.errors import InputError

#: the loops a ConvLSTM can run on; "auto" runs "reference" (measured faster on the CPU,
#: and it runs under every torch tool: resolve_backend)
BACKENDS = ("reference", "fused")


def check_backend(name: str) -> str:
    """Validate a backend name at construction time.

    Args:
        name: ``"auto"``, ``"fused"`` or ``"reference"``.

    Returns:
        ``name``.

    Raises:
        InputError: another name.
    """
    if name != "auto" and name not in BACKENDS:
        raise InputError(f"unknown ConvLSTM backend {name!r}; expected 'auto', 'reference' or 'fused'")
    return name


#: tools under which the fused loop's autograd.Function cannot run (torch.func needs a
#: setup_context, dynamo cannot trace its Python state); an explicit "fused" is refused
FUSED_REFUSED_UNDER = frozenset({"functorch", "compile"})


def resolve_backend(name: str, x: Tensor) -> str:
    """The loop that runs ``x``: ``"fused"`` when asked for, else the reference loop.

    ``auto`` runs the reference loop, the equations on NCHW images under autograd: on
    the CPU it was faster than the fused loop in training and inference (the table and
    the command are in docs/video.md), and it runs under torch.compile, torch.export,
    torch.jit.trace and torch.func, where the fused loop's autograd.Function cannot.

    Args:
        name: ``"auto"``, ``"fused"`` or ``"reference"``.
        x: the input.

    Returns:
        ``"fused"`` or ``"reference"``.

    Raises:
        InputError: a non-float input, or ``"fused"`` under a tool it cannot run under.
    """
    if not x.dtype.is_floating_point:
        raise InputError(f"ConvLSTM runs floating-point frames, got {x.dtype}")
    if name != "fused":
        return "reference"
    tools = active_tools(x)
    if tools & FUSED_REFUSED_UNDER:
        raise InputError(
            f"the fused ConvLSTM loop cannot run under {describe(tools)} "
            f"(an autograd.Function with Python state); use backend='reference' or 'auto'")
    return "fused"


@dataclass
class ConvParams:
    """One layer's parameters as the loops see them."""

    w_ih: Tensor  # (G, C, kY, kX)
    w_hh: Tensor  # (G, K, kY, kX)
    b_ih: Tensor | None  # (G,)
    b_hh: Tensor | None  # (G,)
    cp: tuple  # (p_i, p_f, p_o, None, None): per-channel peepholes (K,), or Nones
    padding: tuple[int, int]  # "same" padding of the odd kernel


def to_rows(t: Tensor) -> Tensor:
    """(B, F, Y, X) images -> (N, F) pixel rows, N = B * Y * X.

    Args:
        t: (B, F, Y, X).

    Returns:
        (N, F).
    """
    return t.permute(0, 2, 3, 1).reshape(-1, t.shape[1])


def from_rows(r: Tensor, B: int, Y: int, X: int) -> Tensor:
    """(N, F) pixel rows -> (B, F, Y, X) images (a channels-last view, no copy).

    Args:
        r: (N, F) with N = B * Y * X.
        B: batch.
        Y: frame height.
        X: frame width.

    Returns:
        (B, F, Y, X).
    """
    return r.view(B, Y, X, r.shape[1]).permute(0, 3, 1, 2)


def input_gates(x: Tensor, w_ih: Tensor, bias: Tensor | None, padding: tuple[int, int]) -> Tensor:
    """W_ih * x_t + bias for every step, outside the recurrence: (T, B, C, Y, X) ->
    (T, B, G, Y, X), each frame's gates channels-last.

    Runs under autograd (the input part needs no recurrence). One convolution per step
    rather than one over all T*B frames: on the CPU the single big call was up to 2x
    slower (its output and gradients outgrow the caches)."""
    w = w_ih.contiguous(memory_format=torch.channels_last)
    steps = [F.conv2d(x_t.contiguous(memory_format=torch.channels_last), w, bias, padding=padding)
             for x_t in x.unbind(0)]  # T x (B, G, Y, X)
    return torch.stack(steps)


def step_mask(lengths: Tensor | None, T: int) -> Tensor | None:
    """(T, B, 1, 1, 1) bool: True where step t is inside clip b.

    Args:
        lengths: (B,) int64, or None.
        T: the number of steps.

    Returns:
        The mask, or None without lengths.
    """
    if lengths is None:
        return None
    steps = torch.arange(T, device=lengths.device).unsqueeze(1)  # (T, 1)
    return (steps < lengths.unsqueeze(0)).view(T, -1, 1, 1, 1)


def check_lengths(lengths, T: int, B: int, device) -> Tensor | None:
    """Validate ``lengths``.

    Args:
        lengths: (B,) integers in [1, T], or None.
        T: the number of steps.
        B: the batch size.
        device: where the result goes.

    Returns:
        (B,) int64 on ``device``, or None.

    Raises:
        InputError: wrong shape, dtype or values.
    """
    if lengths is None:
        return None
    lengths = torch.as_tensor(lengths)
    if lengths.dim() != 1 or lengths.shape[0] != B:
        raise InputError(
            f"lengths must be a 1-D tensor of {B} clip lengths (one per batch element), "
            f"got shape {tuple(lengths.shape)}"
        )
    if lengths.dtype.is_floating_point or lengths.dtype == torch.bool:
        raise InputError(f"lengths must be an integer tensor, got {lengths.dtype}")
    lengths = lengths.to(device=device, dtype=torch.int64)
    if active_tools(lengths) & CAPTURING:  # a capture: the values are not read (not checked)
        return lengths
    lo, hi = int(lengths.min()), int(lengths.max())
    if lo <= 0 or hi > T:
        raise InputError(f"lengths must lie in [1, T={T}], got lengths from {lo} to {hi}")
    return lengths
