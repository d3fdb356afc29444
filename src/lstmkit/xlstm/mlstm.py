r"""mLSTM: the matrix-memory LSTM (Beck et al. 2024, section 2.3).

The recurrence and its three forms are in :mod:`lstmkit.xlstm.mlstm_math`. Parameters of
one cell (H hidden_size, I input_size, NH num_heads, d = H / NH):

- ``weight_q``, ``weight_k``, ``weight_v``, ``weight_o`` (H, I) and their biases (H,):
  U(-1/sqrt(H), 1/sqrt(H)) as torch.nn;
- ``weight_i``, ``weight_f`` (NH, I): one scalar gate per head, zeros; ``bias_i`` (NH,)
  N(0, 0.1^2) and ``bias_f`` (NH,) evenly from 3 to 6, the reference package's initialisation.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from lstmkit.errors import InputError
from lstmkit.torchscript import RefusesScripting
from lstmkit.xlstm import backend as backends
from lstmkit.xlstm import checks, mlstm_math, stack

STATE_NAMES = ["C", "n", "m"]


class mLSTMCell(RefusesScripting, nn.Module):
    r"""One mLSTM step: ``h, (C, n, m) = cell(x, (C, n, m))``.

    Beck et al. 2024, "xLSTM: Extended Long Short-Term Memory" (arXiv:2405.04517), per head
    (q, k, v, ĩ, f̃ from x by the head's rows of the weights; k scaled by 1/sqrt(d))::

        log f = logsigmoid(f̃) or f̃ (forget_gate="exp")
        m' = max(log f + m, ĩ);  f' = exp(log f + m - m');  i' = exp(ĩ - m')
        C' = f' C + i' k v^T;  n' = f' n + i' k
        h' = sigmoid(W_o x + b_o) * C'^T q / (max(|n'^T q|, exp(-m')) + 1e-6)

    Args:
        input_size: I, features of the input.
        hidden_size: H, features of the output; NH heads of width d = H / NH.
        num_heads: NH; must divide H.
        bias: whether the projections and gates have biases.
        forget_gate: ``"sigmoid"`` (log f = logsigmoid(f̃), default) or ``"exp"``.
        device: where the parameters live.
        dtype: the parameters' dtype.

    Raises:
        InputError: a size that is not a positive integer, NH not dividing H, or an
            unknown forget gate.

    Call ``cell(x, state=None)``: x (B, I) or unbatched (I,); state (C (B, NH, d, d),
    n (B, NH, d), m (B, NH)) (without B when unbatched), zeros when omitted. Returns
    h' (B, H) and the new state.

    Example:
        >>> import torch, lstmkit
        >>> cell = lstmkit.mLSTMCell(3, 8, num_heads=2)
        >>> h, (C, n, m) = cell(torch.randn(5, 3))
        >>> h.shape, C.shape
        (torch.Size([5, 8]), torch.Size([5, 2, 4, 4]))
    """

    def __init__(self, input_size: int, hidden_size: int, num_heads: int = 1, bias: bool = True,
                 forget_gate: str = "sigmoid", *, device=None, dtype=None) -> None:
        super().__init__()
        self.input_size, self.hidden_size, self.num_heads, self.forget_gate = checks.cell_sizes(
            input_size, hidden_size, num_heads, forget_gate)
        self.head_dim = self.hidden_size // self.num_heads  # d, the width of one head
        factory = {"device": device, "dtype": dtype}
        H, NH, I = self.hidden_size, self.num_heads, self.input_size
        for name, rows in (("q", H), ("k", H), ("v", H), ("o", H), ("i", NH), ("f", NH)):
            self.register_parameter(f"weight_{name}",
                                    nn.Parameter(torch.empty(rows, I, **factory)))
            self.register_parameter(f"bias_{name}", nn.Parameter(torch.empty(rows, **factory))
                                    if bias else None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Initialise the parameters as the module docstring says."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        with torch.no_grad():
            for name in "qkvo":
                getattr(self, f"weight_{name}").uniform_(-bound, bound)
                if self.bias_q is not None:
                    getattr(self, f"bias_{name}").uniform_(-bound, bound)
            self.weight_i.zero_()
            self.weight_f.zero_()
            if self.bias_i is not None:
                self.bias_i.normal_(0.0, 0.1)
                self.bias_f.copy_(torch.linspace(3.0, 6.0, self.num_heads))

    def project(self, x: Tensor):
        """x (..., I) -> q, k, v (..., NH, d), log input gate ĩ and log forget gate (..., NH),
        output gate (..., H)."""
        lead, NH, d = x.shape[:-1], self.num_heads, self.head_dim
        q, k, v = (F.linear(x, getattr(self, f"weight_{n}"), getattr(self, f"bias_{n}"))
                   .reshape(*lead, NH, d) for n in "qkv")
        log_i = F.linear(x, self.weight_i, self.bias_i)
        f_raw = F.linear(x, self.weight_f, self.bias_f)
        log_f = F.logsigmoid(f_raw) if self.forget_gate == "sigmoid" else f_raw
        o = torch.sigmoid(F.linear(x, self.weight_o, self.bias_o))
        return q, k, v, log_i, log_f, o

    def zero_state(self, B: int, like: Tensor) -> tuple:
        """C (B, NH, d, d), n (B, NH, d), m (B, NH) zeros like ``like``: an empty memory."""
        NH, d = self.num_heads, self.head_dim
        return like.new_zeros(B, NH, d, d), like.new_zeros(B, NH, d), like.new_zeros(B, NH)

    def state_shapes(self, B: int) -> list[tuple]:
        """The shapes of C, n and m for a batch of B."""
        NH, d = self.num_heads, self.head_dim
        return [(B, NH, d, d), (B, NH, d), (B, NH)]

    def forward(self, x: Tensor, state=None):
        """One step: x (B, I) or (I,), state (C, n, m) or None -> (h' (B, H), (C', n', m')).

        Raises:
            InputError: a wrong input shape or dtype, or a malformed state.
        """
        x, unbatched = checks.cell_input(x, self.input_size, self.weight_q)
        B = x.shape[0]
        state = self.zero_state(B, x) if state is None else self._checked_state(state, B, unbatched, x)
        q, k, v, log_i, log_f, o = self.project(x)
        h, new = mlstm_math.step(q, k, v, log_i, log_f, state)
        h = o * h.reshape(B, self.hidden_size)
        if unbatched:
            h, new = h.squeeze(0), tuple(s.squeeze(0) for s in new)
        return h, new

    def _checked_state(self, state, B: int, unbatched: bool, like: Tensor) -> tuple:
        if not isinstance(state, (tuple, list)) or len(state) != 3:
            raise InputError("the mLSTM cell's state must be a tuple (C, n, m) of three tensors")
        out = tuple(checks.state_shape(s, name, shape[1:] if unbatched else shape, like)
                    for s, name, shape in zip(state, STATE_NAMES, self.state_shapes(B)))
        return tuple(s.unsqueeze(0) for s in out) if unbatched else out

    def extra_repr(self) -> str:
        return (f"{self.input_size}, {self.hidden_size}, num_heads={self.num_heads}, "
                f"forget_gate={self.forget_gate!r}")


class mLSTM(RefusesScripting, nn.Module):
    r"""A multi-layer mLSTM with torch.nn.LSTM's conventions.

    Each layer runs :class:`mLSTMCell`'s recurrence over time (Beck et al. 2024, section 2.3),
    per head::

        C_t = f_t C_{t-1} + i_t k_t v_t^T;  n_t = f_t n_{t-1} + i_t k_t
        h_t = sigmoid(W_o x_t + b_o) * C_t^T q_t / max(|n_t^T q_t|, 1)

    with i_t = exp(ĩ_t), f_t = sigmoid(f̃_t) (or exp), computed stabilised by m_t
    (:mod:`lstmkit.xlstm.mlstm_math`). There is no hidden-to-hidden recurrence, so the
    sequence runs in one of three forms, all giving the same numbers:
    ``form="chunkwise"`` (default; linear in T, ``chunk_size`` steps at a time),
    ``"parallel"`` (quadratic in T) or ``"recurrent"`` (one step at a time).

    Args:
        input_size: I, features of the input.
        hidden_size: H, features of each direction's output; NH heads of width d = H / NH.
        num_layers: L, stacked layers.
        bias: whether the projections and gates have biases.
        batch_first: input and output (B, T, ...) instead of (T, B, ...).
        dropout: dropout on the outputs of each layer but the last, in training.
        bidirectional: D = 2 directions; the reverse one reads each sequence backwards
            from its length.
        num_heads: NH; must divide H.
        forget_gate: ``"sigmoid"`` (default) or ``"exp"``.
        form: the reference backend's form: ``"chunkwise"`` (default), ``"parallel"`` or
            ``"recurrent"``.
        chunk_size: steps per chunk of the chunkwise forms (64).
        backend: ``"auto"`` (default: ``"fused"``, the chunkwise form with all chunks
            batched, :mod:`lstmkit.xlstm.mlstm_fused`; the Triton kernels on CUDA where
            they can run), ``"reference"`` (the ``form`` of
            :mod:`lstmkit.xlstm.mlstm_math`), ``"fused"`` or ``"triton"``
            (:mod:`lstmkit.xlstm.backend`); all give the same numbers.
        device: where the parameters live.
        dtype: the parameters' dtype.

    Raises:
        InputError: a bad size, head count, dropout, form, chunk size or backend.

    Parameters live in ``cells`` (one :class:`mLSTMCell` per layer and direction, index
    layer * D + direction).

    Call ``mlstm(input, state=None, lengths=None)``: ``input`` (T, B, I), (B, T, I) with
    batch_first, or unbatched (T, I); ``state`` (C (L*D, B, NH, d, d), n (L*D, B, NH, d),
    m (L*D, B, NH)), zeros when omitted. Returns ``output`` (T, B, D*H) (batch first as the
    input) and the final state (C_n, n_n, m_n). With ``lengths`` (B,) the steps past a
    length have no input (ĩ = -inf) and no decay (log f = 0), so the final state is the
    state at the length; outputs there are zero.

    Example:
        >>> import torch, lstmkit
        >>> mlstm = lstmkit.mLSTM(3, 8, batch_first=True, num_heads=2, chunk_size=4)
        >>> out, (C, n, m) = mlstm(torch.randn(4, 10, 3), lengths=torch.tensor([10, 9, 5, 1]))
        >>> out.shape, C.shape
        (torch.Size([4, 10, 8]), torch.Size([1, 4, 2, 4, 4]))
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False, *,
                 num_heads: int = 1, forget_gate: str = "sigmoid", form: str = "chunkwise",
                 chunk_size: int = 64, backend: str = "auto", device=None, dtype=None) -> None:
        super().__init__()
        self.backend = backends.check(backend, self._backend_kind)
        D = stack.set_sizes(self, input_size, hidden_size, num_layers, num_heads, dropout, batch_first,
                            bidirectional)
        if form not in mlstm_math.FORMS:
            raise InputError(f"form must be one of {', '.join(mlstm_math.FORMS)}, got {form!r}")
        self.form = form
        self.chunk_size = checks.positive_int("chunk_size", chunk_size)
        self.cells = nn.ModuleList(
            mLSTMCell(input_size if layer == 0 else D * hidden_size, hidden_size, num_heads, bias,
                      forget_gate, device=device, dtype=dtype)
            for layer in range(num_layers) for _ in range(D))

    def forward(self, input: Tensor, state=None, lengths=None):
        """Run the layers over ``input`` (see the class docstring for the shapes).

        Raises:
            InputError: a wrong input shape or dtype, lengths outside [1, T], a
                malformed state, or ``backend="triton"`` where it cannot run.
        """
        x, unbatched, lengths, mask = stack.prepare(self, input, lengths)
        B = x.shape[1]
        shapes = self.cells[0].state_shapes(B)
        states = stack.split_states(state, len(self.cells), shapes, STATE_NAMES, unbatched, x)
        out, finals = stack.run_stack(self, x, states, lengths, mask, self._run_direction)
        return stack.finish(out, self, unbatched), stack.join_states(finals, unbatched)

    _backend_kind = "mLSTM"

    def _run_direction(self, k: int, x: Tensor, state, mask):
        cell = self.cells[k]
        T, B = x.shape[0], x.shape[1]
        q, kk, v, log_i, log_f, o = cell.project(x)          # (T, B, NH, d), (T, B, NH)
        if mask is not None:
            m = mask[..., None]
            log_i = torch.where(m, log_i, float("-inf"))
            log_f = torch.where(m, log_f, 0.0)
        heads = lambda t: t.permute(1, 2, 0, 3)  # (T, B, NH, d) -> (B, NH, T, d)
        gates = lambda t: t.permute(1, 2, 0)  # (T, B, NH) -> (B, NH, T)
        h, final = backends.mlstm_sequence(heads(q), heads(kk), heads(v), gates(log_i), gates(log_f),
                                           state, form=self.form, chunk_size=self.chunk_size,
                                           backend=self.backend)
        h = h.permute(2, 0, 1, 3).reshape(T, B, self.hidden_size) * o
        return h, final

    def extra_repr(self) -> str:
        return (f"{self.input_size}, {self.hidden_size}, num_layers={self.num_layers}, "
                f"num_heads={self.num_heads}, form={self.form!r}, batch_first={self.batch_first}, "
                f"bidirectional={self.bidirectional}, backend={self.backend!r}")
