"""The TF-IDF + logistic regression baseline (lstmkit.classify.baseline): near perfect
where one word decides the label, labels handled as TextClassifier handles them, printed
beside the LSTM by `lstmkit classify train`, and the bundled sentences per source."""

from __future__ import annotations

import random

import numpy as np
import pytest

from lstmkit.classify import (
    SENTIMENT_SOURCES,
    TfidfBaseline,
    baseline,
    sentiment_sentences,
    stratified_split,
)
from lstmkit.errors import InputError

pytest.importorskip("sklearn")

FILLER = ["the", "service", "was", "really", "today", "and", "very", "food", "room", "staff", "it"]


def _keyword_set(n: int, seed: int, words=("excellent", "terrible")) -> tuple[list[str], list[int]]:
    """Texts of shared filler words; the label is the index of the one keyword a text holds."""
    rng = random.Random(seed)
    texts, labels = [], []
    for _ in range(n):
        label = rng.randrange(len(words))
        toks = [rng.choice(FILLER) for _ in range(rng.randint(3, 10))] + [words[label]]
        rng.shuffle(toks)
        texts.append(" ".join(toks))
        labels.append(label)
    return texts, labels


def test_a_word_that_decides_the_label_is_learnt_and_integer_labels_stay_integers():
    x, y = _keyword_set(300, seed=0, words=("excellent", "terrible", "average"))
    tx, ty = _keyword_set(200, seed=1, words=("excellent", "terrible", "average"))
    base = TfidfBaseline().fit(x, np.array(y))  # numpy integers are integers too
    assert base.classes_ == [0, 1, 2] and base.fit_seconds >= 0
    pred = base.predict(tx)
    assert all(type(p) is int for p in pred)
    assert np.mean(np.array(pred) == np.array(ty)) >= 0.98
    report = base.evaluate(tx, ty)
    assert report["accuracy"] >= 0.98 and report["macro_f1"] >= 0.98
    assert report["labels"] == ["0", "1", "2"] and report["n"] == 200
    assert sum(map(sum, report["confusion_matrix"])) == 200
    proba = base.predict_proba(tx[:5])
    assert proba.shape == (5, 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-9)


def test_string_labels_sort_as_text_and_a_flipped_keyword_flips_the_answer():
    x, y = _keyword_set(200, seed=2)
    names = ["10", "9"]  # strings: "10" sorts before "9"
    base = TfidfBaseline().fit(x, [names[k] for k in y])
    assert base.classes_ == ["10", "9"]
    assert base.predict(["the room was excellent", "the room was terrible"]) == ["10", "9"]


def test_bad_input_gives_clear_errors(monkeypatch):
    with pytest.raises(InputError, match="not trained"):
        TfidfBaseline().predict(["hello there"])
    with pytest.raises(InputError, match="1 class"):
        TfidfBaseline().fit(["good one", "fine one"], ["x", "x"])
    with pytest.raises(InputError, match="single string"):
        TfidfBaseline().fit("a text", ["x"])
    with pytest.raises(InputError, match="ngram_range"):
        TfidfBaseline(ngram_range=(2, 1))
    x, y = _keyword_set(40, seed=3)
    base = TfidfBaseline().fit(x, y)
    with pytest.raises(InputError, match=r"not trained on: \['7'\]"):
        base.evaluate(["excellent food"], [7])
    monkeypatch.setattr(baseline, "available", lambda: False)
    with pytest.raises(InputError, match=r"needs scikit-learn.*lstmkit\[apps\]"):
        TfidfBaseline().fit(x, y)


def test_the_bundled_sentences_by_source():
    assert list(SENTIMENT_SOURCES) == ["amazon", "imdb", "yelp"]
    texts, labels = sentiment_sentences(["yelp", "amazon"])
    assert len(texts) == 2000 and labels.count("positive") == 1000
    assert (texts, labels) == tuple(a + b for a, b in zip(sentiment_sentences(["yelp"]),
                                                          sentiment_sentences(["amazon"])))
    assert sentiment_sentences() == sentiment_sentences(["amazon", "imdb", "yelp"])
    with pytest.raises(InputError, match="expected sources among"):
        sentiment_sentences(["twitter"])


