"""The reference point of issue 11: a plain torch.nn.LSTM character model (1 layer of 512
units, batch 32 x 100 characters, Adam at a constant 2e-3, no clipping, no schedule),
trained with the state carried across batches on the same 90/10 split of tiny
Shakespeare, scored the same way (lstmkit.textgen.training.score) on the whole
validation tail. Writes its curve as JSON for docs/text.md.

    python examples/text_baseline_torch.py 600 baseline.json        # 600 s of training
    python examples/text_baseline_torch.py 0 baseline.json 2690     # or 2690 batches
"""

import json
import math
import sys
import time

import torch
from torch import nn

from lstmkit.textgen import CharVocab, shakespeare, split_text
from lstmkit.textgen.training import score, stream_batches


class PlainCharLSTM(nn.Module):
    def __init__(self, vocab: int, hidden: int = 512, emb: int = 64):
        super().__init__()
        self.embedding = nn.Embedding(vocab, emb)
        self.rnn = nn.LSTM(emb, hidden, batch_first=True)
        self.head = nn.Linear(hidden, vocab)

    def forward(self, x, state=None):
        out, state = self.rnn(self.embedding(x), state)
        return self.head(out), state


def main(
    max_time: float = 600.0, out: str | None = None, max_steps: int = 0, eval_every: float = 60.0
) -> None:
    torch.manual_seed(0)
    train, val = split_text(shakespeare(), 0.1)
    vocab = CharVocab.from_text(train + val)
    train_ids, val_ids = vocab.encode(train), vocab.encode(val)
    model = PlainCharLSTM(len(vocab))
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    history, spent, last, chars, step = [], 0.0, 0.0, 0, 0

    def record(final):
        part = val_ids if final else val_ids[:30001]
        total, n = score(model, part)
        history.append(
            {
                "step": step,
                "chars": chars,
                "train_time": round(spent, 2),
                "val_bpc": total / n / math.log(2),
                "final": final,
            }
        )
        print(json.dumps(history[-1]), flush=True)
        model.train()

    def done():
        return (max_time > 0 and spent >= max_time) or (max_steps > 0 and step >= max_steps)

    while not done():
        state = None
        for x, y in stream_batches(train_ids, 32, 100):
            if done():
                break
            t0 = time.perf_counter()
            logits, state = model(x, state)
            loss = nn.functional.cross_entropy(logits.reshape(-1, len(vocab)), y.reshape(-1))
            opt.zero_grad()
            loss.backward()
            opt.step()
            state = tuple(s.detach() for s in state)
            spent += time.perf_counter() - t0
            step, chars = step + 1, chars + y.numel()
            if spent - last >= eval_every:
                last = spent
                record(False)
    record(True)
    if out:
        with open(out, "w") as f:
            json.dump(history, f, indent=1)


if __name__ == "__main__":
    args = sys.argv[1:]
    main(
        float(args[0]) if args else 600.0,
        args[1] if len(args) > 1 else None,
        int(args[2]) if len(args) > 2 else 0,
    )
