r"""xLSTM's residual blocks and their stack (Beck et al. 2024, section 2.4 and figures 9-10).

- :class:`sLSTMBlock` (post-up projection): ``x + sLSTM(LN(x))`` then ``x + FFN(LN(x))``.
  Inside: a causal depthwise convolution with SiLU feeds the input and forget gates, the
  cell's other gates read the normed input directly; every gate's input projection is
  block-diagonal over the heads; the cell's output goes through a per-head group norm.
  The feed-forward is gated: ``W_down (act(W_g x) * W_u x)``, GeLU by default.
- :class:`mLSTMBlock` (pre-up projection): ``x + W_down(((GN(h̃) + s * c) * SiLU(z)))``
  where ``(u, z) = W_up LN(x)``, ``c = SiLU(conv(u))``, q and k are head-wise projections of
  c, v of u, the scalar gates ĩ, f̃ are linear in (q, k, v), h̃ the mLSTM recurrence
  (:mod:`lstmkit.xlstm.mlstm_math`) and s a learnable skip.
- :class:`xLSTMStack`: ``num_blocks`` blocks, sLSTM blocks at ``slstm_at`` and mLSTM blocks
  elsewhere, then a layer norm.

Initialisation is the reference package's: input projections N(0, 2 / (5E)), output
projections N(0, (2 / (num_blocks sqrt(E)))^2), biases zero, the sLSTM's recurrent matrix
zero and its forget bias the power law by block position, the mLSTM's gates as in
:mod:`lstmkit.xlstm.mlstm`, the skip one.

Input and output (B, T, E). Layer norms have no bias and a weight stored as its offset
from 1 (a zero-initialised weight is the identity). Shape legend: B batch, T time,
E embedding_dim, NH heads, d head width.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from lstmkit.errors import InputError
from lstmkit.variants import Dropout  # nn.Dropout's maths, a cheaper mask
from lstmkit.xlstm import backend as backends
from lstmkit.xlstm import checks, mlstm_math, slstm_math

ACTIVATIONS = {"gelu": F.gelu, "relu": F.relu, "silu": F.silu, "swish": F.silu,
               "sigmoid": torch.sigmoid, "selu": F.selu,
               "relu^2": lambda x: torch.square(F.relu(x))}
"""The feed-forward's gate activations by name (``xLSTMConfig.ffn_act``)."""


def small_init_(weight: Tensor, dim: int) -> None:
    """Fill ``weight`` in place from N(0, 2 / (5 dim)) (Nguyen and Salazar 2019), the
    reference package's initialisation of input projections.

    Args:
        weight: any shape, changed in place.
        dim: the embedding width E.
    """
    nn.init.normal_(weight, 0.0, math.sqrt(2 / (5 * dim)))


def wang_init_(weight: Tensor, dim: int, num_blocks: int) -> None:
    """Fill ``weight`` in place from N(0, (2 / (num_blocks sqrt(dim)))^2) (Wang's scheme),
    the reference package's initialisation of output projections.

    Args:
        weight: any shape, changed in place.
        dim: the embedding width E.
        num_blocks: the number of blocks in the stack.
    """
    nn.init.normal_(weight, 0.0, 2 / num_blocks / math.sqrt(dim))


def _zero_bias(*modules) -> None:
    for m in modules:
        if m.bias is not None:
            nn.init.zeros_(m.bias)


def halves(linear: nn.Linear, x: Tensor) -> tuple[Tensor, Tensor]:
    """``linear(x).chunk(2, dim=-1)`` as two products, one per half of the weight: the split
    of one product would concatenate both gradients again in the backward (on the CPU
    about a sixth of the projection's forward+backward time).

    Args:
        linear: a map with an even number of outputs 2W.
        x: (..., in).

    Returns:
        two (..., W) tensors.
    """
    w_a, w_b = linear.weight.chunk(2)
    b_a, b_b = (None, None) if linear.bias is None else linear.bias.chunk(2)
    return F.linear(x, w_a, b_a), F.linear(x, w_b, b_b)


def up_dim(embedding_dim: int, factor: float, multiple: int = 64) -> int:
    """``factor * embedding_dim`` rounded up to a multiple of ``multiple``: a block's inner
    width.

    Args:
        embedding_dim: E.
        factor: the projection factor (2 for the mLSTM block, 1.3 for the feed-forward).
        multiple: the rounding step (64, as the reference package).

    Returns:
        the inner width, an int.

    Example:
        >>> up_dim(128, 1.3)
        192
    """
    return int(math.ceil(factor * embedding_dim / multiple) * multiple)


