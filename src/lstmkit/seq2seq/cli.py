"""``lstmkit seq2seq``: train an encoder-decoder with attention; translate with it.

    lstmkit seq2seq train [--max-steps 4000] [--out seq2seq-model] [--heatmap attention.png]
    lstmkit seq2seq train --data pairs.tsv          (source<TAB>target lines)
    lstmkit seq2seq evaluate --load seq2seq-model --beam 3   (the date task's test sets)
    lstmkit seq2seq translate --load seq2seq-model "3rd of March 2021" "Mar 4 1999"
    echo "le 14 juillet 1989" | lstmkit seq2seq translate --load seq2seq-model

Without ``--data``, training generates the date-normalisation task (human-written dates
to ISO 8601) and reports exact match on unseen dates in the training formats and in
held-out formats never seen in training.
"""

from __future__ import annotations

import argparse
import sys

from lstmkit.errors import TrainingInterrupted
from lstmkit.spine import flags
from lstmkit.spine.cli import save_on_interrupt

_ARCH = ("embedding_dim", "hidden_size", "num_layers", "attention", "dropout", "backend")


def _threads(args) -> None:
    if getattr(args, "threads", None):
        import torch

        torch.set_num_threads(args.threads)


def train(args: argparse.Namespace) -> int:
    from lstmkit.seq2seq import TrainConfig

    _threads(args)
    options = {k: getattr(args, k) for k in _ARCH if getattr(args, k) is not None}
    options["bidirectional"] = not args.unidirectional
    config = TrainConfig(batch_size=args.batch_size, lr=args.lr, max_steps=args.max_steps,
                         max_time=args.max_time or None, teacher_forcing=args.teacher_forcing,
                         seed=args.seed, log_every=args.log_every)
    log = lambda r: print(f"step {r['step']:6d}  loss {r['loss']:.4f}  time {r['time']:7.1f}s", flush=True)
    partial: dict = {}

    def save_partial():
        if partial.get("model") is None:
            return None
        partial["model"].save(args.out)
        return args.out

    with save_on_interrupt("seq2seq train", save_partial):
        try:
            model, examples = _fit(args, options, config, log, partial)
        except TrainingInterrupted as exc:
            partial["model"] = exc.result
            raise
    model.save(args.out)
    print(f"saved to {args.out}")
    if args.heatmap:
        from lstmkit.seq2seq.plot import attention_heatmap

        attention_heatmap(model, examples, args.heatmap, args.beam)
        print(f"attention heat map written to {args.heatmap}")
    return 0


def _fit(args, options: dict, config, log, partial: dict):
    """Train on --data or the date task; print its figures. Returns the model and a
    few sources for the heat map; ``partial["model"]`` holds it once trained."""
    from lstmkit.seq2seq.tasks import (
        date_model,
        evaluate_dates,
        read_pairs,
        train_dates,
        train_pairs,
    )

    if args.data:
        pairs = read_pairs(args.data)
        print(f"seq2seq: {len(pairs):,} pairs from {args.data}; the last {args.val_fraction:.0%} validate", flush=True)
        model, acc = train_pairs(pairs, options, config, args.val_fraction, log)
        partial["model"] = model
        print(f"exact match on the validation pairs: {acc:.4f}")
        examples = [s for s, _ in pairs[-3:]]
    else:
        model = date_model(**options)
        c = model.config
        print(f"seq2seq: dates -> ISO 8601; {c.attention} attention, "
              f"{'bi' if c.bidirectional else 'uni'}directional encoder, H={c.hidden_size}, "
              f"{config.max_steps} steps of {config.batch_size}", flush=True)
        train_dates(model, config, log)
        partial["model"] = model
        report = evaluate_dates(model, args.eval_per_format, args.beam)
        print("\n".join(report.lines()))
        examples = ["3rd of March 2021", "Sat, Jul 12 1986", "1992 December 8"]
    return model, examples


def evaluate(args: argparse.Namespace) -> int:
    from lstmkit.seq2seq import Seq2Seq
    from lstmkit.seq2seq.tasks import evaluate_dates

    _threads(args)
    model = Seq2Seq.load(args.load)
    report = evaluate_dates(model, args.eval_per_format, args.beam)
    print(f"{args.load}: beam {args.beam}")
    print("\n".join(report.lines()))
    if args.heatmap:
        from lstmkit.seq2seq.plot import attention_heatmap

        attention_heatmap(model, ["3rd of March 2021", "Sat, Jul 12 1986", "1992 December 8"],
                          args.heatmap, args.beam)
        print(f"attention heat map written to {args.heatmap}")
    return 0


