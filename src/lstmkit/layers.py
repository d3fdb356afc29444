"""Recurrent layers with torch.nn's signatures: LSTM, GRU, RNN and their one-step cells.

Parameter names, shapes, initialisation, defaults and return values are torch.nn's,
so ``state_dict``s move both ways. Beyond torch: a forward keyword ``lengths`` for
padded variable-length batches, and a keyword-only ``backend`` (see
:mod:`lstmkit.backends`).

Shape legend: T time, B batch, I input_size, H hidden_size, P proj_size or H, L layers,
D directions (2 if bidirectional).
"""

from __future__ import annotations

import inspect
import math
import numbers
import warnings

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import PackedSequence, pad_packed_sequence

from lstmkit import backends
from lstmkit.backends import LayerSpec, active_tools, layer_step
from lstmkit.backends.tools import CAPTURING
from lstmkit.cells import cell_math
from lstmkit.recording import active_recorder
from lstmkit.torchscript import ScriptsAsTorch
from lstmkit.variants import (
    Variants,
    direction_params,
    register_direction,
    registered_names,
    reset_variants,
)


def _check_lengths(lengths, T: int, B: int, device, tools=frozenset()) -> Tensor | None:
    if lengths is None:
        return None
    if not isinstance(lengths, Tensor):
        lengths = torch.as_tensor(lengths)
    if lengths.dim() != 1 or lengths.shape[0] != B:
        raise ValueError(
            f"lengths must be a 1-D tensor of {B} sequence lengths (one per batch element), "
            f"got shape {tuple(lengths.shape)}"
        )
    if lengths.dtype.is_floating_point or lengths.dtype == torch.bool or lengths.is_complex():
        raise ValueError(f"lengths must be an integer tensor, got {lengths.dtype}")
    lengths = lengths.to(device=device, dtype=torch.int64)
    if B == 0:
        return None  # an empty batch: nothing to mask
    if tools & CAPTURING:  # reading the values would break the capture: not checked
        return lengths
    lo, hi = int(lengths.min()), int(lengths.max())
    if lo <= 0:
        raise ValueError(f"lengths must be positive (at least 1), got a length of {lo}")
    if hi > T:
        raise ValueError(f"lengths must be at most the sequence length T={T}, got a length of {hi}")
    if lo == T:
        return None  # every sequence is full: the padded forward, with nothing to mask or skip
    return lengths


def _pack_like(out: Tensor, template: PackedSequence) -> PackedSequence:
    """Pack the time-major padded ``out`` (T, B, F) with ``template``'s layout."""
    bs = template.batch_sizes
    order = template.sorted_indices
    if order is None:
        order = torch.arange(int(bs[0]), device=out.device)
    order = order.to(out.device)
    t_idx = torch.repeat_interleave(torch.arange(len(bs), device=out.device), bs.to(out.device))
    b_idx = torch.cat([order[: int(n)] for n in bs])
    return PackedSequence(out[t_idx, b_idx], bs, template.sorted_indices, template.unsorted_indices)


class RefusesQuantization:
    """Mixin: a clear refusal where ``torch.ao.quantization`` would leave the layer float
    without a word.

    torch's quantization flows assign ``module.qconfig`` to each module they mean to
    quantize (``quantize_dynamic(model, {lstmkit.LSTM, ...})``, a qconfig propagated from
    a parent for static quantization) and later swap only the types they have an int8
    class for, silently keeping the rest float. lstmkit has no int8 layer (torch's dynamic
    int8 LSTM measured 1.85x slower than float32 on this CPU), so assigning a qconfig
    raises. ``quantize_dynamic(model)`` with its default spec never targets lstmkit's
    types (it lists torch.nn's own) and leaves the layers float, as it does every module
    it does not know."""

    def __setattr__(self, name, value):
        if name == "qconfig" and value is not None:
            kind = type(self).__name__
            raise ValueError(
                f"lstmkit.{kind} has no int8 form, and torch.ao.quantization would keep it "
                f"float32 without a word (it was given a qconfig). Keep it float explicitly: set "
                f"<layer>.qconfig = None before quantizing the rest of the model; for torch's "
                f"dynamic int8 {kind.removesuffix('Cell')} (measured 1.85x slower than float32 on "
                f"the CPU) convert a plain layer with .to_torch() first")
        super().__setattr__(name, value)


