"""The native backend: torch's own fused recurrent kernels (oneDNN or ATen on the CPU,
cuDNN on CUDA) for the configurations torch.nn supports.

It runs one layer (both directions) per call, so that dropout between layers stays
lstmkit's and draws the same masks as every other backend.

Variable lengths, LSTM or GRU: torch's padded kernel with the padding steps frozen
(:func:`_frozen_padding`), which costs what a padded batch costs; torch's packed kernel,
which torch.nn.LSTM runs on a PackedSequence, took 1.3 to 4 times as long on the CPU
(``benchmarks/never_slower.py``, the ``packed / padded`` column). Otherwise (the Elman
RNN, float16) through packing, as torch.nn does.
"""

from __future__ import annotations

import contextlib
import dataclasses
import warnings

import torch
from torch import _VF
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from lstmkit.backends import onnx_ops
from lstmkit.backends.base import Backend, reverse_time

# torch says so on every call with proj_size on the CPU; it is not the user's concern
warnings.filterwarnings("ignore", message="LSTM with projections is not supported with oneDNN")

_FUNCS = {"LSTM": _VF.lstm, "GRU": _VF.gru, "RNN_TANH": _VF.rnn_tanh, "RNN_RELU": _VF.rnn_relu}
#: what torch.nn.LSTMCell / GRUCell / RNNCell call
_CELL_FUNCS = {"LSTM": _VF.lstm_cell, "GRU": _VF.gru_cell,
               "RNN_TANH": _VF.rnn_tanh_cell, "RNN_RELU": _VF.rnn_relu_cell}
_DTYPES = (torch.float32, torch.float64, torch.float16, torch.bfloat16)


class NativeBackend(Backend):
    """torch's own recurrent kernels: the plain LSTM, GRU and RNN, every dtype torch runs."""

    name = "native"
    priority = 20
    offers_plain_layer = True

    def unsupported(self, spec, x):
        """The plain cells in the dtypes torch's kernels run (see :meth:`Backend.unsupported`)."""
        if spec.variants:
            return f"torch's kernels run only the plain cell, not {', '.join(spec.variants)}"
        if spec.mode not in _FUNCS:
            return f"torch has no kernel for mode {spec.mode}"
        if x.dtype not in _DTYPES:
            return f"torch's kernels run floating-point tensors, not {x.dtype}"
        return None

    def layer_context(self, x, tools):
        """Under autocast on the CPU, torch's LSTM kernel without oneDNN.

        With oneDNN, torch.nn.LSTM under ``torch.autocast("cpu", torch.bfloat16)`` sends
        the whole layer to oneDNN's bf16 LSTM primitive, which this CPU lacks ("could not
        create a primitive descriptor"; measured with torch 2.13), so torch.nn.LSTM raises
        there. torch's other path, ATen's loop of ``lstm_cell`` steps, runs under autocast
        on every CPU, each matmul in bf16 and the state in float32: step for step what
        torch.nn.LSTMCell computes under autocast, and what torch.nn.GRU and RNN run
        anyway."""
        if "autocast" in tools and x.device.type == "cpu" and "compile" not in tools:
            return _without_onednn()
        return contextlib.nullcontext()

    def run_cell(self, spec, cell, x, h, c, p, training):
        """torch.nn's own cell function: its numbers under every tool."""
        fn = _CELL_FUNCS[spec.mode]
        if c is not None:
            return fn(x, (h, c), p.w_ih, p.w_hh, p.b_ih, p.b_hh)
        return fn(x, h, p.w_ih, p.w_hh, p.b_ih, p.b_hh), None

    def run_plain_layer(self, spec, x, h0, c0, weights, training):
        """torch's kernel straight from the module's flat weights (see
        :meth:`Backend.run_plain_layer`): the call :meth:`run_layer` makes."""
        return self._kernel(spec, x, h0, c0, weights, training)

    @staticmethod
    def _kernel(spec, x, h0, c0, flat, training):
        if onnx_ops.dynamo_onnx_export():  # ONNX's own operator, time and batch as given
            return onnx_ops.run_layer(spec.mode, x, h0, c0, flat, spec.bias, spec.bidirectional)
        hx = (h0, c0) if spec.mode == "LSTM" else h0
        res = _FUNCS[spec.mode](x, hx, flat, spec.bias, 1, 0.0, training, spec.bidirectional, False)
        return (res[0], res[1], res[2]) if spec.mode == "LSTM" else (res[0], res[1], None)

    def run_layer(self, spec, cell, x, h0, c0, params, lengths, training, record=None):
        """torch's kernel for the layer (both directions); packed for variable lengths."""
        flat = [t for p in params for t in p.flat_torch()]
        if lengths is None:
            return self._kernel(spec, x, h0, c0, flat, training)
        if onnx_ops.dynamo_onnx_export():  # the operator takes the lengths itself
            return onnx_ops.run_layer(spec.mode, x, h0, c0, flat, spec.bias, spec.bidirectional, lengths)
        big = _freezing_value(spec, x)
        if big is not None:
            return _frozen_padding(self._kernel, spec, x, h0, c0, params, lengths, training, big)
        hx = (h0, c0) if spec.mode == "LSTM" else h0
        fn = _FUNCS[spec.mode]
        bias, bidir = spec.bias, spec.bidirectional
        T = x.shape[0]
        packed = pack_padded_sequence(x, lengths.cpu(), enforce_sorted=False)
        order, undo = packed.sorted_indices, packed.unsorted_indices
        if spec.mode == "LSTM":
            hx = (h0.index_select(1, order), c0.index_select(1, order))
        else:
            hx = h0.index_select(1, order)
        res = fn(packed.data, packed.batch_sizes, hx, flat, bias, 1, 0.0, training, bidir)
        out_packed = torch.nn.utils.rnn.PackedSequence(res[0], packed.batch_sizes, order, undo)
        out, _ = pad_packed_sequence(out_packed, total_length=T)
        hn = res[1].index_select(1, undo)
        cn = res[2].index_select(1, undo) if spec.mode == "LSTM" else None
        return out, hn, cn


