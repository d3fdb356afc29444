"""``lstmkit seq2seq``: train an encoder-decoder with attention; evaluate it; translate with it.

    lstmkit seq2seq train [--max-steps 4000] [--out seq2seq-model] [--heatmap attention.png]
    lstmkit seq2seq train --data pairs.tsv          (source<TAB>target lines)
    lstmkit seq2seq evaluate --load seq2seq-model [--beam 3]   (the date task's test sets)
    lstmkit seq2seq evaluate --load seq2seq-model --data pairs.tsv
    lstmkit seq2seq predict --load seq2seq-model "3rd of March 2021" "Mar 4 1999"
    echo "le 14 juillet 1989" | lstmkit seq2seq predict --load seq2seq-model

``translate`` is another name for ``predict``. Without ``--data``, training generates the
date-normalisation task (human-written dates to ISO 8601) and reports exact match on
unseen dates in the training formats and in held-out formats never seen in training.
``--beam`` 0 or 1 decodes greedily, K > 1 keeps K hypotheses.
"""

from __future__ import annotations

import argparse
import os
import sys

from lstmkit.errors import InputError
from lstmkit.spine import flags
from lstmkit.spine.cli import estimator_saver, save_on_interrupt
from lstmkit.spine.text import decode_utf8
from lstmkit.spine.train_flags import add_train_flags, apply_threads, engine_kwargs, task_parser

_ARCH = ("embedding_dim", "hidden_size", "num_layers", "attention", "dropout", "backend")
EXAMPLES = ["3rd of March 2021", "Sat, Jul 12 1986", "1992 December 8"]


def _first_process() -> bool:
    # Lightning's DDP launcher runs this command again for the other ranks, with LOCAL_RANK set
    return os.environ.get("LOCAL_RANK", "0") == "0" and os.environ.get("NODE_RANK", "0") == "0"


def _split(pairs):
    return [s for s, _ in pairs], [t for _, t in pairs]


def train(args: argparse.Namespace) -> int:
    """``lstmkit seq2seq train``: train on the date task (or a file of pairs), report and
    save to ``--out``.

    Args:
        args: the parsed command line.

    Returns:
        The exit status.
    """
    from lstmkit.seq2seq import Translator
    from lstmkit.seq2seq.estimator import DEFAULT_STEPS
    from lstmkit.seq2seq.tasks import (
        date_training_pairs,
        date_translator,
        evaluate_dates,
        read_pairs,
    )

    apply_threads(args)
    if args.resume and not args.checkpoint_dir:
        raise InputError("--resume needs --checkpoint-dir (where the interrupted run wrote its checkpoints)")
    options = {k: getattr(args, k) for k in _ARCH if getattr(args, k) is not None}
    options.update(bidirectional=not args.unidirectional, batch_size=args.batch_size, lr=args.lr,
                   teacher_forcing=args.teacher_forcing, seed=args.seed)
    engine = engine_kwargs(args)
    say = print if _first_process() else (lambda *a, **k: None)
    val = None
    if args.data:
        pairs = read_pairs(args.data)
        cut = max(1, int(len(pairs) * (1 - args.val_fraction)))
        train_pairs, val = pairs[:cut], pairs[cut:] or None
        longest = max(len(t) for _, t in pairs)
        tr = Translator(**{"source_chars": "".join(sorted({ch for s, _ in pairs for ch in s})),
                           "target_chars": "".join(sorted({ch for _, t in pairs for ch in t})),
                           "max_len": 2 * longest + 5, **options}, **engine)
        say(f"seq2seq: {len(pairs):,} pairs from {args.data}; the last {args.val_fraction:.0%} validate",
            flush=True)
        sources, targets = _split(train_pairs)
        examples = [s for s, _ in pairs[-3:]]
    else:
        tr = date_translator(**options, **engine)
        c = tr.config
        steps = engine.get("max_steps") or DEFAULT_STEPS
        sources, targets = _split(date_training_pairs(steps, c.batch_size, c.seed))
        budget = f"{engine['max_epochs']} epochs" if "max_epochs" in engine and "max_steps" not in engine \
            else f"{steps} steps"
        say(f"seq2seq: dates -> ISO 8601; {c.attention} attention, "
            f"{'bi' if c.bidirectional else 'uni'}directional encoder, H={c.hidden_size}, "
            f"{budget} of {c.batch_size} ({len(sources):,} training pairs)", flush=True)
        examples = EXAMPLES
    with save_on_interrupt("seq2seq train", estimator_saver(tr, args.out)):
        tr.fit(sources, targets, validation=_split(val) if val else None, resume=args.resume)
    if not tr.is_global_zero:
        return 0  # only the first process of a DDP run writes
    tr.save(args.out)
    loss = tr.history[-1]["train_loss"] if tr.history else float("nan")
    print(f"trained {tr.steps} steps (last epoch's mean loss {loss:.4f}); saved to {args.out}")
    if val:
        report = tr.evaluate(*_split(val), beam=args.beam)
        print(f"exact match on the validation pairs: {report['exact_match']:.4f} "
              f"(character error rate {report['cer']:.4f}, {report['n']} pairs)")
    else:
        print("\n".join(evaluate_dates(tr, args.eval_per_format, args.beam).lines()))
    _heatmap(args, tr, examples)
    return 0


