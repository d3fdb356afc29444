"""The measured rules of ``backend="auto"``: which backend to try first for a
configuration (mode, variants, batch, hidden size, dtype, device, grad mode).

:func:`lstmkit.backends.auto_order` calls :func:`auto_order`; ``select`` then takes the
first backend in that order that can run the layer, so a backend that is unavailable
(``compiled`` without a compiler) or unsupported (``native`` with a variant) is skipped.
:func:`decide` gives the same order with the rule that produced it, in words
(``lstmkit info --explain``).

The rules (measured with ``benchmarks/auto_rules.py``; the tables, the commands, the
date and the machine are in benchmarks/reports/2026-11-24-compiled-recurrence.md):

* Under ``torch.autocast``: the input stays float32 while autocast runs the matmuls in
  its lower precision, so ``x.dtype`` does not say what runs. Plain cells: ``native``
  first, torch's kernel, which is what torch.nn runs under autocast (the same numbers);
  variants: the ``reference`` loop of autograd operations, which autocast casts as it
  casts torch.nn's (``compiled`` runs float32 and float64 only, and ``fused``'s
  hand-written backward does not follow autocast's mixed dtypes). ``select`` also skips
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
* CPU, plain LSTM with variable lengths (``lengths=``) over more than one step and a
  batch of at least :data:`LENGTHS_COMPILED_MIN_B`: ``compiled``, which runs the batch
  sorted by length and skips each sequence's steps after its end
  (:func:`lstmkit.backends.compiled._length_order`), where torch's kernel (``native``)
  runs the whole padded batch with the padding frozen; below, or at T = 1 (nothing to
  skip), the plain LSTM's rule. Measured 2026-12-05 on the 2-core VM, both backends
  against torch's packed path in one process, 14 shapes at 1 and 2 threads
  (``python benchmarks/lengths.py``; benchmarks/reports/2026-12-05-lengths.md): compiled
  faster in 25 of 28 comparisons at 1 thread and 21 of 28 at 2. In training, at the 10
  shapes with B >= 4 and T > 1, compiled took 0.10 to 0.90 of the packed time against
  native's 0.14 to 1.29, ahead at every one but 16, 500, 3, 128 at 2 threads (0.18
  against 0.14; ahead there at 1 thread, 0.10 against 0.15). In inference it was behind
  at some small batches at 2 threads (16, 500, 3, 128: 0.51 against 0.37; 4, 50, 512,
  1024: 0.32 against 0.26) and ahead at 1 thread there but at 16, 500, 3, 128 (4, 50,
  512, 1024: 0.60 against 0.72; 16, 100, 64, 512: 0.66 against 0.86); threading the
  compiled loop's small-batch GEMM from a quarter of its present work did not close that
  gap (``python benchmarks/gemm_settings.py``: 0.84 to 1.34 of the time,
  benchmarks/reports/2026-12-05-gemm-settings.md). At B = 2 torch's kernel was ahead
  (2, 100, 256, 512: 0.17 against 0.21 in training at 2 threads).
* CPU, plain LSTM, GRU and Elman RNN, refitted on an idle machine (2026-12-02,
  ``benchmarks/never_slower.py``: 14 shapes from B=1 to 256, T=1 to 1000, I=2 to 512,
  H=20 to 1024, at 1 and 2 threads, median of 15 interleaved rounds; the report is
  benchmarks/never_slower_2026-12-02.md). ``compiled`` is chosen only where it was
  faster at both thread counts, so that a machine where it is a little slower still
  runs torch's own kernel:

  - LSTM: ``compiled`` where the batch times the hidden size is at most
    :data:`LSTM_COMPILED_MAX_BH` and H is at most :data:`LSTM_COMPILED_MAX_H`, else
    ``native``, which is torch.nn's own kernel (oneDNN), so outside the small layers
    ``auto`` runs exactly what torch.nn runs. Refitted 2026-12-04 with a margin: the
    compiled loop is kept only where it was faster at 1 and 2 threads on both days
    measured. On 2026-12-02 it was faster at every batch up to 8 (0.34 to 0.92 of
    torch.nn's time); on 2026-12-04, the same VM type and command, torch's kernel was
    faster at B=8 with H >= 64 (B, T, I, H = 8, 300, 32, 96: compiled 1.18 to 1.44 of
    torch.nn's time), at H >= 128 with 2 threads (1, 100, 128, 256: 1.42; 1, 50, 256, 512:
    1.20 to 1.55; 2, 100, 256, 512: 1.15 to 1.30) and at B H = 256 with 1 thread (8, 100,
    8, 32: 1.10 to 1.16), while inside the rule compiled stayed ahead or level (1, 1000,
    10, 20: 0.10 to 0.54; 2, 300, 16, 32: 0.35 to 0.85; 4, 300, 8, 32: 0.49 to 0.96; 2,
    100, 32, 64: 0.63 to 1.03; one step at B=1, H=20: 0.68 to 0.91). Reports:
    benchmarks/reports/2026-12-04-lstm-rule.md and 2026-12-04-single-step.md.
  - GRU and RNN: ``compiled`` (torch's CPU kernels for these are ATen loops, not oneDNN:
    0.01 to 0.95 of torch.nn's time), except a single step (T = 1), where torch's kernel
    is one cell step and the compiled operator's per-call work is the cost: measured
    2026-12-03 (2-core AMD EPYC VM, other Python processes stopped during the runs;
    15 interleaved rounds of 100 calls), time relative to torch.nn at T=1 for
    (B, I, H) = (1, 2, 20) and (8, 32, 128), 1 and 2 threads: GRU training native 1.17
    to 1.21 against compiled 1.24 to 1.27, GRU inference 1.51 to 1.76 both; RNN training
    native 1.25 to 1.28 against compiled 1.66 to 1.70, RNN inference native 1.72 to 2.01
    against compiled 1.98 to 2.33 (earlier, at B above :data:`LSTM_COMPILED_MAX_B`,
    compiled was 1.21 to 1.42 in training). The rest above 1 is the layer's own Python
    work per call (about 50 to 70 microseconds).
"""


