"""Does averaging the weights help the character model? One 10-minute run of the default
recipe that also keeps exponential moving averages of the weights (several decays at once,
updated after every optimiser step) and scores the final weights and each average on the
whole validation text (docs/text.md, "Results").

    python examples/text_weight_average.py [SECONDS] [THREADS] [OPTIONS]

OPTIONS: TextGenerator keywords as JSON over the defaults, e.g. the recipe before
2026-12-04: '{"hidden_size": 384, "dropout": 0.2, "weight_decay": 0.05, "lr": 0.003}'.

Run it alone on the machine: the figures are compute-bound.
"""

import json
import sys

import torch

import lstmkit
from lstmkit.textgen import shakespeare, split_text
from lstmkit.textgen import training as tbptt
from lstmkit.textgen.training import LN2, bits_per_char

DECAYS = (0.99, 0.998, 0.9995)
budget = float(sys.argv[1]) if len(sys.argv) > 1 else 600.0
torch.set_num_threads(int(sys.argv[2]) if len(sys.argv) > 2 else 2)
options = json.loads(sys.argv[3]) if len(sys.argv) > 3 else {}
averages: dict = {}
make_optimizer = tbptt._adamw


def averaging_optimizer(groups, lr):
    """The recipe's AdamW, whose step also moves each average towards the weights."""
    opt = make_optimizer(groups, lr)
    params = [p for g in opt.param_groups for p in g["params"]]
    averages.update({"params": params, **{d: [p.detach().clone() for p in params] for d in DECAYS}})
    step = opt.step

    def step_and_average(*args, **kwargs):
        out = step(*args, **kwargs)
        with torch.no_grad():
            now = [p.detach() for p in params]
            for d in DECAYS:
                torch._foreach_lerp_(averages[d], now, 1 - d)
        return out

    opt.step = step_and_average
    return opt


tbptt._adamw = averaging_optimizer
train, val = split_text(shakespeare(), 0.1)
gen = lstmkit.TextGenerator(**options)
gen.fit(train, max_time=budget, val_text=val)
ids = gen.vocab.encode(val)
result = {"chars": gen.history[-1]["chars"], "final_nats": gen.history[-1]["val_bpc"] * LN2}
params = averages["params"]
for d in DECAYS:
    with torch.no_grad():
        for p, a in zip(params, averages[d]):
            p.copy_(a)
    result[f"average_{d}_nats"] = bits_per_char(gen.model, ids) * LN2
print(json.dumps(result))
