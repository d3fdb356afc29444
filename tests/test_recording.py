"""``lstmkit.record_states``: the recorded gates and states are the layer's own, on any
backend the layer was built for, and recording changes nothing the layer returns."""

import pytest
import torch

import lstmkit

torch.manual_seed(0)


def _layer(cls, **kwargs):
    torch.manual_seed(0)
    return cls(3, 5, **kwargs)


@pytest.mark.parametrize("backend", ["auto", "native", "fused", "reference"])
def test_lstm_record_is_consistent_with_the_output_on_every_backend(backend):
    lstm = _layer(lstmkit.LSTM, backend=backend)
    x = torch.randn(7, 2, 3)
    plain_out, (plain_h, plain_c) = lstm(x)
    with lstmkit.record_states(lstm) as rec:
        out, (h_n, c_n) = lstm(x)
    torch.testing.assert_close(out, plain_out)  # recording does not change the result
    torch.testing.assert_close(h_n, plain_h)
    torch.testing.assert_close(c_n, plain_c)
    r = rec.layers[0][0]
    assert set(r) == {"i", "f", "g", "o", "c", "h"}
    assert all(v.shape == (7, 2, 5) for v in r.values())
    torch.testing.assert_close(r["h"], out)
    # the cell equations hold step by step: c_t = f c_{t-1} + i g, h_t = o tanh(c_t)
    c_prev = torch.cat([torch.zeros(1, 2, 5), r["c"][:-1]])
    torch.testing.assert_close(r["c"], r["f"] * c_prev + r["i"] * r["g"])
    torch.testing.assert_close(r["h"], r["o"] * torch.tanh(r["c"]))
    torch.testing.assert_close(r["c"][-1], c_n[0])
    for gate in "ifo":
        assert ((r[gate] > 0) & (r[gate] < 1)).all()


def test_two_layers_bidirectional_and_lengths():
    lstm = _layer(lstmkit.LSTM, num_layers=2, bidirectional=True)
    x = torch.randn(6, 3, 3)
    lengths = torch.tensor([6, 4, 2])
    with lstmkit.record_states(lstm) as rec:
        out, (h_n, _) = lstm(x, lengths=lengths)
    assert len(rec.layers) == 2 and all(len(layer) == 2 for layer in rec.layers)
    fwd, bwd = rec.layers[1]
    # the backward direction is stored in the input's time order: its final state is
    # the one at each sequence's first step
    torch.testing.assert_close(bwd["h"][0], h_n[3])
    torch.testing.assert_close(fwd["h"][lengths - 1, torch.arange(3)], h_n[2])
    # rec.valid marks the real steps; there the record is the layer's output
    valid = rec.valid
    assert valid.shape == (6, 3) and valid.sum(0).tolist() == [6, 4, 2]
    torch.testing.assert_close(fwd["h"][valid], out[..., :5][valid])
    torch.testing.assert_close(bwd["h"][valid], out[..., 5:][valid])
    assert (out[~valid] == 0).all()


@pytest.mark.parametrize("cls,keys", [(lstmkit.GRU, {"r", "z", "n", "h"}), (lstmkit.RNN, {"h"})])
def test_gru_and_rnn_record_their_own_gates(cls, keys):
    layer = _layer(cls)
    x = torch.randn(5, 2, 3)
    with lstmkit.record_states(layer) as rec:
        out, h_n = layer(x)
    r = rec.layers[0][0]
    assert set(r) == keys
    torch.testing.assert_close(r["h"], out)
    torch.testing.assert_close(r["h"][-1], h_n[0])


def test_only_the_recorded_layer_and_only_inside_the_context():
    a, b = _layer(lstmkit.LSTM), _layer(lstmkit.LSTM)
    x = torch.randn(4, 1, 3)
    with lstmkit.record_states(a) as rec:
        b(x)
        assert rec.layers == []
        a(x)
        a(x[:2])  # the latest forward replaces the earlier one
    assert rec.layers[0][0]["h"].shape[0] == 2 and rec.valid.all()
    a(x)
    assert rec.layers[0][0]["h"].shape[0] == 2
