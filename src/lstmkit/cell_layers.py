"""One-step cells with torch.nn's signatures: LSTMCell, GRUCell, RNNCell.

``weight_ih`` (G, I), ``weight_hh`` (G, H), ``bias_ih`` (G,), ``bias_hh`` (G,) with
G = 4H (LSTM, gates i f g o), 3H (GRU, r z n) or H (RNN), initialised
U(-1/sqrt(H), 1/sqrt(H)); input (B, I) or unbatched (I,). They run on the same backends
as the layers (one time step), so a cell and a layer with the same weights agree.
LSTMCell and GRUCell take the variants of :mod:`lstmkit.variants`; a cell draws its
masks at every call (a call is one step), so for one recurrent-dropout mask per
sequence use the layer.
"""

from __future__ import annotations

import math

from torch import Tensor, nn

from lstmkit import backends
from lstmkit.backends import LayerSpec, active_tools, cell_step
from lstmkit.cells import cell_math
from lstmkit.layers import RefusesQuantization
from lstmkit.torchscript import ScriptsAsTorch
from lstmkit.variants import (
    Variants,
    direction_params,
    register_direction,
    registered_names,
    reset_variants,
)


class _CellBase(RefusesQuantization, ScriptsAsTorch, nn.Module):
    """Shared machinery of the cells; arguments as documented on :class:`LSTMCell`."""

    def __init__(self, mode, input_size, hidden_size, bias=True, device=None, dtype=None, *,
                 backend="auto", **variants):
        super().__init__()
        for name, value in (("input_size", input_size), ("hidden_size", hidden_size)):
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        self.mode = mode
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.bias = bias
        self.backend = backends.check_name(backend)
        self.variants = Variants.build(mode, bias, owner=type(self).__name__, **variants)
        self._cell = cell_math(mode, **self.variants.cell_options(mode))
        register_direction(self, "", mode, self._cell.n_gates, input_size, hidden_size,
                           hidden_size, bias, 0, self.variants, {"device": device, "dtype": dtype})
        if not bias:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()
        self._parameter_names = registered_names(self)

    def _torch_twin(self, device, dtype) -> nn.Module:
        """The torch.nn cell of this configuration, with its own initial weights."""
        kw = {"bias": self.bias, "device": device, "dtype": dtype}
        if self.mode.startswith("RNN"):
            kw["nonlinearity"] = "tanh" if self.mode == "RNN_TANH" else "relu"
        torch_cls = {"LSTM": nn.LSTMCell, "GRU": nn.GRUCell}.get(self.mode, nn.RNNCell)
        return torch_cls(self.input_size, self.hidden_size, **kw)

    def reset_parameters(self) -> None:
        stdv = 1.0 / math.sqrt(self.hidden_size)
        for weight in self.parameters():
            nn.init.uniform_(weight, -stdv, stdv)
        reset_variants(self, self.variants, self.mode, self.hidden_size)

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if not self.bias:
            s += ", bias=False"
        if self.backend != "auto":
            s += f", backend={self.backend!r}"
        return ", ".join([s, *self.variants.repr_items()])

    @property
    def spec(self) -> LayerSpec:
        """The cell's configuration as the backends see it (one layer, one direction)."""
        return LayerSpec(self.mode, self.input_size, self.hidden_size, bias=self.bias,
                         **self.variants.spec_fields(self.training))

    def _check(self, name: str, t: Tensor, x: Tensor) -> Tensor:
        if not isinstance(t, Tensor):
            raise TypeError(f"{type(self).__name__}: {name} must be a tensor, got {type(t).__name__}")
        expected = (x.shape[0] if x.dim() == 2 else 1, self.hidden_size)
        if t.dim() != x.dim() or tuple(t.shape if x.dim() == 2 else (1, *t.shape)) != expected:
            exp = expected if x.dim() == 2 else (self.hidden_size,)
            raise ValueError(f"{type(self).__name__}: Expected {name} size {exp}, got {list(t.shape)}")
        if t.dtype != x.dtype:
            raise ValueError(f"{name} must have the input's dtype {x.dtype}, got {t.dtype}")
        return t if x.dim() == 2 else t.unsqueeze(0)

    def _step(self, input: Tensor, h: Tensor | None, c: Tensor | None):
        name = type(self).__name__
        if not isinstance(input, Tensor) or input.dim() not in (1, 2):
            dims = input.dim() if isinstance(input, Tensor) else type(input).__name__
            raise ValueError(f"{name}: Expected input to be 1D or 2D, got {dims}D instead")
        if input.shape[-1] != self.input_size:
            raise ValueError(
                f"{name}: input has inconsistent input_size: got {input.shape[-1]} "
                f"expected {self.input_size}"
            )
        if input.dtype != self.weight_ih.dtype:
            raise ValueError(f"{name}: input must have the parameters' dtype {self.weight_ih.dtype}, got {input.dtype}")
        x = input if input.dim() == 2 else input.unsqueeze(0)
        h = x.new_zeros(x.shape[0], self.hidden_size) if h is None else self._check("hx", h, input)
        if self._cell.has_cell:
            c = x.new_zeros(x.shape[0], self.hidden_size) if c is None else self._check("cx", c, input)
        tools = active_tools(x)
        # the compiled streaming path (inference, one C++ call) is opaque to torch's tools
        fast = None if tools else cell_step(self, x, h, c)
        if fast is not None:
            hn, cn = fast
            if input.dim() == 1:
                hn, cn = hn[0], None if cn is None else cn[0]
            return hn, cn
        spec = self.spec
        backend = backends.select(spec, x, self.backend, tools=tools)
        x3 = x.unsqueeze(0)  # (1, B, I)
        p = direction_params(self, "", self.variants, 1, x.shape[0], self.hidden_size,
                             self.hidden_size, x3, self.training)
        hn, cn = backend.run_cell(spec, self._cell, x, h, c, p, self.training)
        if input.dim() == 1:
            hn, cn = hn[0], None if cn is None else cn[0]
        return hn, cn