def test_the_baseline_on_the_bundled_split():
    texts, labels = sentiment_sentences()
    tr_x, tr_y, te_x, te_y = stratified_split(texts, labels, test_fraction=0.2, seed=0)
    report = TfidfBaseline().fit(tr_x, tr_y).evaluate(te_x, te_y)
    assert 0.78 <= report["accuracy"] <= 0.90, report  # measured 0.823


def _train_cli(capsys, tmp_path, *extra):
    from lstmkit.cli import main

    x, y = _keyword_set(200, seed=4)
    f = tmp_path / "reviews.tsv"
    f.write_text("".join(f"{t}\t{['neg', 'pos'][k]}\n" for t, k in zip(x, y)), encoding="utf-8")
    argv = ["classify", "train", "--data", str(f), "--out", str(tmp_path / "clf"), "--epochs", "2",
            "--hidden-size", "8", "--embedding-dim", "8", "--seed", "0", "--quiet", *extra]
    assert main(argv) == 0
    return capsys.readouterr().out


def test_cli_train_prints_the_baseline_beside_the_lstm(capsys, tmp_path):
    out = _train_cli(capsys, tmp_path)
    assert "trained on the same 160 texts and tested on the same 40" in out
    table = [line for line in out.splitlines() if line.startswith(("lstm ", "TF-IDF + LR"))]
    rows = {line.split()[0]: line for line in table}
    assert set(rows) == {"lstm", "TF-IDF"}
    accuracy, macro_f1, fit_s = map(float, rows["TF-IDF"].split()[-3:])
    assert accuracy >= 0.95 and macro_f1 >= 0.95 and fit_s >= 0
    report = next(line for line in out.splitlines() if line.startswith("accuracy "))
    # the table's LSTM row is the figure of the report above it
    assert float(rows["lstm"].split()[1]) == round(float(report.split()[1]), 3)
    assert out.index("confusion matrix") < out.index("TF-IDF + LR") < out.index("saved to")


def test_cli_train_without_the_baseline_or_without_scikit_learn(capsys, tmp_path, monkeypatch):
    out = _train_cli(capsys, tmp_path, "--no-baseline")
    assert "TF-IDF" not in out and "accuracy" in out and "saved to" in out
    monkeypatch.setattr(baseline, "available", lambda: False)
    out = _train_cli(capsys, tmp_path)
    assert "baseline (TF-IDF + LR) not scored: scikit-learn is not installed" in out


@pytest.mark.slow
def test_the_default_lstm_is_above_the_baseline_on_the_clis_default_split():
    """Mean test accuracy over training seeds 0-2 on the split of `classify train --seed 0`:
    at least 0.86 and above the baseline's 0.823 (docs/sentiment.md)."""
    from lstmkit.classify import TextClassifier

    texts, labels = sentiment_sentences()
    tr_x, tr_y, te_x, te_y = stratified_split(texts, labels, test_fraction=0.2, seed=0)
    base = TfidfBaseline().fit(tr_x, tr_y).evaluate(te_x, te_y)["accuracy"]
    lstm = [TextClassifier(seed=s, verbose=False).fit(tr_x, tr_y).evaluate(te_x, te_y)["accuracy"]
            for s in (0, 1, 2)]
    assert np.mean(lstm) >= 0.86 and np.mean(lstm) > base, (lstm, base)


@pytest.mark.slow
def test_the_default_lstm_is_above_the_baseline_leaving_one_source_out():
    """Trained on two of the three review sites, tested on the third, all three ways: the
    mean over training seeds 0-2 of the three accuracies is above the baseline's mean
    (0.755; docs/sentiment.md)."""
    from lstmkit.classify import SENTIMENT_SOURCES, TextClassifier

    base, lstm = [], []
    for held in SENTIMENT_SOURCES:
        tr_x, tr_y = sentiment_sentences([s for s in SENTIMENT_SOURCES if s != held])
        te_x, te_y = sentiment_sentences([held])
        base.append(TfidfBaseline().fit(tr_x, tr_y).evaluate(te_x, te_y)["accuracy"])
        lstm.append(np.mean([TextClassifier(seed=s, verbose=False).fit(tr_x, tr_y).evaluate(te_x, te_y)["accuracy"]
                             for s in (0, 1, 2)]))
    assert np.mean(lstm) > np.mean(base), (lstm, base)
