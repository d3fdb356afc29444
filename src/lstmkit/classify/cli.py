"""``lstmkit classify``: train a sentence classifier, predict, evaluate.

    lstmkit classify train [--data file.tsv] [--seed 0] [--out classify-model]
    lstmkit classify predict --load classify-model "What a great phone" "Never again"
    lstmkit classify evaluate --load classify-model --data other.tsv

Data files hold one ``sentence<TAB>label`` per line (UTF-8; any labels, at least two
classes). Without ``--data``, training uses the 3,000 bundled review sentences
(Kotzias et al. 2015, CC BY 4.0). A seeded, stratified split holds out
``--test-fraction`` (0.2) for the test figures.
"""

from __future__ import annotations

import argparse
import time

from lstmkit.classify.data import check_labels, read_labelled, sentiment_sentences, stratified_split
from lstmkit.classify.estimator import TextClassifier
from lstmkit.errors import InputError
from lstmkit.spine import flags
from lstmkit.spine.cli import (
    add_threads_arg,
    apply_threads,
    estimator_saver,
    notes_to_stderr,
    save_on_interrupt,
)


def format_report(report: dict) -> str:
    labels = report["labels"]
    width = max(8, *(len(x) for x in labels))
    lines = [
        f"accuracy {report['accuracy']:.4f}  macro F1 {report['macro_f1']:.4f}  ({report['n']} texts)",
        "confusion matrix (rows: true, columns: predicted):",
        " " * (width + 2) + "".join(f"{x:>{width + 2}}" for x in labels),
    ]
    for name, row in zip(labels, report["confusion_matrix"]):
        lines.append(f"{name:>{width + 2}}" + "".join(f"{v:>{width + 2}}" for v in row))
    return "\n".join(lines)


def train(args: argparse.Namespace) -> int:
    apply_threads(args)
    if args.data:
        texts, labels = read_labelled(args.data)
        source = args.data
    else:
        texts, labels = sentiment_sentences()
        source = "bundled review sentences (Kotzias et al. 2015)"
    check_labels(labels, source)
    tr_x, tr_y, te_x, te_y = stratified_split(texts, labels, args.test_fraction, args.seed)
    options = {
        k: v
        for k, v in {
            "level": args.level,
            "max_vocab": args.max_vocab,
            "max_length": args.max_length,
            "hidden_size": args.hidden_size,
            "pooling": args.pooling,
            "epochs": args.epochs,
            "seed": args.seed,
            "backend": args.backend,
        }.items()
        if v is not None
    }
    clf = TextClassifier(**options)
    print(
        f"classify: {source}: {len(tr_x)} training / {len(te_x)} test texts, classes "
        f"{sorted(set(labels))}, split seed {args.seed}",
        flush=True,
    )
    t0 = time.perf_counter()

    with notes_to_stderr("classify"), save_on_interrupt("classify train", estimator_saver(clf, args.out)):
        clf.fit(
            tr_x,
            tr_y,
            log=lambda r: print(
                f"epoch {r['epoch']:3d}  train loss {r['train_loss']:.4f}", flush=True
            ),
        )
        fit_s = time.perf_counter() - t0
        report = clf.evaluate(te_x, te_y)
    print(f"test ({args.test_fraction:.0%} held out, seed {args.seed}; trained in {fit_s:.0f}s):")
    print(format_report(report))
    clf.save(args.out)
    print(f"saved to {args.out}")
    return 0


def predict(args: argparse.Namespace) -> int:
    apply_threads(args)
    texts = list(args.texts)
    if args.file:
        texts += [line for line in _read_lines(args.file) if line.strip()]
    if not texts:
        raise InputError("expected sentences to classify: give them as arguments or with --file")
    clf = TextClassifier.load(args.load)
    with notes_to_stderr("classify"):
        proba = clf.predict_proba(texts)
    for text, p in zip(texts, proba):
        k = int(p.argmax())
        print(f"{clf.classes_[k]}\t{p[k]:.3f}\t{text}")
    return 0


def _read_lines(path: str) -> list[str]:
    from lstmkit.spine.text import read_text

    return read_text(path).split("\n")


def evaluate(args: argparse.Namespace) -> int:
    apply_threads(args)
    clf = TextClassifier.load(args.load)
    texts, labels = read_labelled(args.data)
    with notes_to_stderr("classify"):
        report = clf.evaluate(texts, labels)
    print(format_report(report))
    return 0


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "classify",
        help="sentence classifier: train, predict, evaluate",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = p.add_subparsers(dest="action", metavar="ACTION", required=True)

    t = sub.add_parser("train", help="train and test on a labelled file (default: bundled reviews)")
    t.add_argument("--data", help="UTF-8 file of 'sentence<TAB>label' lines")
    t.add_argument("--test-fraction", type=float, default=0.2)
    t.add_argument("--seed", type=int, default=0, help="seeds the split and the training (0)")
    t.add_argument("--out", default="classify-model", help="where to save the model")
    t.add_argument("--level", choices=("word", "char"))
    t.add_argument("--max-vocab", type=int)
    t.add_argument("--max-length", type=int, help="tokens kept per text; longer ones are truncated")
    t.add_argument("--hidden-size", type=int)
    t.add_argument("--pooling", choices=("max", "mean", "max_mean", "last"))
    t.add_argument("--epochs", type=int)
    t.add_argument("--backend", help="lstmkit backend of the recurrent layer (auto)")
    add_threads_arg(t)
    flags.outputs(t, out="model")
    t.set_defaults(func=train)

    s = sub.add_parser("predict", help="label sentences with a saved model")
    s.add_argument("--load", required=True)
    s.add_argument("texts", nargs="*", help="sentences to classify")
    s.add_argument("--file", help="also classify each non-empty line of this UTF-8 file")
    add_threads_arg(s)
    s.set_defaults(func=predict)

    e = sub.add_parser(
        "evaluate", help="accuracy, macro F1 and confusion matrix on a labelled file"
    )
    e.add_argument("--load", required=True)
    e.add_argument("--data", required=True)
    add_threads_arg(e)
    e.set_defaults(func=evaluate)
