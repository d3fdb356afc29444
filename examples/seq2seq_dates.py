"""Normalise human-written dates to ISO 8601 with an LSTM encoder-decoder with attention.

    python examples/seq2seq_dates.py [steps]      (default 600 steps: about a minute of one core)

Trains on dates the generator writes in 49 formats and 7 languages, then reports exact
match on unseen dates, in the training formats and in 8 formats never seen in training,
and writes the attention heat map to seq2seq_attention.png.
"""

import sys

import torch

from lstmkit.seq2seq import TrainConfig
from lstmkit.seq2seq.plot import attention_heatmap
from lstmkit.seq2seq.tasks import date_model, evaluate_dates, train_dates

torch.set_num_threads(1)
steps = int(sys.argv[1]) if len(sys.argv) > 1 else 600
model = date_model(hidden_size=64, attention="luong", bidirectional=True)
train_dates(model, TrainConfig(max_steps=steps, log_every=100),
            log=lambda r: print(f"step {r['step']:5d}  loss {r['loss']:.4f}"))
print("\n".join(evaluate_dates(model, per_format=50).lines()))
for text in ["3rd of March 2021", "le 14 juillet 1989", "Sat, Jul 12 1986", "12/25/99"]:
    print(f"{text!r:>24} -> greedy {model.translate(text)}  beam 3 {model.translate(text, beam_size=3)}")
attention_heatmap(model, ["3rd of March 2021", "1992 December 8"], "seq2seq_attention.png")
print("wrote seq2seq_attention.png")