def translate(args: argparse.Namespace) -> int:
    from lstmkit.errors import InputError
    from lstmkit.seq2seq import Seq2Seq

    _threads(args)
    model = Seq2Seq.load(args.load)
    texts = args.text or [line.rstrip("\n") for line in sys.stdin if line.strip()]
    if not texts:
        raise InputError("nothing to translate: give texts as arguments or on standard input")
    for text, out in zip(texts, model.translate(texts, beam_size=args.beam)):
        unknown = model.src_vocab.unknown(text)
        note = f"\t(characters unknown to the model: {unknown!r})" if unknown else ""
        print(f"{text}\t{out}{note}" if args.show_source else f"{out}{note}")
    if args.heatmap:
        from lstmkit.seq2seq.plot import attention_heatmap

        attention_heatmap(model, texts[:6], args.heatmap, args.beam)
        print(f"attention heat map written to {args.heatmap}", file=sys.stderr)
    return 0


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("seq2seq", help="encoder-decoder with attention: train, evaluate, translate",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    # beam 1 is greedy decoding; 0 means nothing here

    t = sub.add_parser("train", help="train on the date task (default) or a file of pairs")
    t.add_argument("--data", help="UTF-8 file of source<TAB>target lines (default: generated dates)")
    t.add_argument("--val-fraction", type=float, default=0.1, help="tail of --data kept for validation")
    t.add_argument("--out", default="seq2seq-model", help="where to save the model (seq2seq-model)")
    t.add_argument("--max-steps", type=int, default=4000, help="training batches (4000)")
    t.add_argument("--max-time", type=float, default=0.0, help="stop after this many seconds (0: no limit)")
    t.add_argument("--batch-size", type=int, default=64)
    t.add_argument("--lr", type=float, default=3e-3, help="peak learning rate (3e-3)")
    t.add_argument("--teacher-forcing", type=float, default=1.0,
                   help="probability of feeding the gold previous token (1.0)")
    t.add_argument("--embedding-dim", type=int)
    t.add_argument("--hidden-size", type=int, help="decoder hidden size; the encoder has half per direction")
    t.add_argument("--num-layers", type=int)
    t.add_argument("--attention", choices=("luong", "bahdanau"))
    t.add_argument("--unidirectional", action="store_true", help="a one-direction encoder")
    t.add_argument("--dropout", type=float, help="on embeddings and read-out (date task 0.2; --data 0)")
    t.add_argument("--backend", help="lstmkit backend of the LSTMs (auto)")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--log-every", type=int, default=250)
    t.add_argument("--beam", type=int, default=1, help="beam size for the evaluation (1: greedy)")
    t.add_argument("--eval-per-format", type=int, default=200, help="test pairs per date format (200)")
    t.add_argument("--heatmap", help="also write an attention heat map to this PNG")
    t.add_argument("--threads", type=int, help="torch threads")
    flags.outputs(t, out="model")
    flags.bounds(t, beam=(1, None, True))
    t.set_defaults(func=train)

    e = sub.add_parser("evaluate", help="exact match of a saved date model on the test sets")
    e.add_argument("--load", required=True, help="a directory written by `seq2seq train`")
    e.add_argument("--beam", type=int, default=1, help="beam size (1: greedy)")
    e.add_argument("--eval-per-format", type=int, default=200, help="test pairs per date format (200)")
    e.add_argument("--heatmap", help="also write an attention heat map to this PNG")
    e.add_argument("--threads", type=int, help="torch threads")
    flags.bounds(e, beam=(1, None, True))
    e.set_defaults(func=evaluate)

    r = sub.add_parser("translate", help="decode texts with a saved model")
    r.add_argument("text", nargs="*", help="texts (default: one per line on standard input)")
    r.add_argument("--load", required=True, help="a directory written by `seq2seq train`")
    r.add_argument("--beam", type=int, default=1, help="beam size (1: greedy)")
    r.add_argument("--show-source", action="store_true", help="print source<TAB>output")
    r.add_argument("--heatmap", help="write the attention of the first texts to this PNG")
    r.add_argument("--threads", type=int, help="torch threads")
    flags.bounds(r, beam=(1, None, True))
    r.set_defaults(func=translate)
