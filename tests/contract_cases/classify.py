"""The TextClassifier on 240 of the bundled review sentences with a tiny network, and
``classify train`` on a 300-sentence file (a few hundred steps of batch 8)."""

from __future__ import annotations

from tests.contract_cases.case import Case


def _sentences(n: int) -> tuple[list[str], list[str]]:
    from lstmkit.classify import sentiment_sentences

    texts, labels = sentiment_sentences()
    half = n // 2  # the files run amazon, imdb, yelp: both ends, both labels
    return texts[:half] + texts[-half:], labels[:half] + labels[-half:]


def _train_cli(tmp_path):
    data = tmp_path / "reviews.tsv"
    if not data.exists():
        texts, labels = _sentences(300)
        data.write_text("".join(f"{t}\t{y}\n" for t, y in zip(texts, labels)), encoding="utf-8")
    # 240 training sentences in batches of 8: 30 steps an epoch, 450 in all
    return ["classify", "train", "--data", data, "--epochs", 15, "--batch-size", 8, "--hidden-size", 8,
            "--embedding-dim", 8]


def case() -> Case:
    from lstmkit import TextClassifier

    texts, labels = _sentences(240)
    test = ["What a great phone!", "Never again.", "The food was cold and the service slow.",
            "I loved every minute of it."]
    return Case(
        task="classify",
        make=lambda **kw: TextClassifier(**{"hidden_size": 8, "embedding_dim": 8, "epochs": 2, "seed": 0, **kw}),
        fit_args=(texts, labels),
        predict_args=(test,),
        evaluate_args=(texts[:60], labels[:60]),
        same=lambda a, b: list(a) == list(b),
        train_cli=_train_cli,
    )