@dataclass
class xLSTMConfig:
    """What an :class:`xLSTMStack` is built from (defaults: the reference package's).

    Args:
        embedding_dim: E, the width of the residual stream (input and output).
        num_blocks: the number of residual blocks.
        slstm_at: the positions of the sLSTM blocks (a list in [0, num_blocks)), or
            ``"all"``; mLSTM blocks elsewhere.
        bias: biases in the mLSTM block's projections.
        dropout: dropout on each block's output branch (and in the feed-forward).
        add_post_blocks_norm: a layer norm after the last block.
        mlstm_num_heads: heads of the mLSTM blocks (must divide the inner width).
        mlstm_proj_factor: the mLSTM block's inner width is ``up_dim(E, factor)``.
        mlstm_conv_kernel: the mLSTM block's causal convolution kernel (0: none).
        qkv_proj_blocksize: the block size of the head-wise q, k, v projections.
        mlstm_form: ``"parallel"``, ``"chunkwise"`` or ``"recurrent"``
            (:mod:`lstmkit.xlstm.mlstm_math`; the same numbers).
        chunk_size: the chunk length of the chunkwise form.
        slstm_num_heads: heads of the sLSTM blocks (must divide E).
        slstm_conv_kernel: the sLSTM block's causal convolution kernel (0: none).
        slstm_bias_init: the sLSTM forget-gate bias (:func:`lstmkit.xlstm.slstm_math.forget_bias`).
        slstm_recurrent_init: ``"zeros"`` or ``"uniform"`` for the recurrent matrix.
        ffn_proj_factor: the feed-forward's inner width is ``up_dim(E, factor)``.
        ffn_act: the feed-forward's gate activation (a key of :data:`ACTIVATIONS`).
        ffn_bias: biases in the feed-forward.
        backend: which implementation runs the recurrences (:mod:`lstmkit.xlstm.backend`):
            ``"auto"`` (the compiled sLSTM loop where it can run, the fused chunkwise
            mLSTM) or ``"reference"`` (the torch loop and ``mlstm_form``); a block's
            ``backend`` attribute can be set on its own (``"compiled"`` for sLSTM blocks,
            ``"fused"`` for mLSTM blocks), e.g. by :func:`lstmkit.xlstm.backend.use`.
    """

    embedding_dim: int = 128
    num_blocks: int = 1
    slstm_at: list[int] | str = field(default_factory=list)   # positions, or "all"
    bias: bool = False
    dropout: float = 0.0
    add_post_blocks_norm: bool = True
    # mLSTM blocks
    mlstm_num_heads: int = 4
    mlstm_proj_factor: float = 2.0
    mlstm_conv_kernel: int = 4
    qkv_proj_blocksize: int = 4
    mlstm_form: str = "parallel"
    chunk_size: int = 64
    # sLSTM blocks
    slstm_num_heads: int = 4
    slstm_conv_kernel: int = 4
    slstm_bias_init: str = "powerlaw"
    slstm_recurrent_init: str = "zeros"
    ffn_proj_factor: float = 1.3
    ffn_act: str = "gelu"
    ffn_bias: bool = False
    backend: str = "auto"

    def positions(self) -> list[int]:
        """The sLSTM blocks' positions as a list.

        Raises:
            InputError: a position outside [0, num_blocks).
        """
        if self.slstm_at == "all":
            return list(range(self.num_blocks))
        at = list(self.slstm_at)
        bad = [p for p in at if not (isinstance(p, int) and 0 <= p < self.num_blocks)]
        if bad:
            raise InputError(f"slstm_at must hold block positions in [0, {self.num_blocks}), "
                             f"got {bad}")
        return at


class LayerNorm(nn.Module):
    """Layer norm over the last axis without bias; ``weight`` (dim,) is the offset from 1.

    Args:
        dim: the width of the last axis.
        eps: added to the variance.
    """

    def __init__(self, dim: int, eps: float = 1e-5):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(dim))
        self.eps = eps

    def forward(self, x: Tensor) -> Tensor:
        """x (..., dim) normalised over its last axis, the same shape."""
        return F.layer_norm(x, (x.shape[-1],), 1.0 + self.weight, None, self.eps)


