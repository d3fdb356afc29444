"""Conversion between the reference package's ``xlstm.xLSTMBlockStack`` (NX-AI, PyPI) and
:class:`lstmkit.xlstm.xLSTMStack`: the configuration and every weight, both ways.

Naming differences handled here: the reference's sLSTM layer feeds its ``fgate``
projection into the cell's input-gate slot and its ``igate`` projection into the
forget-gate slot (gate order i, f, z, o of the cell), so ``fgate`` becomes ``proj_i``
and ``igate`` becomes ``proj_f``; its recurrent kernel (NH, d_in, 4, d_out) and bias
(NH, 4, d) become ``weight_hh`` (4, NH, d_out, d_in) and ``bias`` (4E,), gate-major.
Layer norms store their weight as the offset from 1 on both sides.
"""

from __future__ import annotations

import torch

from lstmkit.errors import InputError
from lstmkit.xlstm.blocks import sLSTMBlock, up_dim, xLSTMConfig, xLSTMStack


def config_of(ref) -> xLSTMConfig:
    """The :class:`xLSTMConfig` of a reference ``xLSTMBlockStack``.

    Args:
        ref: an ``xlstm.xLSTMBlockStack``.

    Returns:
        The equivalent :class:`xLSTMConfig`.

    Raises:
        InputError: a reference configuration lstmkit has no equivalent for (an sLSTM
            block without feed-forward, another cell function, another inner width).
    """
    rc = ref.config
    kw = {"embedding_dim": rc.embedding_dim, "num_blocks": rc.num_blocks,
          "slstm_at": list(rc.slstm_at), "bias": rc.bias, "dropout": rc.dropout,
          "add_post_blocks_norm": rc.add_post_blocks_norm}
    if rc.mlstm_block is not None:
        m = rc.mlstm_block.mlstm
        kw.update(mlstm_num_heads=m.num_heads, mlstm_proj_factor=m.proj_factor,
                  mlstm_conv_kernel=m.conv1d_kernel_size, qkv_proj_blocksize=m.qkv_proj_blocksize)
        if m._proj_up_dim != up_dim(rc.embedding_dim, m.proj_factor):
            raise InputError(f"the reference's mLSTM inner width {m._proj_up_dim} is not "
                             f"{m.proj_factor} x {rc.embedding_dim} rounded up to 64")
    if rc.slstm_block is not None:
        s, ff = rc.slstm_block.slstm, rc.slstm_block.feedforward
        if ff is None:
            raise InputError("sLSTM blocks without a feed-forward are not supported")
        if s.function != "slstm":
            raise InputError(f"only the reference's 'slstm' cell function converts, "
                             f"got {s.function!r}")
        kw.update(slstm_num_heads=s.num_heads, slstm_conv_kernel=s.conv1d_kernel_size,
                  ffn_proj_factor=ff.proj_factor, ffn_act=ff.act_fn, ffn_bias=ff.bias)
    return xLSTMConfig(**kw)


class _Kernel:
    """The sLSTM recurrent kernel: reference internal layout <-> (4, NH, d_out, d_in)."""

    def __init__(self, cell):
        self.cell = cell

    def ours(self, p):
        return self.cell._recurrent_kernel_int2ext(p).permute(2, 0, 3, 1)

    def theirs(self, value):
        return self.cell._recurrent_kernel_ext2int(value.permute(1, 3, 0, 2))


class _Bias:
    """The sLSTM bias: reference internal layout <-> (4E,) gate-major."""

    def __init__(self, cell):
        self.cell = cell

    def ours(self, p):
        return self.cell._bias_int2ext(p).permute(1, 0, 2)

    def theirs(self, value):
        NH = self.cell.config.num_heads
        return self.cell._bias_ext2int(value.reshape(4, NH, -1).permute(1, 0, 2))


