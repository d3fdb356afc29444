"""The triton backend: the LSTM and GRU recurrence as persistent GPU kernels.

The input projection of all steps stays one cuBLAS matmul (:func:`input_projection`);
one kernel launch runs the recurrence over all T steps with each program's slice of W_hh
kept on chip, forward and backward (:mod:`.kernels`), every variant included: recurrent
and cell layer norm, peephole, coupled gates, cell clip, forget bias, recurrent dropout,
zoneout, weight drop, variable lengths. float32, bfloat16 and float16 inputs; float32
accumulation, cell state and saved activations.

Importing this package does not import triton (an optional extra): the kernels load on
the first run. On the CPU the backend runs only under triton's interpreter
(``TRITON_INTERPRET=1`` in the environment before the kernels load; tests do this in a
subprocess), and ``backend="auto"`` never picks it there. Its priority sits below the
fused backend's: on CUDA, ``auto`` picks it only where measured rules say it is faster
(:mod:`.auto`; none are measured yet).

    >>> lstm = lstmkit.LSTM(64, 128, layer_norm=True, backend="triton").cuda()  # doctest: +SKIP
"""

from __future__ import annotations

import importlib.util
import os
import sys

import torch

from lstmkit.backends.base import DirectionalBackend

_DTYPES = (torch.float32, torch.bfloat16, torch.float16)
_TRUE = ("1", "true", "yes", "on", "y")


def interpreter_on() -> bool:
    """Whether the kernels run (or, once loaded, will run) in triton's CPU interpreter."""
    launch = sys.modules.get("lstmkit.backends.triton.launch")
    if launch is not None:
        return launch.interpreting()
    return os.environ.get("TRITON_INTERPRET", "").strip().lower() in _TRUE


class TritonBackend(DirectionalBackend):
    """LSTM and GRU recurrences in Triton kernels, for CUDA tensors."""

    name = "triton"
    #: below fused (10) and native (20): measured rules, not priority, choose it on CUDA
    priority = 5

    def unavailable(self) -> str | None:
        """Why triton cannot be imported here, or None."""
        try:
            found = importlib.util.find_spec("triton") is not None
        except (ImportError, ValueError):  # a broken or blocked installation
            found = False
        return (
            None if found else "triton is not installed (the extra: pip install 'lstmkit[triton]')"
        )

    def unsupported(self, spec, x) -> str | None:
        """LSTM and GRU without projection on CUDA (or the interpreter), float32/bfloat16/float16 (see :meth:`Backend.unsupported`)."""
        reason = self.unavailable()
        if reason:
            return reason
        if spec.mode not in ("LSTM", "GRU"):
            return f"the triton kernels run the LSTM and the GRU, not {spec.mode}"
        if spec.proj_size:
            return "the triton kernels have no projection (proj_size); the fused backend has"
        if x.dtype not in _DTYPES:
            return f"the triton kernels run float32, bfloat16 and float16, not {x.dtype}"
        if x.device.type != "cuda" and not interpreter_on():
            return (
                f"the triton kernels run on CUDA tensors, not on {x.device.type} "
                "(TRITON_INTERPRET=1 runs them in triton's interpreter, for tests)"
            )
        return None

    def unsupported_under(self, tools: frozenset[str]) -> str | None:
        """Why this backend cannot run under the named tools (see
        :mod:`lstmkit.backends.tools`), or None. The kernels are launched from Python inside
        an autograd.Function: a tracer, an exporter, dynamo or a torch.func transform
        cannot see into them, and autocast would hand them mixed dtypes; ``auto`` runs
        another backend there."""
        if tools:
            from lstmkit.backends.tools import describe

            return (f"its kernels are launched from Python, which {describe(tools)} cannot "
                    "capture or transform")
        return None

    def run_direction(self, cell, gx, h0, c0, p, mask, record):
        """One direction through the Triton kernels (see :meth:`DirectionalBackend.run_direction`)."""
        from lstmkit.backends.triton.function import run_direction

        return run_direction(cell, gx, h0, c0, p, mask)


__all__ = ["TritonBackend", "interpreter_on"]