class LSTMCell(_CellBase):
    """One LSTM step, a drop-in for :class:`torch.nn.LSTMCell`: ``h_1, c_1 = cell(input, (h_0, c_0))``.

    Parameters: ``weight_ih`` (4H, I), ``weight_hh`` (4H, H), ``bias_ih``, ``bias_hh``
    (4H,), U(-1/sqrt(H), 1/sqrt(H)); the variants add theirs (:mod:`lstmkit.variants`).

    Args:
        input_size: I, the features of the input.
        hidden_size: H, the features of h and c.
        bias: if False, no biases (default True).
        device: where the parameters live (default torch's).
        dtype: the parameters' dtype (default torch's).
        backend: keyword-only backend name (default ``"auto"``, see :mod:`lstmkit.backends`).
        **variants: keyword-only LSTM variants of :mod:`lstmkit.variants`
            (``layer_norm``, ``peephole``, ``coupled_gates``, ``forget_bias``,
            ``cell_clip``, ``recurrent_dropout``, ``zoneout``, ``weight_drop``); masks
            are drawn at every call.

    Raises:
        ValueError: a size that is not a positive integer, or a bad variant option.

    Example:
        >>> import torch, lstmkit
        >>> cell = lstmkit.LSTMCell(10, 20)
        >>> h, c = cell(torch.randn(3, 10))
        >>> h.shape, c.shape
        (torch.Size([3, 20]), torch.Size([3, 20]))
        >>> h, c = cell(torch.randn(3, 10), (h, c))
    """

    def __init__(self, input_size, hidden_size, bias=True, device=None, dtype=None, *, backend="auto", **variants):
        super().__init__("LSTM", input_size, hidden_size, bias, device, dtype, backend=backend, **variants)

    def forward(self, input: Tensor, hx: tuple[Tensor, Tensor] | None = None):
        """One step.

        Args:
            input: (B, I) or unbatched (I,).
            hx: ``(h_0, c_0)``, each (B, H) (or (H,)); zeros when None.

        Returns:
            ``(h_1, c_1)``, each (B, H) (or (H,)).

        Raises:
            ValueError: wrong shapes or dtypes of the input or states.
        """
        h, c = (None, None) if hx is None else hx
        return self._step(input, h, c)


