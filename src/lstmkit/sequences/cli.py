"""``lstmkit classify-series``: train a sequence classifier on a bundled UCR/UEA set and
print its test accuracy.

    lstmkit classify-series --dataset japanese_vowels [--epochs N] [--seed 0] [--out DIR]
    lstmkit classify-series --dataset japanese_vowels --load DIR     (evaluate a saved model)

The sets ship with lstmkit (see ``lstmkit.sequences.ucr``) and keep the archive's own
train/test split: japanese_vowels (9 speakers, 12 LPC cepstrum channels, 7 to 29
frames), basic_motions (6 motion-sensor channels), gunpoint and italy_power_demand
(univariate).
"""

from __future__ import annotations

import argparse
import time

from lstmkit.sequences import DATASETS, SequenceClassifier, load_ucr
from lstmkit.spine import flags
from lstmkit.spine.cli import add_threads_arg, apply_threads, estimator_saver, save_on_interrupt


def format_report(report: dict) -> str:
    """Accuracy, macro F1 and the confusion matrix (rows true, columns predicted)."""
    labels = report["labels"]
    w = max(6, *(len(x) for x in labels)) + 2
    head = (f"accuracy {report['accuracy']:.4f}  macro F1 {report['macro_f1']:.4f}  "
            f"({report['n']} test sequences)")
    lines = [head, "confusion matrix (rows: true, columns: predicted):",
             " " * w + "".join(f"{x:>{w}}" for x in labels)]
    lines += [f"{name:>{w}}" + "".join(f"{v:>{w}}" for v in row)
              for name, row in zip(labels, report["confusion_matrix"])]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    apply_threads(args)
    data = load_ucr(args.dataset)
    lengths = sorted({len(x) for x in data.X_train + data.X_test})
    span = f"{lengths[0]}" if len(lengths) == 1 else f"{lengths[0]} to {lengths[-1]}"
    print(f"classify-series: {args.dataset}: {len(data.X_train)} training / {len(data.X_test)} "
          f"test sequences, {data.n_channels} channel(s), length {span}, "
          f"{len(data.classes)} classes", flush=True)
    if args.load:
        clf = SequenceClassifier.load(args.load)
        print(f"loaded {args.load}")
    else:
        options = {k: v for k, v in {
            "hidden_size": args.hidden_size, "num_layers": args.num_layers,
            "pooling": args.pooling, "epochs": args.epochs, "lr": args.lr, "seed": args.seed,
            "backend": args.backend, "scaling": args.scaling,
        }.items() if v is not None}
        clf = SequenceClassifier(**options)
        every = max(1, clf.config.resolve_epochs(len(data.X_train)) // 10)
        t0 = time.perf_counter()

        with save_on_interrupt("classify-series", estimator_saver(clf, args.out)):
            clf.fit(data.X_train, data.y_train, log=lambda r: r["epoch"] % every == 0 and print(
                f"epoch {r['epoch']:3d}  train loss {r['train_loss']:.4f}", flush=True))
        print(f"trained in {time.perf_counter() - t0:.0f}s")
    report = clf.evaluate(data.X_test, data.y_test)
    print(format_report(report))
    print(f"test accuracy {report['accuracy']:.4f}")
    if args.out and not args.load:
        clf.save(args.out)
        print(f"saved to {args.out}")
    return 0


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "classify-series", help="classify numeric sequences (bundled UCR/UEA sets); prints test accuracy",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--dataset", default="japanese_vowels", choices=sorted(DATASETS),
                   help="bundled data set (default japanese_vowels)")
    p.add_argument("--load", help="evaluate this saved model instead of training one")
    p.add_argument("--out", help="save the trained model to this directory")
    p.add_argument("--epochs", type=int, help="default: at least 30 and at least 400 updates")
    p.add_argument("--hidden-size", type=int)
    p.add_argument("--num-layers", type=int)
    p.add_argument("--pooling", choices=("max", "mean", "max_mean", "last"))
    p.add_argument("--lr", type=float)
    p.add_argument("--scaling", choices=("channel", "none"))
    p.add_argument("--seed", type=int, default=0, help="seeds the training (0)")
    p.add_argument("--backend", help="lstmkit backend of the recurrent layer (auto)")
    add_threads_arg(p)
    flags.outputs(p, out="model")
    p.set_defaults(func=run)
