"""``lstmkit textgen``: train a character language model, sample from it, score a text.

    lstmkit textgen train [--data file.txt] [--max-time 600] [--out textgen-model]
    lstmkit textgen sample --load textgen-model --prompt "ROMEO:" --length 300
    lstmkit textgen evaluate --load textgen-model --data other.txt [--dynamic]

Without ``--data``, training uses the bundled tiny Shakespeare; the first 90% trains,
the last 10% validates (``--val-fraction``).
"""

from __future__ import annotations

import argparse
import math
import sys
import time

from lstmkit.spine import flags
from lstmkit.spine.cli import (
    add_threads_arg,
    apply_threads,
    estimator_saver,
    notes_to_stderr,
    save_on_interrupt,
)
from lstmkit.spine.text import read_text
from lstmkit.textgen.data import shakespeare, split_text
from lstmkit.textgen.estimator import TextGenerator
from lstmkit.textgen.plot import plot_lm_curve

LN2 = math.log(2.0)
DYNAMIC_HELP = (
    "score with dynamic evaluation: the weights keep adapting to the text as it is read, "
    "each character still predicted before it is seen (Krause et al. 2018)"
)


def _fmt(row: dict) -> str:
    s = (
        f"step {row['step']:6d}  chars {row['chars']:>11,}  time {row['train_time']:7.1f}s  "
        f"lr {row['lr']:.2e}  train {row['train_bpc']:.3f} bpc"
    )
    if "val_bpc" in row:
        s += f"  val {row['val_bpc']:.3f} bpc ({row['val_bpc'] * LN2:.3f} nats)"
    return s + ("  [final, whole validation text]" if row.get("final") else "")


def train(args: argparse.Namespace) -> int:
    apply_threads(args)
    text = read_text(args.data) if args.data else shakespeare()
    train_text, val_text = split_text(text, args.val_fraction)
    source = args.data or "tiny Shakespeare (bundled)"
    options = {
        k: v
        for k, v in {
            "hidden_size": args.hidden_size,
            "num_layers": args.num_layers,
            "cell": args.cell,
            "embedding_dim": args.embedding_dim,
            "dropout": args.dropout,
            "batch_size": args.batch_size,
            "seq_len": args.seq_len,
            "lr": args.lr,
            "weight_decay": args.weight_decay,
            "eval_every": args.eval_every,
            "seed": args.seed,
            "backend": args.backend,
            "layer_norm": args.layer_norm,
        }.items()
        if v is not None
    }
    gen = TextGenerator(**options)
    c = gen.config
    max_time = args.max_time if args.max_time > 0 else None
    print(
        f"textgen: {source}: {len(train_text):,} training / {len(val_text):,} validation characters; "
        f"{c.cell} {c.num_layers}x{c.hidden_size}"
        f"{', layer norm' if c.layer_options.get('layer_norm') else ''}, dropout {c.dropout:g}, "
        f"batch {c.batch_size}x{c.seq_len}, lr {c.lr:g}, weight decay {c.weight_decay:g}, "
        f"seed {c.seed}; budget: {f'{max_time:g}s' if max_time else 'no time limit'}"
        f"{f', {args.max_steps} steps' if args.max_steps else ''}",
        flush=True,
    )
    t0 = time.perf_counter()

    with notes_to_stderr("textgen"), save_on_interrupt("textgen train", estimator_saver(gen, args.out)):
        gen.fit(
            train_text,
            max_steps=args.max_steps,
            max_time=max_time,
            val_text=val_text,
            log=lambda row: print(_fmt(row), flush=True),
        )
        final = gen.history[-1]
        print(
            f"validation: {final['val_bpc']:.3f} bits/char = {final['val_bpc'] * LN2:.3f} nats/char "
            f"after {final['train_time']:.0f}s of training ({time.perf_counter() - t0:.0f}s with "
            f"validation), {final['chars']:,} characters seen"
        )
        if args.dynamic:
            dyn = gen.evaluate(val_text, dynamic=True)
            print(
                f"validation with dynamic evaluation (the weights adapt as it reads): "
                f"{dyn:.3f} bits/char = {dyn * LN2:.3f} nats/char"
            )
    gen.save(args.out)
    print(f"saved to {args.out}")
    if args.curve:
        plot_lm_curve(
            gen.history, args.curve, f"textgen on {source}: {c.cell} {c.num_layers}x{c.hidden_size}"
        )
        print(f"curve written to {args.curve}")
    if args.sample_length:
        with notes_to_stderr("textgen"):
            text = gen.generate("\n", args.sample_length, temperature=0.8, seed=args.seed)
        print("sample:\n" + text)
    return 0


