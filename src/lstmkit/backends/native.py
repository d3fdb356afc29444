"""The native backend: torch's own fused recurrent kernels (oneDNN or ATen on the CPU,
cuDNN on CUDA) for the configurations torch.nn supports.

It runs one layer (both directions) per call, so that dropout between layers stays
lstmkit's and draws the same masks as every other backend. Variable lengths go through
packing, exactly as torch.nn.LSTM does with a PackedSequence.
"""

from __future__ import annotations

import contextlib
import warnings

import torch
from torch import _VF
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from lstmkit.backends.base import Backend

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
        if x.device.type == "cpu" and x.dtype == torch.float16:
            return "torch has no float16 recurrent kernel on the CPU"
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
        hx = (h0, c0) if spec.mode == "LSTM" else h0
        res = _FUNCS[spec.mode](x, hx, flat, spec.bias, 1, 0.0, training, spec.bidirectional, False)
        return (res[0], res[1], res[2]) if spec.mode == "LSTM" else (res[0], res[1], None)

    def run_layer(self, spec, cell, x, h0, c0, params, lengths, training, record=None):
        """torch's kernel for the layer (both directions); packed for variable lengths."""
        flat = [t for p in params for t in p.flat_torch()]
        if lengths is None:
            return self._kernel(spec, x, h0, c0, flat, training)
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


@contextlib.contextmanager
def _without_onednn():
    was = torch._C._get_mkldnn_enabled()
    torch._C._set_mkldnn_enabled(False)
    try:
        yield
    finally:
        torch._C._set_mkldnn_enabled(was)