class _RNNBase(RefusesQuantization, ScriptsAsTorch, nn.Module):
    """Shared machinery of :class:`LSTM`, :class:`GRU` and :class:`RNN`.

    ``mode`` is torch's (``LSTM``, ``GRU``, ``RNN_TANH``, ``RNN_RELU``); the other
    arguments are documented on :class:`LSTM`."""

    def __init__(
        self,
        mode: str,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        proj_size: int = 0,
        device=None,
        dtype=None,
        *,
        backend: str = "auto",
        **variants,
    ) -> None:
        super().__init__()
        factory = {"device": device, "dtype": dtype}
        if (
            not isinstance(dropout, numbers.Number)
            or isinstance(dropout, bool)
            or not 0 <= dropout <= 1
        ):
            raise ValueError(
                "dropout should be a number in range [0, 1] representing the probability of "
                f"an element being zeroed, got {dropout!r}"
            )
        if dropout > 0 and num_layers == 1:
            warnings.warn(
                "dropout option adds dropout after all but last recurrent layer, so non-zero "
                f"dropout expects num_layers greater than 1, but got dropout={dropout} and "
                f"num_layers={num_layers}"
            )
        factory = {"device": device, "dtype": dtype}
        for name, value in (("hidden_size", hidden_size), ("num_layers", num_layers)):
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if not isinstance(input_size, int) or isinstance(input_size, bool) or input_size <= 0:
            raise ValueError(f"input_size must be greater than zero, got {input_size!r}")  # torch.nn's words
        if not isinstance(proj_size, int) or proj_size < 0:
            raise ValueError(f"proj_size should be a non-negative integer, got {proj_size!r}")
        if proj_size >= hidden_size:
            raise ValueError(
                f"proj_size has to be smaller than hidden_size, got proj_size={proj_size} "
                f"and hidden_size={hidden_size}"
            )
        if proj_size and mode != "LSTM":
            raise ValueError("proj_size argument is only supported for LSTM, not RNN or GRU")
        self.mode = mode
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.bias = bias
        self.batch_first = batch_first
        self.dropout = float(dropout)
        self.bidirectional = bidirectional
        self.proj_size = proj_size
        self.backend = backends.check_name(backend)
        self.variants = Variants.build(mode, bias, owner=type(self).__name__, **variants)
        self._cell = cell_math(mode, **self.variants.cell_options(mode))
        P = proj_size or hidden_size
        D = 2 if bidirectional else 1
        self._flat_weights_names: list[str] = []
        for layer in range(num_layers):
            layer_in = input_size if layer == 0 else P * D
            for direction in range(D):
                sfx = f"_l{layer}" + ("_reverse" if direction == 1 else "")
                self._flat_weights_names += register_direction(
                    self, sfx, mode, self._cell.n_gates, layer_in, hidden_size, P, bias,
                    proj_size, self.variants, factory,
                )
        self.reset_parameters()
        self._parameter_names = registered_names(self)

    # ---- torch.nn compatibility -------------------------------------------------------
    def reset_parameters(self) -> None:
        """U(-1/sqrt(H), 1/sqrt(H)) for every parameter, as torch.nn does."""
        stdv = 1.0 / math.sqrt(self.hidden_size) if self.hidden_size > 0 else 0
        for weight in self.parameters():
            nn.init.uniform_(weight, -stdv, stdv)
        reset_variants(self, self.variants, self.mode, self.hidden_size)

    def flatten_parameters(self) -> None:
        """Accepted for compatibility with torch.nn; lstmkit needs no flat buffer."""

    @property
    def _flat_weights(self) -> list[Tensor]:
        params = self._parameters
        try:  # read straight from the registry: a forward reads this on every call
            return [params[n] for n in self._flat_weights_names]
        except KeyError:  # a weight that is no longer a registered parameter (a parametrization)
            return [getattr(self, n) for n in self._flat_weights_names]

    @property
    def all_weights(self) -> list[list[Tensor]]:
        per = len(self._flat_weights_names) // (self.num_layers * self._num_directions)
        w = self._flat_weights
        return [w[i : i + per] for i in range(0, len(w), per)]

    @property
    def _num_directions(self) -> int:
        return 2 if self.bidirectional else 1

    def extra_repr(self) -> str:
        s = "{input_size}, {hidden_size}"
        if self.proj_size != 0:
            s += ", proj_size={proj_size}"
        if self.num_layers != 1:
            s += ", num_layers={num_layers}"
        if self.bias is not True:
            s += ", bias={bias}"
        if self.batch_first is not False:
            s += ", batch_first={batch_first}"
        if self.dropout != 0:
            s += ", dropout={dropout}"
        if self.bidirectional is not False:
            s += ", bidirectional={bidirectional}"
        if self.backend != "auto":
            s += ", backend={backend!r}"
        s = s.format(**self.__dict__)
        return ", ".join([s, *self.variants.repr_items()])

    @property
    def spec(self) -> LayerSpec:
        """The layer's configuration as the backends see it (a
        :class:`~lstmkit.backends.LayerSpec`, for the current training mode). Kept
        while the attributes it is made of stay the same (a forward reads it)."""
        key = (self.training, self.mode, self.input_size, self.hidden_size, self.num_layers,
               self.bias, self.dropout, self.bidirectional, self.proj_size, self.variants)
        cached = self.__dict__.get("_spec_cache")
        if cached is not None and cached[0] == key:
            return cached[1]
        spec = LayerSpec(
            mode=self.mode,
            input_size=self.input_size,
            hidden_size=self.hidden_size,
            num_layers=self.num_layers,
            bias=self.bias,
            dropout=self.dropout,
            bidirectional=self.bidirectional,
            proj_size=self.proj_size,
            **self.variants.spec_fields(self.training),
        )
        self.__dict__["_spec_cache"] = (key, spec)
        return spec

    def _layer_params(self, layer: int, x: Tensor) -> list:
        """Each direction's parameters, with this forward's masks drawn."""
        T, B = x.shape[0], x.shape[1]
        P = self.proj_size or self.hidden_size
        return [
            direction_params(self, f"_l{layer}" + ("_reverse" if d else ""), self.variants,
                             T, B, P, self.hidden_size, x, self.training)
            for d in range(self._num_directions)
        ]

    def _torch_twin(self, device, dtype) -> nn.Module:
        """A torch.nn module of this configuration, with its own initial weights."""
        torch_cls = {"LSTM": nn.LSTM, "GRU": nn.GRU}.get(self.mode, nn.RNN)
        return torch_cls(**self._torch_kwargs(), device=device, dtype=dtype)

    def _torch_kwargs(self) -> dict:
        kw = {
            "input_size": self.input_size,
            "hidden_size": self.hidden_size,
            "num_layers": self.num_layers,
            "bias": self.bias,
            "batch_first": self.batch_first,
            "dropout": self.dropout,
            "bidirectional": self.bidirectional,
        }
        if self.mode == "LSTM":
            kw["proj_size"] = self.proj_size
        elif self.mode.startswith("RNN"):
            kw["nonlinearity"] = "tanh" if self.mode == "RNN_TANH" else "relu"
        return kw

    @classmethod
    def from_torch(cls, module: nn.Module, *, backend: str = "auto", **options):
        """A copy of a ``torch.nn`` LSTM/GRU/RNN as this class (same weights, device and dtype).

        Args:
            module: a ``torch.nn.LSTM``, ``GRU`` or ``RNN`` (of this class's kind).
            backend: keyword-only, the new layer's backend (default ``"auto"``).
            **options: further constructor options (e.g. variants); their extra
                parameters keep their initial values.

        Returns:
            The new layer.

        Example:
            >>> import torch, lstmkit
            >>> ref = torch.nn.LSTM(4, 8)
            >>> lstm = lstmkit.LSTM.from_torch(ref)
            >>> x = torch.randn(5, 2, 4)
            >>> torch.allclose(lstm(x)[0], ref(x)[0], atol=1e-6)
            True
        """
        kw = {
            "input_size": module.input_size,
            "hidden_size": module.hidden_size,
            "num_layers": module.num_layers,
            "bias": module.bias,
            "batch_first": module.batch_first,
            "dropout": module.dropout,
            "bidirectional": module.bidirectional,
        }
        if cls is LSTM:
            kw["proj_size"] = getattr(module, "proj_size", 0)
        if cls is RNN:
            kw["nonlinearity"] = module.nonlinearity
        p = next(module.parameters())
        new = cls(**kw, device=p.device, dtype=p.dtype, backend=backend, **options)
        new.load_state_dict(module.state_dict(), strict=not options)
        return new

    def to_torch(self) -> nn.Module:
        """The equivalent ``torch.nn`` module with the same weights.

        ``recurrent_dropout`` and ``weight_drop`` act only in training, so the copy
        matches this layer in eval mode.

        Returns:
            A ``torch.nn.LSTM``, ``GRU`` or ``RNN``.

        Raises:
            ValueError: a variant torch.nn has no equivalent of (layer_norm, peephole,
                coupled_gates, cell_clip, zoneout).
        """
        blocking = self.variants.torch_compatible()
        if blocking:
            raise ValueError(f"torch.nn has no equivalent of {blocking}; cannot convert")
        p = next(self.parameters())
        module = self._torch_twin(p.device, p.dtype)
        module.load_state_dict({k: v for k, v in self.state_dict().items() if k in module.state_dict()})
        return module

    # ---- forward ---------------------------------------------------------------------
    def _state_shapes(self, B: int) -> tuple[tuple, tuple | None]:
        LD = self.num_layers * self._num_directions
        P = self.proj_size or self.hidden_size
        return (LD, B, P), ((LD, B, self.hidden_size) if self.mode == "LSTM" else None)

    def _check_state(self, name: str, state: Tensor, expected: tuple, x: Tensor, batched: bool):
        if not isinstance(state, Tensor):
            raise TypeError(f"{name} must be a tensor, got {type(state).__name__}")
        if not batched and state.dim() != 2:
            raise ValueError(
                f"For unbatched 2-D input, {name} should also be 2-D but got "
                f"{state.dim()}-D tensor"
            )
        if batched and state.dim() != 3:
            raise ValueError(
                f"For batched 3-D input, {name} should also be 3-D but got {state.dim()}-D tensor"
            )
        shape = tuple(state.shape) if batched else (state.shape[0], 1, state.shape[1])
        if shape != expected:
            exp = expected if batched else (expected[0], expected[2])
            raise ValueError(f"Expected {name} size {exp}, got {list(state.shape)}")
        if state.dtype != x.dtype:
            raise ValueError(f"{name} must have the input's dtype {x.dtype}, got {state.dtype}")
        if state.device != x.device:
            raise ValueError(f"{name} must be on the input's device {x.device}, got {state.device}")

    def _prepare(self, input, hx, lengths, tools=frozenset()):
        """Normalise the input to time-major (T, B, I) and the states to (L*D, B, .)."""
        name = type(self).__name__
        packed = input if isinstance(input, PackedSequence) else None
        if packed is not None:
            if lengths is not None:
                raise ValueError("lengths cannot be given with a PackedSequence (it has its own)")
            x, lengths = pad_packed_sequence(packed)
            batched = True
        else:
            if not isinstance(input, Tensor):
                raise ValueError(f"{name}: expected a Tensor or PackedSequence, got {type(input).__name__}")
            if input.dim() not in (2, 3):
                raise ValueError(f"{name}: Expected input to be 2D or 3D, got {input.dim()}D tensor")
            batched = input.dim() == 3
            if not batched:
                x = input.unsqueeze(1)
            else:
                x = input.transpose(0, 1) if self.batch_first else input
        if x.shape[-1] != self.input_size:
            raise ValueError(
                f"{name}: input.size(-1) must be equal to input_size. Expected "
                f"{self.input_size}, got {x.shape[-1]}"
            )
        w = self.weight_ih_l0
        if x.dtype != w.dtype:
            raise ValueError(
                f"{name}: input must have the parameters' dtype {w.dtype}, got {x.dtype}"
            )
        if x.device != w.device:
            raise ValueError(f"{name}: input must be on the parameters' device {w.device}, got {x.device}")
        T, B = x.shape[0], x.shape[1]
        if T == 0:
            raise ValueError(f"{name}: expected at least one time step, got an empty sequence")
        lengths = _check_lengths(lengths, T, B, x.device, tools)
        h_shape, c_shape = self._state_shapes(B)
        if hx is None:
            h0 = x.new_zeros(h_shape)
            c0 = x.new_zeros(c_shape) if c_shape else None
        else:
            if self.mode == "LSTM":
                if not isinstance(hx, (tuple, list)) or len(hx) != 2:
                    raise ValueError(f"{name}: hx must be a tuple (h_0, c_0), got {type(hx).__name__}")
                h0, c0 = hx
                self._check_state("h_0", h0, h_shape, x, batched)
                self._check_state("c_0", c0, c_shape, x, batched)
                if not batched:
                    c0 = c0.unsqueeze(1)
            else:
                h0, c0 = hx, None
                self._check_state("hx", h0, h_shape, x, batched)
            if not batched:
                h0 = h0.unsqueeze(1)
        return x, h0, c0, lengths, packed, batched

    def _run(self, input, hx, lengths):
        tools = active_tools(input if isinstance(input, Tensor) else None)
        backend = None
        if not tools and lengths is None and hx is None:
            backend, fast = self._plain_forward(input)
            if fast is not None:
                return fast
        x, h0, c0, lengths, packed, batched = self._prepare(input, hx, lengths, tools)
        recorder = active_recorder(self)
        requested = "reference" if recorder is not None else self.backend
        spec = self.spec
        if backend is None:  # not chosen by the shortcut (it declines under a recording)
            backend = backends.select(spec, x, requested, lengths=lengths is not None, tools=tools)
        if lengths is not None:
            # the padding is zeroed, as a PackedSequence never holds it: a NaN there would
            # otherwise reach the gradients through the masks' 0 * NaN
            steps = torch.arange(x.shape[0], device=x.device)[:, None]
            x = torch.where((steps < lengths[None, :])[..., None], x, x.new_zeros(()))
        x = backend.prepare_input(x, tools)
        if recorder is not None:
            recorder.begin(lengths)
        D = self._num_directions
        one = self.num_layers == 1  # the states as they are: no slicing, no concatenation
        hns, cns = [], []
        layer_in = x
        for layer in range(self.num_layers):
            s = slice(layer * D, (layer + 1) * D)
            record = [] if recorder is not None else None
            with backend.layer_context(x, tools):
                out, hn, cn = backend.run_layer(
                    spec,
                    self._cell,
                    layer_in,
                    h0 if one else h0[s],
                    None if c0 is None else c0 if one else c0[s],
                    self._layer_params(layer, layer_in),
                    lengths,
                    self.training,
                    record,
                )
            if recorder is not None:
                recorder.layers.append(record)
            hns.append(hn)
            cns.append(cn)
            if self.dropout and self.training and layer < self.num_layers - 1:
                out = nn.functional.dropout(out, self.dropout, True)
            layer_in = out
        out = layer_in
        hn = hns[0] if one else torch.cat(hns)
        cn = None if c0 is None else cns[0] if one else torch.cat(cns)
        if packed is not None:
            out = _pack_like(out, packed)
        elif not batched:
            out, hn = out.squeeze(1), hn.squeeze(1)
            cn = cn.squeeze(1) if cn is not None else None
        elif self.batch_first:
            out = out.transpose(0, 1)
        return out, hn, cn


    def _plain_forward(self, input):
        """``(backend, result)``: a plain one-layer module's forward from zero states
        through the chosen backend's :meth:`~lstmkit.backends.Backend.run_plain_layer`
        (torch's kernel: the call the general path makes, so the same numbers) without the
        general path's per-call work; result None where that does not apply (a variant,
        a recording, several layers, an input the general path must check or reject,
        a backend that offers no shortcut), with the backend when one was chosen."""
        if (type(input) is not Tensor or input.dim() != 3 or self.num_layers != 1
                or not self._plain() or active_recorder(self) is not None):
            return None, None
        x = input.transpose(0, 1) if self.batch_first else input
        w = self.weight_ih_l0
        if x.shape[-1] != self.input_size or x.dtype != w.dtype or x.device != w.device \
                or x.shape[0] == 0:
            return None, None
        spec = self.spec
        # the choice for this call signature, kept on the module: select's own cache
        # costs a hash of the spec per call, which a one-step call feels
        key = (spec, self.backend, x.shape, x.dtype, x.device, torch.is_grad_enabled(), backends.generation)
        kept = self.__dict__.get("_plain_choice")
        if kept is not None and kept[0] == key:
            backend = kept[1]
        else:
            backend = backends.select(spec, x, self.backend, lengths=False, tools=frozenset())
            self.__dict__["_plain_choice"] = (key, backend)
        if not backend.offers_plain_layer:
            return backend, None
        h_shape, c_shape = self._state_shapes(x.shape[1])
        h0 = x.new_zeros(h_shape)
        c0 = x.new_zeros(c_shape) if c_shape else None
        res = backend.run_plain_layer(spec, x, h0, c0, self._flat_weights, self.training)
        if res is None:
            return backend, None
        out, hn, cn = res
        return backend, (out.transpose(0, 1) if self.batch_first else out, hn, cn)

    def _plain(self) -> bool:
        """No variant at all (kept while ``variants`` is the same object)."""
        cached = self.__dict__.get("_plain_cache")
        if cached is None or cached[0] is not self.variants:
            cached = self.__dict__["_plain_cache"] = (self.variants, not self.variants.on())
        return cached[1]

    def _step(self, x_t: Tensor, state):
        """One time step: ``x_t`` (B, I) or (I,) -> output (B, D*P) or (D*P,), new state."""
        if self.bidirectional:
            raise ValueError("step() runs one time step forward; a bidirectional layer needs the whole sequence")
        if not isinstance(x_t, Tensor) or x_t.dim() not in (1, 2):
            got = f"{x_t.dim()}-D" if isinstance(x_t, Tensor) else type(x_t).__name__
            raise ValueError(f"step() expects one time step, (B, {self.input_size}) or ({self.input_size},); got {got}")
        if state is not None:  # the streaming path reads the state before _prepare checks it
            if self.mode == "LSTM" and (not isinstance(state, (tuple, list)) or len(state) != 2):
                raise ValueError(f"step(): state must be a tuple (h, c), got {type(state).__name__}")
            if self.mode != "LSTM" and not isinstance(state, Tensor):
                raise TypeError(f"step(): state must be a tensor h, got {type(state).__name__}")
        fast = None if active_tools(x_t) else layer_step(self, x_t, state)
        if fast is not None:  # compiled streaming path (inference): one C++ call per layer
            return fast
        was_bf = self.batch_first
        self.batch_first = False
        try:
            out, hn, cn = self._run(x_t.unsqueeze(0), state, None)
        finally:
            self.batch_first = was_bf
        return out[0], hn, cn