def _heatmap(args, tr, texts, stream=None) -> None:
    if args.heatmap:
        from lstmkit.seq2seq.plot import attention_heatmap

        attention_heatmap(tr, texts, args.heatmap, args.beam)
        print(f"attention heat map written to {args.heatmap}", file=stream or sys.stdout)


def evaluate(args: argparse.Namespace) -> int:
    """``lstmkit seq2seq evaluate``: exact match and character error rate of the ``--load``
    model on a file of pairs, or the date task's report.

    Args:
        args: the parsed command line.

    Returns:
        The exit status.
    """
    from lstmkit.seq2seq import Translator
    from lstmkit.seq2seq.tasks import evaluate_dates, read_pairs

    apply_threads(args)
    tr = Translator.load(args.load)
    if args.data:
        pairs = read_pairs(args.data)
        report = tr.evaluate(*_split(pairs), beam=args.beam)
        print(f"{args.load} on {args.data}: beam {args.beam}")
        print(f"exact match: {report['exact_match']:.4f}  character error rate: {report['cer']:.4f}  "
              f"pairs: {report['n']}")
        examples = [s for s, _ in pairs[:3]]
    else:
        print(f"{args.load}: beam {args.beam}")
        print("\n".join(evaluate_dates(tr, args.eval_per_format, args.beam).lines()))
        examples = EXAMPLES
    _heatmap(args, tr, examples)
    return 0


def _stdin_lines() -> list[str]:
    """The non-blank lines of standard input, decoded as UTF-8 strictly (Python's own
    reader would pass undecodable bytes through as lone surrogates)."""
    text = decode_utf8(sys.stdin.buffer.read(), "standard input")
    lines = (line.rstrip("\r") for line in text.split("\n"))
    return [line for line in lines if line.strip()]


def _checked_args(texts: list[str]) -> list[str]:
    """The texts given as arguments, refused where the command line was not UTF-8 (its
    undecodable bytes arrive as lone surrogates) or a text is blank (as standard input's
    blank lines are skipped)."""
    for k, text in enumerate(texts, 1):
        decode_utf8(os.fsencode(text), f"text argument {k}")
        if not text.strip():
            raise InputError(f"text argument {k} is blank: give a text to translate")
    return texts


