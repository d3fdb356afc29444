"""Bits per character of the default character model on a text kept out of all tuning.

The text is the Python documentation's topic pages that every CPython installation
carries (``pydoc_data.topics``: the language reference's sections, as ``help()`` shows
them; PSF licence), joined in sorted key order. The recipe (sizes, learning rate, dropout,
weight decay, layer norm) was chosen on tiny Shakespeare only; this text never took part.
It changes a little between Python versions, so the version is printed with the result.

The default ``TextGenerator`` trains on the first 90% for ``--seconds`` (default 120) and
is scored on the last 10% (static evaluation)::

    python examples/text_heldout.py --threads 2 --seed 0 [--options '{"hidden_size": 384}']

``--options``: TextGenerator keywords as JSON over the defaults (an earlier recipe).
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import torch

import lstmkit
from lstmkit.textgen import split_text


def heldout_text() -> str:
    """The topic pages of ``pydoc_data.topics``, sorted by key, one blank line apart."""
    from pydoc_data.topics import topics

    return "\n\n".join(topics[k] for k in sorted(topics))


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=120.0, help="training budget (default 120)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--options", type=json.loads, default={}, help="TextGenerator keywords as JSON")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    text = heldout_text()
    train, val = split_text(text, 0.1)
    gen = lstmkit.TextGenerator(**{**args.options, "seed": args.seed})
    start = time.perf_counter()
    gen.fit(train, max_time=args.seconds)
    fit_s = time.perf_counter() - start
    scores = gen.evaluate(val)
    print(f"held-out text: pydoc_data.topics of Python {platform.python_version()}, "
          f"{len(text):,} characters ({len(train):,} train, {len(val):,} validation)")
    print(f"trained {fit_s:.0f} s on {args.threads} thread(s), seed {args.seed}: "
          f"{scores['bits_per_char']:.3f} bits/char ({scores['nats_per_char']:.3f} nats) "
          f"on the validation part")
    return scores


if __name__ == "__main__":
    main()
