r"""sLSTM: the scalar-memory LSTM with exponential gating (Beck et al. 2024, section 2.2).

Equations in :mod:`lstmkit.xlstm.slstm_math`. Parameters of one cell (H hidden_size, I
input_size, NH num_heads, d = H / NH; gate order i, f, z, o):

- ``weight_ih`` (4H, I), U(-1/sqrt(H), 1/sqrt(H)) as torch.nn;
- ``weight_hh`` (4, NH, d, d) [gate, head, out, in]: the block-diagonal recurrent matrix,
  zeros (``recurrent_init="zeros"``, the reference package's default) or U(-1/sqrt(H), 1/sqrt(H));
- ``bias`` (4H,): zeros except the forget gate's, set by ``bias_init``
  (:func:`lstmkit.xlstm.slstm_math.forget_bias`: ``"powerlaw"`` by default).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from lstmkit.errors import InputError
from lstmkit.torchscript import RefusesScripting
from lstmkit.xlstm import backend as backends
from lstmkit.xlstm import checks, slstm_math, stack

STATE_NAMES = ["h", "c", "n", "m"]


class sLSTMCell(RefusesScripting, nn.Module):
    r"""One sLSTM step: ``h, (h, c, n, m) = cell(x, (h, c, n, m))``.

    Beck et al. 2024, "xLSTM: Extended Long Short-Term Memory" (arXiv:2405.04517)::

        (ĩ, f̃, z̃, õ) = W x + R h + b            (R block-diagonal over num_heads heads)
        log f = logsigmoid(f̃) or f̃ (forget_gate="exp")
        m' = max(log f + m, ĩ);  i' = exp(ĩ - m');  f' = exp(log f + m - m')
        c' = f' c + i' tanh(z̃);  n' = f' n + i';  h' = sigmoid(õ) c' / n'

    Args:
        input_size: I, features of the input.
        hidden_size: H, features of h, c, n and m.
        num_heads: NH, heads of the block-diagonal recurrent matrix; must divide H.
        bias: whether the gates have a bias b (4H,).
        forget_gate: ``"sigmoid"`` (log f = logsigmoid(f̃), default) or ``"exp"`` (log f = f̃).
        bias_init: the forget gate's bias: ``"powerlaw"`` (default, the reference
            package's), ``"small"``, ``"zeros"`` or ``"uniform"``
            (:func:`lstmkit.xlstm.slstm_math.forget_bias`).
        block_idx: this cell's depth for the power law (0 .. num_blocks - 1).
        num_blocks: the depth the power law spreads over.
        recurrent_init: ``"zeros"`` (default) or ``"uniform"`` for the recurrent matrix.
        device: where the parameters live.
        dtype: the parameters' dtype.

    Raises:
        InputError: a size that is not a positive integer, NH not dividing H, an unknown
            forget gate, bias_init or recurrent_init, or block_idx outside [0, num_blocks).

    Call ``cell(x, state=None)``: x (B, I) or unbatched (I,); state a tuple of four (B, H)
    (or (H,)) tensors, zeros when omitted. Returns h' (B, H) and the new state
    (h', c', n', m').

    Example:
        >>> import torch, lstmkit
        >>> cell = lstmkit.sLSTMCell(3, 8, num_heads=2)
        >>> h, state = cell(torch.randn(5, 3))
        >>> h, state = cell(torch.randn(5, 3), state)
        >>> h.shape, len(state)
        (torch.Size([5, 8]), 4)
    """

    def __init__(self, input_size: int, hidden_size: int, num_heads: int = 1, bias: bool = True,
                 forget_gate: str = "sigmoid", bias_init: str = "powerlaw", *,
                 block_idx: int = 0, num_blocks: int = 1, recurrent_init: str = "zeros",
                 device=None, dtype=None) -> None:
        super().__init__()
        self.input_size, self.hidden_size, self.num_heads, self.forget_gate = checks.cell_sizes(
            input_size, hidden_size, num_heads, forget_gate)
        self.head_dim = self.hidden_size // self.num_heads  # d, the width of one head
        if bias_init not in slstm_math.BIAS_INITS:
            raise InputError(f"bias_init must be one of {', '.join(slstm_math.BIAS_INITS)}, "
                             f"got {bias_init!r}")
        if recurrent_init not in ("zeros", "uniform"):
            raise InputError(f"recurrent_init must be 'zeros' or 'uniform', got {recurrent_init!r}")
        if not (isinstance(block_idx, int) and isinstance(num_blocks, int)
                and 0 <= block_idx < num_blocks):
            raise InputError(f"block_idx must lie in [0, num_blocks), got block_idx={block_idx!r}, "
                             f"num_blocks={num_blocks!r}")
        self.bias_init, self.recurrent_init = bias_init, recurrent_init
        self.block_idx, self.num_blocks = block_idx, num_blocks
        H, d = self.hidden_size, self.hidden_size // self.num_heads
        factory = {"device": device, "dtype": dtype}
        self.weight_ih = nn.Parameter(torch.empty(4 * H, self.input_size, **factory))
        self.weight_hh = nn.Parameter(torch.empty(4, self.num_heads, d, d, **factory))
        self.bias = nn.Parameter(torch.empty(4 * H, **factory)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Initialise the parameters as the module docstring says."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        with torch.no_grad():
            self.weight_ih.uniform_(-bound, bound)
            if self.recurrent_init == "zeros":
                self.weight_hh.zero_()
            else:
                self.weight_hh.uniform_(-bound, bound)
            if self.bias is not None:
                self.bias.zero_()
                fb = slstm_math.forget_bias(self.bias_init, self.num_heads, self.head_dim,
                                            block_idx=self.block_idx, num_blocks=self.num_blocks,
                                            hidden_size=self.hidden_size)
                H = self.hidden_size
                self.bias[H:2 * H].copy_(fb)

    def project(self, x: Tensor) -> Tensor:
        """W x + b for x (..., I) -> (..., 4H)."""
        return nn.functional.linear(x, self.weight_ih, self.bias)

    def step(self, pre: Tensor, state) -> tuple:
        """One recurrence step from ``pre`` = W x + b (B, 4H) and ``state`` (h, c, n, m),
        each (B, H); returns the new state (:func:`lstmkit.xlstm.slstm_math.step`)."""
        return slstm_math.step(pre, state, self.weight_hh, self.forget_gate)

    def zero_state(self, B: int, like: Tensor) -> tuple:
        """Four (B, H) zero tensors of ``like``'s dtype and device: an empty memory."""
        return tuple(like.new_zeros(B, self.hidden_size) for _ in range(4))

    def forward(self, x: Tensor, state=None):
        """One step: x (B, I) or (I,), state (h, c, n, m) or None -> (h', (h', c', n', m')).

        Raises:
            InputError: a wrong input shape or dtype, or a malformed state.
        """
        x, unbatched = checks.cell_input(x, self.input_size, self.weight_ih)
        B = x.shape[0]
        state = self.zero_state(B, x) if state is None else _check_cell_state(state, B, self.hidden_size,
                                                                              unbatched, x)
        new = self.step(self.project(x), state)
        if unbatched:
            new = tuple(s.squeeze(0) for s in new)
        return new[0], new

    def extra_repr(self) -> str:
        return (f"{self.input_size}, {self.hidden_size}, num_heads={self.num_heads}, "
                f"forget_gate={self.forget_gate!r}, bias_init={self.bias_init!r}")


def _check_cell_state(state, B: int, H: int, unbatched: bool, like: Tensor) -> tuple:
    if not isinstance(state, (tuple, list)) or len(state) != 4:
        raise InputError("the sLSTM cell's state must be a tuple (h, c, n, m) of four tensors")
    shape = (H,) if unbatched else (B, H)
    out = [checks.state_shape(s, name, shape, like) for s, name in zip(state, STATE_NAMES)]
    return tuple(s.unsqueeze(0) for s in out) if unbatched else tuple(out)


class sLSTM(RefusesScripting, nn.Module):
    r"""A multi-layer sLSTM with torch.nn.LSTM's conventions.

    Each layer runs :class:`sLSTMCell` over time (Beck et al. 2024, section 2.2)::

        (ĩ, f̃, z̃, õ)_t = W x_t + R h_{t-1} + b     (R block-diagonal over num_heads heads)
        m_t = max(log f_t + m_{t-1}, ĩ_t);  i'_t = exp(ĩ_t - m_t);  f'_t = exp(log f_t + m_{t-1} - m_t)
        c_t = f'_t c_{t-1} + i'_t tanh(z̃_t);  n_t = f'_t n_{t-1} + i'_t;  h_t = sigmoid(õ_t) c_t / n_t

    with log f = logsigmoid(f̃) (``forget_gate="sigmoid"``, default) or f̃ (``"exp"``).

    Args:
        input_size: I, features of the input.
        hidden_size: H, features of each direction's state.
        num_layers: L, stacked layers (layer l > 0 reads the D*H outputs of layer l-1).
        bias: whether the gates have a bias.
        batch_first: input and output (B, T, ...) instead of (T, B, ...).
        dropout: dropout on the outputs of each layer but the last, in training.
        bidirectional: D = 2 directions; the reverse one reads each sequence backwards
            from its length.
        num_heads: NH, heads of the block-diagonal recurrent matrix; must divide H.
        forget_gate: ``"sigmoid"`` (default) or ``"exp"``.
        bias_init: the forget gate's bias (``"powerlaw"`` by default: layer l of L gets the
            power law of block l of L), ``"small"``, ``"zeros"`` or ``"uniform"``.
        recurrent_init: ``"zeros"`` (default) or ``"uniform"``.
        backend: ``"auto"`` (default: the compiled C++ loop on the CPU, the Triton
            kernels on CUDA, where they can run; else the reference), ``"reference"``
            (the loop of torch operations), ``"compiled"`` or ``"triton"``
            (:mod:`lstmkit.xlstm.backend`); all give the same numbers.
        device: where the parameters live.
        dtype: the parameters' dtype.

    Raises:
        InputError: a bad size, head count, dropout, forget gate, initialisation or backend.

    Parameters live in ``cells`` (one :class:`sLSTMCell` per layer and direction, index
    layer * D + direction).

    Call ``slstm(input, state=None, lengths=None)``: ``input`` (T, B, I), (B, T, I) with
    batch_first, or unbatched (T, I); ``state`` a tuple (h, c, n, m) of four (L*D, B, H)
    tensors (zeros when omitted); ``lengths`` (B,): outputs past a sequence's length are
    zero and its final state is taken at its length. Returns ``output`` (T, B, D*H) (batch
    first as the input) and the final state (h_n, c_n, n_n, m_n), each (L*D, B, H).

    Example:
        >>> import torch, lstmkit
        >>> slstm = lstmkit.sLSTM(3, 8, num_layers=2, batch_first=True, num_heads=2)
        >>> out, (h, c, n, m) = slstm(torch.randn(4, 10, 3), lengths=torch.tensor([10, 9, 5, 1]))
        >>> out.shape, h.shape
        (torch.Size([4, 10, 8]), torch.Size([2, 4, 8]))
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False, *,
                 num_heads: int = 1, forget_gate: str = "sigmoid", bias_init: str = "powerlaw",
                 recurrent_init: str = "zeros", backend: str = "auto", device=None,
                 dtype=None) -> None:
        super().__init__()
        self.backend = backends.check(backend, self._backend_kind)
        D = stack.set_sizes(self, input_size, hidden_size, num_layers, num_heads, dropout, batch_first,
                            bidirectional)
        self.cells = nn.ModuleList(
            sLSTMCell(input_size if layer == 0 else D * hidden_size, hidden_size, num_heads, bias,
                      forget_gate, bias_init, block_idx=layer, num_blocks=num_layers,
                      recurrent_init=recurrent_init, device=device, dtype=dtype)
            for layer in range(num_layers) for _ in range(D))

    def forward(self, input: Tensor, state=None, lengths=None):
        """Run the layers over ``input`` (see the class docstring for the shapes).

        Raises:
            InputError: a wrong input shape or dtype, lengths outside [1, T], a malformed
                state, or ``backend="compiled"`` / ``"triton"`` where it cannot run.
        """
        x, unbatched, lengths, mask = stack.prepare(self, input, lengths)
        B = x.shape[1]
        count = len(self.cells)
        shape = (B, self.hidden_size)
        states = stack.split_states(state, count, [shape] * 4, STATE_NAMES, unbatched, x)
        out, finals = stack.run_stack(self, x, states, lengths, mask, self._run_direction)
        return stack.finish(out, self, unbatched), stack.join_states(finals, unbatched)

    _backend_kind = "sLSTM"

    def _run_direction(self, k: int, x: Tensor, state, mask):
        cell = self.cells[k]
        state = cell.zero_state(x.shape[1], x) if state is None else state
        return backends.slstm_sequence(cell.project(x), cell.weight_hh, tuple(state),
                                       cell.forget_gate, mask, self.backend)

    def extra_repr(self) -> str:
        return (f"{self.input_size}, {self.hidden_size}, num_layers={self.num_layers}, "
                f"num_heads={self.num_heads}, batch_first={self.batch_first}, "
                f"bidirectional={self.bidirectional}, backend={self.backend!r}")