def _pairs(ours: xLSTMStack, ref):
    """(our parameter, their parameter, layout or None) for every weight."""
    out = []

    def both(a, b, names):
        for x, y in names:
            for kind in ("weight", "bias"):
                pa, pb = getattr(getattr(a, x), kind, None), getattr(getattr(b, y), kind, None)
                if (pa is None) != (pb is None):
                    raise InputError(f"{x}.{kind} exists on one side only (bias settings differ)")
                if pa is not None:
                    out.append((pa, pb, None))

    for mine, theirs in zip(ours.blocks, ref.blocks):
        layer = theirs.xlstm
        out.append((mine.norm.weight, theirs.xlstm_norm.weight, None))
        if mine.conv.kernel:
            out += [(mine.conv.weight, layer.conv1d.conv.weight, None),
                    (mine.conv.bias, layer.conv1d.conv.bias, None)]
        if isinstance(mine, sLSTMBlock):
            both(mine, layer, [("proj_i", "fgate"), ("proj_f", "igate"), ("proj_z", "zgate"),
                               ("proj_o", "ogate")])
            cell = layer.slstm_cell
            out += [(mine.weight_hh, cell._recurrent_kernel_, _Kernel(cell)),
                    (mine.bias, cell._bias_, _Bias(cell))]
            if layer.group_norm.weight is not None:
                out.append((mine.head_norm.weight, layer.group_norm.weight, None))
            out.append((mine.ffn_norm.weight, theirs.ffn_norm.weight, None))
            both(mine.ffn, theirs.ffn, [("proj_up", "proj_up"), ("proj_down", "proj_down")])
        else:
            both(mine, layer, [("proj_up", "proj_up"), ("proj_q", "q_proj"), ("proj_k", "k_proj"),
                               ("proj_v", "v_proj"), ("proj_down", "proj_down")])
            both(mine, layer.mlstm_cell, [("gate_i", "igate"), ("gate_f", "fgate")])
            out += [(mine.head_norm.weight, layer.mlstm_cell.outnorm.weight, None),
                    (mine.skip, layer.learnable_skip, None)]
    if ours.post_norm is not None:
        out.append((ours.post_norm.weight, ref.post_blocks_norm.weight, None))
    return out


def from_xlstm(ref) -> xLSTMStack:
    """A new :class:`xLSTMStack` with ``ref``'s configuration and weights; its outputs and
    gradients match ``ref``'s (tests/test_xlstm_blocks.py).

    Args:
        ref: an ``xlstm.xLSTMBlockStack`` (the reference package, PyPI ``xlstm``).

    Returns:
        The :class:`xLSTMStack`, in ``ref``'s dtype.

    Raises:
        InputError: a configuration lstmkit cannot express (:func:`config_of`).
    """
    ours = xLSTMStack(config_of(ref)).to(next(ref.parameters()).dtype)
    with torch.no_grad():
        for mine, theirs, layout in _pairs(ours, ref):
            value = theirs.detach() if layout is None else layout.ours(theirs.detach())
            mine.copy_(value.reshape(mine.shape))
    return ours


def to_xlstm(stack: xLSTMStack, context_length: int = 1024):
    """A reference-package ``xlstm.xLSTMBlockStack`` with ``stack``'s configuration and
    weights, its sLSTM on the "vanilla" backend.

    Args:
        stack: an :class:`xLSTMStack`.
        context_length: the reference mLSTM blocks' causal mask length: they cannot run
            longer inputs.

    Returns:
        The ``xlstm.xLSTMBlockStack``, in ``stack``'s dtype.

    Raises:
        InputError: the ``xlstm`` package is not installed.
    """
    try:
        import xlstm
    except ImportError as err:
        raise InputError("to_xlstm needs the reference package: pip install --no-deps xlstm "
                         "mlstm_kernels dacite omegaconf einops") from err
    c = stack.config
    at = c.positions()
    mlstm_block = xlstm.mLSTMBlockConfig(mlstm=xlstm.mLSTMLayerConfig(
        conv1d_kernel_size=c.mlstm_conv_kernel, qkv_proj_blocksize=c.qkv_proj_blocksize,
        num_heads=c.mlstm_num_heads, proj_factor=c.mlstm_proj_factor))
    slstm_block = xlstm.sLSTMBlockConfig(
        slstm=xlstm.sLSTMLayerConfig(backend="vanilla", num_heads=c.slstm_num_heads,
                                     conv1d_kernel_size=c.slstm_conv_kernel),
        feedforward=xlstm.FeedForwardConfig(proj_factor=c.ffn_proj_factor, act_fn=c.ffn_act,
                                            bias=c.ffn_bias))
    ref = xlstm.xLSTMBlockStack(xlstm.xLSTMBlockStackConfig(
        mlstm_block=mlstm_block if len(at) < c.num_blocks else None,
        slstm_block=slstm_block if at else None,
        context_length=context_length, num_blocks=c.num_blocks, embedding_dim=c.embedding_dim,
        slstm_at=at, bias=c.bias, dropout=c.dropout,
        add_post_blocks_norm=c.add_post_blocks_norm))
    ref = ref.to(next(stack.parameters()).dtype)
    with torch.no_grad():
        for mine, theirs, layout in _pairs(stack, ref):
            value = mine.detach() if layout is None else layout.theirs(mine.detach())
            theirs.copy_(value.reshape(theirs.shape))
    return ref
