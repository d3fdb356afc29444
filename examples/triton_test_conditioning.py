"""Why tests/test_triton_kernels.py bounds the kernels by the problem's conditioning, on the
CPU with no GPU: at the CUDA test sizes (B=48, I=64, H=256, perturbed weights), how far the
reference backend itself lands from its float64 result in float32, bfloat16 and float16
(max abs error over max(1, max |float64 output|)), at T = 12 and 64; and how far two
correct implementations (fused and reference, float32, training mode with the same masks)
land apart in the input's gradient with and without cell_clip.

    python examples/triton_test_conditioning.py
"""

import copy

import torch

import lstmkit

torch.set_num_threads(2)
B, I, H = 48, 64, 256
CASES = {
    "layer_norm": {"layer_norm": True},
    "layer_norm, peephole, zoneout (eval)": {"layer_norm": True, "peephole": True, "zoneout": 0.1},
    "layer_norm, peephole, forget_bias, cell_clip": {"layer_norm": True, "peephole": True,
                                                         "forget_bias": 1.0, "cell_clip": 0.8},
    "plain": {},
}


def layer(opts, **structure):
    torch.manual_seed(0)
    m = lstmkit.LSTM(I, H, **opts, **structure)
    with torch.no_grad():
        for p in m.parameters():
            p.add_(0.1 * torch.randn_like(p))
    return m


def inputs(T, D=1):
    g = torch.Generator().manual_seed(1)
    return [torch.randn(*s, generator=g) for s in ((T, B, I), (D, B, H), (D, B, H))]


def run(m, dtype, x, h0, c0, backend="reference"):
    m = copy.deepcopy(m).to(dtype)
    m.backend = backend
    torch.manual_seed(2)
    return m(x.to(dtype), (h0.to(dtype), c0.to(dtype)))[0].double()


print("reference against its float64 result (max abs error / max(1, max |output|)):")
for T in (12, 64):
    for name, opts in CASES.items():
        m = layer(opts).eval()
        x, h0, c0 = inputs(T)
        truth = run(m, torch.float64, x, h0, c0)
        scale = max(1.0, truth.abs().max().item())
        errs = {str(d).removeprefix("torch."): (run(m, d, x, h0, c0) - truth).abs().max().item() / scale
                for d in (torch.float32, torch.bfloat16, torch.float16)}
        print(f"  T={T:2d} {name}: " + ", ".join(f"{k} {v:.1e}" for k, v in errs.items()))

print("fused against reference, float32, training mode, T=64, bidirectional: input gradient")
ALL = {"layer_norm": True, "peephole": True, "forget_bias": 1.0, "recurrent_dropout": 0.2,
           "zoneout": (0.1, 0.2), "weight_drop": 0.2}
for name, opts in (("without cell_clip", ALL), ("with cell_clip 0.8", {**ALL, "cell_clip": 0.8})):
    m = layer(opts, bidirectional=True).train()
    grads = []
    for backend in ("fused", "reference"):
        x, h0, c0 = (t.clone().requires_grad_() for t in inputs(64, 2))
        k = copy.deepcopy(m)
        k.backend = backend
        torch.manual_seed(2)
        out = k(x, (h0, c0))[0]
        (g,) = torch.autograd.grad((out * torch.randn(out.shape, generator=torch.Generator().manual_seed(3))).sum(), x)
        grads.append(g)
    print(f"  {name}: max abs difference {(grads[0] - grads[1]).abs().max().item():.3g} "
          f"(max |gradient| {grads[1].abs().max().item():.3g})")
