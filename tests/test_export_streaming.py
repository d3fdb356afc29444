"""Streaming: one step in, one out, the state carried, equals the whole sequence at once,
for layers (PyTorch and onnxruntime), the character language model behind text
generation (PyTorch and onnxruntime) and a forecaster updated with new observations."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import torch

import lstmkit
from lstmkit.export import to_onnx
from lstmkit.export.streaming import ForecastStream, LayerStream, LMStream, OnnxStream
from lstmkit.textgen import CharVocab, TextGenerator
from lstmkit.textgen.network import CharLM

TOL = 1e-5
LAYERS = {
    "lstm_l2_proj": (lstmkit.LSTM, {"num_layers": 2, "proj_size": 3}),
    "gru_layer_norm": (lstmkit.GRU, {"layer_norm": True, "zoneout": 0.2}),
    "lstm_peephole_coupled": (lstmkit.LSTM, {"peephole": True, "coupled_gates": True, "batch_first": True}),
    "rnn_relu": (lstmkit.RNN, {"nonlinearity": "relu", "num_layers": 2}),
}


def _layer(case):
    cls, kw = LAYERS[case]
    torch.manual_seed(0)
    return cls(4, 6, **kw, backend="reference").eval()


@pytest.mark.parametrize("case", list(LAYERS))
def test_layer_stream_equals_whole_sequence(case):
    m = _layer(case)
    x = torch.randn(3, 9, 4)  # (B, T, I)
    stream = LayerStream(m)
    steps = torch.stack([stream.step(x[:, t]) for t in range(9)], 1)  # (B, T, P)
    with torch.no_grad():
        whole, state = m(x if m.batch_first else x.transpose(0, 1))
    whole = whole if m.batch_first else whole.transpose(0, 1)
    assert (steps - whole).abs().max() <= TOL
    final = stream.state[0] if isinstance(stream.state, tuple) else stream.state
    assert (final - (state[0] if isinstance(state, tuple) else state)).abs().max() <= TOL


@pytest.mark.parametrize("case", list(LAYERS))
def test_onnx_stream_equals_whole_sequence(case, tmp_path):
    """The exported graph, fed one step at a time with its states fed back."""
    m = _layer(case)
    path = to_onnx(m, tmp_path / "m.onnx", initial_states=True)
    x = torch.randn(2, 7, 4)  # (B, T, I)
    stream = OnnxStream(path, batch=2)
    outs = []
    for t in range(7):
        step = x[:, t : t + 1] if m.batch_first else x[:, t : t + 1].transpose(0, 1)
        out = stream.step(input=step)["output"]
        outs.append(out[:, 0] if m.batch_first else out[0])
    with torch.no_grad():
        whole, _ = m(x if m.batch_first else x.transpose(0, 1))
    whole = (whole if m.batch_first else whole.transpose(0, 1)).numpy()
    assert np.abs(np.stack(outs, 1) - whole).max() <= TOL
    # chunks of any length carry the state the same way
    stream.reset()
    first = stream.step(input=x[:, :3] if m.batch_first else x[:, :3].transpose(0, 1))["output"]
    rest = stream.step(input=x[:, 3:] if m.batch_first else x[:, 3:].transpose(0, 1))["output"]
    axis = 1 if m.batch_first else 0
    chunked = np.concatenate([first, rest], axis)
    assert np.abs(chunked - (whole if m.batch_first else whole.transpose(1, 0, 2))).max() <= TOL


def _generator(cell="lstm"):
    torch.manual_seed(0)
    gen = TextGenerator(hidden_size=12, embedding_dim=6, num_layers=2, cell=cell)
    gen.vocab = CharVocab.from_text("to be or not to be, that is the question")
    gen.counts = [1] * len(gen.vocab)
    gen.model = CharLM(gen.config.model_config(len(gen.vocab))).eval()
    with torch.no_grad():
        for p in gen.model.parameters():
            p.add_(0.3 * torch.randn_like(p))
    return gen


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_text_generation_streams_like_the_whole_text(cell, tmp_path):
    """Generation's one-character steps (PyTorch and the exported graph) give the logits
    of reading the whole text at once."""
    gen = _generator(cell)
    text = "to be or not to be"
    ids = gen.vocab.encode(text)
    with torch.no_grad():
        whole, _ = gen.model(ids[None])  # (1, T, V)
    stream = LMStream(gen)
    first = stream.feed_text(text[:5])  # a prompt, then one character per step
    steps = [first] + [stream.step(int(i)) for i in ids[5:]]
    assert (torch.stack(steps) - whole[0, 4:]).abs().max() <= TOL
    path = to_onnx(gen, tmp_path / "gen.onnx")
    onnx_stream = OnnxStream(path)
    got = [onnx_stream.step(tokens=ids[None, t : t + 1])["logits"][0, 0] for t in range(len(ids))]
    assert np.abs(np.stack(got) - whole[0].numpy()).max() <= TOL


def test_greedy_generation_matches_the_onnx_stream(tmp_path):
    """TextGenerator.generate (temperature 0) and a greedy loop over the exported graph
    write the same characters."""
    gen = _generator()
    expected = gen.generate("to be", length=20, temperature=0)
    stream = OnnxStream(to_onnx(gen, tmp_path / "gen.onnx"))
    logits = None
    for i in gen.vocab.encode("to be").tolist():
        logits = stream.step(tokens=np.array([[i]]))["logits"][0, -1]
    chars = []
    for _ in range(20):
        logits[CharVocab.UNK] = -np.inf  # as TextGenerator never emits "unknown"
        nxt = int(logits.argmax())
        chars.append(gen.vocab.decode([nxt]))
        logits = stream.step(tokens=np.array([[nxt]]))["logits"][0, -1]
    assert "".join(chars) == expected


def test_stream_errors(tmp_path):
    with pytest.raises(ValueError, match="bidirectional"):
        LayerStream(lstmkit.LSTM(3, 4, bidirectional=True))
    path = to_onnx(lstmkit.LSTM(3, 4), tmp_path / "m.onnx")
    with pytest.raises(ValueError, match="initial_states=True"):
        OnnxStream(path)


@pytest.fixture(scope="module")
def forecaster():
    from lstmkit.forecasting import Forecaster, datasets

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        y = datasets.airline()
        fc = Forecaster(horizon=4, lookback=12, hidden_size=8, num_layers=1, max_epochs=1,
                        enable_progress_bar=False, enable_model_summary=False, logger=False)
        return fc.fit(y.iloc[:-6]), y


def test_forecast_stream_equals_predicting_from_the_whole_history(forecaster):
    """Six new monthly observations, one at a time: after each, the stream's forecast is
    the forecast from the whole history up to that month."""
    fc, y = forecaster
    history = pd.DataFrame({"unique_id": "airline", "ds": y.index, "y": y.to_numpy()})
    stream = ForecastStream(fc)
    for k in range(6, 0, -1):
        seen = history.iloc[: len(history) - k + 1]
        got = stream.update(seen.iloc[-1:])
        expected = fc.predict(seen)
        assert list(got["ds"]) == list(expected["ds"])
        assert np.abs(got["y_hat"].to_numpy() - expected["y_hat"].to_numpy()).max() <= 1e-9
    assert len(stream.frame) == stream.window == 12
