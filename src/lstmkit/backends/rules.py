"""The measured rules of ``backend="auto"``: which backend to try first for a
configuration (mode, variants, batch, hidden size, dtype, device, grad mode).

:func:`lstmkit.backends.auto_order` calls :func:`auto_order`; ``select`` then takes the
first backend in that order that can run the layer, so a backend that is unavailable
(``compiled`` without a compiler) or unsupported (``native`` with a variant) is skipped.
:func:`decide` gives the same order with the rule that produced it, in words
(``lstmkit info --explain``).

The rules (measured with ``benchmarks/auto_rules.py``; the tables, the commands, the
date and the machine are in docs/compiled.md):

* Under ``torch.autocast``: the input stays float32 while autocast runs the matmuls in
  its lower precision, so ``x.dtype`` does not say what runs. Plain cells: ``native``
  first, torch's kernel, which is what torch.nn runs under autocast (the same numbers);
  variants: ``fused`` (``compiled`` runs float32 and float64 only). ``select`` also skips
  any backend that does not run under autocast (:mod:`lstmkit.backends.tools`).
* CUDA: ``triton`` first where :func:`lstmkit.backends.triton.auto.prefers_triton` has a
  measurement showing it faster than its rival; otherwise the priority order (cuDNN's
  ``native`` for the plain cells, ``fused`` for the variants).
* Other devices, float16 / bfloat16: the priority order (``compiled`` runs float32 and
  float64 on the CPU only).
* CPU, a variant that changes the recurrence (layer norm, peephole, coupled gates, cell
  clip, layer norm of c, recurrent dropout, zoneout): ``compiled``, then ``fused``;
  torch's kernels cannot run it, and the compiled loop beat the fused one at every
  measured shape.
* CPU, plain GRU and Elman RNN: ``compiled``. torch's CPU kernels for these are ATen
  loops, not oneDNN, and the compiled loop beat them at every measured shape.
* CPU, plain LSTM: ``compiled`` or ``native`` (torch's oneDNN kernel), measured at 2
  threads for B = 1 to 64 and H = 20 to 512. Forward+backward: ``compiled`` up to
  H = :data:`LSTM_COMPILED_MAX_H` (the largest measured; 0.35 to 0.98 of native's time
  except two rows of about 10 ms within noise), ``native`` beyond; but ``native`` for one
  layer with a narrow input (I < :data:`LSTM_COMPILED_MIN_I`) and a batch of
  :data:`LSTM_SMALL_INPUT_MIN_B` to :data:`LSTM_SMALL_INPUT_MAX_B`: on the idle machine
  compiled took 0.78 to 1.45x native's time there (I = 3 and 8, H = 32 to 512), more
  often above 1 (15 of 20 shapes), while at B = 256 it was faster (0.75 at H = 64) and at
  I = 16 and 32 it took 0.89x and 0.87x in geometric mean. A two-layer forecaster at
  B = 256 (Tourism monthly) trains in 27.5 s per epoch compiled against 35 to 39 s native. Forward only
  (``no_grad``): ``compiled`` while H <= :data:`LSTM_COMPILED_MAX_H_NO_GRAD` or
  B <= :data:`LSTM_COMPILED_MAX_B_NO_GRAD` (0.18 to 0.99 of native's time), ``native`` for
  larger layers (oneDNN's forward measured 1.05 to 1.12x faster at B >= 16, H >= 96). A
  single step (T = 1) always runs ``compiled``.
"""

from __future__ import annotations

import torch
from torch import Tensor

from lstmkit.backends.base import LayerSpec

#: plain LSTM, forward + backward: compiled up to this hidden size (the largest measured)
LSTM_COMPILED_MAX_H = 512
#: plain one-layer LSTM, forward + backward, with fewer input features than this and a
#: batch from LSTM_SMALL_INPUT_MIN_B to LSTM_SMALL_INPUT_MAX_B: native (oneDNN) was
#: measured faster
LSTM_COMPILED_MIN_I = 16
LSTM_SMALL_INPUT_MIN_B = 16
LSTM_SMALL_INPUT_MAX_B = 128
#: plain LSTM under no_grad: compiled up to this hidden size ...
LSTM_COMPILED_MAX_H_NO_GRAD = 64
#: ... or, at any hidden size, up to this batch
LSTM_COMPILED_MAX_B_NO_GRAD = 4

_COMPILED_DTYPES = (torch.float32, torch.float64)


def _first(order: list[str], names: list[str]) -> list[str]:
    """``order``'s names that are registered, then the others in priority order, and the
    reference (which runs everything, slowly) last."""
    head = [n for n in order if n in names and n != "reference"]
    rest = [n for n in names if n not in head and n != "reference"]
    return head + rest + (["reference"] if "reference" in names else [])


