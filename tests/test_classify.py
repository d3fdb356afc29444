"""TextClassifier: quality on the bundled review sentences, padding that never leaks,
string labels and any number of classes, save/load, truncation and bad input."""

from __future__ import annotations

import os
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
    """The default configuration (an ensemble of 9) with half its epochs (3 instead of
    6), to stay quick (26 s of CPU)."""
    tr_x, tr_y, _, _ = split
    return TextClassifier(epochs=3, seed=0).fit(tr_x, tr_y)


def test_sentiment_accuracy_on_held_out_split(sentiment, split):
    _, _, te_x, te_y = split
    report = sentiment.evaluate(te_x, te_y)
    # measured 0.837 with 3 epochs (one network: 0.793); the default 6 epochs reach 0.867
    # (the slow test asks 0.80)
    assert report["accuracy"] >= 0.80, report
    assert report["macro_f1"] >= 0.80
    assert sum(map(sum, report["confusion_matrix"])) == len(te_x) == report["n"]
    assert report["labels"] == ["negative", "positive"] == sentiment.classes_
    members = sentiment.model.members  # the default: an ensemble of bidirectional LSTMs
    assert len(members) == sentiment.config.ensemble > 1
    assert all(isinstance(m.rnn, lstmkit.LSTM) and m.rnn.bidirectional for m in members)


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_default_configuration_reaches_080_on_the_bundled_split(split, seed):
    tr_x, tr_y, te_x, te_y = split
    clf = TextClassifier(seed=seed).fit(tr_x, tr_y)
    assert clf.evaluate(te_x, te_y)["accuracy"] >= 0.80  # measured 0.857, 0.833, 0.842


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