from __future__ import annotations

import torch
from torch import Tensor

from lstmkit.backends.base import LayerSpec

#: plain LSTM: compiled where batch x hidden size is at most this (and H at most
#: LSTM_COMPILED_MAX_H); torch's kernel elsewhere
LSTM_COMPILED_MAX_BH = 128
#: plain LSTM: compiled up to this hidden size
LSTM_COMPILED_MAX_H = 64

#: plain LSTM with lengths=: compiled from this batch on (below it, the plain LSTM's rule)
LENGTHS_COMPILED_MIN_B = 4

_COMPILED_DTYPES = (torch.float32, torch.float64)


def _first(order: list[str], names: list[str]) -> list[str]:
    """``order``'s names that are registered, then the others in priority order, and the
    reference (which runs everything, slowly) last."""
    head = [n for n in order if n in names and n != "reference"]
    rest = [n for n in names if n not in head and n != "reference"]
    return head + rest + (["reference"] if "reference" in names else [])


def _prefers_triton(spec: LayerSpec, x: Tensor) -> bool:
    try:
        from lstmkit.backends.triton.auto import prefers_triton
    except ImportError:  # a build without the triton package
        return False
    return prefers_triton(spec, x)


def decide(spec: LayerSpec, x: Tensor, names: list[str], lengths: bool = False) -> tuple[list[str], str]:
    """``(order, rule)``: the order in which ``auto`` tries the registered backends
    ``names`` (given in priority order) for ``spec`` on input ``x`` (T, B, I), and the
    rule that gave it, in words.

    Args:
        spec: the layer's configuration.
        x: the input (T, B, I): its shape, dtype and device and the grad mode matter.
        names: the registered backends, highest priority first.
        lengths: the forward has variable lengths.

    Returns:
        ``(order, rule)``.
    """
    names = list(names)
    if torch.is_autocast_enabled(x.device.type):
        dt = str(torch.get_autocast_dtype(x.device.type)).removeprefix("torch.")
        if spec.variants:
            return (["reference"] + [n for n in names if n != "reference"],
                    f"autocast ({dt}) with a variant ({', '.join(spec.variants)}): reference "
                    f"(compiled and fused run float32 and float64 only)")
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
    H, B, T = spec.hidden_size, x.shape[1], x.shape[0]
    if lengths and spec.mode == "LSTM" and T > 1 and B >= LENGTHS_COMPILED_MIN_B:
        return (_first(["compiled", "native", "fused"], names),
                f"plain LSTM with lengths, B={B} >= {LENGTHS_COMPILED_MIN_B}, T={T} > 1: compiled, "
                f"which skips each sequence's steps after its end (measured faster than "
                f"torch's kernel on the padded batch)")
    if spec.mode != "LSTM":
        if T == 1:
            return (_first(["native", "compiled", "fused"], names),
                    f"plain {spec.mode}, one step: torch's kernel measured faster "
                    f"(the compiled operator's per-call work is the cost of a single step)")
        return (_first(["compiled", "native", "fused"], names),
                f"plain {spec.mode}: compiled measured faster than torch's ATen loop")
    if B * H <= LSTM_COMPILED_MAX_BH and H <= LSTM_COMPILED_MAX_H:
        return (_first(["compiled", "native", "fused"], names),
                f"plain LSTM, B={B} x H={H} <= {LSTM_COMPILED_MAX_BH}, H <= {LSTM_COMPILED_MAX_H}: "
                f"compiled measured faster than oneDNN at 1 and 2 threads")
    cond = f"H={H} > {LSTM_COMPILED_MAX_H}" if H > LSTM_COMPILED_MAX_H else f"B={B} x H={H} > {LSTM_COMPILED_MAX_BH}"
    return (_first(["native", "compiled", "fused"], names),
            f"plain LSTM, {cond}: torch's own kernel (oneDNN), as fast or faster there")


def auto_order(spec: LayerSpec, x: Tensor, names: list[str], lengths: bool = False) -> list[str]:
    """The order in which ``auto`` tries the registered backends for ``spec`` on ``x``.

    Args:
        spec: the layer's configuration.
        x: the input (T, B, I).
        names: the registered backends, highest priority first.
        lengths: the forward has variable lengths.

    Returns:
        The first part of :func:`decide`.
    """
    return decide(spec, x, names, lengths)[0]
