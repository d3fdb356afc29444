"""The classifier's ensemble: members trained side by side, each on its own loss,
predicting with their mean probabilities; its config, save/load (and models saved
before ensembles), ONNX export and the CLI flag."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import torch

from lstmkit.classify import TextClassifier
from lstmkit.classify.estimator import ENSEMBLE
from lstmkit.classify.network import TextClassifierEnsemble, TextClassifierNet, TextClassifierNetConfig
from lstmkit.cli import main
from lstmkit.errors import InputError
from lstmkit.export import check_model, to_onnx

TEXTS = ["a good film", "bad acting", "great fun", "awful plot", "good fun", "bad film"] * 4
LABELS = ["pos", "neg", "pos", "neg", "pos", "neg"] * 4
SMALL = {"hidden_size": 8, "embedding_dim": 8, "epochs": 40, "seed": 0, "verbose": False}  # 1 step an epoch


@pytest.fixture(scope="module")
def trio():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return TextClassifier(ensemble=3, **SMALL).fit(TEXTS, LABELS)


def test_the_recipes_ensembles():
    assert TextClassifier().config.ensemble == ENSEMBLE > 1
    assert TextClassifier(ensemble=1).config.ensemble == 1
    assert TextClassifier(pretrained="bundled").config.ensemble == 1
    for bad in (0, -1, 2.5, True):
        with pytest.raises(InputError, match="ensemble must be a positive integer"):
            TextClassifier(ensemble=bad)
    with pytest.raises(InputError, match="ensemble=3 with pretrained='bundled'"):
        TextClassifier(ensemble=3, pretrained="bundled")


def test_members_differ_and_the_prediction_is_their_mean_probability(trio):
    net = trio.model
    assert isinstance(net, TextClassifierEnsemble) and len(net.members) == 3
    weights = [m.head.weight.detach() for m in net.members]
    assert not torch.equal(weights[0], weights[1]) and not torch.equal(weights[1], weights[2])
    tokens, lengths = trio._pad(trio._encode(["good fun", "awful acting here"]))
    with torch.no_grad():
        each = torch.softmax(net.member_logits(tokens, lengths).double(), -1)  # (M, B, C)
    proba = trio.predict_proba(["good fun", "awful acting here"])
    np.testing.assert_allclose(proba, each.mean(0).numpy(), atol=1e-6)
    assert trio.evaluate(TEXTS, LABELS)["accuracy"] == 1.0


def test_each_member_trains_on_its_own_loss():
    torch.manual_seed(0)
    cfg = TextClassifierNetConfig(vocab_size=30, num_classes=2)
    net = TextClassifierEnsemble(cfg, 2)
    tokens, lengths = torch.randint(2, 30, (5, 7)), torch.tensor([7, 3, 5, 1, 2])
    target = torch.tensor([0, 1, 1, 0, 1])
    logits = net.member_logits(tokens, lengths)
    joint = torch.nn.functional.cross_entropy(logits.flatten(0, 1), target.repeat(2))
    apart = sum(torch.nn.functional.cross_entropy(x, target) for x in logits) / 2
    torch.testing.assert_close(joint, apart)
    joint.backward()
    assert all(p.grad is not None for p in net.parameters() if p.requires_grad)
    with pytest.raises(InputError, match="at least 2 members"):
        TextClassifierEnsemble(cfg, 1)


def test_save_load_and_a_model_saved_before_ensembles(trio, tmp_path):
    trio.save(tmp_path / "trio")
    again = TextClassifier.load(tmp_path / "trio")
    assert again.config.ensemble == 3 and isinstance(again.model, TextClassifierEnsemble)
    np.testing.assert_array_equal(again.predict_proba(TEXTS), trio.predict_proba(TEXTS))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        one = TextClassifier(ensemble=1, **SMALL).fit(TEXTS, LABELS)
    assert isinstance(one.model, TextClassifierNet)
    one.save(tmp_path / "one")
    cfg_file = tmp_path / "one" / "config.json"
    saved = json.loads(cfg_file.read_text())
    del saved["config"]["ensemble"]                  # as written before the field existed
    cfg_file.write_text(json.dumps(saved))
    old = TextClassifier.load(tmp_path / "one")
    assert old.config.ensemble == 1 and isinstance(old.model, TextClassifierNet)
    np.testing.assert_array_equal(old.predict_proba(TEXTS), one.predict_proba(TEXTS))


def test_onnx_gives_the_ensembles_probabilities(trio, tmp_path):
    path = to_onnx(trio, tmp_path / "trio.onnx")
    assert check_model(trio, path) <= 1e-5


def test_cli_ensemble_flag(tmp_path, capsys):
    data = tmp_path / "d.tsv"
    data.write_text("".join(f"{t}\t{y}\n" for t, y in zip(TEXTS, LABELS)), encoding="utf-8")
    out = tmp_path / "m"
    assert main(["classify", "train", "--data", str(data), "--ensemble", "2", "--hidden-size", "8",
                 "--embedding-dim", "8", "--epochs", "1", "--out", str(out), "--quiet", "--no-baseline"]) == 0
    assert TextClassifier.load(out).config.ensemble == 2
    capsys.readouterr()
    code = main(["classify", "train", "--data", str(data), "--ensemble", "0", "--out", str(tmp_path / "n")])
    err = capsys.readouterr().err
    assert code == 2 and "expected --ensemble >= 1, found 0" in err and err.count("\n") == 1
    assert not (tmp_path / "n").exists()
