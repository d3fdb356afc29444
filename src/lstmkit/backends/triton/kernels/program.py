"""What the forward and backward recurrence kernels both set up for one program before
their time loops (see ``forward`` for the legend and the tiling): its indices and masks,
its resident W_hh tiles, and the cell's per-unit parameters."""

from __future__ import annotations

import triton
import triton.language as tl

from lstmkit.backends.triton.kernels.common import vec, w_tile_bwd, w_tile_fwd


@triton.jit
def program_tile(
    B,
    H,
    NG: tl.constexpr,
    BB: tl.constexpr,
    HP: tl.constexpr,
    HT: tl.constexpr,
    NHT: tl.constexpr,
):
    """This program's batch tile ``bt`` and hidden tile ``ht``; its rows ``rb`` (BB,) with
    ``rmask``; ``umask`` (1, HT) its real units; ``m2`` (BB, HT) and ``fmask`` (BB, HP) the
    masks of its rows by its units and by all units ``jj`` (HP,); ``s_off`` its units in a
    (B, H) slab, ``g_off`` gate 0 of its units in a (B, G) slab."""
    pid = tl.program_id(0)
    bt = pid // NHT
    ht = pid % NHT
    rb = bt * BB + tl.arange(0, BB)  # (BB,) batch rows
    rmask = rb < B
    uu = ht * HT + tl.arange(0, HT)  # (HT,) hidden units
    umask = uu[None, :] < H
    m2 = rmask[:, None] & umask  # (BB, HT)
    jj = tl.arange(0, HP)
    fmask = rmask[:, None] & (jj[None, :] < H)  # (BB, HP)
    s_off = rb[:, None] * H + uu[None, :]
    g_off = rb[:, None] * (NG * H) + uu[None, :]
    return bt, ht, rb, rmask, umask, m2, jj, fmask, s_off, g_off


@triton.jit
def _w_tile(w, k, ht, H, HP: tl.constexpr, HT: tl.constexpr, BWD: tl.constexpr):
    # returned unnamed, so that the compiled code names the tiles w0..w3 (compile_check)
    if BWD:
        return w_tile_bwd(w, k, ht, H, HP, HT)
    return w_tile_fwd(w, k, ht, H, HP, HT)


@triton.jit
def w_tiles(w, ht, H, NG: tl.constexpr, HP: tl.constexpr, HT: tl.constexpr, BWD: tl.constexpr):
    """The (HP, HT) W_hh tiles of every gate: ``w_tile_bwd``'s if BWD, else ``w_tile_fwd``'s
    (the fourth repeats the first when NG == 3)."""
    w0 = _w_tile(w, 0, ht, H, HP, HT, BWD)
    w1 = _w_tile(w, 1, ht, H, HP, HT, BWD)
    w2 = _w_tile(w, 2, ht, H, HP, HT, BWD)
    w3 = w0
    if NG == 4:
        w3 = _w_tile(w, 3, ht, H, HP, HT, BWD)
    return w0, w1, w2, w3


@triton.jit
def cell_vecs(
    pi,
    pf,
    po,
    lncw,
    lncb,
    ht,
    H,
    HT: tl.constexpr,
    COUPLED: tl.constexpr,
    PEEP: tl.constexpr,
    LN_C: tl.constexpr,
):
    """The LSTM cell's (1, HT) rows of this program's units: the peephole weights vpi,
    vpf, vpo and the cell norm's gamma, beta (0.0 where the option is off; coupled gates
    have no input gate, nor its peephole)."""
    vpi = 0.0
    vpf = 0.0
    vpo = 0.0
    gamma = 0.0
    beta = 0.0
    if PEEP:
        if not COUPLED:
            vpi = vec(pi, 0, ht, H, HT)
        vpf = vec(pf, 0, ht, H, HT)
        vpo = vec(po, 0, ht, H, HT)
    if LN_C:
        gamma = vec(lncw, 0, ht, H, HT)
        beta = vec(lncb, 0, ht, H, HT)
    return vpi, vpf, vpo, gamma, beta
