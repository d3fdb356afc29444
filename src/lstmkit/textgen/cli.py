"""``lstmkit textgen``: train a character language model, generate from it, score a text.

    lstmkit textgen train [--data file.txt] [--max-time 600] [--out textgen-model] [--cell xlstm]
    lstmkit textgen predict --load textgen-model --prompt "ROMEO:" --length 300   (alias: sample)
    lstmkit textgen evaluate --load textgen-model [--data other.txt] [--dynamic]

``train`` takes the flags every task's train takes (``--max-steps``, ``--accelerator``,
``--devices``, ``--strategy ddp``, ``--precision``, ``--checkpoint-dir``, ``--resume``,
...; its default budget is 600 seconds of training). Without ``--data``, training uses
the bundled tiny Shakespeare; the first 90% trains, the last 10% validates
(``--val-fraction``); ``evaluate`` without ``--data`` scores that same last 10%.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
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
from lstmkit.spine.train_flags import add_train_flags, engine_kwargs, task_parser
from lstmkit.spine.train_flags import apply_threads as apply_train_threads
from lstmkit.textgen.data import shakespeare, split_text
from lstmkit.textgen.estimator import CELL_SIZES, TextGenerator, TextGeneratorConfig
from lstmkit.textgen.network import LM_CELLS
from lstmkit.textgen.plot import plot_lm_curve

LN2 = math.log(2.0)
MAX_TIME = 600.0  # seconds: train's default budget
DYNAMIC_HELP = (
    "score with dynamic evaluation: the weights keep adapting to the text as it is read, "
    "each character still predicted before it is seen (Krause et al. 2018)"
)
# the model's own flags, passed to TextGenerator when given
MODEL_FLAGS = ("hidden_size", "num_layers", "cell", "embedding_dim", "dropout", "batch_size", "seq_len",
               "lr", "weight_decay", "eval_every", "seed", "backend", "layer_norm")


def _default(name: str):
    """A field's default in :class:`TextGeneratorConfig`, the one place the recipe's
    defaults live (the help texts quote it)."""
    return {f.name: f.default for f in dataclasses.fields(TextGeneratorConfig)}[name]


def _fmt(row: dict) -> str:
    s = (
        f"step {row['step']:6d}  chars {row['chars']:>11,}  time {row['train_time']:7.1f}s  "
        f"lr {row['lr']:.2e}  train {row['train_bpc']:.3f} bpc"
    )
    if "val_bpc" in row:
        s += f"  val {row['val_bpc']:.3f} bpc ({row['val_bpc'] * LN2:.3f} nats)"
    return s + ("  [final, whole validation text]" if row.get("final") else "")


def _first_process() -> bool:
    """Whether this is the first process of a run (before Lightning has started: a DDP
    process it launched, torchrun or SLURM says its rank in the environment)."""
    for name in ("RANK", "LOCAL_RANK", "SLURM_PROCID", "JSM_NAMESPACE_RANK"):
        if os.environ.get(name, "").isdigit():
            return int(os.environ[name]) == 0
    return True


def train(args: argparse.Namespace) -> int:
    """``lstmkit textgen train``: fit, report the validation loss, save, sample; returns
    the exit status."""
    apply_train_threads(args)
    text = read_text(args.data) if args.data else shakespeare()
    train_text, val_text = split_text(text, args.val_fraction)
    source = args.data or "tiny Shakespeare (bundled)"
    options = {k: getattr(args, k) for k in MODEL_FLAGS if getattr(args, k, None) is not None}
    engine = engine_kwargs(args)
    gen = TextGenerator(**options, **engine)
    c = gen.config
    steps, seconds = engine.get("max_steps"), engine.get("max_time")
    budget = (f"{seconds:g}s" if seconds else "no time limit") + (f", {steps} steps" if steps else "") \
        + (f", {args.max_epochs} pass{'es' if args.max_epochs != 1 else ''}" if args.max_epochs else "")
    if _first_process():
        print(
            f"textgen: {source}: {len(train_text):,} training / {len(val_text):,} validation characters; "
            f"{c.cell} {c.num_layers}x{c.hidden_size}"
            f"{', sLSTM blocks at ' + str(c.layer_options.get('slstm_at')) if c.cell == 'xlstm' else ''}"
            f"{', layer norm' if c.layer_options.get('layer_norm') else ''}, dropout {c.dropout:g}, "
            f"batch {c.batch_size}x{c.seq_len}, lr {c.lr:g}, weight decay {c.weight_decay:g}, "
            f"seed {c.seed}; budget: {budget}",
            flush=True,
        )
    t0 = time.perf_counter()
    show = None if args.quiet else (lambda row: print(_fmt(row), flush=True))
    with notes_to_stderr("textgen"), save_on_interrupt("textgen train", estimator_saver(gen, args.out)):
        gen.fit(train_text, val_text=val_text, log=show, resume=args.resume)
        if not gen.is_global_zero:  # another DDP process: the first one reports and saves
            return 0
        final = gen.history[-1]
        print(
            f"validation: {final['val_bpc']:.3f} bits/char = {final['val_bpc'] * LN2:.3f} nats/char "
            f"after {final['train_time']:.0f}s of training ({time.perf_counter() - t0:.0f}s with "
            f"validation), {final['chars']:,} characters seen"
        )
        if args.dynamic:
            dyn = gen.evaluate(val_text, dynamic=True)["bits_per_char"]
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


def predict(args: argparse.Namespace) -> int:
    """``lstmkit textgen predict``: stream a continuation of ``--prompt`` to stdout;
    returns the exit status."""
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
    """``lstmkit textgen evaluate``: bits and nats per character of a text; returns the
    exit status."""
    apply_threads(args)
    gen = TextGenerator.load(args.load)
    if args.data:
        text, name = read_text(args.data), args.data
    else:
        text, name = split_text(shakespeare(), 0.1)[1], "tiny Shakespeare, its last 10% (the validation text)"
    with notes_to_stderr("textgen"):
        report = gen.evaluate(text, dynamic=args.dynamic)
    how = " (dynamic evaluation)" if args.dynamic else ""
    print(f"{name}: {report['bits_per_char']:.3f} bits/char = {report['nats_per_char']:.3f} nats/char{how}, "
          f"{report['characters']:,} characters predicted")
    return 0


def add_parser(subparsers) -> None:
    """Add ``textgen`` and its commands (train, predict, evaluate) to ``subparsers``."""
    _, sub = task_parser(subparsers, "textgen", "character language model: train, predict (generate), evaluate", __doc__)

    t = sub.add_parser("train", help="train on a text file (default: tiny Shakespeare)")
    add_train_flags(t, out_default="textgen-model", max_time_default=MAX_TIME, threads_default=None,
                    data_help="a UTF-8 text file (default: the bundled tiny Shakespeare)")
    m = t.add_argument_group("the language model")
    m.add_argument("--val-fraction", type=float, default=0.1, help="tail kept for validation (0.1)")
    lstm_h, _ = CELL_SIZES["lstm"]
    xl_h, xl_n = CELL_SIZES["xlstm"]
    m.add_argument("--hidden-size", type=int, help=f"units per layer ({lstm_h} for the LSTM)")
    m.add_argument("--num-layers", type=int)
    m.add_argument("--cell", choices=LM_CELLS,
                   help=f"the recurrent layer (lstm); the xLSTM cells slstm, mlstm and xlstm "
                        f"({xl_n} residual blocks of {xl_h}, sLSTM in the middle) default to about "
                        f"the LSTM's parameter count")
    m.add_argument("--embedding-dim", type=int, help=f"character embedding width ({_default('embedding_dim')})")
    m.add_argument("--dropout", type=float,
                   help=f"on the embeddings and before the head ({_default('dropout'):g})")
    m.add_argument("--batch-size", type=int, help=f"text streams per process ({_default('batch_size')})")
    m.add_argument("--seq-len", type=int, help=f"characters per TBPTT chunk ({_default('seq_len')})")
    m.add_argument("--lr", type=float, help=f"peak learning rate ({_default('lr'):g})")
    m.add_argument("--weight-decay", type=float,
                   help=f"AdamW's decoupled weight decay on the weight matrices ({_default('weight_decay'):g})")
    m.add_argument(
        "--layer-norm",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="layer-normalised LSTM/GRU (on by default for those cells)",
    )
    m.add_argument("--eval-every", type=float, help="seconds of training between validations")
    m.add_argument("--curve", help="also write the learning curve to this PNG")
    m.add_argument("--sample-length", type=int, default=200, help="characters to sample at the end")
    m.add_argument("--dynamic", action="store_true", help="at the end, also " + DYNAMIC_HELP)
    flags.outputs(t, out="model")
    t.set_defaults(func=train)

    s = sub.add_parser("predict", aliases=["sample"], help="generate text from a saved model (streamed)")
    s.add_argument("--load", required=True, help="a directory written by `textgen train`")
    s.add_argument("--prompt", default="", help="text to continue (\\n for a newline)")
    s.add_argument("--length", type=int, default=500)
    s.add_argument("--temperature", type=float, default=1.0, help="0: always the likeliest")
    s.add_argument("--top-k", type=int, default=None)
    s.add_argument("--seed", type=int, default=None)
    add_threads_arg(s)
    s.set_defaults(func=predict)

    e = sub.add_parser("evaluate", help="bits per character of a text file")
    e.add_argument("--load", required=True)
    e.add_argument("--data", help="a UTF-8 text file (default: tiny Shakespeare's validation text)")
    e.add_argument("--dynamic", action="store_true", help=DYNAMIC_HELP)
    add_threads_arg(e)
    e.set_defaults(func=evaluate)