#: the gate rows (in torch's order) an extra input column pushes to saturation on the
#: padding steps, with the sign: LSTM (i, f, g, o): i to 0 and f to 1, so c stays; GRU
#: (r, z, n): z to 1, so h stays
_FREEZE_ROWS = {"LSTM": ((0, -1.0), (1, 1.0)), "GRU": ((1, 1.0),)}


def _freezing_value(spec, x) -> float | None:
    """The pre-activation that saturates a gate exactly in ``x``'s arithmetic, or None
    where the padding cannot be frozen (the Elman RNN has no gate; float16, whose
    largest value, 65504, is not far enough beyond a real pre-activation)."""
    if spec.mode not in _FREEZE_ROWS:
        return None
    dtype = x.dtype
    if torch.is_autocast_enabled(x.device.type):
        dtype = torch.get_autocast_dtype(x.device.type)
    return 1e30 if dtype in (torch.float32, torch.float64, torch.bfloat16) else None


def _frozen_padding(kernel, spec, x, h0, c0, params, lengths, training, big: float):
    """A layer over a padded batch with per-sequence ``lengths``, on torch's padded
    kernel, exactly as if each sequence stopped at its length.

    An extra input column, 1 on the padding steps and 0 elsewhere, enters the gates with
    weight ``big`` (1e30) on the rows of :data:`_FREEZE_ROWS`: on a padding step the
    LSTM's input gate is exactly 0 and its forget gate exactly 1 (sigmoid saturates in
    floating point), so the cell state passes unchanged; the GRU's update gate is
    exactly 1, so the hidden state does. On every valid step the column adds exactly 0.
    The padding's inputs are zeroed first (whatever they hold, NaN included). Outputs on
    the padding are zeros, as torch's ``pad_packed_sequence`` gives; the LSTM's h_n is
    its output at each sequence's last step (its hidden state moves on a padding step
    with the output gate, its cell state does not), the GRU's is the kernel's. The
    gradients are the packed path's: a saturated gate's derivative is exactly 0, so
    nothing flows into a padding step but the cell state's identity path. The reverse
    direction runs forward over each sequence reversed within its length
    (:func:`~lstmkit.backends.base.reverse_time`), so its padding, too, comes last.
    """
    T = x.shape[0]
    padding = (torch.arange(T, device=x.device)[:, None] >= lengths[None, :]).unsqueeze(-1)  # (T, B, 1)
    x = x.masked_fill(padding, 0)
    if not spec.bidirectional:
        return _frozen_direction(kernel, spec, x, h0, c0, params[0], padding, lengths, training, big)
    one = dataclasses.replace(spec, bidirectional=False)
    c_fwd, c_rev = (None, None) if c0 is None else (c0[:1], c0[1:])
    fwd = _frozen_direction(kernel, one, x, h0[:1], c_fwd, params[0], padding, lengths, training, big)
    rev = _frozen_direction(kernel, one, reverse_time(x, lengths), h0[1:], c_rev, params[1], padding,
                            lengths, training, big)
    out = torch.cat([fwd[0], reverse_time(rev[0], lengths)], -1)
    cn = None if c0 is None else torch.cat([fwd[2], rev[2]])
    return out, torch.cat([fwd[1], rev[1]]), cn


def _frozen_direction(kernel, spec, x, h0, c0, p, padding, lengths, training, big: float):
    """One direction of :func:`_frozen_padding` (``x``'s padding already zeroed)."""
    B, H = x.shape[1], spec.hidden_size
    x_aug = torch.cat([x, padding.to(x.dtype)], -1)
    col = p.w_ih.new_zeros(p.w_ih.shape[0], 1)
    for gate, sign in _FREEZE_ROWS[spec.mode]:
        col[gate * H:(gate + 1) * H] = sign * big
    flat = [torch.cat([p.w_ih, col], 1), *p.flat_torch()[1:]]
    out, hn, cn = kernel(spec, x_aug, h0, c0, flat, training)
    # in place where no graph holds the kernel's output
    out = out.masked_fill(padding, 0) if out.requires_grad else out.masked_fill_(padding, 0)
    if spec.mode == "LSTM":
        last = (lengths - 1).view(1, B, 1).expand(1, B, out.shape[-1])
        hn = out.gather(0, last)
    return out, hn, cn


@contextlib.contextmanager
def _without_onednn():
    was = torch._C._get_mkldnn_enabled()
    torch._C._set_mkldnn_enabled(False)
    try:
        yield
    finally:
        torch._C._set_mkldnn_enabled(was)
