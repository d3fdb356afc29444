"""``lstmkit classify-series``: classify numeric sequences (a bundled UCR/UEA set or a
``.ts`` file).

    lstmkit classify-series train [--dataset japanese_vowels | --data TRAIN.ts] [--out DIR]
                                  [--epochs N | --max-epochs N] [--seed 0] [engine flags]
    lstmkit classify-series evaluate --load DIR [--dataset japanese_vowels | --data TEST.ts]
    lstmkit classify-series predict --load DIR [--dataset japanese_vowels | --data FILE.ts]

``train`` trains on the training split of ``--dataset`` (or on the ``.ts`` file
``--data``), prints the test accuracy and the confusion matrix on the set's test split
(none for ``--data``) and saves the model to ``--out`` (default classify-series-model).
``evaluate`` prints a saved model's accuracy on the test split (or on ``--data``);
``predict`` prints one label per sequence; both refuse the flags only training reads
(``--out``, the model's sizes, the training budget and checkpoints).

Without an action, as before: ``lstmkit classify-series --dataset japanese_vowels`` is
``train`` except that it saves only when ``--out`` is given, and with ``--load DIR`` it
is ``evaluate``.

The sets ship with lstmkit (see ``lstmkit.sequences.ucr``) and keep the archive's own
train/test split: japanese_vowels (9 speakers, 12 LPC cepstrum channels, 7 to 29
frames), basic_motions (6 motion-sensor channels), gunpoint and italy_power_demand
(univariate). A ``.ts`` file is sktime's format (the archive's ``*_TRAIN.ts``).
"""

from __future__ import annotations

import argparse
import os
import time

from lstmkit.errors import InputError
from lstmkit.sequences.ucr import DATASETS, load_ucr, read_ts
from lstmkit.spine import flags
from lstmkit.spine.cli import estimator_saver, save_on_interrupt
from lstmkit.spine.train_flags import add_train_flags, apply_threads, engine_kwargs

ACTIONS = ("train", "evaluate", "predict")
TRAIN_OUT = "classify-series-model"
DEFAULT_DATASET = "japanese_vowels"


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


def _rank_zero() -> bool:
    """Whether this process is the first of a run (a DDP fit re-runs the command line
    in one more process per device, each with its rank in the environment)."""
    return all(os.environ.get(k, "0") == "0" for k in ("RANK", "LOCAL_RANK", "NODE_RANK"))


def _span(seqs) -> str:
    lengths = sorted({len(x) for x in seqs})
    return f"{lengths[0]}" if len(lengths) == 1 else f"{lengths[0]} to {lengths[-1]}"


#: the flags only training reads (an evaluation or a prediction refuses them)
_TRAIN_ONLY = ("out", "epochs", "hidden_size", "num_layers", "pooling", "lr", "scaling", "max_steps",
               "max_epochs", "max_time", "checkpoint_dir", "checkpoint_every")


def _check(args) -> None:
    """What each action takes, checked before anything is read or trained."""
    action = args.action or ("evaluate" if args.load else "train")
    if args.data and args.dataset:
        raise InputError("give --dataset (a bundled set) or --data (a .ts file), not both")
    if action == "train" and args.load:
        raise InputError("classify-series train trains a new model: --load belongs to evaluate and predict")
    if action in ("evaluate", "predict"):
        if not args.load:
            raise InputError(f"classify-series {action} uses a saved model: give --load DIR (train one with "
                             "`lstmkit classify-series train --out DIR`)")
        if args.resume:
            raise InputError(f"classify-series {action} does not train: --resume belongs to train")
        given = [name for name in _TRAIN_ONLY if getattr(args, name, None) is not None]
        if given:
            names = ", ".join("--" + name.replace("_", "-") for name in given)
            raise InputError(f"classify-series {action} uses the saved model as it is: {names} "
                             f"belong{'s' if len(given) == 1 else ''} to train")
    if args.resume and not args.checkpoint_dir:
        raise InputError("--resume needs --checkpoint-dir (where the interrupted run wrote its checkpoints)")
    if args.action == "train":
        args.out = args.out or TRAIN_OUT
        flags.check_output(args.out, "model", task="classify-series")


def _training_data(args):
    """(name, X_train, y_train, X_test, y_test) of --dataset or --data (no test split)."""
    if args.data:
        X, y = read_ts(args.data)
        if y is None:
            raise InputError(f"--data {args.data}: the file has no labels (@classLabel false); "
                             "training needs them")
        return args.data, X, y, None, None
    d = load_ucr(args.dataset or DEFAULT_DATASET)
    return d.name, d.X_train, d.y_train, d.X_test, d.y_test


def _test_data(args):
    """(name, X, y or None) that evaluate and predict read: --data, or --dataset's test split."""
    if args.data:
        X, y = read_ts(args.data)
        return args.data, X, y
    d = load_ucr(args.dataset or DEFAULT_DATASET)
    return f"{d.name} (test split)", d.X_test, d.y_test


