"""ONNX export of layers and cells: onnxruntime against PyTorch (float32, max abs error
<= 1e-5) at two sequence lengths and two batch sizes, for plain layers (ONNX's own
LSTM/GRU/RNN operators), every variant and proj_size (Scan loops), multi-layer,
bidirectional, batch_first, variable lengths and initial states; a trained model keeps
its accuracy in onnxruntime."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import lstmkit
from lstmkit.errors import InputError
from lstmkit.export import build_onnx, check_onnx, run_onnx, to_onnx

TOL = 1e-5
SHAPES = ((7, 3), (2, 1))  # (T, B): two sequence lengths, two batch sizes

# id -> (class, constructor keywords, expected recurrent kind)
CASES = {
    "lstm_l2_bidir": (lstmkit.LSTM, {"num_layers": 2, "bidirectional": True}, "native"),
    "lstm_batch_first_nobias": (lstmkit.LSTM, {"batch_first": True, "bias": False}, "native"),
    "gru_l2_bidir_bf": (lstmkit.GRU, {"num_layers": 2, "bidirectional": True, "batch_first": True}, "native"),
    "rnn_tanh_l2": (lstmkit.RNN, {"num_layers": 2}, "native"),
    "rnn_relu_bidir": (lstmkit.RNN, {"nonlinearity": "relu", "bidirectional": True}, "native"),
    "lstm_forget_bias_dropouts": (lstmkit.LSTM, {"forget_bias": 1.0, "recurrent_dropout": 0.3,
                                                     "weight_drop": 0.2}, "native"),
    "lstm_proj_l2_bidir": (lstmkit.LSTM, {"proj_size": 3, "num_layers": 2, "bidirectional": True}, "loop"),
    "lstm_layer_norm_bidir": (lstmkit.LSTM, {"layer_norm": True, "bidirectional": True}, "loop"),
    "lstm_peephole": (lstmkit.LSTM, {"peephole": True}, "loop"),
    "lstm_coupled_peephole": (lstmkit.LSTM, {"coupled_gates": True, "peephole": True}, "loop"),
    "lstm_cell_clip": (lstmkit.LSTM, {"cell_clip": 0.3}, "loop"),
    "lstm_zoneout_pair_bidir": (lstmkit.LSTM, {"zoneout": (0.3, 0.1), "bidirectional": True}, "loop"),
    "lstm_all_l2_bidir": (lstmkit.LSTM, {"num_layers": 2, "bidirectional": True, "layer_norm": True,
                                             "peephole": True, "cell_clip": 0.8, "zoneout": (0.1, 0.2),
                                             "recurrent_dropout": 0.2, "proj_size": 2}, "loop"),
    "lstm_all_coupled_bf": (lstmkit.LSTM, {"batch_first": True, "layer_norm": True, "peephole": True,
                                               "coupled_gates": True, "zoneout": 0.1}, "loop"),
    "gru_layer_norm_bidir": (lstmkit.GRU, {"layer_norm": True, "bidirectional": True}, "loop"),
    "gru_zoneout_l2": (lstmkit.GRU, {"zoneout": 0.25, "num_layers": 2}, "loop"),
}
ONNX_OP = {lstmkit.LSTM: "LSTM", lstmkit.GRU: "GRU", lstmkit.RNN: "RNN"}


def _layer(cls, kw, seed=0):
    torch.manual_seed(seed)
    # the reference backend is the truth the export is compared with (and builds nothing)
    m = cls(5, 6, **kw, backend="reference")
    with torch.no_grad():  # move off the initialisation (layer-norm gains 1, biases 0)
        for p in m.parameters():
            p.add_(0.2 * torch.randn_like(p))
    return m


def _ops(proto) -> set[str]:
    return {n.op_type for n in proto.graph.node}


@pytest.mark.parametrize("case", list(CASES))
def test_layer_matches_torch(case, tmp_path):
    cls, kw, kind = CASES[case]
    m = _layer(cls, kw)
    m.train()  # the export must use eval semantics whatever the module's mode
    path = to_onnx(m, tmp_path / "m.onnx", lengths=True, initial_states=True)
    assert m.training, "to_onnx must leave the module's mode as it was"
    err = check_onnx(m, path, SHAPES, lengths=True, initial_states=True)
    assert err <= TOL, f"{case}: onnxruntime vs torch max abs error {err:.3g}"
    ops = _ops(build_onnx(m, lengths=True, initial_states=True))
    if kind == "native":
        assert ONNX_OP[cls] in ops and "Scan" not in ops, ops
    else:
        assert "Scan" in ops and not ops & {"LSTM", "GRU", "RNN"}, ops


@pytest.mark.parametrize("case", ["lstm_l2_bidir", "gru_l2_bidir_bf", "lstm_layer_norm_bidir",
                                  "lstm_proj_l2_bidir"])
def test_minimal_signature(case, tmp_path):
    """Only ``input``: zero initial states, full-length sequences."""
    cls, kw, _ = CASES[case]
    m = _layer(cls, kw)
    path = to_onnx(m, tmp_path / "m.onnx")
    assert [i.name for i in build_onnx(m).graph.input] == ["input"]
    assert check_onnx(m, path, SHAPES) <= TOL


@pytest.mark.parametrize("case", ["lstm_l2_bidir", "gru_l2_bidir_bf", "rnn_relu_bidir"])
def test_forced_loop_matches_native(case, tmp_path):
    """The Scan path on plain layers: an independent check of both paths."""
    cls, kw, _ = CASES[case]
    m = _layer(cls, kw)
    path = to_onnx(m, tmp_path / "m.onnx", lengths=True, initial_states=True, recurrent="loop")
    assert check_onnx(m, path, SHAPES, lengths=True, initial_states=True) <= TOL


@pytest.mark.parametrize("cls,kw", [(lstmkit.LSTMCell, {}), (lstmkit.GRUCell, {}),
                                    (lstmkit.RNNCell, {"nonlinearity": "relu"}),
                                    (lstmkit.LSTMCell, {"layer_norm": True, "peephole": True})],
                         ids=["lstm", "gru", "rnn_relu", "lstm_ln_peephole"])
def test_cells(cls, kw, tmp_path):
    torch.manual_seed(0)
    cell = cls(5, 6, **kw, backend="reference")
    for states in (False, True):
        path = to_onnx(cell, tmp_path / "c.onnx", initial_states=states)
        assert check_onnx(cell, path, ((1, 3), (1, 1)), initial_states=states) <= TOL


def test_variable_lengths_zero_the_padding(tmp_path):
    """Past each sequence's end the output is exactly zero, as in torch."""
    m = _layer(lstmkit.LSTM, {"bidirectional": True, "num_layers": 2})
    path = to_onnx(m, tmp_path / "m.onnx", lengths=True)
    x = torch.randn(6, 3, 5)
    out = run_onnx(path, {"input": x, "lengths": torch.tensor([6, 2, 4])})["output"]
    assert out.shape == (6, 3, 12)
    assert np.all(out[2:, 1] == 0) and np.all(out[4:, 2] == 0)
    assert np.all(out[:2, 1] != 0)


