"""TextClassifier from a pretrained language model (ULMFiT): the language model's file,
the weights' transfer, gradual unfreezing, discriminative learning rates, the slanted
triangular schedule, save/load, and bad pretrained files."""

import json
import warnings

import numpy as np
import pytest
import torch

from lstmkit.classify import TextClassifier
from lstmkit.classify.finetune import (
    DISCRIMINATIVE,
    GradualUnfreezing,
    discriminative_recipe,
    layer_groups,
    slanted_triangular,
    unfreeze,
)
from lstmkit.classify.network import TextClassifierNet, TextClassifierNetConfig
from lstmkit.classify.pretrained import BUNDLED_DIR, play_sentences, pretrain, read_lm, save_lm
from lstmkit.classify.vocab import tokenize
from lstmkit.errors import InputError

POS = ["a great film", "good acting and a fine plot", "i loved it", "wonderful music", "great fun"]
NEG = ["a bad film", "awful acting and a dull plot", "i hated it", "terrible music", "no fun"]


def _texts(n: int = 40):
    texts = [POS[i % 5] if i % 2 == 0 else NEG[i % 5] for i in range(n)]
    return texts, ["pos" if i % 2 == 0 else "neg" for i in range(n)]


@pytest.fixture(scope="module")
def lm_dir(tmp_path_factory):
    """A tiny language model pretrained on a few hundred sentences of a play and the
    words above (1 epoch), saved as pretrained= reads it."""
    text = ("First Citizen:\nBefore we proceed any further, hear me speak.\n\n"
            "All:\nSpeak, speak. It is a good day, a great day!\n\n") * 20
    sentences = play_sentences(text) + [tokenize(t) for t in POS + NEG] * 10
    lm, vocab, config = pretrain(sentences, hidden_size=8, embedding_dim=6, epochs=1, batch_size=16,
                                 min_freq=1, verbose=False)
    return save_lm(tmp_path_factory.mktemp("lm") / "wordlm", lm, vocab, config, {"corpus": "test"})


def _small(lm_dir, **kw):
    return TextClassifier(pretrained=str(lm_dir), epochs=2, lm_epochs=1, batch_size=8, seed=0,
                          verbose=False, **kw)


def test_the_encoder_sizes_come_from_the_language_model(lm_dir):
    clf = _small(lm_dir)
    c = clf.config
    assert (c.embedding_dim, c.hidden_size, c.num_layers, c.cell, c.pooling) == (6, 8, 1, "lstm", "concat")
    scratch = TextClassifier().config
    assert (scratch.embedding_dim, scratch.hidden_size, scratch.pooling, scratch.pretrained) == (100, 64, "max", None)


def test_fine_tuning_round_trips_through_save_and_load(lm_dir, tmp_path):
    texts, labels = _texts()
    clf = _small(lm_dir).fit(texts, labels)
    assert len(clf.lm_history) == 1 and len(clf.history) == 2
    # the vocabulary holds the training words first, then the language model's other words
    lm_vocab = read_lm(str(lm_dir)).vocab.tokens
    assert "hated" in clf.vocab.tokens and "proceed" in clf.vocab.tokens and "proceed" in lm_vocab
    clf.save(tmp_path / "m")
    for f in lm_dir.iterdir():  # a saved classifier no longer needs the language model
        f.rename(tmp_path / f.name)
    try:
        back = TextClassifier.load(tmp_path / "m")
    finally:
        for name in ("config.json", "model.safetensors"):
            (tmp_path / name).rename(lm_dir / name)
    probe = ["a great plot", "terrible acting", "words it never saw"]
    np.testing.assert_array_equal(back.predict_proba(probe), clf.predict_proba(probe))
    assert back.predict(probe) == clf.predict(probe)
    assert back.config == clf.config and back.config.pretrained == str(lm_dir)


def test_the_first_epoch_trains_the_head_alone(lm_dir):
    """One classifier epoch and no language-model fine-tuning: the head is the only
    group unfrozen, so the embedding rows and the recurrent layer are exactly the
    pretrained ones afterwards."""
    texts, labels = _texts()
    pre = read_lm(str(lm_dir))
    clf = TextClassifier(pretrained=str(lm_dir), epochs=1, lm_epochs=0, batch_size=8, verbose=False)
    clf.fit(texts, labels)
    net = clf.model
    torch.manual_seed(0)  # the network fit started from (the same seed, the same config)
    start = TextClassifierNet(clf.config.net_config(len(clf.vocab), 2))
    for name, value in pre.tensors.items():
        if name.startswith("rnn."):
            assert not torch.equal(start.state_dict()[name], value)
            torch.testing.assert_close(net.state_dict()[name], value, rtol=0, atol=0)
    ids = [pre.vocab._index[t] for t in clf.vocab.tokens if t in pre.vocab._index]
    mine = [i for i, t in enumerate(clf.vocab.tokens) if t in pre.vocab._index]
    torch.testing.assert_close(net.embedding.weight[mine[1:]], pre.tensors["embedding.weight"][ids[1:]],
                               rtol=0, atol=0)  # (the padding row, id 0, is zero)
    assert not torch.equal(net.head.weight, start.head.weight)  # the head did train
    assert all(p.requires_grad for p in net.parameters())  # every group trainable again at the end


