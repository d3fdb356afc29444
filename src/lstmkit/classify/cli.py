"""``lstmkit classify``: train a sentence classifier, predict, evaluate.

    lstmkit classify train [--data file.tsv] [--seed 0] [--out classify-model] [--max-epochs N] ...
    lstmkit classify predict --load classify-model "What a great phone" "Never again"
    lstmkit classify evaluate --load classify-model [--data other.tsv]

Data files hold one ``sentence<TAB>label`` per line (UTF-8; any labels, at least two
classes). Without ``--data``, training uses the 3,000 bundled review sentences
(Kotzias et al. 2015, CC BY 4.0). A seeded, stratified split holds out
``--test-fraction`` (0.2) for the test figures; ``evaluate`` without ``--data`` measures
the bundled sentences' split that ``train --seed S`` held out (``--seed``,
``--test-fraction``). ``train`` takes the training flags every task takes (``--max-epochs``
overrides ``--epochs``; ``--checkpoint-dir``/``--resume``; ``--accelerator``/``--devices``/
``--strategy`` for GPUs and DDP). After the test figures, ``train`` prints the TF-IDF + logistic
regression baseline (:mod:`lstmkit.classify.baseline`) trained and scored on the same split
beside the LSTM (``--no-baseline`` skips it).
"""

from __future__ import annotations

import argparse
import os
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
from lstmkit.spine.train_flags import add_train_flags, engine_kwargs, task_parser

BUNDLED = "bundled review sentences (Kotzias et al. 2015)"


def format_report(report: dict) -> str:
    """The text of an :meth:`~lstmkit.classify.TextClassifier.evaluate` report: accuracy,
    macro F1 and the confusion matrix (rows true labels, columns predictions)."""
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


def format_comparison(rows: list[tuple[str, dict, float]]) -> str:
    """A fixed-width table, one row per (model, report, training seconds): accuracy and
    macro F1 with 3 decimals, seconds with 2.

    Args:
        rows: (model name, :meth:`~lstmkit.classify.TextClassifier.evaluate` report,
            training seconds) per model.

    Returns:
        The table's text.
    """
    head = f"{'model':<16}{'accuracy':>10}{'macro_f1':>10}{'fit_s':>10}"
    lines = [head, "-" * len(head)]
    for name, report, seconds in rows:
        cells = f"{report['accuracy']:>10.3f}{report['macro_f1']:>10.3f}{seconds:>10.2f}"
        lines.append(f"{name:<16}{cells}")
    return "\n".join(lines)


def baseline_comparison(train_x: list[str], train_y: list, test_x: list[str], test_y: list,
                        lstm_report: dict, lstm_seconds: float) -> str:
    """The TF-IDF + LR baseline trained on the LSTM's training texts and scored on its test
    texts, in a table beside the LSTM; or one line saying why it is not scored.

    Args:
        train_x: the LSTM's training texts.
        train_y: their labels.
        test_x: its test texts.
        test_y: their labels.
        lstm_report: the LSTM's test report.
        lstm_seconds: its training seconds.

    Returns:
        The text to print.
    """
    from lstmkit.classify import baseline

    if not baseline.available():
        return (f"baseline ({baseline.NAME}) not scored: scikit-learn is not installed "
                f"(pip install 'lstmkit[apps]')")
    base = baseline.TfidfBaseline().fit(train_x, train_y)
    rows = [("lstm", lstm_report, lstm_seconds),
            (baseline.NAME, base.evaluate(test_x, test_y), base.fit_seconds)]
    return (f"against the baseline, trained on the same {len(train_x)} texts and tested on "
            f"the same {len(test_x)}:\n" + format_comparison(rows))


def _labelled(path: str | None) -> tuple[list[str], list[str], str]:
    if path:
        texts, labels = read_labelled(path)
        source = path
    else:
        texts, labels = sentiment_sentences()
        source = BUNDLED
    check_labels(labels, source)
    return texts, labels, source


def _first_process() -> bool:
    # a DDP run re-runs this command in more processes (Lightning sets LOCAL_RANK there):
    # what is said before the engine knows the ranks is said once
    return os.environ.get("LOCAL_RANK", "0") == "0" and os.environ.get("NODE_RANK", "0") == "0"


