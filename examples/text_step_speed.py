"""Training-step speed of the character model, A/B in one process (interleaved rounds
after warm-up; docs/text.md, "The recipe"):

1. ``nn.Dropout`` + AdamW (foreach) against ``lstmkit.variants.Dropout`` + fused AdamW,
   for the plain and the layer-normalised LSTM;
2. the layers' random masks drawn with ``torch.bernoulli`` against ``uniform < p``
   (``lstmkit.variants.bernoulli_mask``), for weight_drop, zoneout and recurrent_dropout;
3. the compiled loops' batch as one block against row blocks (``set_min_block_rows``;
   docs/backends.md), for one layer-normalised layer of 384 (the recipe until 2026-12-04) and two
   layer-normalised layers of 256.

    python examples/text_step_speed.py [THREADS] [PART: dropout | masks | blocks]   # all parts without PART
"""

import sys
import time

import torch
from torch import nn
from torch.nn import functional as F

from lstmkit import variants
from lstmkit.backends.compiled import extension
from lstmkit.textgen.network import CharLM, CharLMConfig

B, T, V, H, ROUNDS, STEPS = 32, 50, 66, 384, 12, 15
torch.set_num_threads(int(sys.argv[1]) if len(sys.argv) > 1 else 2)
PARTS = sys.argv[2:3] or ["dropout", "masks", "blocks"]
torch.manual_seed(0)
x, y = torch.randint(0, V, (B, T)), torch.randint(0, V, (B, T))
fast_mask = variants.bernoulli_mask


def torch_bernoulli(shape, p, like):
    return torch.bernoulli(torch.full(shape, p, dtype=like.dtype, device=like.device))


def model(hidden: int = H, layers: int = 1, **layer_options) -> CharLM:
    cfg = CharLMConfig(vocab_size=V, hidden_size=hidden, num_layers=layers, dropout=0.2,
                       layer_options={"backend": "auto", **layer_options})
    return CharLM(cfg)


def steps(m: CharLM, opt) -> float:
    t, state = time.perf_counter(), None
    for _ in range(STEPS):
        logits, state = m(x, state)
        loss = F.cross_entropy(logits.reshape(-1, V), y.reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(m.parameters(), 1.0)
        opt.step()
        state = CharLM.detach_state(state)
    return time.perf_counter() - t


def compare(title: str, arms: dict) -> None:
    """arms: name -> (model, optimiser, mask function, compiled loops' minimum block
    rows); prints chars/s and the ratio to the first arm."""
    total = dict.fromkeys(arms, 0.0)
    for r in range(ROUNDS):
        for name, (m, opt, mask, rows) in arms.items():
            variants.bernoulli_mask = mask
            before = blocks.set_min_block_rows(rows)
            took = steps(m, opt)
            blocks.set_min_block_rows(before)
            if r >= 2:  # two warm-up rounds
                total[name] += took
    chars = (ROUNDS - 2) * STEPS * B * T
    first = next(iter(total.values()))
    cells = ", ".join(f"{n}: {chars / s:,.0f} chars/s (x{first / s:.3f})" for n, s in total.items())
    print(f"{title}: {cells}", flush=True)


def adamw(m: CharLM, fused: bool):
    return torch.optim.AdamW(m.parameters(), lr=1e-3, betas=(0.9, 0.99), fused=fused)


blocks = extension()
ROWS = blocks.set_min_block_rows(16)  # the loops' default
blocks.set_min_block_rows(ROWS)
if "dropout" in PARTS:
    for ln in (False, True):
        old = model(layer_norm=ln)
        old.drop = nn.Dropout(0.2)
        new = model(layer_norm=ln)
        compare(
            f"layer_norm={ln}",
            {"nn.Dropout + AdamW": (old, adamw(old, False), fast_mask, ROWS),
             "lstmkit Dropout + fused AdamW": (new, adamw(new, True), fast_mask, ROWS)},
        )
if "masks" in PARTS:
    for opts in ({"weight_drop": 0.3}, {"zoneout": (0.5, 0.05)}, {"recurrent_dropout": 0.25}):
        m = model(**opts)
        opt = adamw(m, True)
        compare(str(opts), {"torch.bernoulli masks": (m, opt, torch_bernoulli, ROWS),
                            "uniform < p masks": (m, opt, fast_mask, ROWS)})
if "blocks" in PARTS:
    for hidden, layers in ((H, 1), (256, 2)):
        m = model(hidden, layers, layer_norm=True)
        opt = adamw(m, True)
        compare(f"{layers}x{hidden} layer_norm", {"one block": (m, opt, fast_mask, 0),
                                                  "row blocks": (m, opt, fast_mask, ROWS)})
variants.bernoulli_mask = fast_mask
