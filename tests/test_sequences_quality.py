"""The issue's quality bar for sequence classification, at full size (slow: a few
minutes on one core): JapaneseVowels test accuracy >= 0.95 with the default
SequenceClassifier for three seeds (published LSTM-family results: about 0.98 to 0.99),
and the other bundled sets well above chance."""

from __future__ import annotations

import pytest

from lstmkit.sequences import SequenceClassifier, load_ucr

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def jv():
    return load_ucr("japanese_vowels")


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_japanese_vowels_accuracy_at_least_095(jv, seed):
    clf = SequenceClassifier(seed=seed).fit(jv.X_train, jv.y_train)
    assert clf.evaluate(jv.X_test, jv.y_test)["accuracy"] >= 0.95


# chance is 1/4 and 1/2; floors set below the figures in docs/speech.md. BasicMotions has
# 40 test sequences (one is 2.5 points), so its figure is the mean of seeds 0, 1, 2
# (0.875, 1.0, 0.975 measured); the others are seed 0's.
@pytest.mark.parametrize("name, floor, seeds", [("basic_motions", 0.9, (0, 1, 2)),
                                                ("italy_power_demand", 0.9, (0,)),
                                                ("gunpoint", 0.85, (0,))])
def test_other_sets_beat_chance_clearly(name, floor, seeds):
    d = load_ucr(name)
    accuracy = [SequenceClassifier(seed=s, verbose=False).fit(d.X_train, d.y_train).evaluate(
        d.X_test, d.y_test)["accuracy"] for s in seeds]
    assert sum(accuracy) / len(accuracy) >= floor, accuracy