def train(args: argparse.Namespace) -> int:
    """``lstmkit classify-series train``: train on the data set's training split (or a .ts
    file), print the test report where there is a test split, save to ``--out``.

    Args:
        args: the parsed command line.

    Returns:
        The exit status.
    """
    from lstmkit.sequences import SequenceClassifier

    name, X, y, X_test, y_test = _training_data(args)
    talk = _rank_zero()
    if talk:
        test = f" / {len(X_test)} test" if X_test is not None else ""
        print(f"classify-series: {name}: {len(X)} training{test} sequences, {X[0].shape[1]} "
              f"channel(s), length {_span(X + (X_test or []))}, {len(set(y))} classes", flush=True)
    options = {k: v for k, v in {
        "hidden_size": args.hidden_size, "num_layers": args.num_layers, "pooling": args.pooling,
        "epochs": args.epochs, "lr": args.lr, "seed": args.seed, "scaling": args.scaling,
    }.items() if v is not None}
    if args.backend != "auto":
        options["backend"] = args.backend
    clf = SequenceClassifier(**options, **engine_kwargs(args))
    t0 = time.perf_counter()
    with save_on_interrupt("classify-series", estimator_saver(clf, args.out)):
        clf.fit(X, y, resume=args.resume)
    if not clf.is_global_zero:
        return 0  # another process of a DDP run: the first one reports and saves
    print(f"trained in {time.perf_counter() - t0:.0f}s")
    if X_test is not None:
        report = clf.evaluate(X_test, y_test)
        print(format_report(report))
        print(f"test accuracy {report['accuracy']:.4f}")
    if args.out:
        clf.save(args.out)
        print(f"saved to {args.out}")
    return 0


def evaluate(args: argparse.Namespace) -> int:
    """``lstmkit classify-series evaluate``: the report of the ``--load`` model on the test
    split or a labelled .ts file; returns the exit status, 0 (InputError without labels).

    Args:
        args: the parsed command line.

    Returns:
        The exit status.
    """
    from lstmkit.sequences import SequenceClassifier

    clf = SequenceClassifier.load(args.load)
    name, X, y = _test_data(args)
    if y is None:
        raise InputError(f"--data {args.data}: the file has no labels (@classLabel false); "
                         "evaluate needs them")
    print(f"classify-series: {args.load} on {name}: {len(X)} sequences")
    report = clf.evaluate(X, y)
    print(format_report(report))
    print(f"test accuracy {report['accuracy']:.4f}")
    return 0


def predict(args: argparse.Namespace) -> int:
    """``lstmkit classify-series predict``: print the ``--load`` model's label of each
    sequence, one a line.

    Args:
        args: the parsed command line.

    Returns:
        The exit status.
    """
    from lstmkit.sequences import SequenceClassifier

    clf = SequenceClassifier.load(args.load)
    _, X, _ = _test_data(args)
    for label in clf.predict(X):
        print(label)
    return 0


def run(args: argparse.Namespace) -> int:
    """``lstmkit classify-series [action]``: check the flags and run the action (without
    one: evaluate with ``--load``, else train).

    Args:
        args: the parsed command line.

    Returns:
        The exit status.
    """
    _check(args)
    apply_threads(args)
    action = args.action or ("evaluate" if args.load else "train")
    return {"train": train, "evaluate": evaluate, "predict": predict}[action](args)


def add_parser(subparsers) -> None:
    """Add the ``lstmkit classify-series`` command and its flags to ``subparsers``.

    Args:
        subparsers: the ``lstmkit`` parser's subcommands (``add_subparsers()``).
    """
    p = subparsers.add_parser(
        "classify-series", help="classify numeric sequences (bundled UCR/UEA sets, .ts files)",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("action", nargs="?", choices=ACTIONS,
                   help="train (default; saves to --out), evaluate or predict (both with --load). "
                        "None: train, saving only with --out, or evaluate with --load (as before)")
    data = p.add_argument_group("data")
    data.add_argument("--dataset", choices=sorted(DATASETS),
                      help=f"bundled data set (default {DEFAULT_DATASET}): train on its training split, "
                           "test on its test split")
    data.add_argument("--data", metavar="FILE.ts", help="a .ts file (sktime's format) instead of --dataset")
    data.add_argument("--load", help="evaluate / predict: the saved model")
    model = p.add_argument_group("model")
    model.add_argument("--epochs", type=int,
                       help="default: at least 30 and at least 400 updates (--max-epochs overrides it)")
    model.add_argument("--hidden-size", type=int)
    model.add_argument("--num-layers", type=int)
    model.add_argument("--pooling", choices=("max", "mean", "max_mean", "last"))
    model.add_argument("--lr", type=float)
    model.add_argument("--scaling", choices=("channel", "none"))
    add_train_flags(p, out_default=None, data_help=None, threads_default=None,
                    out_help=f"train: the saved-model directory (default {TRAIN_OUT}; without an action "
                             "the model is saved only when --out is given)")
    flags.outputs(p, out="model")
    p.set_defaults(func=run)
