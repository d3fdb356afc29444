"""TextClassifier: quality on the bundled review sentences, padding that never leaks,
string labels and any number of classes, save/load, truncation and bad input."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

import lstmkit
from lstmkit.classify import (
    TextClassifier,
    TruncatedTextWarning,
    sentiment_sentences,
    stratified_split,
)
from lstmkit.classify.network import POOLINGS, TextClassifierNet, TextClassifierNetConfig
from lstmkit.errors import InputError


@pytest.fixture(scope="module")
def split():
    texts, labels = sentiment_sentences()
    return stratified_split(texts, labels, test_fraction=0.2, seed=0)


@pytest.fixture(scope="module")
def sentiment(split):
    """The default configuration with half its epochs (3 instead of 6), to stay quick."""
    tr_x, tr_y, _, _ = split
    return TextClassifier(epochs=3, seed=0).fit(tr_x, tr_y)


def test_sentiment_accuracy_on_held_out_split(sentiment, split):
    _, _, te_x, te_y = split
    report = sentiment.evaluate(te_x, te_y)
    # measured 0.813 with 3 epochs; the default 6 epochs reach 0.848 (the slow test asks 0.80)
    assert report["accuracy"] >= 0.78, report
    assert report["macro_f1"] >= 0.78
    assert sum(map(sum, report["confusion_matrix"])) == len(te_x) == report["n"]
    assert report["labels"] == ["negative", "positive"] == sentiment.classes_
    assert isinstance(sentiment.model.rnn, lstmkit.LSTM) and sentiment.model.rnn.bidirectional


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_default_configuration_reaches_080_on_the_bundled_split(split, seed):
    tr_x, tr_y, te_x, te_y = split
    clf = TextClassifier(seed=seed).fit(tr_x, tr_y)
    assert clf.evaluate(te_x, te_y)["accuracy"] >= 0.80  # measured 0.848, 0.843, 0.843


def test_padding_never_leaks_into_a_prediction(sentiment):
    short = "Great phone."
    long = (
        "This is a much longer sentence about a terrible, terrible product that broke on day one."
    )
    alone = sentiment.predict_proba([short])
    batched = sentiment.predict_proba([long, short, long])
    np.testing.assert_allclose(batched[1], alone[0], atol=1e-6)
    np.testing.assert_allclose(alone.sum(axis=1), 1.0, atol=1e-9)


@pytest.mark.parametrize("pooling", POOLINGS)
def test_every_pooling_ignores_padding(pooling):
    torch.manual_seed(0)
    net = TextClassifierNet(
        TextClassifierNetConfig(
            vocab_size=50, num_classes=3, pooling=pooling, hidden_size=8, embedding_dim=6
        )
    ).eval()
    tokens = torch.randint(1, 50, (3, 7))
    lengths = torch.tensor([7, 4, 2])
    padded = tokens.masked_fill(torch.arange(7) >= lengths.unsqueeze(1), 0)
    noisy = padded.clone()
    noisy[1, 4:] = 9  # garbage past the true end must not matter
    with torch.no_grad():
        a, b = net(padded, lengths), net(noisy, lengths)
        c = net(padded[1:2, :4], lengths[1:2])  # the same sentence without any padding
    torch.testing.assert_close(a, b)
    torch.testing.assert_close(a[1:2], c)


def _topics(n: int, seed: int) -> tuple[list[str], list[str]]:
    """Three classes told apart by their words, with shared filler."""
    rng = random.Random(seed)
    words = {
        "sport": ["goal", "match", "team", "score"],
        "food": ["pasta", "bread", "soup", "cheese"],
        "tech": ["laptop", "phone", "code", "chip"],
    }
    filler = ["the", "a", "was", "really", "today", "and", "very"]
    texts, labels = [], []
    for _ in range(n):
        label = rng.choice(sorted(words))
        toks = [rng.choice(filler) for _ in range(rng.randint(2, 8))] + [rng.choice(words[label])]
        rng.shuffle(toks)
        texts.append(" ".join(toks))
        labels.append(label)
    return texts, labels


@pytest.mark.parametrize("level", ["word", "char"])
def test_three_string_classes_and_both_levels(level):
    x, y = _topics(200, seed=1)
    tx, ty = _topics(60, seed=2)
    clf = TextClassifier(
        level=level,
        hidden_size=16,
        embedding_dim=16,
        epochs=8,
        lr=3e-2,
        dropout=0.1,
        pooling="max_mean",
        seed=0,
    ).fit(x, y)
    assert clf.classes_ == ["food", "sport", "tech"]
    assert clf.evaluate(tx, ty)["accuracy"] >= 0.9
    assert set(clf.predict(tx)) <= {"food", "sport", "tech"}
    assert clf.predict_proba(tx).shape == (60, 3)


def test_seed_reproducibility_and_save_load(tmp_path):
    x, y = _topics(120, seed=3)
    a = TextClassifier(hidden_size=8, embedding_dim=8, epochs=2, seed=5).fit(x, y)
    b = TextClassifier(hidden_size=8, embedding_dim=8, epochs=2, seed=5).fit(x, y)
    np.testing.assert_array_equal(a.predict_proba(x[:20]), b.predict_proba(x[:20]))
    a.save(tmp_path / "clf")
    back = TextClassifier.load(tmp_path / "clf")
    np.testing.assert_allclose(back.predict_proba(x[:20]), a.predict_proba(x[:20]), atol=1e-12)
    assert back.classes_ == a.classes_ and back.vocab.tokens == a.vocab.tokens
    with pytest.raises(InputError, match="holds a 'classify' model, expected a 'textgen'"):
        lstmkit.TextGenerator.load(tmp_path / "clf")


def test_long_texts_are_truncated_with_one_warning(recwarn):
    x, y = _topics(40, seed=4)
    clf = TextClassifier(hidden_size=8, embedding_dim=8, epochs=1, max_length=5, seed=0)
    with pytest.warns(TruncatedTextWarning, match=r"text\(s\) longer than max_length=5"):
        clf.fit(x, y)
    recwarn.clear()
    clf.predict(["goal " * 50, "pasta " * 30, "chip"])
    truncation = [w for w in recwarn if issubclass(w.category, TruncatedTextWarning)]
    assert len(truncation) == 1 and "2 text(s)" in str(truncation[0].message)


def test_bad_input_gives_clear_errors():
    with pytest.raises(InputError, match="1 class"):
        TextClassifier().fit(["a", "b"], ["x", "x"])
    with pytest.raises(InputError, match="one label per text, got 2 texts and 1 labels"):
        TextClassifier().fit(["a", "b"], ["x"])
    with pytest.raises(InputError, match="single string"):
        TextClassifier().fit("a text", ["x"])
    with pytest.raises(InputError, match="empty"):
        TextClassifier().fit([], [])
    with pytest.raises(InputError, match="pooling must be one of"):
        TextClassifier(pooling="attention")
    with pytest.raises(InputError, match="not trained"):
        TextClassifier().predict(["hello"])
    x, y = _topics(30, seed=5)
    clf = TextClassifier(hidden_size=4, embedding_dim=4, epochs=1).fit(x, y)
    with pytest.raises(InputError, match=r"not trained on: \['music'\]"):
        clf.evaluate(["guitar"], ["music"])
    assert len(clf.predict(["", "!!!"])) == 2  # no word at all still gets a label
