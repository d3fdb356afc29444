"""Train a small character model, export it to ONNX, and generate text with onnxruntime
alone: the vocabulary travels in the ONNX file's metadata, and the recurrent state goes
from one call to the next (one character per call).

    python examples/export_textgen.py          # 60 seconds of training
    python examples/export_textgen.py 300
"""

import json
import sys

import numpy as np
import onnxruntime as ort

from lstmkit.export import to_onnx
from lstmkit.textgen import TextGenerator, shakespeare, split_text

seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 60.0
train, val = split_text(shakespeare(), 0.1)
gen = TextGenerator(hidden_size=256, seed=0).fit(train, max_time=seconds)
print(f"validation: {gen.evaluate(val)['bits_per_char']:.3f} bits per character")
to_onnx(gen, "textgen.onnx")

# ---- from here on, only onnxruntime and numpy: what a deployment needs ----
sess = ort.InferenceSession("textgen.onnx", providers=["CPUExecutionProvider"])
meta = sess.get_modelmeta().custom_metadata_map
chars = json.loads(meta["lstmkit.state"])["vocab"]["chars"]  # id 0 is "unknown"
index = {ch: i + 1 for i, ch in enumerate(chars)}
states = {i.name: np.zeros([d if isinstance(d, int) else 1 for d in i.shape], np.float32)
          for i in sess.get_inputs() if i.name != "tokens"}  # h_0, c_0 for one stream


def step(ids: list[int]) -> np.ndarray:
    """Read ``ids``, carry the state, return the next character's logits."""
    global states
    logits, *new = sess.run(None, {"tokens": np.array([ids], np.int64), **states})
    states = dict(zip(states, new))
    return logits[0, -1]


rng = np.random.default_rng(1)
logits = step([index[c] for c in "ROMEO:\n" if c in index])  # the prompt, read once
out = []
for _ in range(300):
    logits[0] = -np.inf  # never "unknown"
    p = np.exp((logits - logits.max()) / 0.8)
    nxt = int(rng.choice(len(p), p=p / p.sum()))
    out.append(chars[nxt - 1])
    logits = step([nxt])
print("ROMEO:\n" + "".join(out))