class LSTM(_RNNBase):
    r"""A multi-layer LSTM, a drop-in for :class:`torch.nn.LSTM`.

    Each layer computes, for every element of the input sequence (gate order i, f, g, o)::

        i_t = sigmoid(W_ii x_t + b_ii + W_hi h_{t-1} + b_hi)
        f_t = sigmoid(W_if x_t + b_if + W_hf h_{t-1} + b_hf)
        g_t = tanh(W_ig x_t + b_ig + W_hg h_{t-1} + b_hg)
        o_t = sigmoid(W_io x_t + b_io + W_ho h_{t-1} + b_ho)
        c_t = f_t * c_{t-1} + i_t * g_t
        h_t = o_t * tanh(c_t)            (then h_t = W_hr h_t when proj_size > 0)

    Parameters (as torch.nn.LSTM), for layer k and ``_reverse`` for the second direction:
    ``weight_ih_l{k}`` (4H, I) for k = 0, else (4H, D*P); ``weight_hh_l{k}`` (4H, P);
    ``bias_ih_l{k}``, ``bias_hh_l{k}`` (4H,); ``weight_hr_l{k}`` (P, H) with ``proj_size``;
    all U(-1/sqrt(H), 1/sqrt(H)). The variants add their own (:mod:`lstmkit.variants`).

    Args:
        input_size: I, the number of features of each input step.
        hidden_size: H, the number of features of the hidden state.
        num_layers: L, recurrent layers stacked (default 1).
        bias: if False, no ``bias_ih``/``bias_hh`` (default True).
        batch_first: if True, ``input`` and ``output`` are (B, T, .) instead of
            (T, B, .); the states stay (L*D, B, .) (default False).
        dropout: dropout on each layer's output except the last's, in training
            (default 0.0).
        bidirectional: if True, D = 2 directions (default False).
        proj_size: P; if > 0, h_t is projected to P features by ``weight_hr`` (default 0,
            then P = H).
        device: where the parameters live (default torch's).
        dtype: the parameters' dtype (default torch's).
        backend: keyword-only; ``"auto"`` (default: the fastest backend that runs the
            configuration), ``"native"``, ``"compiled"``, ``"fused"``, ``"reference"`` or
            ``"triton"`` (see :mod:`lstmkit.backends` and ``lstmkit info``).
        layer_norm: keyword-only; layer-normalised gate pre-activations
            (:mod:`lstmkit.variants`; default False).
        peephole: keyword-only; i, f see c_{t-1} and o sees c_t (default False).
        coupled_gates: keyword-only; CIFG, i_t = 1 - f_t, 3H gate rows (default False).
        forget_bias: keyword-only; added to the forget gate's ``bias_hh`` at
            initialisation (default 0.0; needs ``bias=True``).
        cell_clip: keyword-only; c_t clamped to [-v, v] (default None: no clip).
        recurrent_dropout: keyword-only; variational dropout on h_{t-1} in training
            (default 0.0).
        zoneout: keyword-only; a rate, or ``(zoneout_c, zoneout_h)`` (default 0.0).
        weight_drop: keyword-only; DropConnect on ``weight_hh`` in training (default 0.0).

    Raises:
        ValueError: a size, rate or option out of range, or a variant combined with a
            mode that lacks it (the message names the argument).

    Example:
        >>> import torch, lstmkit
        >>> lstm = lstmkit.LSTM(10, 20, num_layers=2, batch_first=True)
        >>> out, (h, c) = lstm(torch.randn(5, 50, 10))
        >>> out.shape, h.shape, c.shape
        (torch.Size([5, 50, 20]), torch.Size([2, 5, 20]), torch.Size([2, 5, 20]))
        >>> out, _ = lstm(torch.randn(2, 50, 10), lengths=torch.tensor([50, 30]))
        >>> bool(out[1, 30:].eq(0).all())  # zero past each sequence's length
        True
        >>> ln = lstmkit.LSTM(10, 20, layer_norm=True, zoneout=0.1)
        >>> ln(torch.randn(7, 3, 10))[0].shape
        torch.Size([7, 3, 20])
    """

    def __init__(self, *args, **kwargs):
        super().__init__("LSTM", *args, **kwargs)

    def forward(self, input, hx=None, *, lengths=None):
        """Run the whole sequence through every layer.

        Args:
            input: (T, B, I), (B, T, I) with ``batch_first``, (T, I) unbatched, or a
                ``PackedSequence``.
            hx: ``(h_0, c_0)`` with h_0 (L*D, B, P) and c_0 (L*D, B, H) ((L*D, P) and
                (L*D, H) unbatched); zeros when None.
            lengths: keyword-only, (B,) integers: each padded sequence's true length
                (need not be sorted). Outputs past it are zero, ``h_n``/``c_n`` are taken
                at it and the reverse direction starts there, as packing would.

        Returns:
            ``output, (h_n, c_n)``: output (T, B, D*P) (batch first or packed as the
            input), h_n (L*D, B, P), c_n (L*D, B, H).

        Raises:
            ValueError: wrong shapes, dtypes or devices of the input or states, or
                lengths outside [1, T].
        """
        out, hn, cn = self._run(input, hx, lengths)
        return out, (hn, cn)

    def step(self, x_t: Tensor, state: tuple[Tensor, Tensor] | None = None):
        """Streaming: one time step in, one out, the state carried by the caller.

        Running T steps gives exactly ``lstm(x)`` (unidirectional layers only).

        Args:
            x_t: (B, I) or unbatched (I,).
            state: ``(h, c)`` as returned by the previous step, (L, B, P) and (L, B, H);
                zeros when None.

        Returns:
            ``y_t, (h, c)``: y_t (B, P) (or (P,)), the new states.

        Raises:
            ValueError: a bidirectional layer, or ``x_t`` not one time step.

        Example:
            >>> import torch, lstmkit
            >>> lstm = lstmkit.LSTM(4, 8).eval()
            >>> x = torch.randn(5, 2, 4)
            >>> state = None
            >>> for t in range(5):
            ...     y, state = lstm.step(x[t], state)
            >>> torch.allclose(y, lstm(x)[0][-1], atol=1e-6)
            True
        """
        out, hn, cn = self._step(x_t, state)
        return out, (hn, cn)