def test_trained_model_keeps_its_accuracy(tmp_path):
    """A bidirectional 2-layer LSTM trained on variable-length sequences (is the sum of
    the valid steps positive?) classifies as well in onnxruntime as in torch."""
    torch.manual_seed(0)
    lstm = lstmkit.LSTM(1, 8, num_layers=2, bidirectional=True)
    head = torch.nn.Linear(16, 1)
    opt = torch.optim.Adam([*lstm.parameters(), *head.parameters()], lr=1e-2)

    def batch(n, T=8):
        x = torch.randn(T, n, 1)
        lengths = torch.randint(3, T + 1, (n,))
        valid = (torch.arange(T)[:, None] < lengths[None]).float()[..., None]
        return x, lengths, ((x * valid).sum((0, 2)) > 0).float()

    for _ in range(60):
        x, lengths, y = batch(32)
        _, (h, _) = lstm(x, lengths=lengths)
        loss = torch.nn.functional.binary_cross_entropy_with_logits(
            head(torch.cat([h[-2], h[-1]], -1))[:, 0], y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    lstm.eval()
    x, lengths, y = batch(500)
    with torch.no_grad():
        _, (h, _) = lstm(x, lengths=lengths)
    path = to_onnx(lstm, tmp_path / "trained.onnx", lengths=True)
    h_onnx = torch.from_numpy(run_onnx(path, {"input": x, "lengths": lengths})["h_n"])
    assert (h_onnx - h).abs().max() <= TOL
    with torch.no_grad():
        acc_torch = ((head(torch.cat([h[-2], h[-1]], -1))[:, 0] > 0).float() == y).float().mean()
        acc_onnx = ((head(torch.cat([h_onnx[-2], h_onnx[-1]], -1))[:, 0] > 0).float() == y).float().mean()
    assert acc_torch >= 0.9, f"the LSTM did not learn the task: accuracy {acc_torch:.3f}"
    assert acc_onnx == acc_torch


def test_errors(tmp_path):
    ln = lstmkit.LSTM(3, 4, layer_norm=True)
    with pytest.raises(ValueError, match="no equivalent of layer_norm"):
        to_onnx(ln, tmp_path / "x.onnx", recurrent="native")
    with pytest.raises(ValueError, match="recurrent must be one of"):
        to_onnx(ln, tmp_path / "x.onnx", recurrent="fast")
    with pytest.raises(ValueError, match="layers only"):
        to_onnx(lstmkit.LSTMCell(3, 4), tmp_path / "x.onnx", lengths=True)
    with pytest.raises(InputError, match="example_inputs"):
        to_onnx(torch.nn.Sequential(torch.nn.Linear(2, 2)), tmp_path / "x.onnx")
    with pytest.raises(InputError, match="got str"):
        to_onnx("model", tmp_path / "x.onnx")
    assert not (tmp_path / "x.onnx").exists()