def predict(args: argparse.Namespace) -> int:
    """``lstmkit seq2seq predict``: print the ``--load`` model's output for each text given
    as an argument or line of standard input; returns the exit status, 0 (InputError when
    there is no text).

    Args:
        args: the parsed command line.

    Returns:
        The exit status.
    """
    from lstmkit.seq2seq import Translator

    apply_threads(args)
    tr = Translator.load(args.load)
    texts = _checked_args(args.text) if args.text else _stdin_lines()
    if not texts:
        raise InputError("nothing to translate: give texts as arguments or on standard input")
    for text, out in zip(texts, tr.predict(texts, beam=args.beam)):
        unknown = tr.unknown(text)
        note = f"\t(characters unknown to the model: {unknown!r})" if unknown else ""
        print(f"{text}\t{out}{note}" if args.show_source else f"{out}{note}")
    _heatmap(args, tr, texts[:6], sys.stderr)
    return 0


def add_parser(subparsers) -> None:
    """Add ``lstmkit seq2seq`` and its ``train``, ``evaluate`` and ``predict`` commands to
    ``subparsers``.

    Args:
        subparsers: the ``lstmkit`` parser's subcommands (``add_subparsers()``).
    """
    _, sub = task_parser(subparsers, "seq2seq", "encoder-decoder with attention: train, evaluate, predict", __doc__)
    beam_help = "beam size (0 or 1: greedy, the default)"

    t = sub.add_parser("train", help="train on the date task (default) or a file of pairs")
    add_train_flags(t, out_default="seq2seq-model",
                    data_help="UTF-8 file of source<TAB>target lines (default: generated dates)")
    g = t.add_argument_group("seq2seq")
    g.add_argument("--val-fraction", type=float, default=0.1, help="tail of --data kept for validation (0.1)")
    g.add_argument("--batch-size", type=int, default=64)
    g.add_argument("--lr", type=float, default=3e-3, help="peak learning rate (3e-3)")
    g.add_argument("--teacher-forcing", type=float, default=1.0,
                   help="probability of feeding the gold previous token (1.0)")
    g.add_argument("--embedding-dim", type=int)
    g.add_argument("--hidden-size", type=int, help="decoder hidden size; the encoder has half per direction")
    g.add_argument("--num-layers", type=int)
    g.add_argument("--attention", choices=("luong", "bahdanau"))
    g.add_argument("--unidirectional", action="store_true", help="a one-direction encoder")
    g.add_argument("--dropout", type=float, help="on embeddings and read-out (date task 0.2; --data 0)")
    g.add_argument("--beam", type=int, default=0, help=f"for the evaluation: {beam_help}")
    g.add_argument("--eval-per-format", type=int, default=200, help="test pairs per date format (200)")
    g.add_argument("--heatmap", help="also write an attention heat map to this PNG")
    flags.outputs(t, out="model")
    t.set_defaults(func=train)

    e = sub.add_parser("evaluate", help="exact match of a saved model: the date task's test sets, or --data")
    e.add_argument("--load", required=True, help="a directory written by `seq2seq train`")
    e.add_argument("--data", help="UTF-8 file of source<TAB>target lines (default: the date task's test sets)")
    e.add_argument("--beam", type=int, default=0, help=beam_help)
    e.add_argument("--eval-per-format", type=int, default=200, help="test pairs per date format (200)")
    e.add_argument("--heatmap", help="also write an attention heat map to this PNG")
    e.add_argument("--threads", type=int, help="torch threads")
    e.set_defaults(func=evaluate)

    r = sub.add_parser("predict", aliases=["translate"], help="decode texts with a saved model (alias: translate)")
    r.add_argument("text", nargs="*", help="texts (default: one per line on standard input)")
    r.add_argument("--load", required=True, help="a directory written by `seq2seq train`")
    r.add_argument("--beam", type=int, default=0, help=beam_help)
    r.add_argument("--show-source", action="store_true", help="print source<TAB>output")
    r.add_argument("--heatmap", help="write the attention of the first texts to this PNG")
    r.add_argument("--threads", type=int, help="torch threads")
    r.set_defaults(func=predict)
