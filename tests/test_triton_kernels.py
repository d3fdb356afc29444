"""The triton kernels against the reference backend: outputs, final states and every
gradient (input, initial states, all parameters) under random upstream gradients, for the
LSTM and GRU with each variant, lengths, both directions, float32 / bfloat16 / float16, and
each way of cutting the recurrence (one program for all of H; several hidden tiles per
batch tile, one launch per step or one persistent launch with a grid barrier).

On a CUDA device this runs at real sizes with the kernels compiled. On the CPU it runs only
in triton's interpreter (TRITON_INTERPRET=1 before triton loads), at small sizes:
tests/test_triton_interpreter.py runs this file so, in a subprocess, so that the variable
never reaches the rest of the suite (torch imports triton for its own use too).
"""

from __future__ import annotations

import contextlib
import copy

import pytest
import torch

import lstmkit
from lstmkit.backends.triton import TritonBackend, interpreter_on
from lstmkit.backends.triton.plan import Plan, forced
from tests.test_variants import GRU_CASES as VARIANT_GRU
from tests.test_variants import LSTM_CASES as VARIANT_LSTM

if interpreter_on():
    DEVICE = "cpu"
elif torch.cuda.is_available():
    DEVICE = "cuda"
else:
    DEVICE = None
pytestmark = pytest.mark.skipif(
    TritonBackend().unavailable() is not None or DEVICE is None,
    reason="needs triton and a CUDA device, or TRITON_INTERPRET=1 "
    "(tests/test_triton_interpreter.py runs this file in triton's interpreter in a subprocess)",
)

# the interpreter runs every tile operation in numpy: keep it small there
T, B, I, H = (4, 3, 4, 6) if DEVICE != "cuda" else (64, 48, 64, 256)
#: the 16-bit and TF32 cases on CUDA run shorter sequences: over 64 steps with layer norm
#: a rounding grows about a thousandfold (see CONDITIONING), and a 16-bit rounding would
#: make any result pass
T_SHORT = 4 if DEVICE != "cuda" else 12
#: max abs error, scaled by max(1, max |reference|), against a float32 reference on the
#: 16-bit-rounded weights and inputs (the kernels round h to 16 bits for the matmul, and
#: return 16-bit gradients). Worst seen in the interpreter (2026-11-23): float32 8e-7,
#: bfloat16 1.0e-2, float16 1.2e-3.
TOL = {torch.float32: 5e-5, torch.bfloat16: 3e-2, torch.float16: 5e-3}
#: The tolerance also scales with the problem's conditioning: the reference is run a
#: second time with every input and parameter multiplied by (1 + EPS * u), u uniform in
#: [-1, 1], one rounding of the kernels' arithmetic; the kernels may differ from the
#: reference by CONDITIONING times what that moved each output and gradient. At T=64,
#: B=48, H=256 with layer norm, float32 against float64 in the reference itself differs by
#: 5e-5 to 5e-4 (scaled; `python examples/triton_test_conditioning.py`): a rounding is amplified about 1000x over the sequence by the
#: perturbed layer-norm gains, so a fixed float32 tolerance fails correct kernels. The
#: largest ratio seen on an H200 (2026-12-04): 8.1, the input's gradient of
#: lstm-ln_peep_zone-tiles (0.0165 against 0.0020); an error in the kernels' math shows
#: as an error of the size of the values themselves.
EPS = {torch.float32: 2.0**-24, torch.bfloat16: 2.0**-8, torch.float16: 2.0**-11, "tf32": 2.0**-11}
CONDITIONING = 16.0