def sample(args: argparse.Namespace) -> int:
    apply_threads(args)
    gen = TextGenerator.load(args.load)
    prompt = args.prompt.replace("\\n", "\n")
    sys.stdout.write(prompt)
    with notes_to_stderr("textgen"):
        for ch in gen.stream(prompt, args.length, args.temperature, args.top_k, args.seed):
            sys.stdout.write(ch)
            sys.stdout.flush()
    sys.stdout.write("\n")
    return 0


def evaluate(args: argparse.Namespace) -> int:
    apply_threads(args)
    gen = TextGenerator.load(args.load)
    with notes_to_stderr("textgen"):
        bpc = gen.evaluate(read_text(args.data), dynamic=args.dynamic)
    how = " (dynamic evaluation)" if args.dynamic else ""
    print(f"{args.data}: {bpc:.3f} bits/char = {bpc * LN2:.3f} nats/char{how}")
    return 0


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "textgen",
        help="character language model: train, sample, evaluate",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = p.add_subparsers(dest="action", metavar="ACTION", required=True)

    t = sub.add_parser("train", help="train on a text file (default: tiny Shakespeare)")
    t.add_argument("--data", help="a UTF-8 text file (default: the bundled tiny Shakespeare)")
    t.add_argument("--val-fraction", type=float, default=0.1, help="tail kept for validation (0.1)")
    t.add_argument("--out", default="textgen-model", help="where to save the model (textgen-model)")
    t.add_argument(
        "--max-time",
        type=float,
        default=600.0,
        help="seconds of training, validation excluded (600; 0: no limit)",
    )
    t.add_argument("--max-steps", type=int, default=None, help="stop after this many batches")
    t.add_argument("--hidden-size", type=int)
    t.add_argument("--num-layers", type=int)
    t.add_argument("--cell", choices=("lstm", "gru", "rnn"))
    t.add_argument("--embedding-dim", type=int)
    t.add_argument("--dropout", type=float)
    t.add_argument("--batch-size", type=int)
    t.add_argument("--seq-len", type=int, help="characters per TBPTT chunk")
    t.add_argument("--lr", type=float, help="peak learning rate")
    t.add_argument("--weight-decay", type=float, help="AdamW's decoupled weight decay (0.05)")
    t.add_argument(
        "--layer-norm",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="layer-normalised LSTM/GRU (on by default for those cells)",
    )
    t.add_argument("--eval-every", type=float, help="seconds of training between validations")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--backend", help="lstmkit backend of the recurrent layer (auto)")
    t.add_argument("--curve", help="also write the learning curve to this PNG")
    t.add_argument("--sample-length", type=int, default=200, help="characters to sample at the end")
    t.add_argument("--dynamic", action="store_true", help="at the end, also " + DYNAMIC_HELP)
    add_threads_arg(t)
    flags.outputs(t, out="model")
    t.set_defaults(func=train)

    s = sub.add_parser("sample", help="stream characters from a saved model")
    s.add_argument("--load", required=True, help="a directory written by `textgen train`")
    s.add_argument("--prompt", default="", help="text to continue (\\n for a newline)")
    s.add_argument("--length", type=int, default=500)
    s.add_argument("--temperature", type=float, default=1.0, help="0: always the likeliest")
    s.add_argument("--top-k", type=int, default=None)
    s.add_argument("--seed", type=int, default=None)
    add_threads_arg(s)
    s.set_defaults(func=sample)

    e = sub.add_parser("evaluate", help="bits per character of a text file")
    e.add_argument("--load", required=True)
    e.add_argument("--data", required=True)
    e.add_argument("--dynamic", action="store_true", help=DYNAMIC_HELP)
    add_threads_arg(e)
    e.set_defaults(func=evaluate)
