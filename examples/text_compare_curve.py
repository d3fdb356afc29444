"""Plot a saved TextGenerator's learning curve next to the plain torch.nn.LSTM baseline
(the JSON written by examples/text_baseline_torch.py).

    python examples/text_compare_curve.py textgen-model baseline.json docs/img/textgen_curve.png
"""

import json
import math
import sys

import lstmkit
from lstmkit.textgen.plot import plot_lm_curve

model_dir, baseline_json, out = sys.argv[1:4]
gen = lstmkit.TextGenerator.load(model_dir)
with open(baseline_json) as f:
    baseline = json.load(f)
c = gen.config
plot_lm_curve(
    gen.history,
    out,
    title=(
        f"tiny Shakespeare, validation = last 10%\nlstmkit recipe: {c.cell} "
        f"{c.num_layers}x{c.hidden_size}{' layer-norm' if c.layer_options.get('layer_norm') else ''}, "
        f"dropout {c.dropout:g}, wd {c.weight_decay:g}, batch {c.batch_size}x{c.seq_len}, "
        f"peak lr {c.lr:g}, cosine\nagainst a plain torch.nn.LSTM"
    ),
    reference=1.40 / math.log(2),
    others={"plain torch.nn.LSTM 1x512, 32x100, Adam 2e-3, validation": baseline},
)
print(
    f"recipe {gen.history[-1]['val_bpc']:.3f} bits/char, baseline {baseline[-1]['val_bpc']:.3f}; wrote {out}"
)
