"""The SequenceClassifier on 60 JapaneseVowels sequences with a tiny network, and
``classify-series train`` on the whole set (a tiny network, 10 epochs of 9 steps; its DDP
run is the one in the default suite, so it is kept to a few seconds of training)."""

from __future__ import annotations

from tests.contract_cases.case import Case


def case() -> Case:
    from lstmkit.sequences import SequenceClassifier, load_ucr

    d = load_ucr("japanese_vowels")
    X, y = d.X_train[::4][:60], d.y_train[::4][:60]  # every speaker
    return Case(
        task="classify-series",
        make=lambda **kw: SequenceClassifier(**{"hidden_size": 8, "epochs": 2, "seed": 0, **kw}),
        fit_args=(X, y),
        predict_args=(d.X_test[:20],),
        evaluate_args=(d.X_test[:40], d.y_test[:40]),
        same=lambda a, b: list(a) == list(b),
        # 270 sequences in batches of 32: 9 steps an epoch, 90 in all (50 on each of 2 processes)
        train_cli=lambda tmp_path: ["classify-series", "train", "--dataset", "japanese_vowels",
                                    "--hidden-size", 8, "--max-epochs", 10],
    )
