"""ONNX export of the task models (text generator, text classifier, forecaster, any
module holding lstmkit layers) and the ``lstmkit export`` command: onnxruntime against
PyTorch at two sequence lengths and two batch sizes, float32, max abs error <= 1e-5."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import torch

import lstmkit
from lstmkit.classify import TextClassifier
from lstmkit.classify.network import TextClassifierNet, TextClassifierNetConfig
from lstmkit.cli import main
from lstmkit.export import check_model, run_onnx, to_onnx
from lstmkit.forecasting import datasets
from lstmkit.forecasting.network import ForecastNet, ForecastNetConfig
from lstmkit.spine import io
from lstmkit.textgen import CharVocab, TextGenerator
from lstmkit.textgen.network import CharLM, CharLMConfig

TOL = 1e-5


def _perturb(module: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Weights off their initialisation (zero heads, unit layer-norm gains), eval mode."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(0.2 * torch.randn(p.shape, generator=g))
    return module.eval()


def _err(got: np.ndarray, ref: torch.Tensor) -> float:
    assert got.shape == tuple(ref.shape)
    return float(np.abs(got - ref.numpy()).max())


@pytest.mark.parametrize("cell,opts", [("lstm", {}), ("gru", {}),
                                       ("lstm", {"layer_norm": True, "backend": "reference"})],
                         ids=["lstm", "gru", "lstm_layer_norm"])
def test_char_lm(cell, opts, tmp_path):
    torch.manual_seed(0)
    lm = _perturb(CharLM(CharLMConfig(vocab_size=20, embedding_dim=8, hidden_size=12, num_layers=2,
                                      cell=cell, layer_options=opts)))
    path = to_onnx(lm, tmp_path / "lm.onnx")
    for B, T in ((1, 1), (3, 9)):
        tokens = torch.randint(0, 20, (B, T))
        h = torch.randn(2, B, 12)
        feeds = {"tokens": tokens, "h_0": h}
        state = h
        if cell == "lstm":
            feeds["c_0"] = torch.randn(2, B, 12)
            state = (h, feeds["c_0"])
        got = run_onnx(path, feeds)
        with torch.no_grad():
            logits, state = lm(tokens, state)
        assert _err(got["logits"], logits) <= TOL
        assert _err(got["h_n"], state[0] if cell == "lstm" else state) <= TOL


@pytest.mark.parametrize("pooling,cell,opts", [
    ("max", "lstm", {}), ("last", "gru", {}), ("max_mean", "lstm", {"num_layers": 2}),
    ("mean", "lstm", {"peephole": True, "zoneout": 0.1, "backend": "reference"}),
], ids=["max_lstm", "last_gru", "max_mean_l2", "mean_variants"])
def test_text_classifier_net(pooling, cell, opts, tmp_path):
    torch.manual_seed(0)
    opts = dict(opts)
    layers = opts.pop("num_layers", 1)
    net = _perturb(TextClassifierNet(TextClassifierNetConfig(
        vocab_size=30, num_classes=3, embedding_dim=8, hidden_size=6, num_layers=layers, cell=cell,
        pooling=pooling, layer_options=opts)))
    path = to_onnx(net, tmp_path / "clf.onnx")
    for B, T in ((2, 4), (5, 11)):
        tokens = torch.randint(1, 30, (B, T))
        lengths = torch.randint(1, T + 1, (B,))
        lengths[0] = T
        with torch.no_grad():
            ref = net(tokens, lengths)
        assert _err(run_onnx(path, {"tokens": tokens, "lengths": lengths})["logits"], ref) <= TOL


@pytest.mark.parametrize("lookbacks,season,features,covariates,cell", [
    ([8], 1, 0, 0, "lstm"), ([8, 12, 10], 4, 3, 1, "lstm"), ([12, 9], 3, 1, 0, "gru"),
], ids=["one_member", "ensemble3_seasonal_covariates", "gru_ensemble2_seasonal"])
def test_forecast_net(lookbacks, season, features, covariates, cell, tmp_path):
    torch.manual_seed(0)
    net = _perturb(ForecastNet(ForecastNetConfig(
        horizon=3, lookbacks=lookbacks, n_features=features, quantiles=[0.1, 0.5, 0.9],
        season_length=season, hidden_size=8, num_layers=2, cell=cell, n_covariates=covariates)))
    path = to_onnx(net, tmp_path / "fc.onnx")
    L = max(lookbacks)
    for B, W in ((1, L), (4, L + 3)):  # a longer window: the members read their last L steps
        x, feats = torch.randn(B, W), torch.randn(B, W + 3, features)
        got = run_onnx(path, {"x": x, "feats": feats})["forecast"]
        assert _err(got, net.predict(x, feats)) <= TOL


def test_any_module_with_lstmkit_layers(tmp_path):
    """The getting-started model (docs/index.md): torch writes the head, lstmkit the LSTM."""

    class LSTMModel(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = lstmkit.LSTM(10, 20, 2, batch_first=True)
            self.fc = torch.nn.Linear(20, 1)

        def forward(self, x):
            out, _ = self.lstm(x)
            return self.fc(out[:, -1, :])

    torch.manual_seed(0)
    model = LSTMModel().eval()
    path = to_onnx(model, tmp_path / "seed.onnx", example_inputs=(torch.randn(5, 50, 10),),
                   input_names=["x"], output_names=["y"])
    assert isinstance(model.lstm, lstmkit.LSTM), "the layer is put back after the export"
    for B, T in ((1, 3), (4, 17)):
        x = torch.randn(B, T, 10)
        with torch.no_grad():
            assert _err(run_onnx(path, {"x": x})["y"], model(x)) <= TOL


def _metadata(path) -> dict:
    import onnx

    return {p.key: p.value for p in onnx.load(str(path)).metadata_props}


def test_text_classifier_task_model(tmp_path):
    """A fitted TextClassifier: same probabilities; vocabulary and classes in metadata."""
    texts = ["a good film", "bad acting", "great fun", "awful plot", "good fun", "bad film"] * 4
    labels = ["pos", "neg", "pos", "neg", "pos", "neg"] * 4
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf = TextClassifier(hidden_size=8, embedding_dim=8, epochs=2, seed=0).fit(texts, labels)
    path = to_onnx(clf, tmp_path / "clf.onnx")
    assert check_model(clf, path) <= TOL
    state = json.loads(_metadata(path)["lstmkit.state"])
    assert state["classes"] == ["neg", "pos"] and "good" in state["vocab"]["tokens"]
    tokens, lengths = clf._pad(clf._encode(["good fun", "bad acting and an awful plot"]))
    logits = run_onnx(path, {"tokens": tokens, "lengths": lengths})["logits"]
    expected = clf.predict_proba(["good fun", "bad acting and an awful plot"])
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    assert np.abs(probs - expected).max() <= TOL


@pytest.fixture(scope="module")
def forecaster():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from lstmkit.forecasting import Forecaster

        return Forecaster(horizon=4, lookback=12, hidden_size=8, num_layers=1, max_epochs=1,
                                  enable_progress_bar=False, enable_model_summary=False,
                                  logger=False).fit(datasets.airline())


def test_cli_export_saved_forecaster(forecaster, tmp_path, capsys):
    forecaster.save(tmp_path / "fc")
    assert main(["export", str(tmp_path / "fc"), "--onnx", str(tmp_path / "fc.onnx"), "--check"]) == 0
    line = capsys.readouterr().out
    assert "forecast model" in line and "max abs error" in line
    err = float(line.rsplit("max abs error ", 1)[1])
    assert err <= TOL
    meta = _metadata(tmp_path / "fc.onnx")
    assert meta["lstmkit.task"] == "forecast"
    assert json.loads(meta["lstmkit.state"])["quantiles"] == [0.1, 0.5, 0.9]  # the default levels and the median


def test_cli_export_text_generator(tmp_path, capsys):
    gen = TextGenerator(hidden_size=8, embedding_dim=4, cell="gru")
    gen.vocab = CharVocab.from_text("hello world")
    gen.counts = [1] * len(gen.vocab)
    gen.model = _perturb(CharLM(gen.config.model_config(len(gen.vocab))))
    gen.save(tmp_path / "gen")
    assert main(["export", str(tmp_path / "gen"), "--onnx", str(tmp_path / "g.onnx"), "--check"]) == 0
    assert "textgen model" in capsys.readouterr().out
    assert json.loads(_metadata(tmp_path / "g.onnx")["lstmkit.state"])["vocab"] == gen.vocab.to_state()


def test_cli_errors(tmp_path, capsys):
    (tmp_path / "notamodel").mkdir()
    assert main(["export", str(tmp_path / "notamodel"), "--onnx", str(tmp_path / "x.onnx")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "config.json is missing" in err
    io.save_model(tmp_path / "other", "nosuchtask", {}, {"w": torch.zeros(2)})
    assert main(["export", "--load", str(tmp_path / "other"), "--onnx", str(tmp_path / "x.onnx")]) == 2
    assert "no lstmkit task is called 'nosuchtask'" in capsys.readouterr().err
    assert not (tmp_path / "x.onnx").exists()


def test_packed_sequences_are_refused_with_the_way_out(tmp_path):
    """torch's own export breaks on packed sequences; lstmkit says to use lengths=."""

    class Packed(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = lstmkit.GRU(3, 4)

        def forward(self, x, lengths):
            packed = torch.nn.utils.rnn.pack_padded_sequence(x, lengths, enforce_sorted=False)
            return self.rnn(packed)[1]

    with pytest.raises(lstmkit.InputError, match="pass the padded batch with lengths= instead"):
        to_onnx(Packed(), tmp_path / "p.onnx", example_inputs=(torch.randn(5, 2, 3), torch.tensor([5, 3])))