LSTM_ALL = dict(
    layer_norm=True,
    peephole=True,
    forget_bias=1.0,
    cell_clip=0.8,
    recurrent_dropout=0.2,
    zoneout=(0.1, 0.2),
    weight_drop=0.2,
)
LSTM_ALL_COUPLED = dict(
    layer_norm=True,
    peephole=True,
    coupled_gates=True,
    cell_clip=0.8,
    recurrent_dropout=0.2,
    zoneout=0.1,
    weight_drop=0.2,
)
GRU_ALL = dict(layer_norm=True, recurrent_dropout=0.2, zoneout=0.1, weight_drop=0.2)
if DEVICE == "cuda":
    # A clip's gradient jumps where a rounding moves c across the bound. At these sizes
    # some of the 48 x 64 x 256 cells sit that close, and the combined cases' gradients
    # then differ between any two correct implementations (fused against reference on
    # the CPU: 11.8 in the input's gradient against 0.0014 without the clip,
    # examples/triton_test_conditioning.py) by far more than a rounding. The single
    # cell_clip case and the 16-bit grid check the clip there.
    for _combined in (LSTM_ALL, LSTM_ALL_COUPLED):
        _combined.pop("cell_clip")
# in the interpreter, cutting H = 6 into hidden tiles of 4 (two tiles, the second half
# padding) and B = 3 into batch tiles of 2 makes every exchange and mask edge run; on CUDA
# the tiles are the sizes tl.dot takes
SMALL_TILES = (
    Plan(block_b=2, hidden_tile=4, persistent=False) if DEVICE != "cuda" else Plan(16, 32, False)
)
PERSISTENT_TILES = Plan(block_b=2, hidden_tile=4) if DEVICE != "cuda" else Plan(16, 32)
ONE_BATCH_TILE = (
    Plan(block_b=4, hidden_tile=4, persistent=False) if DEVICE != "cuda" else SMALL_TILES
)
DOT_TILES = Plan(block_b=16, hidden_tile=16)  # tl.dot, H padded to 16 in the interpreter


@pytest.fixture(autouse=True)
def exact_float32(monkeypatch):
    """The kernels run float32 matmuls on TF32 tensor cores where cuDNN may (the default);
    the comparisons at float32 tolerance want them exact."""
    monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", False)


def _err(a, b) -> float:
    return (a.double() - b.double()).abs().max().item() if a.numel() else 0.0


def _close(actual, expected, tol: float, what: str, moved: float = 0.0) -> None:
    """Max abs error within ``tol`` times max(1, max |expected|), or within CONDITIONING
    times ``moved`` (how far the reference moved under a perturbation of one rounding)."""
    assert actual is not None and expected is not None, f"{what}: missing"
    assert actual.shape == expected.shape, (
        f"{what}: shape {tuple(actual.shape)} != {tuple(expected.shape)}"
    )
    err = _err(actual, expected)
    bound = max(tol * max(1.0, expected.abs().max().item()), CONDITIONING * moved)
    assert err <= bound, (f"{what}: max abs error {err:.3g} > {bound:.3g} (the reference "
                          f"moves {moved:.3g} under one rounding)")


def _forward(m, x, h0, c0, lengths, seed):
    hx = (h0, c0) if c0 is not None else h0
    torch.manual_seed(seed)  # the variants' masks: the same draws for both modules
    out, st = m(x, hx, lengths=lengths)
    return out, list(st) if isinstance(st, tuple) else [st]


def _perturbed(m, ins, eps: float):
    """Copies of module ``m`` and tensors ``ins`` with every value multiplied by
    (1 + eps * u), u uniform in [-1, 1] (a fixed draw)."""
    g = torch.Generator().manual_seed(7)

    def bump(t):
        u = torch.rand(t.shape, generator=g, dtype=torch.float64).to(t.device)
        return (t.double() * (1 + eps * (2 * u - 1))).to(t.dtype)

    m = copy.deepcopy(m)
    with torch.no_grad():
        for q in m.parameters():
            q.copy_(bump(q))
    return m, [bump(t) for t in ins]


