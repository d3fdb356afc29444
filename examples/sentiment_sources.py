"""The default TextClassifier against TF-IDF + logistic regression (docs/text.md), with
the mean over training seeds 0, 1, 2:

1. the bundled sentences' seeded split (what ``lstmkit classify train`` holds out with
   ``--seed 0``: 2,400 to train, 600 to test), and the splits of ``--seed 1`` and ``--seed 2``;
2. leave one source out: train on two of the three sites (amazon, imdb, yelp; 2,000
   sentences), test on all 1,000 of the third, all three ways, and the average of the
   three.

TF-IDF + LR has no random state: one figure per data. One thread; each LSTM fit takes
about 10 s of CPU from scratch.

    python examples/sentiment_sources.py [--seeds 0 1 2] [--splits 0 1 2] [--pretrained bundled|none|DIR]

``--pretrained`` picks the recipe (the estimator's default without it): ``none`` trains
from scratch, ``bundled`` starts from the shipped language model with ULMFiT's steps.
"""

import argparse
import statistics
import time

import torch

from lstmkit.classify import (
    SENTIMENT_SOURCES,
    TextClassifier,
    TfidfBaseline,
    sentiment_sentences,
    stratified_split,
)

parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="training seeds")
parser.add_argument("--pretrained", help="'bundled', 'none' or a directory (default: the estimator's default)")
parser.add_argument("--splits", type=int, nargs="+", default=[0, 1, 2], help="split seeds of the bundled sentences")
args = parser.parse_args()
recipe = {} if args.pretrained is None else {"pretrained": None if args.pretrained == "none" else args.pretrained}
torch.set_num_threads(1)


def compare(name: str, train_x, train_y, test_x, test_y) -> dict:
    """Both models on one train/test pair: the baseline once, the LSTM once per seed."""
    base = TfidfBaseline().fit(train_x, train_y).evaluate(test_x, test_y)
    lstm = []
    for seed in args.seeds:
        cpu = time.process_time()
        clf = TextClassifier(seed=seed, verbose=False, **recipe).fit(train_x, train_y)
        report = clf.evaluate(test_x, test_y)
        lstm.append(report)
        print(f"{name}: LSTM seed {seed}: accuracy {report['accuracy']:.4f}, macro F1 "
              f"{report['macro_f1']:.4f} ({time.process_time() - cpu:.0f} s CPU)", flush=True)
    print(f"{name}: TF-IDF + LR: accuracy {base['accuracy']:.4f}, macro F1 {base['macro_f1']:.4f}",
          flush=True)
    return {"name": name, "train": len(train_x), "test": len(test_x), "base": base, "lstm": lstm}


texts, labels = sentiment_sentences()
splits = [compare(f"bundled split, seed {s}", *stratified_split(texts, labels, 0.2, seed=s))
          for s in args.splits]
loso = []
for held in SENTIMENT_SOURCES:
    rest = [s for s in SENTIMENT_SOURCES if s != held]
    loso.append(compare(f"{' + '.join(rest)} -> {held}", *sentiment_sentences(rest),
                        *sentiment_sentences([held])))

mean = statistics.fmean


def row(name: str, size: str, base: list[dict], lstm: list[list[dict]]) -> str:
    """A table row: the baseline's mean figures, the LSTM's per seed (one data) and mean."""
    per_seed = ", ".join(f"{x['accuracy']:.3f}" for x in lstm[0]) if len(lstm) == 1 else ""
    lstm_acc = mean(mean(x["accuracy"] for x in r) for r in lstm)
    lstm_f1 = mean(mean(x["macro_f1"] for x in r) for r in lstm)
    return (f"| {name} | {size} | {mean(b['accuracy'] for b in base):.3f} "
            f"({mean(b['macro_f1'] for b in base):.3f}) | {per_seed} | "
            f"{lstm_acc:.3f} ({lstm_f1:.3f}) |")


print(f"\n| test data | train / test | TF-IDF + LR accuracy (macro F1) "
      f"| LSTM accuracy, seeds {', '.join(map(str, args.seeds))} | LSTM mean accuracy (macro F1) |")
print("|---|---|---|---|---|")
for group, average in ((splits, "the bundled splits, average"),
                       (loso, "leave one source out, average of the three")):
    for r in group:
        print(row(r["name"], f"{r['train']} / {r['test']}", [r["base"]], [r["lstm"]]))
    print(row(average, "", [r["base"] for r in group], [r["lstm"] for r in group]))
