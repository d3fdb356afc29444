"""The sLSTM and mLSTM Triton kernels against the reference math: outputs, final states and
every gradient (pre-activations or q, k, v and gates, recurrent matrix, initial state),
several head counts, initial states, padding masks, both forget gates, chunk sizes that do
and do not divide T, and double backward.

On a CUDA device the kernels run compiled; on the CPU only in triton's interpreter
(TRITON_INTERPRET=1 before triton loads). torch imports triton early for its own use, so
setting the variable inside this process would be too late and would reach the rest of
the suite: :func:`test_kernels_in_interpreter` runs this file again in a subprocess with
the variable set, and the kernel tests skip in the parent process.
"""

from __future__ import annotations

import copy
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from lstmkit.errors import InputError
from lstmkit.xlstm import mLSTM, mlstm_math, mlstm_triton, sLSTM, slstm_math, slstm_triton

ROOT = Path(__file__).resolve().parents[1]
HAS_TRITON = importlib.util.find_spec("triton") is not None
if slstm_triton.interpreting():
    DEVICE = "cpu"
elif torch.cuda.is_available():
    DEVICE = "cuda"
else:
    DEVICE = None
kernels = pytest.mark.skipif(
    not HAS_TRITON or DEVICE is None,
    reason="needs triton and a CUDA device, or TRITON_INTERPRET=1 (test_kernels_in_interpreter "
           "runs this file so in a subprocess)")
#: max abs error over max |reference| (float32); worst seen in the interpreter: 1e-6
TOL = {torch.float32: 1e-4, torch.float64: 1e-10}


def _close(actual, expected, what: str, dtype=torch.float32) -> None:
    assert actual is not None and expected is not None, f"{what}: missing"
    assert actual.shape == expected.shape, f"{what}: {tuple(actual.shape)} != {tuple(expected.shape)}"
    assert torch.isfinite(actual).all(), f"{what}: not finite"
    err = (actual.double() - expected.double()).abs().max().item()
    tol = TOL[dtype] * max(expected.abs().max().item(), 1e-3)
    assert err <= tol, f"{what}: max abs error {err:.3g} > {tol:.3g}"


def _grads(outs, inputs, upstream):
    return torch.autograd.grad(outs, inputs, upstream, allow_unused=True)


# --- sLSTM -----------------------------------------------------------------------------------