def test_unfreezing_freezes_the_lower_groups_for_a_step():
    net = TextClassifierNet(TextClassifierNetConfig(vocab_size=30, num_classes=2, embedding_dim=4, hidden_size=3,
                                                    num_layers=2, pooling="concat"))
    recipe = discriminative_recipe(1e-2, 1e-2)(net, 10)
    opt = recipe["optimizer"]
    groups = layer_groups(net)
    for epoch, trained in ((0, 1), (1, 2), (2, 3), (3, 4), (9, 4)):
        assert unfreeze(net, epoch) == trained
        before = [[p.detach().clone() for p in g] for g in groups]
        tokens = torch.randint(1, 30, (4, 5))
        loss = torch.nn.functional.cross_entropy(net(tokens, torch.tensor([5, 4, 2, 1])), torch.tensor([0, 1, 0, 1]))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        for k, (g, old) in enumerate(zip(groups, before)):
            moved = any(not torch.equal(p, o) for p, o in zip(g, old))
            assert moved == (k < trained), (epoch, k)


def test_discriminative_learning_rates_per_layer_group():
    net = TextClassifierNet(TextClassifierNetConfig(vocab_size=30, num_classes=3, embedding_dim=4, hidden_size=3,
                                                    num_layers=2))
    config = discriminative_recipe(0.01, 0.0)(net, 100)
    opt, sched = config["optimizer"], config["lr_scheduler"]["scheduler"]
    names = {id(p): n for n, p in net.named_parameters()}
    got = [sorted(names[id(p)] for p in g["params"]) for g in opt.param_groups]
    assert got[0] == ["head.bias", "head.weight"]
    assert all(n.endswith(("_l1", "_l1_reverse")) for n in got[1])
    assert all(n.endswith(("_l0", "_l0_reverse")) for n in got[2])
    assert got[3] == ["embedding.weight"]
    peaks = [0.01 / DISCRIMINATIVE**k for k in range(4)]
    assert [g["initial_lr"] for g in opt.param_groups] == pytest.approx(peaks)
    lrs = []
    for _ in range(100):
        lrs.append([g["lr"] for g in opt.param_groups])
        opt.step()
        sched.step()
    lrs = np.array(lrs)  # (steps, groups): slanted triangular, the same shape in every group
    assert lrs[:, 0].argmax() == 10 and lrs[10] == pytest.approx(peaks)
    assert lrs[0] == pytest.approx(np.array(peaks) / 32) and lrs[-1, 0] < lrs[50, 0] < lrs[10, 0]
    f = slanted_triangular(1000)
    assert f(0) == pytest.approx(1 / 32) and f(100) == 1.0 and f(550) == pytest.approx((1 + 0.5 * 31) / 32)


def test_gradual_unfreezing_module_sets_the_groups_by_epoch():
    net = TextClassifierNet(TextClassifierNetConfig(vocab_size=30, num_classes=2, embedding_dim=4, hidden_size=3))
    module = GradualUnfreezing(net, lambda n, b: 0, discriminative_recipe(1e-3, 0.0))
    assert module.current_epoch == 0
    module.on_train_epoch_start()
    assert [all(p.requires_grad for p in g) for g in layer_groups(net)] == [True, False, False]
    module.on_train_end()
    assert all(p.requires_grad for p in net.parameters())


def _one_line_error(make, match):
    with pytest.raises(InputError, match=match) as info:
        make()
    assert "\n" not in str(info.value)


def test_a_missing_pretrained_model_is_one_line(tmp_path):
    _one_line_error(lambda: TextClassifier(pretrained=str(tmp_path / "nowhere")), "found nothing at")


