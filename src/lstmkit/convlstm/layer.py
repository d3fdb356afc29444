"""ConvLSTM and ConvLSTMCell (Shi et al. 2015): LSTMs whose gates are convolutions.

Shapes: T time, B batch, C input channels, K hidden channels, Y, X frame height and
width, G = 4K (gates i, f, g, o, stacked as in torch.nn.LSTM).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from lstmkit.cells import cell_math
from lstmkit.convlstm.common import (
    ConvParams,
    check_backend,
    check_lengths,
    resolve_backend,
    step_mask,
)
from lstmkit.convlstm.fused import fused_layer
from lstmkit.convlstm.reference import reference_layer
from lstmkit.errors import InputError
from lstmkit.torchscript import RefusesScripting


def _kernel(kernel_size) -> tuple[int, int]:
    k = (kernel_size, kernel_size) if isinstance(kernel_size, numbers.Integral) else tuple(kernel_size)
    if len(k) != 2 or any(not isinstance(v, numbers.Integral) or v <= 0 or v % 2 == 0 for v in k):
        # "same" padding keeps the frame size only for odd kernels
        raise InputError(f"kernel_size must be an odd positive int or a pair of them, got {kernel_size!r}")
    return int(k[0]), int(k[1])


class _ConvLSTMBase(RefusesScripting, nn.Module):
    """Parameter registration, initialisation and the per-layer run shared by both classes."""

    def _setup(self, in_channels: int, hidden: list[int], kernel_size, bias: bool, peephole: bool,
               forget_bias: float, backend: str, device, dtype, suffixes: list[str]) -> None:
        if not isinstance(in_channels, int) or isinstance(in_channels, bool) or in_channels <= 0:
            raise InputError(f"input_channels must be a positive integer, got {in_channels!r}")
        for k in hidden:
            if not isinstance(k, int) or isinstance(k, bool) or k <= 0:
                raise InputError(f"hidden_channels must be positive integers, got {k!r}")
        if forget_bias and not bias:
            raise InputError("forget_bias needs bias=True (it initialises the forget gate's bias)")
        self.input_channels = in_channels
        self.kernel_size = _kernel(kernel_size)
        self.padding = (self.kernel_size[0] // 2, self.kernel_size[1] // 2)
        self.bias = bias
        self.peephole = bool(peephole)
        self.forget_bias = float(forget_bias)
        self.backend = check_backend(backend)
        self._cell = cell_math("LSTM", peephole=self.peephole)
        self._suffixes = suffixes
        factory = {"device": device, "dtype": dtype}
        kY, kX = self.kernel_size
        self._layer_names: list[list[str]] = []
        for i, (sfx, K) in enumerate(zip(suffixes, hidden)):
            C = in_channels if i == 0 else hidden[i - 1]
            shapes = [(f"weight_ih{sfx}", (4 * K, C, kY, kX)), (f"weight_hh{sfx}", (4 * K, K, kY, kX))]
            if bias:
                shapes += [(f"bias_ih{sfx}", (4 * K,)), (f"bias_hh{sfx}", (4 * K,))]
            if self.peephole:  # per-channel diagonal peepholes (see the class docstring)
                shapes += [(f"peephole_{g}{sfx}", (K,)) for g in "ifo"]
            for name, shape in shapes:
                setattr(self, name, nn.Parameter(torch.empty(shape, **factory)))
            self._layer_names.append([n for n, _ in shapes])
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """U(-1/sqrt(K*kY*kX), +) for every parameter (torch.nn.LSTM's rule with the
        recurrent fan-in of a convolution), peepholes 0, then the forget bias."""
        kY, kX = self.kernel_size
        with torch.no_grad():
            for sfx, K, names in zip(self._suffixes, self._hidden, self._layer_names):
                stdv = 1.0 / math.sqrt(K * kY * kX)
                for name in names:
                    p = getattr(self, name)
                    if name.startswith("peephole"):
                        p.zero_()
                    else:
                        p.uniform_(-stdv, stdv)
                if self.forget_bias:
                    getattr(self, f"bias_hh{sfx}")[K : 2 * K] += self.forget_bias

    def _params(self, sfx: str) -> ConvParams:
        g = lambda n: getattr(self, n + sfx, None)
        cp = (g("peephole_i"), g("peephole_f"), g("peephole_o"), None, None)
        return ConvParams(g("weight_ih"), g("weight_hh"), g("bias_ih"), g("bias_hh"), cp, self.padding)

    def _run_layer(self, sfx: str, loop: str, x, h0: Tensor, c0: Tensor, mask: Tensor | None):
        """One layer on the ``loop`` that :func:`resolve_backend` chose: the fused loop
        maps x (T, B, C, Y, X) to (output (T, B, K, Y, X), h_n, c_n (B, K, Y, X)); the
        reference loop maps a list of T frames (B, C, Y, X) to the list of T outputs (so
        the frames pass between layers without a stack and an unbind)."""
        p = self._params(sfx)
        if loop == "reference":
            return reference_layer(self.peephole, x, h0, c0, p, mask)
        return fused_layer(self._cell, x, h0, c0, p, mask)

    def _check_frames(self, x: Tensor, dims: int, what: str) -> None:
        name = type(self).__name__
        if not isinstance(x, Tensor) or x.dim() != dims:
            got = f"{x.dim()}-D" if isinstance(x, Tensor) else type(x).__name__
            raise InputError(f"{name}: expected {what}, got {got} input")
        C = x.shape[-3]
        if C != self.input_channels:
            raise InputError(f"{name}: expected {self.input_channels} input channels, got {C}")
        w = self.weight_ih_l0 if hasattr(self, "weight_ih_l0") else self.weight_ih
        if x.dtype != w.dtype or x.device != w.device:
            raise InputError(
                f"{name}: input must have the parameters' dtype and device ({w.dtype}, {w.device}), "
                f"got ({x.dtype}, {x.device})"
            )


class ConvLSTM(_ConvLSTMBase):
    r"""A multi-layer convolutional LSTM (Shi et al. 2015, "Convolutional LSTM Network: A
    Machine Learning Approach for Precipitation Nowcasting").

    Every layer runs, for each frame x_t (``*`` is a 2-D convolution with "same" padding,
    gates stacked i, f, g, o exactly as :class:`lstmkit.LSTM`)::

        [i, f, g, o] = W_ih * x_t + b_ih + W_hh * h_{t-1} + b_hh
        i, f, o = sigmoid(i [+ p_i c_{t-1}]), sigmoid(f [+ p_f c_{t-1}]), sigmoid(o [+ p_o c_t])
        c_t = f c_{t-1} + i tanh(g),   h_t = o tanh(c_t)

    Args:
        input_channels: C, channels of the input frames.
        hidden_channels: K, an int for every layer or one int per layer.
        kernel_size: odd int or (kY, kX) pair; padding keeps the frame size.
        num_layers: layers (when ``hidden_channels`` is an int).
        bias: the two biases ``bias_ih``, ``bias_hh`` of each layer, as torch.nn.LSTM.
        batch_first: input (B, T, C, Y, X) when True (default), else (T, B, C, Y, X).
        peephole: the peephole terms in brackets. Shi et al. use one weight per pixel and
            channel (a Hadamard product); here they are one weight per channel
            (``peephole_i_l0`` (K,) ...), so the layer works at any frame size.
        forget_bias: added to the forget gate's ``bias_hh`` at initialisation.
        device: where the parameters live (default torch's).
        dtype: the parameters' dtype (default torch's).
        backend: keyword-only; ``"auto"`` (= ``"reference"``), ``"fused"`` or ``"reference"``.

    Raises:
        InputError: a bad size, kernel size, option or backend name.

    Parameters of layer k: ``weight_ih_lk`` (4K, C, kY, kX), ``weight_hh_lk`` (4K, K, kY, kX),
    ``bias_ih_lk``, ``bias_hh_lk`` (4K,).

    Forward: ``output, (h_n, c_n) = convlstm(x, (h_0, c_0), lengths=None)``; ``output``
    is the last layer's h for every step, shaped like the input with K channels;
    ``h_n``, ``c_n`` (L, B, K, Y, X) (a list per layer when the layers' K differ);
    ``lengths`` (B,) gives each clip's true length: outputs past it are zero and the
    final states are taken at it.

    Example:
        >>> import torch, lstmkit
        >>> m = lstmkit.ConvLSTM(1, 8, kernel_size=3, num_layers=2)
        >>> out, (h, c) = m(torch.rand(2, 5, 1, 12, 12))
        >>> out.shape, h.shape
        (torch.Size([2, 5, 8, 12, 12]), torch.Size([2, 2, 8, 12, 12]))
    """

    def __init__(self, input_channels: int, hidden_channels: int | Sequence[int], kernel_size=3,
                 num_layers: int = 1, bias: bool = True, batch_first: bool = True,
                 peephole: bool = False, forget_bias: float = 0.0, device=None, dtype=None, *,
                 backend: str = "auto") -> None:
        super().__init__()
        if isinstance(hidden_channels, Sequence):
            hidden = list(hidden_channels)
            if not hidden or (num_layers != 1 and num_layers != len(hidden)):
                raise InputError(
                    f"hidden_channels lists {len(hidden)} layers but num_layers is {num_layers}"
                )
        else:
            if not isinstance(num_layers, int) or num_layers <= 0:
                raise InputError(f"num_layers must be a positive integer, got {num_layers!r}")
            hidden = [hidden_channels] * num_layers
        self._hidden = hidden
        self.hidden_channels = hidden_channels
        self.num_layers = len(hidden)
        self.batch_first = batch_first
        self._setup(input_channels, hidden, kernel_size, bias, peephole, forget_bias, backend,
                    device, dtype, [f"_l{i}" for i in range(len(hidden))])

    def extra_repr(self) -> str:
        """The constructor arguments that differ from the defaults."""
        s = f"{self.input_channels}, {self.hidden_channels}, kernel_size={self.kernel_size}"
        if self.num_layers != 1 and isinstance(self.hidden_channels, int):
            s += f", num_layers={self.num_layers}"
        for name, default in (("bias", True), ("batch_first", True), ("peephole", False),
                              ("forget_bias", 0.0), ("backend", "auto")):
            if getattr(self, name) != default:
                s += f", {name}={getattr(self, name)!r}"
        return s

    def forward(self, input: Tensor, hx=None, *, lengths=None):
        """Run the clips through every layer.

        Args:
            input: (B, T, C, Y, X) with ``batch_first`` (default), else (T, B, C, Y, X).
            hx: ``(h_0, c_0)``, each indexable by layer with (B, K, Y, X) entries
                ((L, B, K, Y, X) tensors, or lists); zeros when None.
            lengths: keyword-only, (B,) each clip's true length.

        Returns:
            ``output, (h_n, c_n)``: output shaped like the input with K channels (the
            last layer's h at every step); h_n, c_n (L, B, K, Y, X), or lists per layer
            when the layers' K differ.

        Raises:
            InputError: wrong shapes, dtype or device of the input or states, or bad lengths.
        """
        self._check_frames(input, 5, "5-D frames (B, T, C, Y, X)" if self.batch_first else "5-D frames (T, B, C, Y, X)")
        x = input.transpose(0, 1) if self.batch_first else input  # (T, B, C, Y, X)
        T, B, _, Y, X = x.shape
        lengths = check_lengths(lengths, T, B, x.device)
        mask = step_mask(lengths, T)
        states = self._initial_states(hx, x, B, Y, X)
        loop = resolve_backend(self.backend, x)
        seq = list(x.unbind(0)) if loop == "reference" else x
        hns, cns = [], []
        for i, sfx in enumerate(self._suffixes):
            seq, hn, cn = self._run_layer(sfx, loop, seq, *states[i], mask)
            hns.append(hn)
            cns.append(cn)
        x = torch.stack(seq) if loop == "reference" else seq
        out = x.transpose(0, 1) if self.batch_first else x
        if len(set(self._hidden)) == 1:
            return out, (torch.stack(hns), torch.stack(cns))
        return out, (hns, cns)

    def _initial_states(self, hx, x: Tensor, B: int, Y: int, X: int) -> list[tuple[Tensor, Tensor]]:
        if hx is None:
            return [(x.new_zeros(B, K, Y, X), x.new_zeros(B, K, Y, X)) for K in self._hidden]
        if not isinstance(hx, (tuple, list)) or len(hx) != 2:
            raise InputError(f"ConvLSTM: hx must be a pair (h_0, c_0), got {type(hx).__name__}")
        out = []
        for i, K in enumerate(self._hidden):
            pair = []
            for name, s in zip(("h_0", "c_0"), hx):
                t = s[i]
                if tuple(t.shape) != (B, K, Y, X):
                    raise InputError(f"ConvLSTM: expected {name}[{i}] of shape {(B, K, Y, X)}, got {tuple(t.shape)}")
                pair.append(t)
            out.append(tuple(pair))
        return out


class ConvLSTMCell(_ConvLSTMBase):
    """One ConvLSTM step: ``h_1, c_1 = cell(x, (h_0, c_0))`` with x (B, C, Y, X) and states
    (B, K, Y, X) (zeros when omitted). Same math, options and backends as :class:`ConvLSTM`;
    parameters ``weight_ih`` (4K, C, kY, kX), ``weight_hh`` (4K, K, kY, kX), ``bias_ih``,
    ``bias_hh`` (4K,), and ``peephole_i``/``_f``/``_o`` (K,) with ``peephole=True``.
    A cell and a one-layer ConvLSTM with the same weights give the same states.

    Args:
        input_channels: C, channels of the input frames.
        hidden_channels: K, channels of h and c.
        kernel_size: odd int or (kY, kX) pair.
        bias: the biases ``bias_ih``, ``bias_hh`` (default True).
        peephole: per-channel peepholes (default False).
        forget_bias: added to the forget gate's ``bias_hh`` at initialisation.
        device: where the parameters live (default torch's).
        dtype: the parameters' dtype (default torch's).
        backend: keyword-only; ``"auto"``, ``"fused"`` or ``"reference"``.

    Raises:
        InputError: a bad size, kernel size, option or backend name.

    Example:
        >>> import torch, lstmkit
        >>> cell = lstmkit.convlstm.ConvLSTMCell(3, 4, kernel_size=(3, 5), peephole=True)
        >>> h, c = cell(torch.rand(2, 3, 8, 8))
        >>> h.shape
        torch.Size([2, 4, 8, 8])
    """

    def __init__(self, input_channels: int, hidden_channels: int, kernel_size=3, bias: bool = True,
                 peephole: bool = False, forget_bias: float = 0.0, device=None, dtype=None, *,
                 backend: str = "auto") -> None:
        super().__init__()
        self._hidden = [hidden_channels]
        self.hidden_channels = hidden_channels
        self._setup(input_channels, [hidden_channels], kernel_size, bias, peephole, forget_bias,
                    backend, device, dtype, [""])

    def extra_repr(self) -> str:
        """The channels and kernel size."""
        return f"{self.input_channels}, {self.hidden_channels}, kernel_size={self.kernel_size}"

    def forward(self, input: Tensor, hx: tuple[Tensor, Tensor] | None = None):
        """One step.

        Args:
            input: (B, C, Y, X).
            hx: ``(h_0, c_0)``, each (B, K, Y, X); zeros when None.

        Returns:
            ``(h_1, c_1)``, each (B, K, Y, X).

        Raises:
            InputError: wrong shapes, dtype or device.
        """
        self._check_frames(input, 4, "4-D frames (B, C, Y, X)")
        B, _, Y, X = input.shape
        K = self.hidden_channels
        if hx is None:
            h0 = c0 = input.new_zeros(B, K, Y, X)
        else:
            h0, c0 = hx
            for name, s in (("h_0", h0), ("c_0", c0)):
                if tuple(s.shape) != (B, K, Y, X):
                    raise InputError(f"ConvLSTMCell: expected {name} of shape {(B, K, Y, X)}, got {tuple(s.shape)}")
        loop = resolve_backend(self.backend, input)
        x = [input] if loop == "reference" else input.unsqueeze(0)
        _, h1, c1 = self._run_layer("", loop, x, h0, c0, None)
        return h1, c1