def _small_input(spec: LayerSpec, x: Tensor) -> bool:
    """One layer, a narrow input, a middling batch: where oneDNN beat compiled in training
    (measured on one layer; in a stack the later layers' inputs are wide)."""
    return (spec.num_layers == 1 and spec.input_size < LSTM_COMPILED_MIN_I
            and LSTM_SMALL_INPUT_MIN_B <= x.shape[1] <= LSTM_SMALL_INPUT_MAX_B)


def _prefers_triton(spec: LayerSpec, x: Tensor) -> bool:
    try:
        from lstmkit.backends.triton.auto import prefers_triton
    except ImportError:  # a build without the triton package
        return False
    return prefers_triton(spec, x)


def decide(spec: LayerSpec, x: Tensor, names: list[str]) -> tuple[list[str], str]:
    """``(order, rule)``: the order in which ``auto`` tries the registered backends
    ``names`` (given in priority order) for ``spec`` on input ``x`` (T, B, I), and the
    rule that gave it, in words."""
    names = list(names)
    if torch.is_autocast_enabled(x.device.type):
        dt = str(torch.get_autocast_dtype(x.device.type)).removeprefix("torch.")
        if spec.variants:
            return (_first(["fused"], names),
                    f"autocast ({dt}) with a variant ({', '.join(spec.variants)}): fused "
                    f"(compiled runs float32 and float64 only)")
        return (_first(["native", "fused"], names),
                f"autocast ({dt}), plain {spec.mode}: torch's kernel, as torch.nn runs under autocast")
    if x.device.type == "cuda":
        if "triton" in names and _prefers_triton(spec, x):
            return _first(["triton"], names), "CUDA: triton measured faster for this shape (triton.auto.MEASURED)"
        return names, "CUDA: priority order (no triton measurement covers this shape)"
    if x.device.type != "cpu" or x.dtype not in _COMPILED_DTYPES:
        return names, f"{x.device.type}, {str(x.dtype).removeprefix('torch.')}: priority order"
    if spec.variants:
        return (_first(["compiled", "fused"], names),
                f"a variant ({', '.join(spec.variants)}): compiled, then fused "
                f"(torch's kernels cannot run it; compiled measured faster than fused)")
    if spec.mode != "LSTM":
        return (_first(["compiled", "native", "fused"], names),
                f"plain {spec.mode}: compiled measured faster than torch's kernel at every shape")
    grad, H, B = torch.is_grad_enabled(), spec.hidden_size, x.shape[1]
    if x.shape[0] == 1:
        return _first(["compiled", "native", "fused"], names), "plain LSTM, one time step: compiled"
    if grad and H <= LSTM_COMPILED_MAX_H and _small_input(spec, x):
        return (_first(["native", "compiled", "fused"], names),
                f"plain LSTM, forward+backward, one layer, I={spec.input_size} < {LSTM_COMPILED_MIN_I}, "
                f"{LSTM_SMALL_INPUT_MIN_B} <= B={B} <= {LSTM_SMALL_INPUT_MAX_B}: oneDNN (native) measured faster")
    if grad:
        fast = H <= LSTM_COMPILED_MAX_H
        cond = f"forward+backward, H={H} {'<=' if fast else '>'} {LSTM_COMPILED_MAX_H}"
    else:
        fast = H <= LSTM_COMPILED_MAX_H_NO_GRAD or B <= LSTM_COMPILED_MAX_B_NO_GRAD
        cond = (f"forward only (no_grad), H={H} {'<=' if H <= LSTM_COMPILED_MAX_H_NO_GRAD else '>'} "
                f"{LSTM_COMPILED_MAX_H_NO_GRAD}, B={B} {'<=' if B <= LSTM_COMPILED_MAX_B_NO_GRAD else '>'} "
                f"{LSTM_COMPILED_MAX_B_NO_GRAD}")
    if fast:
        return (_first(["compiled", "native", "fused"], names),
                f"plain LSTM, {cond}: compiled measured faster than oneDNN")
    why = "beyond the measured range, torch's own kernel" if grad else "oneDNN (native) measured faster"
    return _first(["native", "compiled", "fused"], names), f"plain LSTM, {cond}: {why}"


def auto_order(spec: LayerSpec, x: Tensor, names: list[str]) -> list[str]:
    """The order in which ``auto`` tries the registered backends ``names`` (given in
    priority order) for ``spec`` on input ``x`` (T, B, I)."""
    return decide(spec, x, names)[0]
