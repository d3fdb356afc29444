"""Host side of the kernels: the plan of a recurrence on this device, and the
launches (one persistent launch, or one per step and exchange stage).

Imports triton (through the kernels); :mod:`lstmkit.backends.triton` imports this module
only when a recurrence runs. Shapes: T time, B batch, H hidden, NG gates, G = NG*H.
"""

from __future__ import annotations

import torch
from torch import Tensor
from triton.runtime.errors import OutOfResources

from lstmkit.backends.triton.kernels.backward import recurrence_bwd
from lstmkit.backends.triton.kernels.forward import recurrence_fwd
from lstmkit.backends.triton.plan import Plan, Recurrence, choose, next_pow2
from lstmkit.cells.layernorm import EPS


def interpreting() -> bool:
    """Whether the kernels were built for triton's CPU interpreter (TRITON_INTERPRET=1
    when they were imported)."""
    return type(recurrence_fwd).__name__ == "InterpretedFunction"


def plan_for(rec: Recurrence, B: int, H: int, w: Tensor) -> Plan:
    """The plan for batch B and hidden H with weights ``w`` on their device (the
    interpreter: no co-residency to count on)."""
    sms = None
    if w.is_cuda and not interpreting():
        sms = torch.cuda.get_device_properties(w.device).multi_processor_count
    return choose(B, H, rec.n_gates, w.element_size(), sms)


def kernel_consts(rec: Recurrence, plan: Plan, H: int, wdtype: torch.dtype, interp: bool) -> dict:
    """The compile-time arguments shared by the forward and backward kernels (not the
    per-call flags of which optional tensors are given, nor STAGES)."""
    n_ht = plan.n_hidden_tiles(H)
    # float32: TF32 tensor cores where torch lets cuDNN's RNNs use them (the default), as
    # the kernels stand in for those; else exact float32 FMAs (the compile audit in
    # docs/gpu.md: that path keeps W_hh in registers, which spill from H = 256)
    f32_prec = "tf32" if torch.backends.cudnn.allow_tf32 else "ieee"
    persistent = plan.persistent or n_ht == 1
    return dict(
        LSTM=rec.lstm,
        NG=rec.n_gates,
        COUPLED=rec.coupled,
        PEEP=rec.peephole,
        CLIP=rec.cell_clip is not None,
        LN_H=rec.ln_h,
        LN_C=rec.ln_c,
        BB=plan.block_b,
        HP=plan.hidden_pad(H),
        HT=plan.hidden_tile,
        NHT=n_ht,
        NHTP=next_pow2(n_ht),
        SYNC=persistent and n_ht > 1,
        NBAR=int(rec.ln_h) + int(rec.ln_c) + 1,  # exchanges per step when NHT > 1
        USE_DOT=plan.use_dot(H),
        DOT_F32=interp and wdtype == torch.bfloat16,
        PREC=f32_prec if wdtype == torch.float32 else "tf32",
    )


def launch_options(plan: Plan, H: int) -> dict:
    """num_warps, and num_stages: with several hidden tiles, 1, so that the compiler's
    software pipelining never prefetches the next step's h_t (or gradients) from global
    memory before the barrier that makes them visible; it also keeps the one-step launches
    from reserving shared memory for loop stages that never come (the compile audit)."""
    # fused multiply-adds on (triton 3.9 warns unless asked explicitly; 3.10 turns them off)
    opts = dict(num_warps=plan.num_warps, enable_fp_fusion=True)
    if plan.n_hidden_tiles(H) > 1:
        opts["num_stages"] = 1
    return opts


def _stages(kinds: list[bool], last: int) -> list[int]:
    """The stages to launch one by one in a step: each exchange that is on, then ``last``."""
    return [k + 1 for k, on in enumerate(kinds) if on] + [last]


def forward(
    rec: Recurrence,
    plan: Plan,
    gx: Tensor,
    h0: Tensor,
    c0: Tensor | None,
    w: Tensor,
    b_hh,
    ln_h,
    cp,
    rec_mask,
    zone_h,
    zone_c,
    lengths,
) -> dict[str, Tensor]:
    """Run the forward kernel; returns the outputs and everything backward needs."""
    T, B, G = gx.shape
    H = w.shape[1]
    f32 = dict(device=gx.device, dtype=torch.float32)
    n_ht = plan.n_hidden_tiles(H)
    none = gx.new_empty(1)  # stands for every absent tensor (never read)
    hs = torch.empty(T + 1, B, H, **f32)
    hs[0] = h0
    cs = torch.empty(T + 1, B, H, **f32) if rec.lstm else none
    if rec.lstm:
        cs[0] = c0
    s = dict(
        hs=hs,
        cs=cs,
        out=gx.new_empty(T, B, H),
        acts=torch.empty(T, B, G, **f32),
        aux=torch.empty(T, B, H, **f32),
        ahat=torch.empty(T, B, G, **f32) if rec.ln_h else none,
        rstd_h=torch.empty(T, B, **f32) if rec.ln_h else none,
        lnc_st=torch.empty(T, B, 2, **f32) if rec.ln_c else none,
    )
    st_h = torch.empty(T, B, n_ht, 2, **f32) if rec.ln_h and n_ht > 1 else none
    st_c = torch.empty(T, B, n_ht, 2, **f32) if rec.ln_c and n_ht > 1 else none
    cnt = torch.zeros(plan.n_batch_tiles(B), device=gx.device, dtype=torch.int32)
    ln_w, ln_b = (none, none) if ln_h is None else (ln_h[0].contiguous(), ln_h[1].contiguous())
    args = (
        gx.contiguous(),
        w.contiguous(),
        none if b_hh is None else b_hh.contiguous(),
        ln_w,
        ln_b,
        *_opts(cp, none),
        *_opts((rec_mask, zone_h, zone_c, lengths), none),
        s["hs"],
        s["cs"],
        s["out"],
        s["acts"],
        s["aux"],
        s["ahat"],
        s["rstd_h"],
        s["lnc_st"],
        st_h,
        st_c,
        cnt,
    )
    consts = _consts(rec, plan, H, w, rec_mask, zone_h, zone_c, lengths, HAS_BHH=b_hh is not None)
    t_range = (B, H, float(rec.cell_clip or 0.0), EPS)
    stages = _stages([rec.ln_h and n_ht > 1, rec.ln_c and n_ht > 1], 3)
    _run(recurrence_fwd, plan, B, H, T, args, t_range, consts, stages, reverse=False)
    return s