def compare(
    kind: str,
    opts: dict,
    dtype=torch.float32,
    *,
    plan: Plan | None = None,
    train: bool = True,
    lengths: bool = True,
    tol: float | None = None,
    steps: int = T,
    tf32: bool = False,
    **structure,
) -> None:
    """Run the triton backend in ``dtype`` and the reference in float32 on the same
    (``dtype``-rounded) weights, inputs and masks, and compare everything, within a
    tolerance that also follows the problem's conditioning (:data:`CONDITIONING`)."""
    cls = lstmkit.LSTM if kind == "lstm" else lstmkit.GRU
    torch.manual_seed(0)
    base = cls(I, H, **structure, **opts)
    with torch.no_grad():  # perturb so the layer-norm gains and biases are not all 1 and 0
        for p in base.parameters():
            p.add_(0.1 * torch.randn_like(p))
    kit = copy.deepcopy(base).to(DEVICE, dtype).train(train)
    kit.backend = "triton"
    ref = copy.deepcopy(kit).float().train(train)
    ref.backend = "reference"
    g = torch.Generator().manual_seed(1)
    D = 2 if base.bidirectional else 1
    x = torch.randn(steps, B, I, generator=g).to(DEVICE, dtype)
    h0 = torch.randn(base.num_layers * D, B, H, generator=g).to(DEVICE, dtype)
    c0 = (
        torch.randn(base.num_layers * D, B, H, generator=g).to(DEVICE, dtype)
        if kind == "lstm"
        else None
    )
    lens = (torch.tensor([steps, 2, steps - 1] + [steps - (k % steps) for k in range(B - 3)])
            if lengths else None)
    runs = []
    ref_ins = [t.float() for t in (x, h0, c0) if t is not None]
    bumped, bumped_ins = _perturbed(ref, ref_ins, EPS["tf32" if tf32 else dtype])
    for m, ins in ((kit, [t for t in (x, h0, c0) if t is not None]), (ref, ref_ins),
                   (bumped, bumped_ins)):
        ins = [t.detach().clone().requires_grad_() for t in ins]
        ctx = forced(plan) if plan is not None and m is kit else contextlib.nullcontext()
        with ctx:
            out, states = _forward(m, *ins, *([None] if c0 is None else []), lens, seed=2)
            ups = [
                torch.randn(t.shape, generator=torch.Generator().manual_seed(3 + k)).to(t)
                for k, t in enumerate((out, *states))
            ]
            loss = sum((t * u).sum() for t, u in zip((out, *states), ups))
            grads = torch.autograd.grad(loss, ins + list(m.parameters()))
        runs.append((out, states, grads))
    names = ["input", "h0", "c0"][: 2 + (kind == "lstm")] + [n for n, _ in base.named_parameters()]
    (out, states, grads), (r_out, r_states, r_grads), (p_out, p_states, p_grads) = runs
    tol = TOL[dtype] if tol is None else tol
    _close(out, r_out, tol, "output", _err(p_out, r_out))
    for k, (a, b, c) in enumerate(zip(states, r_states, p_states)):
        _close(a, b, tol, ["h_n", "c_n"][k], _err(c, b))
    assert len(grads) == len(names)
    for name, a, b, c in zip(names, grads, r_grads, p_grads):
        _close(a, b, tol, f"grad of {name}", _err(c, b))


# -- the default run: one case per code path, kept to about 30 s in the interpreter
FAST = {
    "lstm-plain-dot": ("lstm", {}, dict(plan=DOT_TILES)),
    "lstm-all-bidir": ("lstm", LSTM_ALL, dict(bidirectional=True)),
    "lstm-all_coupled": ("lstm", LSTM_ALL_COUPLED, {}),
    "gru-all": ("gru", GRU_ALL, {}),
    "lstm-ln_peep_zone-tiles": (
        "lstm",
        dict(layer_norm=True, peephole=True, zoneout=0.2, recurrent_dropout=0.3),
        dict(plan=ONE_BATCH_TILE),
    ),
    "gru-ln-tiles": ("gru", dict(layer_norm=True), dict(plan=ONE_BATCH_TILE, lengths=False)),
}


