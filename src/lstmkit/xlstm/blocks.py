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
from lstmkit.xlstm import checks, mlstm_math, slstm_math

ACTIVATIONS = {"gelu": F.gelu, "relu": F.relu, "silu": F.silu, "swish": F.silu,
               "sigmoid": torch.sigmoid, "selu": F.selu,
               "relu^2": lambda x: torch.square(F.relu(x))}


def small_init_(weight: Tensor, dim: int) -> None:
    """N(0, 2 / (5 dim)) (Nguyen and Salazar 2019), the reference package's input projections."""
    nn.init.normal_(weight, 0.0, math.sqrt(2 / (5 * dim)))


def wang_init_(weight: Tensor, dim: int, num_blocks: int) -> None:
    """N(0, (2 / (num_blocks sqrt(dim)))^2), the reference package's output projections."""
    nn.init.normal_(weight, 0.0, 2 / num_blocks / math.sqrt(dim))


def _zero_bias(*modules) -> None:
    for m in modules:
        if m.bias is not None:
            nn.init.zeros_(m.bias)


def up_dim(embedding_dim: int, factor: float, multiple: int = 64) -> int:
    """``factor * embedding_dim`` rounded up to a multiple of ``multiple``."""
    return int(math.ceil(factor * embedding_dim / multiple) * multiple)


@dataclass
class xLSTMConfig:
    """What an :class:`xLSTMStack` is built from (defaults: the reference package's)."""

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

    def positions(self) -> list[int]:
        if self.slstm_at == "all":
            return list(range(self.num_blocks))
        at = list(self.slstm_at)
        bad = [p for p in at if not (isinstance(p, int) and 0 <= p < self.num_blocks)]
        if bad:
            raise InputError(f"slstm_at must hold block positions in [0, {self.num_blocks}), "
                             f"got {bad}")
        return at


class LayerNorm(nn.Module):
    """Layer norm over the last axis without bias; ``weight`` is the offset from 1."""

    def __init__(self, dim: int, eps: float = 1e-5):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(dim))
        self.eps = eps

    def forward(self, x: Tensor) -> Tensor:
        return F.layer_norm(x, (x.shape[-1],), 1.0 + self.weight, None, self.eps)


class HeadNorm(LayerNorm):
    """Group norm with one group per head over (..., NH * d); ``weight`` the offset from 1."""

    def __init__(self, dim: int, num_heads: int, eps: float = 1e-5):
        super().__init__(dim, eps)
        self.num_heads = num_heads

    def forward(self, x: Tensor) -> Tensor:
        lead = x.shape[:-1]
        y = F.group_norm(x.reshape(-1, x.shape[-1]), self.num_heads, 1.0 + self.weight, None,
                         self.eps)
        return y.reshape(*lead, -1)


class HeadwiseLinear(nn.Module):
    """A block-diagonal linear map: the features split into ``num_heads`` groups, each
    mapped by its own (d_out, d_in) matrix. weight (NH, d_out, d_in), bias (NH * d_out,)."""

    def __init__(self, features: int, num_heads: int, bias: bool = False):
        super().__init__()
        d = features // num_heads
        self.num_heads = num_heads
        self.weight = nn.Parameter(torch.randn(num_heads, d, d) * math.sqrt(2 / 5 / d))
        self.bias = nn.Parameter(torch.zeros(features)) if bias else None

    def forward(self, x: Tensor) -> Tensor:
        y = torch.einsum("...hi,hoi->...ho", x.reshape(*x.shape[:-1], self.num_heads, -1),
                         self.weight).reshape(x.shape)
        return y if self.bias is None else y + self.bias


class CausalConv(nn.Module):
    """Depthwise causal convolution along time of (B, T, F): output t sees inputs <= t.
    weight (F, 1, K), bias (F,); kernel 0 is the identity."""

    def __init__(self, features: int, kernel: int):
        super().__init__()
        self.kernel = kernel
        if kernel:
            conv = nn.Conv1d(features, features, kernel, groups=features)
            self.weight, self.bias = conv.weight, conv.bias

    def forward(self, x: Tensor) -> Tensor:
        if not self.kernel:
            return x
        y = F.conv1d(F.pad(x.transpose(1, 2), (self.kernel - 1, 0)), self.weight, self.bias,
                     groups=x.shape[-1])
        return y.transpose(1, 2)


class GatedFeedForward(nn.Module):
    """``W_down (act(gate) * up)`` with ``(gate, up) = W_up x``; inner width
    ``up_dim(E, proj_factor)``."""

    def __init__(self, dim: int, proj_factor: float, act: str, bias: bool, dropout: float):
        super().__init__()
        if act not in ACTIVATIONS:
            raise InputError(f"ffn_act must be one of {', '.join(ACTIVATIONS)}, got {act!r}")
        self.inner = up_dim(dim, proj_factor)
        self.proj_up = nn.Linear(dim, 2 * self.inner, bias=bias)
        self.proj_down = nn.Linear(self.inner, dim, bias=bias)
        self.act = ACTIVATIONS[act]
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor) -> Tensor:
        gate, up = self.proj_up(x).split(self.inner, dim=-1)
        return self.dropout(self.proj_down(self.act(gate) * up))