def backward(
    rec: Recurrence,
    plan: Plan,
    saved: dict[str, Tensor],
    w: Tensor,
    ln_h,
    cp,
    rec_mask,
    zone_h,
    zone_c,
    lengths,
    dout: Tensor | None,
    dhn: Tensor,
    dcn: Tensor | None,
) -> dict[str, Tensor]:
    """Run the backward kernel; returns dgx, dgh, da (T, B, G), dy, dyc (T, B, H) and the
    gradients dh, dc (B, H) of the initial states, all float32."""
    T, B, G = saved["acts"].shape
    H = w.shape[1]
    dev = w.device
    f32 = dict(device=dev, dtype=torch.float32)
    n_ht = plan.n_hidden_tiles(H)
    none = torch.empty(1, **f32)
    dh = dhn.float().contiguous().clone()
    dc = dcn.float().contiguous().clone() if rec.lstm else none
    dgx = torch.empty(T, B, G, **f32)
    dgh = torch.empty(T, B, G, **f32) if not rec.lstm else dgx
    da = torch.empty(T, B, G, **f32) if rec.ln_h else dgh
    dy = torch.empty(T, B, H, **f32) if rec.ln_c else none
    dyc = torch.empty(T, B, H, **f32) if rec.ln_c else none
    sb_h = torch.empty(T, B, n_ht, 2, **f32) if rec.ln_h and n_ht > 1 else none
    sb_c = torch.empty(T, B, n_ht, 2, **f32) if rec.ln_c and n_ht > 1 else none
    cnt = torch.zeros(plan.n_batch_tiles(B), device=dev, dtype=torch.int32)
    ln_w = none if ln_h is None else ln_h[0].contiguous()
    args = (
        w.contiguous(),
        ln_w,
        *_opts(cp, none),
        *_opts((rec_mask, zone_h, zone_c, lengths), none),
        saved["hs"],
        saved["cs"],
        saved["acts"],
        saved["aux"],
        saved["ahat"],
        saved["rstd_h"],
        saved["lnc_st"],
        none if dout is None else dout.contiguous(),
        dh,
        dc,
        dgx,
        dgh,
        da,
        da,
        dy,
        dyc,
        sb_h,
        sb_c,
        cnt,
    )
    consts = _consts(rec, plan, H, w, rec_mask, zone_h, zone_c, lengths, HAS_DOUT=dout is not None)
    t_range = (B, H, float(rec.cell_clip or 0.0))
    stages = _stages([rec.ln_c and n_ht > 1, rec.ln_h and n_ht > 1, n_ht > 1], 4)
    _run(recurrence_bwd, plan, B, H, T, args, t_range, consts, stages, reverse=True)
    return dict(dgx=dgx, dgh=dgh, da=da, dy=dy, dyc=dyc, dh=dh, dc=dc)


def _launch(kernel, grid: int, args: tuple, kwargs: dict) -> None:
    try:
        kernel[(grid,)](*args, **kwargs)
    except OutOfResources as err:
        # a program's W_hh tiles and operands exceed the multiprocessor (float32 at large H)
        raise ValueError(
            f"the triton kernel for H={kwargs['HP']} (padded), {kwargs['NG']} gates, hidden tile "
            f"{kwargs['HT']} does not fit on this GPU ({err}); use bfloat16 or float16, or "
            "backend='fused'"
        ) from None


def _opts(ts, none: Tensor) -> tuple[Tensor, ...]:
    """Each of ``ts`` made contiguous, ``none`` for each absent one."""
    return tuple(none if t is None else t.contiguous() for t in ts)


def _consts(
    rec: Recurrence, plan: Plan, H: int, w: Tensor, rec_mask, zone_h, zone_c, lengths, **flags
) -> dict:
    """Every compile-time argument and launch option of a kernel but STAGES: those shared
    by both kernels, the flags of the optional tensors both take, and ``flags``."""
    consts = kernel_consts(rec, plan, H, w.dtype, interpreting())
    consts.update(
        **launch_options(plan, H),
        **flags,
        HAS_RD=rec_mask is not None,
        HAS_ZH=zone_h is not None,
        HAS_ZC=zone_c is not None,
        HAS_LEN=lengths is not None,
    )
    return consts


def _run(
    kernel,
    plan: Plan,
    B: int,
    H: int,
    T: int,
    args: tuple,
    t_range: tuple,
    consts: dict,
    stages: list[int],
    reverse: bool,
) -> None:
    """Launch ``kernel`` over all T steps: once, persistent, running every stage (the last
    of ``stages``); else one launch per step (last to first when ``reverse``) and stage."""
    n_ht = plan.n_hidden_tiles(H)
    grid = plan.n_batch_tiles(B) * n_ht
    if plan.persistent or n_ht == 1:
        _launch(kernel, grid, (*args, 0, T, *t_range), dict(STAGES=stages[-1], **consts))
        return
    for t in range(T - 1, -1, -1) if reverse else range(T):
        for st in stages:
            _launch(kernel, grid, (*args, t, t + 1, *t_range), dict(STAGES=st, **consts))