class GRU(_RNNBase):
    r"""A multi-layer GRU, a drop-in for :class:`torch.nn.GRU` (gate order r, z, n)::

        r_t = sigmoid(W_ir x_t + b_ir + W_hr h_{t-1} + b_hr)
        z_t = sigmoid(W_iz x_t + b_iz + W_hz h_{t-1} + b_hz)
        n_t = tanh(W_in x_t + b_in + r_t * (W_hn h_{t-1} + b_hn))
        h_t = (1 - z_t) * n_t + z_t * h_{t-1}

    Parameters as torch.nn.GRU: ``weight_ih_l{k}`` (3H, I or D*H), ``weight_hh_l{k}``
    (3H, H), ``bias_ih_l{k}``, ``bias_hh_l{k}`` (3H,) (``_reverse`` for direction 2).

    Args:
        input_size: I, the number of features of each input step.
        hidden_size: H, the number of features of the hidden state.
        num_layers: L, recurrent layers stacked (default 1).
        bias: if False, no ``bias_ih``/``bias_hh`` (default True).
        batch_first: if True, ``input`` and ``output`` are (B, T, .) instead of
            (T, B, .); the states stay (L*D, B, .) (default False).
        dropout: dropout on each layer's output except the last's, in training
            (default 0.0).
        bidirectional: if True, D = 2 directions (default False).
        device: where the parameters live (default torch's).
        dtype: the parameters' dtype (default torch's).
        backend: keyword-only; ``"auto"`` (default: the fastest backend that runs the
            configuration), ``"native"``, ``"compiled"``, ``"fused"``, ``"reference"`` or
            ``"triton"`` (see :mod:`lstmkit.backends` and ``lstmkit info``).
        layer_norm: keyword-only; layer-normalised gate pre-activations
            (:mod:`lstmkit.variants`; default False).
        recurrent_dropout: keyword-only; variational dropout on h_{t-1} (default 0.0).
        zoneout: keyword-only; one rate for h (default 0.0).
        weight_drop: keyword-only; DropConnect on ``weight_hh`` (default 0.0).

    The LSTM-only options (``peephole``, ``coupled_gates``, ``forget_bias``,
    ``cell_clip``, ``proj_size``) raise ValueError here.

    Raises:
        ValueError: a size, rate or option out of range, or an LSTM-only option.

    Example:
        >>> import torch, lstmkit
        >>> gru = lstmkit.GRU(10, 20, bidirectional=True)
        >>> out, h = gru(torch.randn(7, 3, 10))
        >>> out.shape, h.shape
        (torch.Size([7, 3, 40]), torch.Size([2, 3, 20]))
    """

    def __init__(self, *args, **kwargs):
        super().__init__("GRU", *args, **kwargs)

    def forward(self, input, hx=None, *, lengths=None):
        """Run the whole sequence through every layer.

        Args:
            input: (T, B, I), (B, T, I) with ``batch_first``, (T, I) unbatched, or a
                ``PackedSequence``.
            hx: h_0 (L*D, B, H) ((L*D, H) unbatched); zeros when None.
            lengths: keyword-only, (B,) integers: each padded sequence's true length
                (see :meth:`LSTM.forward`).

        Returns:
            ``output, h_n``: output (T, B, D*H) (batch first or packed as the input),
            h_n (L*D, B, H).

        Raises:
            ValueError: wrong shapes, dtypes or devices, or lengths outside [1, T].
        """
        out, hn, _ = self._run(input, hx, lengths)
        return out, hn

    def step(self, x_t: Tensor, state: Tensor | None = None):
        """Streaming: one time step, ``y_t, h = layer.step(x_t, h)`` (see :meth:`LSTM.step`).

        Args:
            x_t: (B, I) or unbatched (I,).
            state: h (L, B, H) from the previous step; zeros when None.

        Returns:
            ``y_t, h``: y_t (B, H) (or (H,)) and the new state.
        """
        out, hn, _ = self._step(x_t, state)
        return out, hn