@pytest.mark.parametrize("case", list(FAST))
def test_kernels_match_reference(case):
    kind, opts, kw = FAST[case]
    compare(kind, opts, **kw)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16], ids=["bf16", "f16"])
def test_half_precision(dtype):
    """16-bit inputs and weights, float32 cell state and accumulation; eval mode keeps the
    zoneout deterministic (its expectation), so both runs see the same masks."""
    compare("lstm", dict(layer_norm=True, peephole=True, zoneout=0.1), dtype, train=False,
            steps=T_SHORT)


def test_tf32(monkeypatch):
    """float32 with TF32 tensor cores (torch.backends.cudnn.allow_tf32, on by default):
    within bfloat16's tolerance (TF32 keeps 10 mantissa bits, bfloat16 7)."""
    monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", True)
    compare("lstm", dict(layer_norm=True), plan=DOT_TILES, tol=TOL[torch.bfloat16],
            steps=T_SHORT, tf32=True)


def test_double_backward_is_refused():
    """The backward kernels are not differentiable: a backward with create_graph=True
    raises in one line instead of returning gradients without a graph."""
    m = lstmkit.LSTM(I, H, backend="triton").to(DEVICE)
    x = torch.randn(T, B, I, device=DEVICE, requires_grad=True)
    out, _ = m(x)
    with pytest.raises(RuntimeError, match="no double backward"):
        torch.autograd.grad(out.square().sum(), x, create_graph=True)
    out, _ = m(x)  # a plain backward still runs
    (g,) = torch.autograd.grad(out.square().sum(), x)
    assert torch.isfinite(g).all()


# -- the slow grid: every variant alone, each structure, each way of tiling
# the single-variant cases are the variants grid's; the combined ones are this file's
_SINGLE_LSTM = ("layer_norm", "peephole", "coupled", "coupled_peephole", "forget_bias", "cell_clip",
                "recurrent_dropout", "zoneout", "zoneout_pair", "weight_drop")
LSTM_CASES = {"plain": {}, **{k: VARIANT_LSTM[k] for k in _SINGLE_LSTM},
              "all": LSTM_ALL, "all_coupled": LSTM_ALL_COUPLED}
GRU_CASES = {"plain": {}, **{k: VARIANT_GRU[k] for k in ("layer_norm", "recurrent_dropout", "zoneout")},
             "all": GRU_ALL}
PLANS = {"default": None, "tiles_steps": SMALL_TILES, "tiles_persistent": PERSISTENT_TILES}


def _slow_grid():
    for kind, cases in (("lstm", LSTM_CASES), ("gru", GRU_CASES)):
        for cname in cases:
            for pname in PLANS:
                yield pytest.param(kind, cname, pname, id=f"{kind}-{cname}-{pname}")


@pytest.mark.slow
@pytest.mark.parametrize("kind,cname,pname", list(_slow_grid()))
def test_kernels_grid(kind, cname, pname):
    if pname == "tiles_persistent" and DEVICE != "cuda":
        pytest.skip("the interpreter runs programs one after another: a grid barrier needs a GPU")
    opts = (LSTM_CASES if kind == "lstm" else GRU_CASES)[cname]
    compare(kind, opts, plan=PLANS[pname])


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["lstm", "gru"])
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16], ids=["bf16", "f16"])
def test_half_precision_grid(kind, dtype):
    opts = (
        dict(layer_norm=True, peephole=True, cell_clip=0.8)
        if kind == "lstm"
        else dict(layer_norm=True)
    )
    compare(kind, opts, dtype, train=False, plan=SMALL_TILES, bidirectional=True,
            steps=T_SHORT)


@pytest.mark.slow
def test_two_layers_bidirectional():
    compare("lstm", LSTM_ALL, num_layers=2, bidirectional=True)
