"""The compiled CPU recurrence: ``backend="compiled"``.

The forward and backward time loops of the LSTM, GRU and Elman RNN, with every variant
(recurrent layer norm, peephole, coupled gates, cell clip, layer norm of c, recurrent
dropout, zoneout, projection, variable lengths), in C++: the recurrent matmul through
the BLAS inside torch (MKL), the gate math of a step fused into one vectorised pass per
batch row (threads over rows where it pays). float32 and float64, on the CPU.

It is built on first use, or by ``make install``::

    python -c "import lstmkit.backends.compiled as c; c.build(verbose=True)"

and cached outside the repository (see :mod:`lstmkit.backends.compiled._build`). Where
it cannot be built (no compiler, no ninja), :meth:`CompiledBackend.unavailable` says
why, ``lstmkit info`` shows it, ``auto`` never picks it and an explicit
``backend="compiled"`` raises ValueError with the reason.
"""

from __future__ import annotations

import dataclasses
import operator
import sys

import torch

from lstmkit.backends.base import DirectionalBackend, reverse_time, time_mask
from lstmkit.backends.compiled import _build
from lstmkit.backends.compiled.function import run_direction
from lstmkit.backends.compiled.projection import narrow_project
from lstmkit.backends.tools import active_tools

_DTYPES = (torch.float32, torch.float64)


def build(verbose: bool = False) -> str | None:
    """Build (or find in the cache) and load the extension. Returns None when it is
    ready, else the reason it is not; never raises, so an install can call it."""
    _build.load(verbose)
    reason = _build.reason()
    if verbose:
        msg = "ready" if reason is None else f"not available: {reason}"
        print(f"lstmkit compiled backend: {msg}", file=sys.stderr)
    return reason


def buffer_cache() -> dict:
    """The buffer cache of the loops (``csrc/buffers.h``): the large buffers a forward
    keeps for backward, and backward's own, kept for the next call when freed (a training
    loop otherwise takes a page fault on every 4 KiB of them each step). Returns
    ``{"idle_bytes", "idle_blocks", "limit_bytes", "reused", "allocated"}``."""
    idle, blocks, limit, reused, allocated = extension().cache_info()
    return {"idle_bytes": idle, "idle_blocks": blocks, "limit_bytes": limit, "reused": reused,
            "allocated": allocated}


def set_buffer_cache_limit(limit_bytes: int) -> int:
    """Keep at most ``limit_bytes`` of idle buffers (default 1 GiB; 0 turns the cache
    off). Idle buffers above the new limit are freed; buffers in use are not affected.
    Returns the previous limit."""
    try:
        n = None if isinstance(limit_bytes, bool) else operator.index(limit_bytes)
    except TypeError:
        n = None
    if n is None or n < 0:
        raise ValueError(f"the buffer cache limit is a number of bytes >= 0, got {limit_bytes!r}")
    return extension().set_cache_limit(n)


def empty_buffer_cache() -> int:
    """Free the buffer cache's idle buffers (as ``torch.cuda.empty_cache`` does for
    CUDA); returns the bytes freed. The cache fills again on the next training step."""
    return extension().empty_cache()


def extension():
    """The loaded extension module; RuntimeError with the reason when unavailable."""
    module = _build.load()
    if module is None:
        raise RuntimeError(f"the compiled backend is unavailable: {_build.reason()}")
    return module


