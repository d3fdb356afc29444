"""Characters per second of the character model's training step with the compiled loops'
row blocks against one block (docs/text.md, "The recipe"), in one process, interleaved
rounds after warm-up: the recipe (one layer-normalised LSTM layer of 384) and two layers
of 256. A step is the recipe's: forward, cross-entropy, backward, clipping, fused AdamW.

    python examples/text_row_blocks.py [THREADS] [ROUNDS]

Run it alone on the machine (compute-bound timings).
"""

import sys
import time

import torch
from torch import nn
from torch.nn import functional as F

from lstmkit.backends.compiled import extension
from lstmkit.textgen.network import CharLM, CharLMConfig

B, T, V, STEPS = 32, 50, 66, 12
torch.set_num_threads(int(sys.argv[1]) if len(sys.argv) > 1 else 2)
ROUNDS = int(sys.argv[2]) if len(sys.argv) > 2 else 12
torch.manual_seed(0)
x, y = torch.randint(0, V, (B, T)), torch.randint(0, V, (B, T))
ext = extension()


def steps(m: CharLM, opt, min_rows: int) -> float:
    before = ext.set_min_block_rows(min_rows)
    t, state = time.perf_counter(), None
    for _ in range(STEPS):
        logits, state = m(x, state)
        loss = F.cross_entropy(logits.reshape(-1, V), y.reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(m.parameters(), 1.0)
        opt.step()
        state = CharLM.detach_state(state)
    took = time.perf_counter() - t
    ext.set_min_block_rows(before)
    return took


for hidden, layers in ((384, 1), (256, 2)):
    cfg = CharLMConfig(vocab_size=V, hidden_size=hidden, num_layers=layers, dropout=0.2,
                       layer_options={"backend": "auto", "layer_norm": True})
    m = CharLM(cfg)
    opt = torch.optim.AdamW(m.parameters(), lr=1e-3, betas=(0.9, 0.99), fused=True)
    total = {0: 0.0, 16: 0.0}
    for r in range(ROUNDS):
        for rows in total:
            took = steps(m, opt, rows)
            if r >= 2:  # two warm-up rounds
                total[rows] += took
    chars = (ROUNDS - 2) * STEPS * B * T
    one, blocks = chars / total[0], chars / total[16]
    print(f"{layers}x{hidden}: one block {one:,.0f} chars/s, row blocks {blocks:,.0f} chars/s "
          f"(x{blocks / one:.3f})", flush=True)
