"""Training-step time of RNN, GRU and LSTM (lstmkit, and torch.nn for reference) at a
small and a large hidden size: is the LSTM slow, the GRU faster, the RNN fast?

Each step is forward + backward over T=100 steps of a batch of 64, one thread; the
figure is CPU time per step (median of 10 after 3 warm-up steps), which other jobs on
the machine disturb far less than wall time.

Run:  python examples/experiment_step_time.py      (about a minute on 2 CPU cores)
"""

import statistics
import time

import torch

import lstmkit

torch.set_num_threads(1)
T, B, I = 100, 64, 8
CELLS = {
    "rnn": (lstmkit.RNN, torch.nn.RNN),
    "gru": (lstmkit.GRU, torch.nn.GRU),
    "lstm": (lstmkit.LSTM, torch.nn.LSTM),
}


def step_ms(layer: torch.nn.Module, x: torch.Tensor) -> float:
    """Median CPU milliseconds of one forward + backward through ``layer``."""
    times = []
    for k in range(13):
        start = time.process_time()
        out, _ = layer(x)
        out[-1].sum().backward()
        if k >= 3:
            times.append(time.process_time() - start)
    return statistics.median(times) * 1e3


print(f"T={T} B={B} I={I}, 1 thread, CPU ms per training step (forward + backward)")
print(f"{'H':>5} {'cell':>5} {'params':>9} {'lstmkit':>9} {'torch.nn':>9}  lstmkit backend")
for H in (32, 256):
    x = torch.randn(T, B, I)
    for name, (ours, theirs) in CELLS.items():
        torch.manual_seed(0)
        a, b = ours(I, H), theirs(I, H)
        params = sum(p.numel() for p in a.parameters())
        backend = lstmkit.backends.select(a.spec, x).name  # what backend="auto" runs
        print(f"{H:>5} {name:>5} {params:>9,} {step_ms(a, x):>9.1f} {step_ms(b, x):>9.1f}  {backend}")
