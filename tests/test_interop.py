"""state_dict interchange with torch.nn, from_torch/to_torch, initialisation, cells,
the seed's example, and recording the gates."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

import lstmkit
from tests.conftest import assert_close

PAIRS = [
    (nn.LSTM, lstmkit.LSTM, dict(num_layers=2, bidirectional=True, proj_size=3)),
    (nn.LSTM, lstmkit.LSTM, dict(bias=False)),
    (nn.GRU, lstmkit.GRU, dict(num_layers=3, bidirectional=True)),
    (nn.RNN, lstmkit.RNN, dict(num_layers=2, nonlinearity="relu")),
]
IDS = ["lstm_proj_bidir", "lstm_nobias", "gru_l3_bidir", "rnn_relu"]


@pytest.mark.parametrize("torch_cls,kit_cls,kw", PAIRS, ids=IDS)
def test_state_dict_both_ways(torch_cls, kit_cls, kw):
    ref = torch_cls(5, 7, **kw)
    kit = kit_cls(5, 7, **kw)
    assert list(kit.state_dict()) == list(ref.state_dict())
    for (n, a), (_, b) in zip(kit.state_dict().items(), ref.state_dict().items()):
        assert a.shape == b.shape, n
    kit.load_state_dict(ref.state_dict(), strict=True)
    ref2 = torch_cls(5, 7, **kw)
    ref2.load_state_dict(kit.state_dict(), strict=True)
    back = kit.to_torch()
    assert type(back) is torch_cls
    x = torch.randn(4, 3, 5)
    assert_close(kit(x)[0], ref(x)[0], torch.float32, "output after load")
    assert_close(back(x)[0], ref(x)[0], torch.float32, "output of to_torch()")
    assert_close(kit_cls.from_torch(ref)(x)[0], ref(x)[0], torch.float32, "output of from_torch()")


def test_constructor_matches_torch_signature():
    import inspect

    for torch_cls, kit_cls in ((nn.LSTM, lstmkit.LSTM), (nn.LSTMCell, lstmkit.LSTMCell), (nn.GRUCell, lstmkit.GRUCell)):
        kit = kit_cls(3, 4)
        ref = torch_cls(3, 4)
        assert [n for n, _ in kit.named_parameters()] == [n for n, _ in ref.named_parameters()]
    sig = inspect.signature(lstmkit.RNNCell)
    assert list(sig.parameters)[:4] == list(inspect.signature(nn.RNNCell).parameters)[:4]


def test_initialisation_bounds():
    torch.manual_seed(0)
    m = lstmkit.LSTM(30, 64, num_layers=2)
    bound = 1 / math.sqrt(64)
    for name, p in m.named_parameters():
        assert p.abs().max() <= bound, name
        assert p.abs().max() > 0.9 * bound, f"{name} is not U(-1/sqrt(H), 1/sqrt(H))"
    torch.manual_seed(0)
    a = nn.LSTM(30, 64, num_layers=2)
    torch.manual_seed(0)
    b = lstmkit.LSTM(30, 64, num_layers=2)
    for (n, p), (_, q) in zip(a.named_parameters(), b.named_parameters()):
        assert torch.equal(p, q), f"{n}: not the same draws as torch.nn under the same seed"


@pytest.mark.parametrize("backend", ["reference", "fused", "native"])
@pytest.mark.parametrize(
    "torch_cls,kit_cls,kw",
    [(nn.LSTMCell, lstmkit.LSTMCell, {}), (nn.GRUCell, lstmkit.GRUCell, {}),
     (nn.RNNCell, lstmkit.RNNCell, {"nonlinearity": "relu"}), (nn.LSTMCell, lstmkit.LSTMCell, {"bias": False})],
    ids=["lstm", "gru", "rnn_relu", "lstm_nobias"],
)
@pytest.mark.parametrize("batched", [True, False], ids=["batched", "unbatched"])
def test_cells_match_torch(torch_cls, kit_cls, kw, backend, batched):
    torch.manual_seed(1)
    ref = torch_cls(5, 6, **kw).double()
    kit = kit_cls(5, 6, **kw, backend=backend).double()
    kit.load_state_dict(ref.state_dict())
    x = torch.randn(3, 5, dtype=torch.float64) if batched else torch.randn(5, dtype=torch.float64)
    h = torch.randn(3, 6, dtype=torch.float64) if batched else torch.randn(6, dtype=torch.float64)
    state = (h, h * 0.5) if torch_cls is nn.LSTMCell else h
    for st in (None, state):
        a, b = kit(x, st), ref(x, st)
        a, b = (a if isinstance(a, tuple) else (a,)), (b if isinstance(b, tuple) else (b,))
        for u, v in zip(a, b):
            assert_close(u, v, torch.float64, "cell output")


def test_getting_started_model():
    """The getting-started model (docs/index.md), with lstmkit.LSTM in place of nn.LSTM."""

    class LSTMModel(nn.Module):
        def __init__(self, input_size, hidden_size, num_layers, output_size):
            super().__init__()
            self.lstm = lstmkit.LSTM(input_size, hidden_size, num_layers, batch_first=True)
            self.fc = nn.Linear(hidden_size, output_size)

        def forward(self, x):
            out, _ = self.lstm(x)
            return self.fc(out[:, -1, :])

    model = LSTMModel(10, 20, 2, 1)
    out = model(torch.randn(5, 50, 10))
    assert out.shape == torch.Size([5, 1])
    out.sum().backward()
    assert all(p.grad is not None for p in model.parameters())


def test_auto_follows_the_measured_rules_for_plain_cpu():
    from lstmkit import backends
    from lstmkit.backends import rules

    m = lstmkit.LSTM(3, 4)
    x = torch.zeros(2, 1, 3)
    # auto takes the first backend of the measured order that can run the layer
    expected = next(n for n in backends.auto_order(m.spec, x) if backends.get(n).unsupported(m.spec, x) is None)
    assert backends.select(m.spec, x).name == expected
    assert expected in ("compiled", "native")  # a plain LSTM never lands on fused or reference
    big = lstmkit.LSTM(3, rules.LSTM_COMPILED_MAX_H * 4)
    xb = torch.zeros(2, 8, 3)
    assert backends.select(big.spec, xb).name == "native"  # oneDNN wins at large hidden sizes
    assert backends.select(m.spec, torch.zeros(2, 1, 3, dtype=torch.int64), "auto").name == "reference"
    with pytest.raises(ValueError, match=r"backend 'native' cannot run this layer: .*int64"):
        backends.select(m.spec, torch.zeros(2, 1, 3, dtype=torch.int64), "native")


def test_inter_layer_dropout_same_masks_on_every_backend():
    outs = []
    for backend in ("reference", "fused", "native"):
        torch.manual_seed(0)
        m = lstmkit.LSTM(3, 5, num_layers=3, dropout=0.5, backend=backend).double()
        torch.manual_seed(1)
        outs.append(m(torch.randn(6, 2, 3, dtype=torch.float64))[0])
    for o in outs[1:]:
        assert_close(o, outs[0], torch.float64, "dropout output")
    m.eval()
    x = torch.randn(6, 2, 3, dtype=torch.float64)
    assert torch.equal(m(x)[0], m(x)[0]), "eval mode must be deterministic"


@pytest.mark.parametrize("bidirectional", [False, True])
def test_record_states_lstm(bidirectional):
    torch.manual_seed(0)
    m = lstmkit.LSTM(3, 4, num_layers=2, bidirectional=bidirectional, backend="native")
    x = torch.randn(6, 2, 3)
    lengths = torch.tensor([6, 4])
    with lstmkit.record_states(m) as rec:
        out, (hn, cn) = m(x, lengths=lengths)
    assert len(rec.layers) == 2 and len(rec.layers[0]) == (2 if bidirectional else 1)
    fwd = rec.layers[-1][0]
    assert set(fwd) == {"i", "f", "g", "o", "c", "h"}
    assert fwd["f"].shape == (6, 2, 4)
    assert ((fwd["f"] > 0) & (fwd["f"] < 1)).all()
    # recorded h is the layer output wherever the sequence is running
    assert_close(fwd["h"][:, 0], out[:, 0, :4], torch.float32, "recorded h")
    D = 2 if bidirectional else 1
    assert_close(fwd["c"][3, 1], cn[D, 1], torch.float32, "recorded c at the true end (last layer)")
    # h = o * tanh(c), as the seed writes it
    assert_close(fwd["h"], fwd["o"] * torch.tanh(fwd["c"]), torch.float32, "h = o tanh(c)")
    if bidirectional:
        bwd = rec.layers[-1][1]
        assert_close(bwd["h"][0, 1], out[0, 1, 4:], torch.float32, "reverse direction at t=0")
    # outside the context the module runs its own backend again
    out2, _ = m(x, lengths=lengths)
    assert_close(out2, out, torch.float32, "native output")


@pytest.mark.parametrize("cls,kw", [(lstmkit.LSTM, dict(num_layers=2, proj_size=3)), (lstmkit.GRU, dict(num_layers=2)),
                                    (lstmkit.RNN, {}), (lstmkit.LSTM, dict(layer_norm=True, zoneout=0.1))],
                         ids=["lstm_proj", "gru", "rnn", "lstm_variants"])
@pytest.mark.parametrize("batched", [True, False], ids=["batched", "unbatched"])
def test_step_streaming_equals_whole_sequence(cls, kw, batched):
    torch.manual_seed(0)
    m = cls(4, 6, batch_first=True, **kw).double().eval()
    x = torch.randn(3, 7, 4, dtype=torch.float64) if batched else torch.randn(7, 4, dtype=torch.float64)
    out, st_full = m(x)
    state, ys = None, []
    for t in range(7):
        y, state = m.step(x[:, t] if batched else x[t], state)
        ys.append(y)
    assert_close(torch.stack(ys, 1 if batched else 0), out, torch.float64, "streamed outputs")
    for a, b in zip(state if isinstance(state, tuple) else (state,), st_full if isinstance(st_full, tuple) else (st_full,)):
        assert_close(a, b, torch.float64, "streamed state")


def test_step_refuses_bidirectional():
    with pytest.raises(ValueError, match="bidirectional layer needs the whole sequence"):
        lstmkit.LSTM(3, 4, bidirectional=True).step(torch.randn(2, 3))