def test_a_corrupt_pretrained_model_is_one_line(lm_dir, tmp_path):
    bad = tmp_path / "bad"
    bad.mkdir()
    for f in lm_dir.iterdir():
        (bad / f.name).write_bytes(f.read_bytes())
    blob = (bad / "model.safetensors").read_bytes()
    (bad / "model.safetensors").write_bytes(blob[: len(blob) // 2])
    clf = TextClassifier(pretrained=str(bad), verbose=False)  # the config alone reads fine
    _one_line_error(lambda: clf.fit(*_texts()), "truncated or corrupted")
    (bad / "config.json").write_text("{not json")
    _one_line_error(lambda: TextClassifier(pretrained=str(bad)), "not valid JSON")


def test_a_vocabulary_that_does_not_fit_the_embedding_is_one_line(lm_dir, tmp_path):
    bad = tmp_path / "bad"
    bad.mkdir()
    for f in lm_dir.iterdir():
        (bad / f.name).write_bytes(f.read_bytes())
    meta = json.loads((bad / "config.json").read_text())
    meta["state"]["vocab"]["tokens"] = meta["state"]["vocab"]["tokens"][:-3]
    (bad / "config.json").write_text(json.dumps(meta))
    _one_line_error(lambda: TextClassifier(pretrained=str(bad), verbose=False).fit(*_texts()),
                    "vocabulary mismatch")


def test_settings_that_do_not_fit_the_language_model_are_one_line(lm_dir, tmp_path):
    texts, labels = _texts()
    _one_line_error(lambda: _small(lm_dir, hidden_size=16).fit(texts, labels), "hidden_size=16 does not fit")
    _one_line_error(lambda: _small(lm_dir, level="char").fit(texts, labels), "level='char' does not fit")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = TextClassifier(hidden_size=4, embedding_dim=4, epochs=1, verbose=False).fit(texts, labels)
    model.save(tmp_path / "clf")
    _one_line_error(lambda: TextClassifier(pretrained=str(tmp_path / "clf")), "expected a 'classify-lm' model")


def test_the_bundled_language_model_ships_and_reads():
    files = {f.name: f.stat().st_size for f in BUNDLED_DIR.iterdir()}
    assert set(files) == {"config.json", "model.safetensors"}
    assert sum(files.values()) < 10 * 2**20
    pre = read_lm("bundled")
    assert pre.tensors["embedding.weight"].shape[0] == len(pre.vocab) > 1000
    assert pre.config["level"] == "word" and "Shakespeare" in json.loads(
        (BUNDLED_DIR / "config.json").read_text())["state"]["provenance"]["corpus"]
    c = TextClassifier(pretrained="bundled").config
    assert (c.embedding_dim, c.hidden_size) == (pre.config["embedding_dim"], pre.config["hidden_size"])


def test_cli_trains_from_a_pretrained_model_and_reports_its_steps(capsys, lm_dir, tmp_path):
    from lstmkit.cli import main

    texts, labels = _texts(60)
    data = tmp_path / "d.tsv"
    data.write_text("".join(f"{t}\t{y}\n" for t, y in zip(texts, labels)), encoding="utf-8")
    argv = ["classify", "train", "--data", str(data), "--out", str(tmp_path / "m"), "--epochs", "2",
            "--lm-epochs", "1", "--batch-size", "8", "--no-baseline", "--pretrained", str(lm_dir)]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "lm epoch   1  train loss" in out and "epoch   2  train loss" in out and "accuracy" in out
    back = TextClassifier.load(tmp_path / "m")
    assert back.config.pretrained == str(lm_dir) and back.config.pooling == "concat"
    assert main(["classify", "train", "--data", str(data), "--out", str(tmp_path / "n"), "--epochs", "1",
                 "--no-baseline", "--quiet", "--pretrained", "none", "--hidden-size", "4",
                 "--embedding-dim", "4"]) == 0
    assert TextClassifier.load(tmp_path / "n").config.pretrained is None
    capsys.readouterr()
    assert main(argv[:-1] + [str(tmp_path / "nowhere")]) == 2
    err = capsys.readouterr().err
    assert "found nothing at" in err and err.count("\n") == 1 and "Traceback" not in err


def test_a_fine_tuned_classifier_exports_to_onnx(lm_dir, tmp_path):
    ort = pytest.importorskip("onnxruntime")
    clf = _small(lm_dir).fit(*_texts())
    clf.export(tmp_path / "clf.onnx")
    tokens, lengths = clf._pad(clf._encode(["a great plot", "i hated the awful film"]))
    got = ort.InferenceSession(str(tmp_path / "clf.onnx")).run(
        None, {"tokens": tokens.numpy(), "lengths": lengths.numpy()})[0]
    with torch.no_grad():
        want = clf.model(tokens, lengths).numpy()
    np.testing.assert_allclose(got, want, atol=1e-5)


@pytest.mark.slow
def test_the_pretrained_recipe_reaches_086_on_the_bundled_split():
    """The bundled language model with the recipe's defaults, training seeds 0-2, on the
    CLI's default split (measured 0.873, 0.860, 0.858; TF-IDF + LR 0.823): the mean is
    at least 0.86 and above the baseline. About 5 minutes of CPU with one thread."""
    from lstmkit.classify import TfidfBaseline, sentiment_sentences, stratified_split

    texts, labels = sentiment_sentences()
    tr_x, tr_y, te_x, te_y = stratified_split(texts, labels, 0.2, seed=0)
    accs = [TextClassifier(pretrained="bundled", seed=seed, verbose=False).fit(tr_x, tr_y)
            .evaluate(te_x, te_y)["accuracy"] for seed in (0, 1, 2)]
    base = TfidfBaseline().fit(tr_x, tr_y).evaluate(te_x, te_y)["accuracy"]
    assert np.mean(accs) >= 0.86 and np.mean(accs) > base, (accs, base)