def _slstm_case(T, B, NH, d, *, state: bool, seed=0, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    H = NH * d
    pre = torch.randn(T, B, 4 * H, generator=g, dtype=dtype)
    R = 0.5 * torch.randn(4, NH, d, d, generator=g, dtype=dtype)
    if state:
        h, c, m = (0.5 * torch.randn(B, H, generator=g, dtype=dtype) for _ in range(3))
        n = 0.5 + torch.rand(B, H, generator=g, dtype=dtype)
        st = [h, c, n, m]
    else:
        st = [torch.zeros(B, H, dtype=dtype) for _ in range(4)]
    return [t.to(DEVICE).requires_grad_() for t in (pre, R, *st)]


def _slstm_compare(T, B, NH, d, *, forget_gate="sigmoid", state=True, lengths=None,
                   dtype=torch.float32):
    pre, R, *st = inputs = _slstm_case(T, B, NH, d, state=state, dtype=dtype)
    mask = None
    if lengths is not None:
        mask = (torch.arange(T)[:, None] < torch.tensor(lengths)[None, :]).to(DEVICE)
    out, fin = slstm_triton.sequence(pre, R, tuple(st), forget_gate, mask)
    ref, rfin = slstm_math.sequence(pre, R, tuple(st), forget_gate, mask)
    names = ["outputs", "h_T", "c_T", "n_T", "m_T"]
    for a, b, name in zip((out, *fin), (ref, *rfin), names):
        _close(a, b, name, dtype)
    up = [torch.randn_like(t) for t in (ref, *rfin)]
    got = _grads((out, *fin), inputs, up)
    want = _grads((ref, *rfin), inputs, up)
    for a, b, name in zip(got, want, ["pre", "weight_hh", "h0", "c0", "n0", "m0"]):
        if b is None:  # the reference does not reach this input (a zero state's m0)
            assert a is None or not a.any(), f"d{name}: nonzero where the reference has none"
            continue
        _close(a, b, f"d{name}", dtype)


@kernels
@pytest.mark.parametrize("NH,d", [(1, 4), (2, 3), (4, 2)])
@pytest.mark.parametrize("forget_gate", ["sigmoid", "exp"])
def test_slstm_matches_reference(NH, d, forget_gate):
    _slstm_compare(5, 3, NH, d, forget_gate=forget_gate, state=True)


@kernels
@pytest.mark.parametrize("forget_gate", ["sigmoid", "exp"])
def test_slstm_zero_state_and_lengths(forget_gate):
    # a zero state takes the empty-memory branch (m_t = ĩ_t) at the first step
    _slstm_compare(6, 4, 2, 3, forget_gate=forget_gate, state=False, lengths=[6, 1, 4, 3])


@kernels
def test_slstm_masked_with_state_and_batch_blocks():
    # B = 20 spans two batch blocks of 16 rows, the second mostly padding
    _slstm_compare(4, 20, 3, 2, state=True, lengths=[4, 2, 1, 3] * 5)


@kernels
def test_slstm_stabiliser_tie():
    # ĩ = log f + m exactly (one step, so the gradient of m_T reaches the tie): torch's
    # maximum splits the gradient of m_t half and half there, and so must the kernel
    T, B, NH, d = 1, 2, 1, 2
    H = NH * d
    g = torch.Generator().manual_seed(5)
    pre = torch.randn(T, B, 4 * H, generator=g)
    m0 = torch.randn(B, H, generator=g)
    pre[0, :, :H] = pre[0, :, H:2 * H] + m0  # exponential forget gate: log f = f̃
    R = torch.zeros(4, NH, d, d)
    h0, c0 = torch.randn(B, H, generator=g), torch.randn(B, H, generator=g)
    n0 = 1.0 + torch.rand(B, H, generator=g)
    inputs = [t.to(DEVICE).requires_grad_() for t in (pre, R, h0, c0, n0, m0)]
    pre, R, *st = inputs
    outs = [fn(pre, R, tuple(st), "exp") for fn in (slstm_triton.sequence, slstm_math.sequence)]
    up = [torch.randn_like(t) for t in (outs[1][0], *outs[1][1])]
    got, want = (_grads((o, *f), inputs, up) for o, f in outs)
    for a, b, name in zip(got, want, ["pre", "weight_hh", "h0", "c0", "n0", "m0"]):
        _close(a, b, f"d{name}")


@kernels
def test_slstm_wide_head_one_row_per_program():
    # d = 40: the head padded to 64 units, one batch row per program
    _slstm_compare(3, 2, 1, 40, state=True, lengths=[3, 2])


@kernels
def test_slstm_float64():
    _slstm_compare(4, 2, 2, 3, state=True, lengths=[4, 2], dtype=torch.float64)


@kernels
def test_slstm_double_backward_matches_reference():
    pre, R, *st = inputs = _slstm_case(4, 2, 2, 2, state=True, seed=3)
    res = []
    for fn in (slstm_triton.sequence, slstm_math.sequence):
        out, fin = fn(pre, R, tuple(st))
        gp, gr = torch.autograd.grad(out.square().sum() + fin[1].sum(), (pre, R),
                                     create_graph=True)
        assert gp.requires_grad and gr.requires_grad, "gradients without a graph"
        res.append(_grads(gp.square().sum() + gr.sum(), inputs, None))
    for a, b, name in zip(*res, ["pre", "weight_hh", "h0", "c0", "n0", "m0"]):
        if b is None:
            continue
        _close(a, b, f"d2/d{name}")


# --- mLSTM -----------------------------------------------------------------------------------

def _mlstm_case(B, NH, T, d, *, state: bool, seed=0, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    q, k, v = (torch.randn(B, NH, T, d, generator=g, dtype=dtype) for _ in range(3))
    log_i = torch.randn(B, NH, T, generator=g, dtype=dtype)
    log_f = F.logsigmoid(torch.randn(B, NH, T, generator=g, dtype=dtype) + 2.0)
    ins = [q, k, v, log_i, log_f]
    if state:
        ins += [torch.randn(B, NH, d, d, generator=g, dtype=dtype),
                torch.randn(B, NH, d, generator=g, dtype=dtype),
                torch.randn(B, NH, generator=g, dtype=dtype)]
    return [t.to(DEVICE).requires_grad_() for t in ins]


def _mlstm_compare(B, NH, T, d, chunk, *, state=True, dtype=torch.float32, form="chunkwise",
                   exp_forget=False):
    ins = _mlstm_case(B, NH, T, d, state=state, dtype=dtype)
    if exp_forget:  # forget_gate="exp": log f = f̃, positive as often as not
        with torch.no_grad():
            ins[4].copy_(torch.randn(ins[4].shape, generator=torch.Generator().manual_seed(7)))
    q, k, v, li, lf = ins[:5]
    st = tuple(ins[5:]) if state else None
    h, fin = mlstm_triton.chunkwise(q, k, v, li, lf, st, chunk_size=chunk)
    kwargs = {"chunk_size": chunk} if form == "chunkwise" else {}
    ref, rfin = mlstm_math.FORMS[form](q, k, v, li, lf, st, **kwargs)
    for a, b, name in zip((h, *fin), (ref, *rfin), ["h", "C_T", "n_T", "m_T"]):
        _close(a, b, name, dtype)
    up = [torch.randn_like(t) for t in (ref, *rfin)]
    got = _grads((h, *fin), ins, up)
    want = _grads((ref, *rfin), ins, up)
    for a, b, name in zip(got, want, ["q", "k", "v", "log_i", "log_f", "C0", "n0", "m0"]):
        _close(a, b, f"d{name}", dtype)


@kernels
@pytest.mark.parametrize("NH,d", [(1, 4), (2, 3), (3, 2)])
@pytest.mark.parametrize("chunk", [3, 4])
def test_mlstm_matches_reference(NH, d, chunk):
    # T = 7: chunks of 3 leave a last chunk of 1, chunks of 4 one of 3 (tiles of 4 padded)
    _mlstm_compare(2, NH, 7, d, chunk, state=True)


@kernels
def test_mlstm_exponential_forget_gate():
    _mlstm_compare(2, 2, 9, 3, 4, state=True, exp_forget=True)


@kernels
def test_mlstm_zero_state_one_chunk():
    # a chunk longer than T: the parallel form, one chunk
    _mlstm_compare(2, 2, 5, 3, 64, state=False, form="parallel")


@kernels
def test_mlstm_against_recurrent_form_with_tensor_tiles():
    # L = d = 16: the float32 matmuls go through tl.dot
    _mlstm_compare(1, 1, 40, 16, 16, state=True, form="recurrent")


@kernels
def test_mlstm_float64():
    _mlstm_compare(1, 2, 6, 3, 4, state=True, dtype=torch.float64)


@kernels
def test_mlstm_double_backward_matches_reference():
    ins = _mlstm_case(1, 2, 5, 2, state=True, seed=4)
    q, k, v, li, lf, C, n, m = ins
    res = []
    for fn in (mlstm_triton.chunkwise, mlstm_math.chunkwise):
        h, fin = fn(q, k, v, li, lf, (C, n, m), chunk_size=2)
        gq, gk = torch.autograd.grad(h.square().sum() + fin[0].sum(), (q, k), create_graph=True)
        assert gq.requires_grad and gk.requires_grad, "gradients without a graph"
        res.append(_grads(gq.square().sum() + gk.sum(), ins, None))
    for a, b, name in zip(*res, ["q", "k", "v", "log_i", "log_f", "C0", "n0", "m0"]):
        if b is None:
            continue
        _close(a, b, f"d2/d{name}")


# --- the layers with backend="triton" -------------------------------------------------------

def _layer_compare(cls, opts, state_shapes, lengths):
    torch.manual_seed(0)
    ref = cls(3, 8, **opts, backend="reference").to(DEVICE)
    with torch.no_grad():
        for p in ref.parameters():
            p.add_(0.1 * torch.randn_like(p))
    kit = copy.deepcopy(ref)
    kit.backend = "triton"
    g = torch.Generator().manual_seed(1)
    x = torch.randn(5, 4, 3, generator=g).to(DEVICE)
    st = [torch.randn(*s, generator=g).to(DEVICE) for s in state_shapes]
    if cls is sLSTM:
        st[2] = st[2].abs() + 0.5  # a normaliser n > 0
    lens = torch.tensor(lengths)
    runs = []
    for m in (kit, ref):
        ins = [t.clone().requires_grad_() for t in (x, *st)]
        out, fin = m(ins[0], tuple(ins[1:]), lengths=lens)
        runs.append((m, ins, [out, *fin]))
    up = [torch.randn_like(t) for t in runs[1][2]]
    grads = []
    for m, ins, outs in runs:
        grads.append(_grads(outs, [*ins, *m.parameters()], up))
    for k, (a, b) in enumerate(zip(runs[0][2], runs[1][2])):
        _close(a, b, f"output {k}")
    names = ["input"] + [f"state {k}" for k in range(len(st))] + [n for n, _ in ref.named_parameters()]
    for a, b, name in zip(*grads, names):
        _close(a, b, f"d{name}")


@kernels
@pytest.mark.parametrize("bidirectional", [False, True])
def test_slstm_layer(bidirectional):
    D = 2 if bidirectional else 1
    opts = {"num_layers": 2, "bidirectional": bidirectional, "num_heads": 2,
            "recurrent_init": "uniform"}
    _layer_compare(sLSTM, opts, [(2 * D, 4, 8)] * 4, [5, 2, 4, 1])


@kernels
def test_mlstm_layer():
    opts = {"num_layers": 2, "num_heads": 2, "chunk_size": 2}
    _layer_compare(mLSTM, opts, [(2, 4, 2, 4, 4), (2, 4, 2, 4), (2, 4, 2)], [5, 2, 4, 1])


# --- refusals and the interpreter run ----------------------------------------------------------

@pytest.mark.skipif(DEVICE is not None and DEVICE != "cpu" or slstm_triton.interpreting(),
                    reason="the kernels can run on this process's tensors")
def test_cpu_without_interpreter_is_refused():
    why = slstm_triton.unsupported(torch.zeros(1))
    assert why is not None and ("TRITON_INTERPRET" in why or "triton is not installed" in why)
    with pytest.raises(RuntimeError, match="cannot run"):
        slstm_triton.sequence(torch.zeros(1, 1, 4), torch.zeros(4, 1, 1, 1),
                              tuple(torch.zeros(1, 1) for _ in range(4)))
    with pytest.raises(RuntimeError, match="cannot run"):
        mlstm_triton.chunkwise(*(torch.zeros(1, 1, 2, 2) for _ in range(3)),
                               torch.zeros(1, 1, 2), torch.zeros(1, 1, 2))
    with pytest.raises(InputError, match="backend='triton' cannot run here"):
        sLSTM(2, 4, backend="triton")(torch.zeros(3, 2))
    with pytest.raises(InputError, match="backend='triton' cannot run here"):
        mLSTM(2, 4, backend="triton")(torch.zeros(3, 2))


@pytest.mark.skipif(not HAS_TRITON, reason="triton is not installed (the 'triton' extra)")
@pytest.mark.skipif(slstm_triton.interpreting(), reason="this is the interpreted run itself")
def test_kernels_in_interpreter():
    env = dict(os.environ, TRITON_INTERPRET="1")
    cmd = [sys.executable, "-m", "pytest", str(Path(__file__)), "-o", "addopts=", "-q",
           "-p", "no:cacheprovider", "-m", "not slow"]
    res = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=1800, check=False)
    tail = (res.stdout + res.stderr)[-8000:]
    assert res.returncode == 0, f"interpreted kernel tests failed:\n{tail}"
    summary = res.stdout.strip().splitlines()[-1]
    # in the child only the two parent-side tests skip
    assert " passed" in summary and "failed" not in summary and "2 skipped" in summary, summary
