"""One 10-minute TextGenerator run with chosen options, for comparing recipes
(docs/text.md, "Layer norm and weight decay"). Writes the training log (one JSON record
per validation) and a final record with the whole-text and first-30,000-character
validation losses in nats.

    python examples/text_recipe_run.py NAME '{"weight_decay": 0.05, "layer_norm": true}' [SECONDS] [THREADS]

Run each alone on the machine (the figures are compute-bound): under the project's
measurement lock, e.g. ``flock /tmp/lstmkit-measure.lock python examples/text_recipe_run.py ...``.
"""

import json
import sys

import torch

import lstmkit
from lstmkit.textgen import shakespeare, split_text
from lstmkit.textgen.training import LN2, bits_per_char

name, options = sys.argv[1], json.loads(sys.argv[2])
budget = float(sys.argv[3]) if len(sys.argv) > 3 else 600.0
torch.set_num_threads(int(sys.argv[4]) if len(sys.argv) > 4 else 2)
train, val = split_text(shakespeare(), 0.1)
gen = lstmkit.TextGenerator(**options)
with open(f"{name}.log", "w") as out:
    gen.fit(train, max_time=budget, val_text=val, log=lambda r: print(json.dumps(r), file=out, flush=True))
    first = bits_per_char(gen.model, gen.vocab.encode(val[:30001]))
    final = {
        "name": name,
        "options": options,
        "budget_s": budget,
        "chars": gen.history[-1]["chars"],
        "whole_nats": gen.history[-1]["val_bpc"] * LN2,
        "first30k_nats": first * LN2,
    }
    print(json.dumps(final), file=out, flush=True)
print(json.dumps(final))
gen.save(f"{name}-model")