class HeadNorm(LayerNorm):
    """Group norm with one group per head over (..., NH * d); ``weight`` the offset from 1.

    Args:
        dim: NH * d, the width of the last axis.
        num_heads: NH, the number of groups.
        eps: added to the variance.
    """

    def __init__(self, dim: int, num_heads: int, eps: float = 1e-5):
        super().__init__(dim, eps)
        self.num_heads = num_heads

    def forward(self, x: Tensor) -> Tensor:
        """x (..., NH * d) normalised within each head, the same shape."""
        # group norm's maths as a layer norm over each head's d features (on the CPU a
        # third of F.group_norm's time, forward and backward)
        heads = x.reshape(*x.shape[:-1], self.num_heads, x.shape[-1] // self.num_heads)
        y = F.layer_norm(heads, heads.shape[-1:], None, None, self.eps)
        return y.reshape(x.shape) * (1.0 + self.weight)

    def heads(self, h: Tensor) -> Tensor:
        """The same norm on h (B, NH, T, d), the heads' layout; returns (B, NH, T, d)."""
        y = F.layer_norm(h, h.shape[-1:], None, None, self.eps)
        return y * (1.0 + self.weight).view(self.num_heads, 1, -1)


GROUP_WIDTH = 32
"""Heads narrower than this run as block-diagonal groups of this width (HeadwiseLinear)."""


class HeadwiseLinear(nn.Module):
    """A block-diagonal linear map (..., F) -> (..., F): the features split into
    ``num_heads`` groups, each mapped by its own (d, d) matrix.

    Args:
        features: F (``num_heads`` must divide it).
        num_heads: NH, the number of blocks; d = F / NH.
        bias: add a bias (F,).

    Parameters: ``weight`` (NH, d, d) [head, out, in], ``bias`` (F,) or None.
    """

    def __init__(self, features: int, num_heads: int, bias: bool = False):
        super().__init__()
        d = features // num_heads
        self.num_heads = num_heads
        self.weight = nn.Parameter(torch.randn(num_heads, d, d) * math.sqrt(2 / 5 / d))
        self.bias = nn.Parameter(torch.zeros(features)) if bias else None

    def grouped_weight(self) -> Tensor:
        """The weight as the matrices the forward multiplies by: (G, g, g) [group, out, in].

        Small heads (the mLSTM's q, k, v have d = 4) go as groups of GROUP_WIDTH features:
        a batched matmul of d x d blocks wastes most of its time, so ``per`` heads form one
        (GROUP_WIDTH x GROUP_WIDTH) block-diagonal matrix: more multiplications (by zeros),
        half the time on the CPU for d = 4. Heads of GROUP_WIDTH or more stay as they are.
        """
        NH, d = self.weight.shape[:2]
        per = GROUP_WIDTH // d  # heads per group of GROUP_WIDTH features
        if d >= GROUP_WIDTH or per <= 1 or NH % per:
            return self.weight
        G = NH // per
        eye = torch.eye(per, dtype=self.weight.dtype, device=self.weight.device)
        weight = self.weight.view(G, per, d, d)[:, :, None] * eye[None, :, :, None, None]
        return weight.permute(0, 1, 3, 2, 4).reshape(G, per * d, per * d)

    def _groups(self, x: Tensor) -> Tensor:
        """x (..., F) mapped, in the groups' layout (G, N, g) with N the leading sizes."""
        weight = self.grouped_weight()
        G, g = weight.shape[0], weight.shape[1]
        return torch.bmm(x.reshape(-1, G, g).transpose(0, 1).contiguous(), weight.transpose(1, 2))

    def forward(self, x: Tensor) -> Tensor:
        """x (..., F) -> (..., F), each head's features mapped by its own matrix."""
        y = self._groups(x).transpose(0, 1).reshape(x.shape)
        return y if self.bias is None else y + self.bias

    def heads(self, x: Tensor, num_heads: int, extra: Tensor | None = None):
        """x (B, T, F) mapped and laid out as ``num_heads`` heads: (B, num_heads, T, F / num_heads),
        contiguous; one copy from the matmul's layout, not one per reshape.

        Args:
            x: (B, T, F).
            num_heads: NH' of the consumer (the mLSTM's heads), dividing F.
            extra: None, or a dense map (E, F) of x computed in the same batched matmul
                (its rows appended to every group's block; the groups' parts summed):
                for a few outputs such as gate pre-activations, cheaper than a matmul of
                its own.

        Returns:
            (B, NH', T, F / NH'), the same numbers as ``forward(x)`` split into heads; with
            ``extra``, the pair (heads, ``x @ extra.T`` (B, T, E)).
        """
        if extra is None:
            return self._as_heads(self._groups(x), x.shape, num_heads)
        out, rows = _grouped_with_rows([self.grouped_weight()], x, extra)
        return self._as_heads(out[0], x.shape, num_heads), rows

    def _as_heads(self, y: Tensor, shape, num_heads: int) -> Tensor:
        """The groups' layout y (G, B*T, g) as heads (B, NH', T, d), the bias added."""
        B, T, feat = shape
        d = feat // num_heads
        G, g = y.shape[0], y.shape[2]
        if d % g:  # a group straddles two heads: through the plain layout
            out = y.transpose(0, 1).reshape(B, T, num_heads, d).transpose(1, 2).contiguous()
        else:
            out = (y.reshape(num_heads, G // num_heads, B, T, g).permute(2, 0, 3, 1, 4)
                   .reshape(B, num_heads, T, d))
        return out if self.bias is None else out + self.bias.view(num_heads, 1, d)

    @staticmethod
    def pair_heads(first: HeadwiseLinear, second: HeadwiseLinear, x: Tensor,
                   num_heads: int, extra: Tensor | None = None) -> tuple:
        """``(first.heads(x, num_heads), second.heads(x, num_heads))`` from one batched
        matmul (the two maps' groups side by side): the mLSTM's q and k, both of c.

        Args:
            first, second: two maps of the same shape.
            x: (B, T, F).
            num_heads: NH', dividing F.
            extra: None, or a dense map (E, F) of x computed in the same matmul (as in
                :meth:`heads`).

        Returns:
            two (B, NH', T, F / NH') tensors, and with ``extra`` a third, ``x @ extra.T``
            (B, T, E).
        """
        out, rows = _grouped_with_rows([first.grouped_weight(), second.grouped_weight()], x, extra)
        pair = first._as_heads(out[0], x.shape, num_heads), second._as_heads(out[1], x.shape, num_heads)
        return pair if extra is None else (*pair, rows)

    def fold(self, weight: Tensor) -> Tensor:
        """``weight @ W`` for a dense ``weight`` (O, F) read after this map: the product as one
        (O, F) matrix, so ``x @ fold(weight).T == forward(x) @ weight.T`` without the bias
        (``weight @ bias`` is its term).

        Args:
            weight: (O, F), a linear map applied after this one.

        Returns:
            (O, F).
        """
        NH, d = self.weight.shape[:2]
        O = weight.shape[0]
        return torch.einsum("ohf,hfi->ohi", weight.view(O, NH, d), self.weight).reshape(O, NH * d)


def _grouped_with_rows(weights: list[Tensor], x: Tensor, extra: Tensor | None):
    """Group-wise maps of x (B, T, F), and optionally a dense map ``extra`` (E, F), in one
    batched matmul (at least two parts in all: one map alone is ``HeadwiseLinear._groups``).

    Every weight is (G, g, g) [group, out, in]; ``extra``'s columns are cut into the same
    G groups of g and appended to each group's rows, so group G's product holds its part
    of ``x @ extra.T``; the parts are summed over the groups.

    Returns:
        (the maps' outputs, each (G, B*T, g) in the groups' layout (views of one buffer),
        ``x @ extra.T`` as (B, T, E) or None).
    """
    G, g = weights[0].shape[0], weights[0].shape[2]
    parts = list(weights)
    if extra is not None:
        E = extra.shape[0]
        parts.append(extra.view(E, G, g).transpose(0, 1))          # (G, E, g)
    w = torch.cat(parts, dim=1)                                     # (G, sum of rows, g)
    y = torch.bmm(x.reshape(-1, G, g).transpose(0, 1).contiguous(), w.transpose(1, 2))
    # split, not slices: one gradient buffer, not one per part
    sizes = [p.shape[1] for p in parts]
    out = list(y.split(sizes, dim=-1))
    rows = None
    if extra is not None:
        rows = out.pop().sum(0).view(*x.shape[:-1], E)
    return out, rows


class CausalConv(nn.Module):
    """Depthwise causal convolution along time of (B, T, F): output t sees inputs <= t.

    Args:
        features: F, the number of channels (each convolved on its own).
        kernel: K, the kernel length; 0 makes the module the identity.

    Parameters: ``weight`` (F, 1, K) and ``bias`` (F,) (absent for K = 0).
    """

    def __init__(self, features: int, kernel: int):
        super().__init__()
        self.kernel = kernel
        if kernel:
            conv = nn.Conv1d(features, features, kernel, groups=features)
            self.weight, self.bias = conv.weight, conv.bias

    def forward(self, x: Tensor, state: Tensor | None = None,
                lengths: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Convolve ``x`` (B, T, F) after the ``state``'s inputs.

        Args:
            x: (B, T, F).
            state: (B, K-1, F), the last K-1 inputs before ``x`` (oldest first); None:
                zeros, the start of a sequence.
            lengths: (B,) int64 or None: the new state is taken at each sequence's length.

        Returns:
            (y (B, T, F), state (B, K-1, F)): the output and the last K-1 inputs up to the
            end (or the length) of each sequence, the state of the next call.
        """
        B, T, feat = x.shape
        past = max(self.kernel - 1, 0)
        if state is None:
            state = x.new_zeros(B, past, feat)
        full = torch.cat([state, x], dim=1)                     # (B, K-1+T, F)
        if lengths is None:
            new = full[:, T:]
        else:  # inputs lengths-K+1 .. lengths-1 sit at lengths .. lengths+K-2 of ``full``
            idx = lengths[:, None] + torch.arange(past, device=x.device)
            new = full.gather(1, idx[..., None].expand(B, past, feat))
        if not self.kernel:
            return x, new
        return _ShiftedProducts.apply(full, self.weight[:, 0, :], self.bias), new


class _ShiftedProducts(torch.autograd.Function):
    """The causal depthwise convolution ``y_t = b + sum_j w_j x_{t+j}`` over the padded
    input ``full`` (B, T+K-1, F) with ``w`` (F, K), ``b`` (F,): K shifted products in the
    (B, T, F) layout, cheaper on the CPU than a depthwise conv1d. Its backward adds the K
    shifted gradients into one buffer (autograd's own would fill and add a full-size
    buffer per shift). The backward is made of differentiable operations, so it
    differentiates again."""

    @staticmethod
    def forward(ctx, full: Tensor, w: Tensor, b: Tensor) -> Tensor:
        """(B, T+K-1, F), (F, K), (F,) -> y (B, T, F)."""
        K = w.shape[1]
        T = full.shape[1] - K + 1
        y = torch.addcmul(b, full[:, :T], w[:, 0])
        for j in range(1, K):
            y.addcmul_(full[:, j:j + T], w[:, j])
        ctx.save_for_backward(full, w)
        return y

    @staticmethod
    def backward(ctx, gy: Tensor):
        """The gradients of ``full``, ``w`` and ``b``."""
        full, w = ctx.saved_tensors
        K, T = w.shape[1], gy.shape[1]
        g_full = g_w = g_b = None
        if ctx.needs_input_grad[0]:
            parts = [F.pad(gy * w[:, j], (0, 0, j, K - 1 - j)) for j in range(K)] \
                if torch.is_grad_enabled() else None
            if parts is not None:  # create_graph: out-of-place, so it has a graph
                g_full = torch.stack(parts).sum(0)
            else:
                g_full = gy.new_zeros(full.shape)
                for j in range(K):
                    g_full[:, j:j + T].addcmul_(gy, w[:, j])
        if ctx.needs_input_grad[1]:
            g_w = torch.stack([(gy * full[:, j:j + T]).sum((0, 1)) for j in range(K)], 1)
        if ctx.needs_input_grad[2]:
            g_b = gy.sum((0, 1))
        return g_full, g_w, g_b


class GatedFeedForward(nn.Module):
    """The gated feed-forward ``W_down (act(gate) * up)`` with ``(gate, up) = W_up x``,
    (..., E) -> (..., E).

    Args:
        dim: E.
        proj_factor: the inner width is ``up_dim(E, proj_factor)``.
        act: the gate's activation, a key of :data:`ACTIVATIONS`.
        bias: biases in both projections.
        dropout: dropout on the output.

    Raises:
        InputError: an unknown ``act``.
    """

    def __init__(self, dim: int, proj_factor: float, act: str, bias: bool, dropout: float):
        super().__init__()
        if act not in ACTIVATIONS:
            raise InputError(f"ffn_act must be one of {', '.join(ACTIVATIONS)}, got {act!r}")
        self.inner = up_dim(dim, proj_factor)
        self.proj_up = nn.Linear(dim, 2 * self.inner, bias=bias)
        self.proj_down = nn.Linear(self.inner, dim, bias=bias)
        self.act = ACTIVATIONS[act]
        self.dropout = Dropout(dropout)

    def forward(self, x: Tensor) -> Tensor:
        """x (..., E) -> (..., E)."""
        gate, up = halves(self.proj_up, x)
        return self.dropout(self.proj_down(self.act(gate) * up))


SLSTM_STATE = ("h", "c", "n", "m", "conv")
"""The names of an sLSTM block's state tensors, in order."""
MLSTM_STATE = ("C", "n", "m", "conv")
"""The names of an mLSTM block's state tensors, in order."""


def _checked_state(state, names: tuple, shapes: list[tuple], like: Tensor, where: str) -> tuple:
    """A block's state checked: a tuple of ``len(names)`` tensors of ``shapes``, ``like``'s
    dtype; each failure one InputError line naming the entry."""
    if not isinstance(state, (tuple, list)) or len(state) != len(names):
        raise InputError(f"{where} must be a tuple ({', '.join(names)}) of {len(names)} tensors, "
                         f"got {type(state).__name__}"
                         + (f" of {len(state)}" if isinstance(state, (tuple, list)) else ""))
    return tuple(checks.state_shape(s, f"{where}.{name}", shape, like)
                 for s, name, shape in zip(state, names, shapes))


def _valid(lengths: Tensor | None, T: int, device) -> Tensor | None:
    """(B, T) bool: step t of sequence b lies within its length (None without lengths)."""
    if lengths is None:
        return None
    return torch.arange(T, device=device)[None, :] < lengths[:, None]


class sLSTMBlock(nn.Module):
    """The post-up-projection residual block around an sLSTM cell (module docstring).

    ``proj_i`` ... ``proj_o`` feed the cell's gates i, f, z, o (i and f from the
    convolved input); ``weight_hh`` (4, NH, d, d) and ``bias`` (4E,) are the cell's
    (:mod:`lstmkit.xlstm.slstm_math`).

    Args:
        config: the stack's :class:`xLSTMConfig` (``embedding_dim`` E, ``slstm_num_heads``,
            ``slstm_conv_kernel`` K, ``slstm_bias_init``, ``slstm_recurrent_init``, the
            feed-forward's ``ffn_*``, ``dropout``, ``num_blocks``).
        block_idx: the block's position in the stack (the power-law forget bias depends
            on it).

    Raises:
        InputError: ``slstm_num_heads`` does not divide E, or an unknown ``ffn_act``.

    State: ``(h, c, n, m, conv)``: the cell's h, c, n, m, each (B, E), and the
    convolution's last K-1 inputs (B, K-1, E); zeros are the start of a sequence.
    """

    _backend_kind = "sLSTM"

    def __init__(self, config: xLSTMConfig, block_idx: int):
        super().__init__()
        E, NH = config.embedding_dim, checks.heads(config.embedding_dim, config.slstm_num_heads)
        d = E // NH
        self.num_heads = NH
        self.backend = backends.check(config.backend, self._backend_kind)
        self.norm = LayerNorm(E)
        self.conv = CausalConv(E, config.slstm_conv_kernel)
        self.proj_i, self.proj_f, self.proj_z, self.proj_o = (
            HeadwiseLinear(E, NH) for _ in range(4))
        self.weight_hh = nn.Parameter(torch.zeros(4, NH, d, d))
        if config.slstm_recurrent_init == "uniform":
            nn.init.uniform_(self.weight_hh, -1 / math.sqrt(E), 1 / math.sqrt(E))
        bias = torch.zeros(4 * E)
        bias[E:2 * E] = slstm_math.forget_bias(config.slstm_bias_init, NH, d, block_idx=block_idx,
                                               num_blocks=config.num_blocks, hidden_size=E)
        self.bias = nn.Parameter(bias)
        self.head_norm = HeadNorm(E, NH)
        self.dropout = Dropout(config.dropout)
        self.ffn_norm = LayerNorm(E)
        self.ffn = GatedFeedForward(E, config.ffn_proj_factor, config.ffn_act, config.ffn_bias,
                                    config.dropout)
        with torch.no_grad():  # the reference package's initialisation
            for proj in (self.proj_i, self.proj_f, self.proj_z, self.proj_o, self.ffn.proj_up):
                small_init_(proj.weight, E)
            wang_init_(self.ffn.proj_down.weight, E, config.num_blocks)
            _zero_bias(self.ffn.proj_up, self.ffn.proj_down)

    def state_shapes(self, batch_size: int) -> list[tuple]:
        """The shapes of the state's five tensors for a batch of ``batch_size``."""
        E = self.bias.shape[0] // 4
        return [(batch_size, E)] * 4 + [(batch_size, max(self.conv.kernel - 1, 0), E)]

    def zero_state(self, batch_size: int, like: Tensor) -> tuple:
        """The state at the start of a sequence: zeros of ``like``'s dtype and device."""
        return tuple(like.new_zeros(s) for s in self.state_shapes(batch_size))

    def forward(self, x: Tensor, state: tuple | None = None,
                lengths: Tensor | None = None) -> tuple[Tensor, tuple]:
        """Run the block over ``x``.

        Args:
            x: (B, T, E).
            state: ``(h, c, n, m, conv)`` carried from a previous call, or None (zeros).
            lengths: (B,) int64 in [1, T] or None: the final state is each sequence's
                state at its length (outputs past a length are not meaningful).

        Returns:
            (y (B, T, E), the final state ``(h, c, n, m, conv)``).

        Raises:
            InputError: a malformed state (type, shape or dtype).
        """
        B, T, _ = x.shape
        if state is None:
            state = self.zero_state(B, x)
        else:
            state = _checked_state(state, SLSTM_STATE, self.state_shapes(B), x, "sLSTM block state")
        *cell, conv_state = state
        u = self.norm(x)
        c, conv_state = self.conv(u, conv_state, lengths)
        c = F.silu(c) if self.conv.kernel else u
        pre = torch.cat([self.proj_i(c), self.proj_f(c), self.proj_z(u), self.proj_o(u)], -1)
        pre = pre + self.bias
        valid = _valid(lengths, T, x.device)
        mask = None if valid is None else valid.t().contiguous()  # (T, B): past a length
        pre = pre.transpose(0, 1).contiguous()                     # the state is kept
        hs, cell = backends.slstm_sequence(pre, self.weight_hh, tuple(cell), "sigmoid", mask,
                                           backend=self.backend)
        h = self.dropout(hs.transpose(0, 1))
        x = x + self.head_norm(h)
        return x + self.ffn(self.ffn_norm(x)), (*cell, conv_state)


class mLSTMBlock(nn.Module):
    """The pre-up-projection residual block around the mLSTM recurrence (module docstring).

    Args:
        config: the stack's :class:`xLSTMConfig` (``embedding_dim`` E, ``mlstm_proj_factor``
            (inner width ``up_dim(E, mlstm_proj_factor)``), ``mlstm_num_heads`` NH,
            ``mlstm_conv_kernel`` K, ``qkv_proj_blocksize``, ``mlstm_form``,
            ``chunk_size``, ``bias``, ``dropout``, ``num_blocks``).
        block_idx: the block's position in the stack (unused by the mLSTM block; kept so
            both blocks are built alike).

    Raises:
        InputError: NH or ``qkv_proj_blocksize`` does not divide the inner width, or an
            unknown ``mlstm_form``.

    State: ``(C, n, m, conv)``: the matrix memory C (B, NH, d, d), normaliser n
    (B, NH, d) and stabiliser m (B, NH) (d = inner / NH), and the convolution's last K-1
    inputs (B, K-1, inner); zeros are the start of a sequence.
    """

    _backend_kind = "mLSTM"

    def __init__(self, config: xLSTMConfig, block_idx: int):
        super().__init__()
        self.backend = backends.check(config.backend, self._backend_kind)
        E = config.embedding_dim
        inner = up_dim(E, config.mlstm_proj_factor)
        self.inner = inner
        self.num_heads = checks.heads(inner, config.mlstm_num_heads)
        if inner % config.qkv_proj_blocksize:
            raise InputError(f"qkv_proj_blocksize={config.qkv_proj_blocksize} must divide the "
                             f"inner width {inner}")
        if config.mlstm_form not in mlstm_math.FORMS:
            raise InputError(f"mlstm_form must be one of {', '.join(mlstm_math.FORMS)}, "
                             f"got {config.mlstm_form!r}")
        self.form, self.chunk_size = config.mlstm_form, config.chunk_size
        qkv_heads = inner // config.qkv_proj_blocksize
        self.norm = LayerNorm(E)
        self.proj_up = nn.Linear(E, 2 * inner, bias=config.bias)
        self.conv = CausalConv(inner, config.mlstm_conv_kernel)
        self.proj_q, self.proj_k, self.proj_v = (
            HeadwiseLinear(inner, qkv_heads, bias=config.bias) for _ in range(3))
        self.gate_i = nn.Linear(3 * inner, self.num_heads)
        self.gate_f = nn.Linear(3 * inner, self.num_heads)
        with torch.no_grad():
            self.gate_i.weight.zero_()
            self.gate_i.bias.normal_(0.0, 0.1)
            self.gate_f.weight.zero_()
            self.gate_f.bias.copy_(torch.linspace(3.0, 6.0, self.num_heads))
        self.head_norm = HeadNorm(inner, self.num_heads)
        self.skip = nn.Parameter(torch.ones(inner))
        self.proj_down = nn.Linear(inner, E, bias=config.bias)
        self.dropout = Dropout(config.dropout)
        with torch.no_grad():  # the reference package's initialisation
            for proj in (self.proj_up, self.proj_q, self.proj_k, self.proj_v):
                small_init_(proj.weight, E)
            wang_init_(self.proj_down.weight, E, config.num_blocks)
            _zero_bias(self.proj_up, self.proj_q, self.proj_k, self.proj_v, self.proj_down)

    def state_shapes(self, batch_size: int) -> list[tuple]:
        """The shapes of the state's four tensors for a batch of ``batch_size``."""
        B, NH = batch_size, self.num_heads
        d = self.inner // NH
        return [(B, NH, d, d), (B, NH, d), (B, NH), (B, max(self.conv.kernel - 1, 0), self.inner)]

    def zero_state(self, batch_size: int, like: Tensor) -> tuple:
        """The state at the start of a sequence: zeros of ``like``'s dtype and device."""
        return tuple(like.new_zeros(s) for s in self.state_shapes(batch_size))

    def forward(self, x: Tensor, state: tuple | None = None,
                lengths: Tensor | None = None) -> tuple[Tensor, tuple]:
        """Run the block over ``x``.

        Args:
            x: (B, T, E).
            state: ``(C, n, m, conv)`` carried from a previous call, or None (zeros).
            lengths: (B,) int64 in [1, T] or None: steps past a length get no input
                (ĩ = -inf) and no decay (log f = 0), so the final state is each
                sequence's state at its length (outputs there are not meaningful).

        Returns:
            (y (B, T, E), the final state ``(C, n, m, conv)``).

        Raises:
            InputError: a malformed state (type, shape or dtype).
        """
        B, T, _ = x.shape
        if state is None:
            state = self.zero_state(B, x)
        else:
            state = _checked_state(state, MLSTM_STATE, self.state_shapes(B), x, "mLSTM block state")
        *memory, conv_state = state
        u, z = halves(self.proj_up, self.norm(x))
        c, conv_state = self.conv(u, conv_state, lengths)
        c = F.silu(c)
        NH, d = self.num_heads, self.inner // self.num_heads
        # q, k, v straight in the recurrence's layout (B, NH, T, d)
        # q, k and the gates' part read from c in one batched matmul; v and the gates'
        # part read from u in another
        w_c, w_u, gate_bias = self._gate_maps()
        q, k, gates_c = HeadwiseLinear.pair_heads(self.proj_q, self.proj_k, c, NH, extra=w_c)
        v, gates_u = self.proj_v.heads(u, NH, extra=w_u)
        gates = gates_c + gates_u + gate_bias                               # (B, T, 2 NH)
        log_i, log_f = gates.transpose(1, 2).split(NH, dim=1)               # (B, NH, T)
        log_f = F.logsigmoid(log_f)
        valid = _valid(lengths, T, x.device)
        if valid is not None:
            log_i = torch.where(valid[:, None], log_i, float("-inf"))
            log_f = torch.where(valid[:, None], log_f, 0.0)
        h, memory = backends.mlstm_sequence(q, k, v, log_i, log_f, tuple(memory), form=self.form,
                                            chunk_size=self.chunk_size, backend=self.backend)
        # the head norm in the recurrence's layout; the sum with the skip writes (B, T, ...)
        h = self.head_norm.heads(h).transpose(1, 2)                          # (B, T, NH, d)
        h = F.silu(z).view(B, T, NH, d) * torch.addcmul(h, self.skip.view(NH, d),
                                                        c.view(B, T, NH, d))
        return x + self.dropout(self.proj_down(h.reshape(B, T, self.inner))), (*memory, conv_state)

    def _gate_maps(self) -> tuple[Tensor, Tensor, Tensor]:
        """The gates' pre-activations ``[ĩ, f̃] = W_g [q, k, v] + b_g`` as maps of c and u:
        the head-wise q, k, v maps folded into W_g (``q = W_q c``: ``W_g,q q = (W_g,q W_q) c``),
        so the gates need no (B, T, 3 inner) concatenation and ride on the q, k and v
        products (:meth:`HeadwiseLinear.heads`).

        Returns:
            (W_c (2 NH, inner) applied to c, W_u (2 NH, inner) applied to u, the bias (2 NH,)).
        """
        weight = torch.cat([self.gate_i.weight, self.gate_f.weight])        # (2NH, 3 inner)
        bias = torch.cat([self.gate_i.bias, self.gate_f.bias])
        w_q, w_k, w_v = weight.split(self.inner, dim=1)
        if self.proj_q.bias is not None:
            bias = bias + w_q @ self.proj_q.bias + w_k @ self.proj_k.bias + w_v @ self.proj_v.bias
        return self.proj_q.fold(w_q) + self.proj_k.fold(w_k), self.proj_v.fold(w_v), bias


class xLSTMStack(nn.Module):
    """xLSTM: ``config.num_blocks`` residual blocks (sLSTM at ``config.slstm_at``, mLSTM
    elsewhere) and a final layer norm, (B, T, E) -> (B, T, E), with torch.nn-style states.

    Args:
        config: an :class:`xLSTMConfig` (``embedding_dim`` E, ``num_blocks``,
            ``slstm_at``, the blocks' settings).

    Raises:
        InputError: a bad configuration (a position outside the stack, a head count that
            does not divide a width, an unknown form or activation).

    ``forward(x, state=None, lengths=None) -> (y, state)``: the state is a tuple with one
    entry per block, ``(h, c, n, m, conv)`` for an sLSTM block and ``(C, n, m, conv)`` for
    an mLSTM block (:class:`sLSTMBlock`, :class:`mLSTMBlock`); running T steps in two
    parts, the second from the first's final state, gives the outputs of one run.

    Example:
        >>> import torch
        >>> from lstmkit.xlstm import xLSTMConfig, xLSTMStack
        >>> _ = torch.manual_seed(0)
        >>> stack = xLSTMStack(xLSTMConfig(embedding_dim=32, num_blocks=2, slstm_at=[1]))
        >>> x = torch.randn(3, 10, 32)
        >>> y, state = stack(x)
        >>> y.shape, len(state), state[1][0].shape        # sLSTM block 1: h (B, E)
        (torch.Size([3, 10, 32]), 2, torch.Size([3, 32]))
        >>> y1, s = stack(x[:, :6])                          # the same in two parts
        >>> y2, _ = stack(x[:, 6:], s)
        >>> torch.allclose(torch.cat([y1, y2], 1), y, atol=1e-5)
        True
    """

    def __init__(self, config: xLSTMConfig):
        super().__init__()
        self.config = config
        checks.positive_int("embedding_dim", config.embedding_dim)
        checks.positive_int("num_blocks", config.num_blocks)
        at = set(config.positions())
        self.blocks = nn.ModuleList(
            (sLSTMBlock if i in at else mLSTMBlock)(config, i) for i in range(config.num_blocks))
        self.post_norm = LayerNorm(config.embedding_dim) if config.add_post_blocks_norm else None

    def forward(self, x: Tensor, state: tuple | None = None,
                lengths: Tensor | None = None) -> tuple[Tensor, tuple]:
        """Run the blocks over ``x``.

        Args:
            x: (B, T, E), floating point.
            state: one state per block (class docstring), as returned by a previous call,
                or None (zeros: the start of the sequences).
            lengths: (B,) integers in [1, T] or None: outputs past a sequence's length
                are zero and each block's final state (its convolution's included) is
                the state at the length.

        Returns:
            (y (B, T, E), the final state: a tuple of ``num_blocks`` block states).

        Raises:
            InputError: ``x`` not (B, T, E) floating point, bad ``lengths``, or a state
                that is not one well-formed state per block.
        """
        x = checks.floating(x, "input", like=next(self.parameters()))
        E = self.config.embedding_dim
        if x.dim() != 3 or x.shape[-1] != E:
            raise InputError(f"input must be (B, T, {E}), got shape {tuple(x.shape)}")
        B, T = x.shape[0], x.shape[1]
        if T == 0:
            raise InputError("input has no time steps (T=0); give at least one step")
        lengths = checks.lengths(lengths, T, B, x.device)
        n = len(self.blocks)
        if state is None:
            state = (None,) * n
        elif not isinstance(state, (tuple, list)) or len(state) != n:
            raise InputError(f"the stack's state must be a tuple of {n} block states (one per "
                             f"block, as a previous call returns), got {type(state).__name__}"
                             + (f" of {len(state)}" if isinstance(state, (tuple, list)) else ""))
        finals = []
        for block, s in zip(self.blocks, state):
            x, s = block(x, s, lengths)
            finals.append(s)
        y = x if self.post_norm is None else self.post_norm(x)
        if lengths is not None:
            y = y * _valid(lengths, T, x.device)[..., None].to(y.dtype)
        return y, tuple(finals)

    def to_xlstm(self, context_length: int = 1024):
        """This stack as the reference package's ``xLSTMBlockStack``
        (:func:`lstmkit.xlstm.convert.to_xlstm`; needs the ``xlstm`` package).

        Args:
            context_length: the longest input its mLSTM blocks' causal mask allows.

        Returns:
            an ``xlstm.xLSTMBlockStack`` with this configuration and these weights.
        """
        from lstmkit.xlstm.convert import to_xlstm

        return to_xlstm(self, context_length)
