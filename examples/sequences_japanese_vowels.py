"""Classify speakers from variable-length LPC cepstrum sequences (JapaneseVowels).

    python examples/sequences_japanese_vowels.py        # about a minute on one core

Trains lstmkit's SequenceClassifier (per-channel scaling, bidirectional LSTM over each
sequence's true length, max+mean pooling) on the 270 training utterances, prints the
test accuracy on the 370 test utterances, and shows the two input forms: a list of
(T_i, 12) arrays, or one padded (N, T, 12) array with lengths.
"""

import numpy as np
import torch

from lstmkit.sequences import SequenceClassifier, load_ucr

torch.set_num_threads(1)  # small batches: one thread is as fast and shares a busy machine

data = load_ucr("japanese_vowels")
print(f"{len(data.X_train)} training and {len(data.X_test)} test utterances; lengths "
      f"{min(map(len, data.X_train))} to {max(map(len, data.X_train))} frames of {data.n_channels} coefficients")

clf = SequenceClassifier(hidden_size=64, epochs=30, seed=0)
clf.fit(data.X_train, data.y_train, log=lambda r: r["epoch"] % 10 == 0 and print(r))
report = clf.evaluate(data.X_test, data.y_test)
print(f"test accuracy {report['accuracy']:.4f}, macro F1 {report['macro_f1']:.4f}")

# the same sequences as one zero-padded array plus lengths give the same predictions
lengths = np.array([len(x) for x in data.X_test[:5]])
padded = np.zeros((5, lengths.max(), data.n_channels), np.float32)
for i, x in enumerate(data.X_test[:5]):
    padded[i, : len(x)] = x
print("predicted speakers", clf.predict(padded, lengths=lengths), "true", data.y_test[:5])

clf.save("out/jv-model")  # config.json + model.safetensors
again = SequenceClassifier.load("out/jv-model")
assert again.predict(data.X_test[:5]) == clf.predict(data.X_test[:5])