class sLSTMBlock(nn.Module):
    """The post-up-projection block around an sLSTM cell (see the module docstring).

    ``proj_i`` ... ``proj_o`` feed the cell's gates i, f, z, o (i and f from the
    convolved input); ``weight_hh`` (4, NH, d, d) and ``bias`` (4E,) are the cell's
    (:mod:`lstmkit.xlstm.slstm_math`)."""

    def __init__(self, config: xLSTMConfig, block_idx: int):
        super().__init__()
        E, NH = config.embedding_dim, checks.heads(config.embedding_dim, config.slstm_num_heads)
        d = E // NH
        self.num_heads = NH
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
        self.dropout = nn.Dropout(config.dropout)
        self.ffn_norm = LayerNorm(E)
        self.ffn = GatedFeedForward(E, config.ffn_proj_factor, config.ffn_act, config.ffn_bias,
                                    config.dropout)
        with torch.no_grad():  # the reference package's initialisation
            for proj in (self.proj_i, self.proj_f, self.proj_z, self.proj_o, self.ffn.proj_up):
                small_init_(proj.weight, E)
            wang_init_(self.ffn.proj_down.weight, E, config.num_blocks)
            _zero_bias(self.ffn.proj_up, self.ffn.proj_down)

    def forward(self, x: Tensor) -> Tensor:
        B, T, E = x.shape
        u = self.norm(x)
        c = F.silu(self.conv(u)) if self.conv.kernel else u
        pre = torch.cat([self.proj_i(c), self.proj_f(c), self.proj_z(u), self.proj_o(u)], -1)
        pre = pre + self.bias
        state = tuple(x.new_zeros(B, E) for _ in range(4))
        hs = []
        for t in range(T):
            state = slstm_math.step(pre[:, t], state, self.weight_hh)
            hs.append(state[0])
        h = self.dropout(torch.stack(hs, 1))
        x = x + self.head_norm(h)
        return x + self.ffn(self.ffn_norm(x))


class mLSTMBlock(nn.Module):
    """The pre-up-projection block around the mLSTM recurrence (see the module docstring)."""

    def __init__(self, config: xLSTMConfig, block_idx: int):
        super().__init__()
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
        self.dropout = nn.Dropout(config.dropout)
        with torch.no_grad():  # the reference package's initialisation
            for proj in (self.proj_up, self.proj_q, self.proj_k, self.proj_v):
                small_init_(proj.weight, E)
            wang_init_(self.proj_down.weight, E, config.num_blocks)
            _zero_bias(self.proj_up, self.proj_q, self.proj_k, self.proj_v, self.proj_down)

    def forward(self, x: Tensor) -> Tensor:
        B, T, _ = x.shape
        u, z = self.proj_up(self.norm(x)).split(self.inner, dim=-1)
        c = F.silu(self.conv(u))
        q, k, v = self.proj_q(c), self.proj_k(c), self.proj_v(u)
        qkv = torch.cat([q, k, v], -1)
        log_i = self.gate_i(qkv).transpose(1, 2)                       # (B, NH, T)
        log_f = F.logsigmoid(self.gate_f(qkv)).transpose(1, 2)
        heads = [t.reshape(B, T, self.num_heads, -1).transpose(1, 2) for t in (q, k, v)]
        kwargs = {"chunk_size": self.chunk_size} if self.form == "chunkwise" else {}
        h, _ = mlstm_math.FORMS[self.form](*heads, log_i, log_f, **kwargs)
        h = self.head_norm(h.transpose(1, 2).reshape(B, T, self.inner))
        h = (h + self.skip * c) * F.silu(z)
        return x + self.dropout(self.proj_down(h))


class xLSTMStack(nn.Module):
    """``config.num_blocks`` residual blocks (sLSTM at ``config.slstm_at``, mLSTM elsewhere)
    and a final layer norm: (B, T, E) -> (B, T, E)."""

    def __init__(self, config: xLSTMConfig):
        super().__init__()
        self.config = config
        checks.positive_int("embedding_dim", config.embedding_dim)
        checks.positive_int("num_blocks", config.num_blocks)
        at = set(config.positions())
        self.blocks = nn.ModuleList(
            (sLSTMBlock if i in at else mLSTMBlock)(config, i) for i in range(config.num_blocks))
        self.post_norm = LayerNorm(config.embedding_dim) if config.add_post_blocks_norm else None

    def forward(self, x: Tensor) -> Tensor:
        x = checks.floating(x, "input")
        E = self.config.embedding_dim
        if x.dim() != 3 or x.shape[-1] != E:
            raise InputError(f"input must be (B, T, {E}), got shape {tuple(x.shape)}")
        for block in self.blocks:
            x = block(x)
        return x if self.post_norm is None else self.post_norm(x)

    def to_xlstm(self, context_length: int = 1024):
        """This stack as the reference package's ``xLSTMBlockStack``
        (:func:`lstmkit.xlstm.convert.to_xlstm`)."""
        from lstmkit.xlstm.convert import to_xlstm

        return to_xlstm(self, context_length)
