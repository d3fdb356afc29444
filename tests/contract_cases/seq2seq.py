"""The Translator (seq2seq) on a few hundred dates in four English formats, and
``seq2seq train`` on the date task with a tiny network."""

from __future__ import annotations

import numpy as np

from tests.contract_cases.case import Case


def case() -> Case:
    from lstmkit.seq2seq import Translator
    from lstmkit.seq2seq.dates import DateFormat, date_pairs

    formats = tuple(DateFormat("en", t) for t in ("{d} {B} {Y}", "{m}/{d}/{Y}", "{Y}-{mm}-{dd}", "{b} {d}, {Y}"))
    train = date_pairs(640, formats, "train", np.random.default_rng(0))
    test = date_pairs(24, formats, "test", np.random.default_rng(1))
    sources, targets = [s for s, _ in train], [t for _, t in train]
    test_src, test_tgt = [s for s, _ in test], [t for _, t in test]

    def make(**kw):
        return Translator(**{"hidden_size": 16, "embedding_dim": 8, "max_steps": 40, "lr": 1e-2,
                             "warmup_steps": 5, "seed": 0, **kw})

    return Case(
        task="seq2seq",
        make=make,
        fit_args=(sources, targets),
        predict_args=(test_src,),
        evaluate_args=(test_src, test_tgt),
        same=lambda a, b: list(a) == list(b),
        # the date task, 300 steps of a tiny network (a few seconds), 2 test pairs per format
        train_cli=lambda tmp_path: ["seq2seq", "train", "--max-steps", 300, "--hidden-size", 16,
                                    "--embedding-dim", 8, "--eval-per-format", 2, "--batch-size", 32],
    )