class GRUCell(_CellBase):
    """One GRU step, a drop-in for :class:`torch.nn.GRUCell`: ``h_1 = cell(input, h_0)``.

    Parameters: ``weight_ih`` (3H, I), ``weight_hh`` (3H, H), ``bias_ih``, ``bias_hh`` (3H,).

    Args:
        input_size: I, the features of the input.
        hidden_size: H, the features of h.
        bias: if False, no biases (default True).
        device: where the parameters live (default torch's).
        dtype: the parameters' dtype (default torch's).
        backend: keyword-only backend name (default ``"auto"``).
        **variants: keyword-only GRU variants (``layer_norm``, ``recurrent_dropout``,
            ``zoneout`` (one rate), ``weight_drop``).

    Raises:
        ValueError: a bad size, or an LSTM-only option.

    Example:
        >>> import torch, lstmkit
        >>> cell = lstmkit.GRUCell(10, 20, layer_norm=True)
        >>> cell(torch.randn(3, 10)).shape
        torch.Size([3, 20])
    """

    def __init__(self, input_size, hidden_size, bias=True, device=None, dtype=None, *, backend="auto", **variants):
        super().__init__("GRU", input_size, hidden_size, bias, device, dtype, backend=backend, **variants)

    def forward(self, input: Tensor, hx: Tensor | None = None) -> Tensor:
        """One step.

        Args:
            input: (B, I) or unbatched (I,).
            hx: h_0 (B, H) (or (H,)); zeros when None.

        Returns:
            h_1 (B, H) (or (H,)).

        Raises:
            ValueError: wrong shapes or dtypes of the input or state.
        """
        return self._step(input, hx, None)[0]


class RNNCell(_CellBase):
    """One Elman step, a drop-in for :class:`torch.nn.RNNCell`: ``h_1 = cell(input, h_0)``.

    Parameters: ``weight_ih`` (H, I), ``weight_hh`` (H, H), ``bias_ih``, ``bias_hh`` (H,).

    Args:
        input_size: I, the features of the input.
        hidden_size: H, the features of h.
        bias: if False, no biases (default True).
        nonlinearity: ``"tanh"`` (default) or ``"relu"``.
        device: where the parameters live (default torch's).
        dtype: the parameters' dtype (default torch's).
        backend: keyword-only backend name (default ``"auto"``).

    Raises:
        ValueError: an unknown nonlinearity or a bad size.

    Example:
        >>> import torch, lstmkit
        >>> cell = lstmkit.RNNCell(10, 20, nonlinearity="relu")
        >>> cell(torch.randn(10)).shape
        torch.Size([20])
    """

    def __init__(self, input_size, hidden_size, bias=True, nonlinearity="tanh", device=None, dtype=None, *, backend="auto"):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"Unknown nonlinearity '{nonlinearity}'. Select from 'tanh' or 'relu'.")
        self.nonlinearity = nonlinearity
        mode = "RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU"
        super().__init__(mode, input_size, hidden_size, bias, device, dtype, backend=backend)

    def forward(self, input: Tensor, hx: Tensor | None = None) -> Tensor:
        """One step.

        Args:
            input: (B, I) or unbatched (I,).
            hx: h_0 (B, H) (or (H,)); zeros when None.

        Returns:
            h_1 (B, H) (or (H,)).

        Raises:
            ValueError: wrong shapes or dtypes of the input or state.
        """
        return self._step(input, hx, None)[0]
