"""Time of ConvLSTM's two loops, reference and fused, in one process.

    python examples/video_convlstm_speed.py [threads]

Each shape runs both loops alternately after a warm-up, in training (forward and
backward) and in inference (no_grad); the table gives the median of 7 runs and the
reference/fused ratio (below 1: the reference loop, what ``auto`` runs, is faster).
"""

import statistics
import sys
import time

import torch

import lstmkit

torch.set_num_threads(int(sys.argv[1]) if len(sys.argv) > 1 else 1)
SHAPES = [  # (B, T, C, K, side, kernel)
    (16, 10, 1, 16, 32, 5), (16, 10, 1, 16, 32, 3), (16, 10, 16, 16, 32, 3), (8, 20, 4, 32, 16, 3),
    (4, 10, 3, 64, 32, 3), (2, 20, 1, 8, 64, 3), (32, 10, 1, 8, 16, 3),
]


def step(m, x, train: bool) -> None:
    if train:
        out, _ = m(x)
        out.square().mean().backward()
    else:
        with torch.no_grad():
            m(x)


print("| B | T | C | K | frame | kernel | peephole | pass | reference ms | fused ms | reference / fused |")
print("|---|---|---|---|---|---|---|---|---:|---:|---:|")
for peephole in (False, True):
    for B, T, C, K, S, k in SHAPES:
        torch.manual_seed(0)
        m = lstmkit.ConvLSTM(C, K, kernel_size=k, peephole=peephole)
        x = torch.rand(B, T, C, S, S)
        for train in (True, False):
            times = {"reference": [], "fused": []}
            for rep in range(8):
                for name, runs in times.items():
                    m.backend = name
                    t0 = time.perf_counter()
                    step(m, x, train)
                    if rep:  # the first round warms up
                        runs.append(time.perf_counter() - t0)
            ref, fused = (statistics.median(times[n]) * 1e3 for n in ("reference", "fused"))
            print(f"| {B} | {T} | {C} | {K} | {S}x{S} | {k} | {'yes' if peephole else 'no'} | "
                  f"{'training' if train else 'inference'} | {ref:.1f} | {fused:.1f} | {ref / fused:.2f} |",
                  flush=True)

# Why the fused loop convolves the input one step at a time: the single call over all T*B
# frames is the textbook hoist, but on the CPU its output and gradients outgrow the caches.
print("\n| input conv (fwd+bwd), 160 frames 32x32, C -> 64 | one call (s) | one per step of 16 (s) |")
print("|---|---|---|")
for C, k in ((1, 5), (16, 3)):
    x = torch.rand(160, C, 32, 32).contiguous(memory_format=torch.channels_last)
    w = torch.randn(64, C, k, k).contiguous(memory_format=torch.channels_last).requires_grad_()
    res = {}
    for chunk in (160, 16):
        ts = []
        for rep in range(5):
            t0 = time.perf_counter()
            for i in range(0, 160, chunk):
                o = torch.nn.functional.conv2d(x[i : i + chunk], w, padding=k // 2)
                o.backward(torch.ones_like(o))
            if rep:
                ts.append(time.perf_counter() - t0)
        res[chunk] = statistics.median(ts)
    print(f"| C={C}, kernel {k} | {res[160]:.3f} | {res[16]:.3f} |", flush=True)