def train(args: argparse.Namespace) -> int:
    """``lstmkit classify train``: split the data (stratified, ``--seed``), train, print the
    test report (and the TF-IDF baseline beside it) and save to ``--out``.

    Args:
        args: the parsed command line.

    Returns:
        The exit status, 0.
    """
    apply_threads(args)
    texts, labels, source = _labelled(args.data)
    tr_x, tr_y, te_x, te_y = stratified_split(texts, labels, args.test_fraction, args.seed)
    options = {
        k: v
        for k, v in {
            "level": args.level,
            "max_vocab": args.max_vocab,
            "max_length": args.max_length,
            "hidden_size": args.hidden_size,
            "embedding_dim": args.embedding_dim,
            "batch_size": args.batch_size,
            "pooling": args.pooling,
            "epochs": args.epochs,
            "seed": args.seed,
            "backend": args.backend,
            "lm_epochs": args.lm_epochs,
            "ensemble": args.ensemble,
        }.items()
        if v is not None
    }
    if args.pretrained is not None:  # "none": from scratch; "bundled" or a directory
        options["pretrained"] = None if args.pretrained == "none" else args.pretrained
    clf = TextClassifier(**options, **engine_kwargs(args))
    if _first_process():
        print(
            f"classify: {source}: {len(tr_x)} training / {len(te_x)} test texts, classes "
            f"{sorted(set(labels))}, split seed {args.seed}",
            flush=True,
        )
    t0 = time.perf_counter()
    log = None if args.quiet else (
        lambda r: print(f"{'lm ' if r.get('stage') == 'lm' else ''}epoch {r['epoch']:3d}  "
                        f"train loss {r['train_loss']:.4f}", flush=True))
    with notes_to_stderr("classify"), save_on_interrupt("classify train", estimator_saver(clf, args.out)):
        clf.fit(tr_x, tr_y, log=log, resume=args.resume)
    if not clf.is_global_zero:  # a DDP helper process: the first one reports and saves
        return 0
    fit_s = time.perf_counter() - t0
    with notes_to_stderr("classify"):
        report = clf.evaluate(te_x, te_y)
    print(f"test ({args.test_fraction:.0%} held out, seed {args.seed}; trained in {fit_s:.0f}s):")
    print(format_report(report))
    if not args.no_baseline:
        print(baseline_comparison(tr_x, tr_y, te_x, te_y, report, fit_s), flush=True)
    clf.save(args.out)
    print(f"saved to {args.out}")
    return 0


def predict(args: argparse.Namespace) -> int:
    """``lstmkit classify predict``: print ``label<TAB>probability<TAB>text`` for each
    sentence given as an argument or as a line of ``--file``.

    Args:
        args: the parsed command line.

    Returns:
        The exit status, 0.

    Raises:
        InputError: no sentence given, or a blank one.
    """
    apply_threads(args)
    texts = list(args.texts)
    blank = [k for k, text in enumerate(texts, 1) if not text.strip()]
    if blank:  # as a file's blank lines are skipped
        raise InputError(f"sentence argument {blank[0]} is blank: give a sentence to classify")
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
    """``lstmkit classify evaluate``: print the report of a saved model on a labelled file,
    or on the bundled sentences' held-out split.

    Args:
        args: the parsed command line.

    Returns:
        The exit status, 0.
    """
    apply_threads(args)
    clf = TextClassifier.load(args.load)
    if args.data:
        texts, labels, _ = _labelled(args.data)
    else:  # the bundled sentences' held-out part, as `train --seed` split them
        texts, labels, _ = _labelled(None)
        _, _, texts, labels = stratified_split(texts, labels, args.test_fraction, args.seed)
        print(f"{BUNDLED}: the {args.test_fraction:.0%} held out with split seed {args.seed}")
    with notes_to_stderr("classify"):
        report = clf.evaluate(texts, labels)
    print(format_report(report))
    return 0


def add_parser(subparsers) -> None:
    """Add ``lstmkit classify`` and its ``train``, ``predict`` and ``evaluate`` commands to
    ``subparsers`` (from ``argparse.ArgumentParser.add_subparsers``).

    Args:
        subparsers: the ``lstmkit`` parser's subcommands (``add_subparsers()``).
    """
    _, sub = task_parser(subparsers, "classify", "sentence classifier: train, predict, evaluate", __doc__)

    t = sub.add_parser("train", help="train and test on a labelled file (default: bundled reviews)")
    add_train_flags(t, out_default="classify-model",
                    data_help="UTF-8 file of 'sentence<TAB>label' lines (default: the bundled "
                              "review sentences); --seed seeds its split and the training")
    g = t.add_argument_group("the classifier")
    g.add_argument("--test-fraction", type=float, default=0.2, help="share held out for the test figures (0.2)")
    g.add_argument("--level", choices=("word", "char"))
    g.add_argument("--max-vocab", type=int)
    g.add_argument("--max-length", type=int, help="tokens kept per text; longer ones are truncated")
    g.add_argument("--embedding-dim", type=int)
    g.add_argument("--hidden-size", type=int)
    g.add_argument("--batch-size", type=int)
    g.add_argument("--pooling", choices=("max", "mean", "max_mean", "last", "concat"))
    g.add_argument("--pretrained", metavar="bundled|none|DIR",
                   help="start from a pretrained language model with ULMFiT's fine-tuning: 'bundled' "
                        "(shipped with lstmkit), a directory saved by lstmkit.classify.pretrained.save_lm, "
                        "or 'none' (from scratch)")
    g.add_argument("--lm-epochs", type=int, help="language-model fine-tuning passes over the training texts "
                                                 "with --pretrained (4)")
    g.add_argument("--epochs", type=int, help="passes over the data (6; 10 with --pretrained); --max-epochs overrides it")
    g.add_argument("--ensemble", type=int, help="networks trained side by side, predicting with their mean "
                                                "probabilities (9; 1 with --pretrained)")
    g.add_argument("--no-baseline", action="store_true",
                   help="skip the TF-IDF + logistic regression baseline printed beside the LSTM")
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
    e.add_argument("--data", help="UTF-8 file of 'sentence<TAB>label' lines (default: the bundled "
                                  "sentences' held-out split, see --seed and --test-fraction)")
    e.add_argument("--seed", type=int, default=0, help="split seed of the bundled sentences (0)")
    e.add_argument("--test-fraction", type=float, default=0.2, help="held-out share of the bundled sentences (0.2)")
    add_threads_arg(e)
    e.set_defaults(func=evaluate)
