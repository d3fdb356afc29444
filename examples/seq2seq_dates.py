"""Normalise human-written dates to ISO 8601 with an LSTM encoder-decoder with attention.

    python examples/seq2seq_dates.py [steps]      (default 600 steps: about a minute of one core)

Trains a Translator on dates the generator writes in 49 formats and 7 languages, then
reports exact match on unseen dates, in the training formats and in 8 formats never seen
in training, and writes the attention heat map to seq2seq_attention.png.
"""

import sys

import torch

from lstmkit.seq2seq.plot import attention_heatmap
from lstmkit.seq2seq.tasks import date_training_pairs, date_translator, evaluate_dates

torch.set_num_threads(1)
steps = int(sys.argv[1]) if len(sys.argv) > 1 else 600
tr = date_translator(hidden_size=64, attention="luong", bidirectional=True, max_steps=steps)
pairs = date_training_pairs(steps, batch_size=64, seed=0)
tr.fit([s for s, _ in pairs], [t for _, t in pairs])
print("\n".join(evaluate_dates(tr, per_format=50).lines()))
for text in ["3rd of March 2021", "le 14 juillet 1989", "Sat, Jul 12 1986", "12/25/99"]:
    print(f"{text!r:>24} -> greedy {tr.predict(text)}  beam 3 {tr.predict(text, beam=3)}")
attention_heatmap(tr, ["3rd of March 2021", "1992 December 8"], "seq2seq_attention.png")
print("wrote seq2seq_attention.png")
