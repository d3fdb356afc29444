"""Training throughput of character-model shapes, relative to the issue's reference
(LSTM 1x512, batch 32 x 100). The shapes' training steps are interleaved in one process,
so a busy machine slows them alike and the ratios stay comparable.

    python examples/text_throughput.py [seconds=90] [threads=1]
"""

import sys
import time

import torch
from torch import nn

from lstmkit.textgen.network import CharLM, CharLMConfig

seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 90.0
torch.set_num_threads(int(sys.argv[2]) if len(sys.argv) > 2 else 1)
V = 66  # tiny Shakespeare's 65 characters + "unknown"
SHAPES = [  # (hidden, layers, batch, chunk)
    (512, 1, 32, 100),
    (512, 1, 32, 50),
    (448, 1, 32, 50),
    (384, 1, 32, 50),
    (256, 2, 32, 50),
    (320, 1, 32, 50),
]

runs = {}
for H, L, B, T in SHAPES:
    model = CharLM(CharLMConfig(vocab_size=V, hidden_size=H, num_layers=L))
    opt = torch.optim.AdamW(model.parameters(), 2e-3)
    runs[(H, L, B, T)] = (model, opt, torch.randint(0, V, (B, T)), torch.randint(0, V, (B, T)))


def step(shape):
    model, opt, x, y = runs[shape]
    logits, _ = model(x)
    loss = nn.functional.cross_entropy(logits.reshape(-1, V), y.reshape(-1))
    opt.zero_grad()
    loss.backward()
    opt.step()


for shape in SHAPES:  # warm-up
    step(shape)
spent = dict.fromkeys(SHAPES, 0.0)
chars = dict.fromkeys(SHAPES, 0)
end = time.time() + seconds
while time.time() < end:
    for shape in SHAPES:
        t0 = time.perf_counter()
        for _ in range(3):
            step(shape)
        spent[shape] += time.perf_counter() - t0
        chars[shape] += 3 * shape[2] * shape[3]
ref = chars[SHAPES[0]] / spent[SHAPES[0]]
print("| model | chars/s | ratio |\n|---|---|---|")
for H, L, B, T in SHAPES:
    cps = chars[(H, L, B, T)] / spent[(H, L, B, T)]
    print(f"| LSTM {L}x{H}, {B}x{T} | {cps:,.0f} | {cps / ref:.2f} |")