# ---- training through the engine ------------------------------------------------------
@pytest.mark.parametrize("n", [300, 33, 8])
def test_short_runs_train(n):
    """One epoch of 300 texts is 10 steps of 32, where torch's OneCycleLR with a 10 %
    warm-up divided by zero; a run of one or two steps trains too."""
    texts, labels = sentiment_sentences()
    x, y = texts[: n // 2] + texts[-(n - n // 2) :], labels[: n // 2] + labels[-(n - n // 2) :]
    clf = TextClassifier(epochs=1, hidden_size=8, embedding_dim=8, seed=0, verbose=False).fit(x, y)
    assert len(clf.history) == 1 and np.isfinite(clf.history[0]["train_loss"])
    assert set(clf.predict(x[:5])) <= {"negative", "positive"}


def test_every_short_schedule_is_defined():
    from lstmkit.classify.training import PCT_START
    from lstmkit.spine.engine import one_cycle

    net = torch.nn.Linear(2, 2)
    for total in range(1, 41):
        conf = one_cycle("adamw", 1e-2, 1e-4, pct_start=PCT_START)(net, total)
        opt, sched = conf["optimizer"], conf["lr_scheduler"]["scheduler"]
        for _ in range(total):
            opt.step()
            sched.step()
        assert all(np.isfinite(g["lr"]) for g in opt.param_groups), total


def test_epochs_sets_the_engines_max_epochs_and_max_epochs_overrides_it():
    x, y = _topics(64, seed=6)
    small = {"hidden_size": 4, "embedding_dim": 4, "seed": 0, "verbose": False}
    assert [r["epoch"] for r in TextClassifier(epochs=2, **small).fit(x, y).history] == [1, 2]
    assert len(TextClassifier(epochs=2, max_epochs=3, **small).fit(x, y).history) == 3
    clf = TextClassifier(epochs=2, max_steps=3, **small).fit(x, y)  # 2 steps an epoch
    assert len(clf.history) == 2 and clf.config.epochs == 2


def test_a_validation_set_gives_its_loss_and_accuracy_each_epoch():
    x, y = _topics(120, seed=7)
    vx, vy = _topics(40, seed=8)
    rows = []
    clf = TextClassifier(hidden_size=8, embedding_dim=8, epochs=3, seed=0, verbose=False)
    clf.fit(x, y, val_texts=vx, val_labels=vy, log=rows.append)
    assert rows == clf.history and [r["epoch"] for r in rows] == [1, 2, 3]
    assert all({"train_loss", "val_loss", "val_accuracy"} <= set(r) for r in rows)
    assert 0 <= rows[-1]["val_accuracy"] <= 1
    with pytest.raises(InputError, match="both val_texts and val_labels"):
        clf.fit(x, y, val_texts=vx)


def test_length_buckets_are_the_loaders_batches_and_resume_on_their_boundary():
    from torch.utils.data import DataLoader

    from lstmkit.classify.training import LengthBuckets

    rng = random.Random(0)
    lengths = [rng.randint(1, 40) for _ in range(1000)]
    s = LengthBuckets(lengths, batch_size=8, seed=3)
    s.set_epoch(2)
    batches = s.batches()
    assert sorted(i for b in batches for i in b) == list(range(1000))
    assert all(len(b) == 8 for b in batches[:-1])
    loader = [b.tolist() for b in DataLoader(range(1000), batch_size=8, sampler=s)]
    assert loader == batches
    spread = np.mean([max(lengths[i] for i in b) - min(lengths[i] for i in b) for b in batches])
    assert spread < 5  # similar lengths together (random batches of 8: about 30)
    s.skip = 5 * 8
    assert [b.tolist() for b in DataLoader(range(1000), batch_size=8, sampler=s)] == batches[5:]
    s.set_epoch(3)
    assert s.batches() != batches


RESUME_SCRIPT = """
import json, os, signal, sys
import lightning as L
import numpy as np
from lstmkit.classify import TextClassifier, sentiment_sentences

mode, folder, out = sys.argv[1], sys.argv[2], sys.argv[3]
texts, labels = sentiment_sentences()
texts, labels = texts[:120] + texts[-120:], labels[:120] + labels[-120:]


class Kill(L.Callback):
    def on_train_batch_end(self, trainer, *args):
        if mode == "kill" and trainer.global_step == 23:
            os.kill(os.getpid(), signal.SIGKILL)


clf = TextClassifier(hidden_size=8, embedding_dim=8, epochs=3, batch_size=16, seed=1, dropout=0.3,
                     checkpoint_dir=folder, checkpoint_every_n_steps=5, callbacks=[Kill()], verbose=False)
clf.fit(texts[:200], labels[:200], val_texts=texts[200:], val_labels=labels[200:], resume=mode == "resume")
np.save(out, clf.predict_proba(texts[200:]))
print("HISTORY " + json.dumps(clf.history))
"""


@pytest.mark.slow
def test_a_run_killed_and_resumed_ends_as_an_uninterrupted_one(tmp_path):
    """Killed at step 23 of 39 (a checkpoint at 20, mid-epoch 2) and resumed: the same
    weights and validation figures as the run that was never interrupted. (The train
    loss of the epoch it resumed in averages the batches after the resume only.)"""
    import json
    import subprocess
    import sys

    script = tmp_path / "fit.py"
    script.write_text(RESUME_SCRIPT)

    def run(mode, folder, out):
        return subprocess.run([sys.executable, str(script), mode, str(tmp_path / folder), str(tmp_path / out)],
                              capture_output=True, text=True, timeout=600, check=False,
                              env={**os.environ, "OMP_NUM_THREADS": "1"})

    full = run("full", "a", "full.npy")
    assert full.returncode == 0, full.stderr[-2000:]
    killed = run("kill", "b", "killed.npy")
    assert killed.returncode == -9 and (tmp_path / "b" / "last.ckpt").is_file()
    again = run("resume", "b", "resumed.npy")
    assert again.returncode == 0, again.stderr[-2000:]
    assert "resumed from step 20" in again.stderr
    np.testing.assert_array_equal(np.load(tmp_path / "full.npy"), np.load(tmp_path / "resumed.npy"))
    a, b = (json.loads(p.stdout.split("HISTORY ", 1)[1]) for p in (full, again))
    assert [r["epoch"] for r in a] == [r["epoch"] for r in b] == [1, 2, 3]
    assert [(r["val_loss"], r["val_accuracy"]) for r in a] == [(r["val_loss"], r["val_accuracy"]) for r in b]
    assert (a[0]["train_loss"], a[2]["train_loss"]) == (b[0]["train_loss"], b[2]["train_loss"])


def test_integer_classes_travel_in_the_onnx_metadata(tmp_path):
    pytest.importorskip("onnxruntime")
    import json

    import onnx

    from lstmkit.export.api import check_model, run_onnx

    x, _ = _topics(40, seed=9)
    y = [i % 3 for i in range(40)]
    clf = TextClassifier(hidden_size=8, embedding_dim=8, epochs=1, seed=0, verbose=False).fit(x, y)
    path = clf.export(tmp_path / "clf.onnx")
    meta = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
    state = json.loads(meta["lstmkit.state"])
    assert meta["lstmkit.task"] == "classify" and state["classes"] == [0, 1, 2]
    assert (state["level"], state["lowercase"], state["max_length"]) == ("word", True, 200)
    assert check_model(clf, path) < 1e-4
    tokens, lengths = clf._pad(clf._encode(x[:5]))
    logits = run_onnx(path, {"tokens": tokens, "lengths": lengths})["logits"]
    assert [state["classes"][k] for k in logits.argmax(1)] == clf.predict(x[:5])


def test_cli_train_takes_the_common_flags_and_evaluate_defaults_to_the_bundled_split(tmp_path, capsys):
    from lstmkit.cli import main

    f = tmp_path / "reviews.tsv"
    texts, labels = _topics(80, seed=10)
    f.write_text("".join(f"{t}\t{y}\n" for t, y in zip(texts, labels)), encoding="utf-8")
    model = tmp_path / "clf"
    argv = ["classify", "train", "--data", str(f), "--out", str(model), "--epochs", "5", "--max-epochs", "2",
            "--hidden-size", "8", "--embedding-dim", "8", "--batch-size", "16", "--seed", "2"]
    assert main(argv) == 0
    out, err = capsys.readouterr()
    assert "epoch   2  train loss" in out and "epoch   3" not in out  # --max-epochs wins over --epochs
    assert "split seed 2" in out and "saved to" in out and "done: epoch 2/2 · step 8" in err
    assert len(TextClassifier.load(model).history) == 2
    assert main([*argv[:5], str(tmp_path / "quiet"), *argv[6:], "--quiet"]) == 0
    out, err = capsys.readouterr()
    assert "train loss" not in out and "done:" not in err and "accuracy" in out
    assert main(["classify", "evaluate", "--load", str(model), "--data", str(f)]) == 0
    assert "(80 texts)" in capsys.readouterr().out
    # trained on other labels: the bundled split's are unknown to it, said in one line
    assert main(["classify", "evaluate", "--load", str(model)]) == 2
    assert "not trained on" in capsys.readouterr().err