class RNN(_RNNBase):
    r"""A multi-layer Elman RNN, a drop-in for :class:`torch.nn.RNN`::

        h_t = tanh(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)     (or relu)

    Parameters as torch.nn.RNN: ``weight_ih_l{k}`` (H, I or D*H), ``weight_hh_l{k}``
    (H, H), ``bias_ih_l{k}``, ``bias_hh_l{k}`` (H,). The Elman RNN takes no variant.

    Args:
        input_size: I, the number of features of each input step.
        hidden_size: H, the number of features of the hidden state.
        num_layers: L, recurrent layers stacked (default 1).
        nonlinearity: ``"tanh"`` (default) or ``"relu"``.
        *args: ``bias``, ``batch_first``, ``dropout``, ``bidirectional``, ``device``,
            ``dtype`` in torch.nn.RNN's order (see :class:`LSTM`).
        **kwargs: the same by name, and keyword-only ``backend``.

    Raises:
        ValueError: an unknown nonlinearity, a size out of range, or a variant option.

    Example:
        >>> import torch, lstmkit
        >>> rnn = lstmkit.RNN(10, 20, num_layers=2, nonlinearity="relu")
        >>> out, h = rnn(torch.randn(7, 3, 10))
        >>> out.shape, h.shape
        (torch.Size([7, 3, 20]), torch.Size([2, 3, 20]))
    """

    def __init__(self, input_size, hidden_size, num_layers=1, nonlinearity="tanh", *args, **kwargs):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"Unknown nonlinearity '{nonlinearity}'. Select from 'tanh' or 'relu'.")
        self.nonlinearity = nonlinearity
        mode = "RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU"
        super().__init__(mode, input_size, hidden_size, num_layers, *args, **kwargs)

    def forward(self, input, hx=None, *, lengths=None):
        """Run the whole sequence through every layer.

        Args:
            input: (T, B, I), (B, T, I) with ``batch_first``, (T, I) unbatched, or a
                ``PackedSequence``.
            hx: h_0 (L*D, B, H) ((L*D, H) unbatched); zeros when None.
            lengths: keyword-only, (B,) integers: each padded sequence's true length
                (see :meth:`LSTM.forward`).

        Returns:
            ``output, h_n``: output (T, B, D*H) (batch first or packed as the input),
            h_n (L*D, B, H).

        Raises:
            ValueError: wrong shapes, dtypes or devices, or lengths outside [1, T].
        """
        out, hn, _ = self._run(input, hx, lengths)
        return out, hn

    def step(self, x_t: Tensor, state: Tensor | None = None):
        """Streaming: one time step, ``y_t, h = layer.step(x_t, h)`` (see :meth:`LSTM.step`).

        Args:
            x_t: (B, I) or unbatched (I,).
            state: h (L, B, H) from the previous step; zeros when None.

        Returns:
            ``y_t, h``: y_t (B, H) (or (H,)) and the new state.
        """
        out, hn, _ = self._step(x_t, state)
        return out, hn


def _signature(mode: str, *, nonlinearity: bool = False) -> inspect.Signature:
    """The constructor's full signature for ``inspect.signature`` and IDEs: torch.nn's
    arguments, ``backend`` and the variant keywords of ``mode`` (from
    :data:`lstmkit.variants.SPECS`), which the layers take through ``**variants``."""
    from lstmkit.variants import SPECS

    base = inspect.signature(_RNNBase.__init__).parameters
    params = [p for name, p in base.items() if name not in ("self", "mode", "variants")]
    if nonlinearity:
        params.insert(3, inspect.Parameter("nonlinearity", inspect.Parameter.POSITIONAL_OR_KEYWORD,
                                           default="tanh"))
    params += [inspect.Parameter(spec.name, inspect.Parameter.KEYWORD_ONLY,
                                 default=spec.keyword_default)
               for spec in SPECS if mode in spec.modes]
    return inspect.Signature(params)


LSTM.__signature__ = _signature("LSTM")
GRU.__signature__ = _signature("GRU")
RNN.__signature__ = _signature("RNN_TANH", nonlinearity=True)
