"""The measured rules of ``backend="auto"``: which backend to try first for a
configuration (mode, variants, batch, hidden size, dtype, device, grad mode).

:func:`lstmkit.backends.auto_order` calls :func:`auto_order`; ``select`` then takes the
first backend in that order that can run the layer, so a backend that is unavailable
(``compiled`` without a compiler) or unsupported (``native`` with a variant) is skipped.

The rules (measured on a 2-core x86_64 CPU, torch 2.13, one thread; the tables and the
commands are in docs/compiled.md):

* Not on the CPU: priority order (the GPU backends decide there).
* A variant that changes the recurrence (layer norm, peephole, coupled gates, cell clip,
  recurrent dropout, zoneout): ``compiled``, then ``fused``; torch's kernels cannot run it.
* float16 / bfloat16: the priority order (``compiled`` runs float32 and float64 only).
* Plain GRU and Elman RNN: ``compiled``. torch's CPU kernels for these are ATen loops,
  not oneDNN, and the compiled loop beat them at every measured shape.
* Plain LSTM: ``compiled`` for small hidden sizes, ``native`` (torch's oneDNN kernel)
  for larger ones. The compiled loop's per-step cost is lower (one call, no primitive
  set-up), which wins while the recurrent GEMM is small; oneDNN's GEMM wins once it
  dominates. The measured crossover depends on the hidden size much more than on the
  batch (B = 1 to 64): ``compiled`` while H <= :data:`LSTM_COMPILED_MAX_H` with autograd,
  H <= :data:`LSTM_COMPILED_MAX_H_NO_GRAD` without; a single step (T = 1) always.
"""

from __future__ import annotations

import torch
from torch import Tensor

from lstmkit.backends.base import LayerSpec

#: plain LSTM, forward + backward: compiled up to this hidden size (measured: H=20 0.66-0.77
#: of native's time, H=64 0.94-1.06, H=128 0.79-1.26)
LSTM_COMPILED_MAX_H = 48
#: plain LSTM under no_grad: compiled up to this hidden size (H=64: 0.82-0.86, once 1.29)
LSTM_COMPILED_MAX_H_NO_GRAD = 64

_COMPILED_DTYPES = (torch.float32, torch.float64)


def _first(order: list[str], names: list[str]) -> list[str]:
    """``order``'s names that are registered, then the others in priority order, and the
    reference (which runs everything, slowly) last."""
    head = [n for n in order if n in names and n != "reference"]
    rest = [n for n in names if n not in head and n != "reference"]
    return head + rest + (["reference"] if "reference" in names else [])


def prefer_compiled(spec: LayerSpec, x: Tensor) -> bool:
    """Whether the measurements put ``compiled`` ahead of ``native`` for a plain layer."""
    if spec.mode != "LSTM" or x.shape[0] == 1:
        return True
    limit = LSTM_COMPILED_MAX_H if torch.is_grad_enabled() else LSTM_COMPILED_MAX_H_NO_GRAD
    return spec.hidden_size <= limit


def auto_order(spec: LayerSpec, x: Tensor, names: list[str]) -> list[str]:
    """The order in which ``auto`` tries the registered backends ``names`` (given in
    priority order) for ``spec`` on input ``x`` (T, B, I)."""
    names = list(names)
    if x.device.type != "cpu" or x.dtype not in _COMPILED_DTYPES:
        return names
    if spec.variants:
        return _first(["compiled", "fused"], names)
    if prefer_compiled(spec, x):
        return _first(["compiled", "native", "fused"], names)
    return _first(["native", "compiled", "fused"], names)
