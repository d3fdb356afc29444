"""Train a character language model on tiny Shakespeare, then stream a sample.

python examples/text_generate.py            # 60 seconds of training
python examples/text_generate.py 600        # the 10-minute recipe of docs/text.md
"""

import sys

import lstmkit
from lstmkit.textgen import shakespeare, split_text

seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 60.0
train, val = split_text(shakespeare(), 0.1)  # first 90% trains, last 10% validates

gen = lstmkit.TextGenerator(seed=0)  # the default recipe
gen.fit(
    train,
    max_time=seconds,
    val_text=val,
    log=lambda r: print(
        f"{r['train_time']:6.0f}s  train {r['train_bpc']:.3f}  val {r['val_bpc']:.3f} bits/char"
    ),
)
print(f"validation: {gen.evaluate(val)['bits_per_char']:.3f} bits per character")

# streaming: the prompt is read once, then one recurrent step per character
for ch in gen.stream("ROMEO:\n", length=400, temperature=0.8, seed=1):
    print(ch, end="", flush=True)
print()

gen.save("shakespeare-lm")
again = lstmkit.TextGenerator.load("shakespeare-lm")
print(again.generate("JULIET:\n", length=200, temperature=0.8, top_k=10, seed=2))