class CompiledBackend(DirectionalBackend):
    """LSTM/GRU/RNN and all their variants, forward and backward loops in C++."""

    name = "compiled"
    #: between native (20) and fused (10): on the CPU the measured rules
    #: (lstmkit.backends.rules) order the backends; without them compiled beats fused at
    #: every measured shape and loses to oneDNN only on plain LSTMs with a large H
    priority = 15

    def unavailable(self) -> str | None:
        """Why the C++ extension cannot be built or loaded here, or None."""
        return _build.reason()

    def unsupported(self, spec, x):
        """CPU tensors of float32 or float64, every mode and variant (see :meth:`Backend.unsupported`)."""
        reason = self.unavailable()
        if reason:
            return reason
        if x.device.type != "cpu":
            return f"compiled runs on the CPU, not {x.device.type}"
        if x.dtype not in _DTYPES:
            return f"compiled runs float32 and float64, not {x.dtype}"
        return None

    def unsupported_under(self, tools: frozenset[str]) -> str | None:
        """Why this backend cannot run under the named tools (see
        :mod:`lstmkit.backends.tools`), or None. The recurrence is a pair of
        torch.library operators with fake kernels and registered autograd
        (:mod:`~lstmkit.backends.compiled.function`), so jit_trace (saved and reloaded),
        export (dynamic batch and time), compile (fullgraph, training too), functorch's
        grad/vjp and double backward run it; ONNX has no such operator, and autocast
        would hand it bfloat16/float16 projections it does not run."""
        if "functorch_forward" in tools:
            return ("its operators have autograd rules but no vmap or forward-mode (jvp) rule; "
                    "use backend='auto' (it picks one that runs there) or 'reference'")
        if "onnx_export" in tools:
            return ("ONNX has no lstmkit::compiled_forward operator; export the layer "
                    "through native (plain cells), the reference loop or lstmkit.export")
        if "autocast" in tools:
            return "the compiled recurrence runs float32 and float64 only, not autocast's lower precision"
        return None

    def run_direction(self, cell, gx, h0, c0, p, mask, record):
        """One direction through the lstmkit::compiled_* operators (see :meth:`DirectionalBackend.run_direction`)."""
        return run_direction(None, cell, gx, h0, c0, p, mask)

    def run_layer(self, spec, cell, x, h0, c0, params, lengths, training, record=None):
        """As DirectionalBackend.run_layer, except that with layer_norm the input's layer
        norm and b_ih run inside the loop (on each step's rows while they are in cache)
        instead of as passes of their own over the whole (T, B, G) projection."""
        ext = None  # the operators load the extension themselves (dynamo must not trace the build)
        order = _length_order(x, lengths, params[0].w_hh)
        if order is not None:  # the batch sorted by length for the loops, and back after
            x, h0, lengths = x.index_select(1, order), h0.index_select(1, order), lengths.index_select(0, order)
            c0 = None if c0 is None else c0.index_select(1, order)
            params = [_reorder_masks(p, order) for p in params]
        mask = time_mask(lengths, x.shape[0])
        outs, hns, cns = [], [], []
        eager = not active_tools(x)
        for d, p in enumerate(params):
            if p.ln_ih is None:
                gx, ln_x = narrow_project(x, p.w_ih, p.b_ih, eager=eager), None
            else:
                gx, ln_x = narrow_project(x, p.w_ih, eager=eager), (*p.ln_ih, p.b_ih)
            if d == 1:
                gx = reverse_time(gx, lengths)
            out, hn, cn = run_direction(ext, cell, gx, h0[d], None if c0 is None else c0[d],
                                        p, mask, ln_x)
            outs.append(out if d == 0 else reverse_time(out, lengths))
            hns.append(hn)
            cns.append(cn)
            if record is not None:  # the reference backend records; nothing to add here
                record.append({})
        out = outs[0] if len(outs) == 1 else torch.cat(outs, -1)
        hn, cn = torch.stack(hns), None if c0 is None else torch.stack(cns)
        if order is not None:
            back = torch.argsort(order)
            out, hn = out.index_select(1, back), hn.index_select(1, back)
            cn = None if cn is None else cn.index_select(1, back)
        return out, hn, cn


def _reorder_masks(p, order):
    """``p`` with its per-row random masks (recurrent dropout, zoneout) in the batch
    order ``order``; a mask shared by every row (zoneout's constant in eval mode) stays."""
    B = order.shape[0]

    def rows(t, dim):
        return t if t is None or t.dim() <= dim or t.shape[dim] != B else t.index_select(dim, order)

    return dataclasses.replace(p, rec_mask=rows(p.rec_mask, 0), zone_h=rows(p.zone_h, 1),
                               zone_c=rows(p.zone_c, 1))


def _length_order(x, lengths, w_hh):
    """The batch order in which the compiled loops skip the steps after each sequence's
    end, or None where there is nothing to skip (no lengths, one row, every sequence as
    long as the input) or under a tool (the order depends on the lengths' values).
    ``w_hh`` (G, P): the recurrent weight, whose size enters the number of row blocks.

    The loops compute, at each step and in each row block, the rows up to the last one
    whose sequence still runs (``active_end`` in ``csrc/recurrence.h``). Sorted by
    length, longest first, and dealt round-robin over the row blocks (the longest to
    block 0, the next to block 1, ...), every block's running rows are a prefix of it and
    the blocks hold sequences of about the same lengths, so each step's GEMM and cell
    pass cover only the sequences still running: about the work of torch's packed
    sequences, without its per-step kernel calls."""
    B = x.shape[1]
    if lengths is None or B == 1 or active_tools(x) or int(lengths.min()) == x.shape[0]:
        return None
    ranks = torch.argsort(lengths, descending=True, stable=True)
    n = _build.load().row_blocks(B, w_hh.shape[1], w_hh.shape[0])
    return ranks if n <= 1 else torch.cat([ranks[k::n] for k in range(n)])


__all__ = ["CompiledBackend", "buffer_cache", "build", "empty_buffer_cache", "extension",
           "set_buffer_cache_limit"]
