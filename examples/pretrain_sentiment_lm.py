"""Regenerate the language model that ``TextClassifier(pretrained="bundled")`` starts from
(ULMFiT's first step, run once; the result ships in src/lstmkit/classify/weights/wordlm).

The corpus is the bundled Tiny Shakespeare (public domain; see
src/lstmkit/data/files/text/PROVENANCE.md), never the review sentences, so no test
split and no held-out review source is seen in pretraining. The last 5 % of its
sentences are held out to report the language model's validation loss.

    python examples/pretrain_sentiment_lm.py [--out src/lstmkit/classify/weights/wordlm] [--epochs 8]

One thread (``torch.set_num_threads(1)``); about 8 minutes on the project's 2-core CPU.
"""

from __future__ import annotations

import argparse
import time

import torch

from lstmkit.classify.pretrained import BUNDLED_DIR, play_sentences, pretrain, save_lm
from lstmkit.spine.text import TEXT_DIR, read_text

SETTINGS = {"max_vocab": 10000, "min_freq": 2, "embedding_dim": 100, "hidden_size": 192, "num_layers": 1,
            "dropout": 0.3, "lr": 5e-3, "weight_decay": 1e-4, "batch_size": 64, "seed": 0}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default=str(BUNDLED_DIR))
    p.add_argument("--epochs", type=int, default=8)
    args = p.parse_args()
    torch.set_num_threads(1)
    sentences = play_sentences(read_text(TEXT_DIR / "tinyshakespeare.txt"))
    cut = int(len(sentences) * 0.95)
    train, val = sentences[:cut], sentences[cut:]
    print(f"Tiny Shakespeare: {len(train)} training / {len(val)} validation sentences, "
          f"{sum(map(len, train))} training tokens", flush=True)
    t0 = time.perf_counter()
    lm, vocab, config = pretrain(train, epochs=args.epochs, val_sentences=val, verbose=False, **SETTINGS,
                                 log=lambda r: print({k: round(v, 4) for k, v in r.items()}, flush=True))
    seconds = time.perf_counter() - t0
    provenance = {"corpus": "Tiny Shakespeare (lstmkit/data/files/text/tinyshakespeare.txt), public domain",
                  "sentences": len(train), "epochs": args.epochs, "settings": SETTINGS,
                  "command": "python examples/pretrain_sentiment_lm.py", "seconds": round(seconds)}
    save_lm(args.out, lm, vocab, config, provenance)
    print(f"{len(vocab)} tokens, trained in {seconds:.0f}s; saved to {args.out}")


if __name__ == "__main__":
    main()
