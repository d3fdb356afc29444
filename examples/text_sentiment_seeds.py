"""Test accuracy of the default TextClassifier over seeds (docs/text.md): training seeds
0-4 on the documented seed-0 split, then two other splits (what
``lstmkit classify train --seed 1`` and ``--seed 2`` do: the same seed for the split and
the training). About 15 s of CPU per model on 1 thread.

    python examples/text_sentiment_seeds.py
"""

import time

import torch

from lstmkit import TextClassifier
from lstmkit.classify import sentiment_sentences, stratified_split

torch.set_num_threads(1)
texts, labels = sentiment_sentences()
for split_seed, seed in [(0, 0), (0, 1), (0, 2), (0, 3), (0, 4), (1, 1), (2, 2)]:
    train_x, train_y, test_x, test_y = stratified_split(
        texts, labels, test_fraction=0.2, seed=split_seed
    )
    cpu = time.process_time()
    report = TextClassifier(seed=seed).fit(train_x, train_y).evaluate(test_x, test_y)
    print(
        f"split seed {split_seed}, training seed {seed}: accuracy {report['accuracy']:.4f}, "
        f"macro F1 {report['macro_f1']:.4f} ({time.process_time() - cpu:.0f} s CPU)",
        flush=True,
    )
