"""``torch.jit.script``: the plain layers and cells compile as their torch.nn twin, sharing
the parameters (torch.nn's numbers, saved and reloaded); everything else is refused with
one error naming what to use."""

from __future__ import annotations

import io
import warnings

import pytest
import torch
from conftest import assert_close
from torch import nn

import lstmkit

leaves = torch.utils._pytree.tree_leaves


def _script(module):
    with warnings.catch_warnings():  # torch deprecates torch.jit.script itself
        warnings.simplefilter("ignore", DeprecationWarning)
        return torch.jit.script(module)


class _Wrapper(nn.Module):
    """A model holding the layer, as TorchScript users script it (torch.nn's own scripted
    LSTM/GRU/RNN is called through a parent: its forward is overloaded)."""

    def __init__(self, layer):
        super().__init__()
        self.rnn = layer
        width = (layer.proj_size or layer.hidden_size) * (2 if layer.bidirectional else 1)
        self.head = nn.Linear(width, 1)

    def forward(self, x):
        out, _ = self.rnn(x)
        return self.head(out)


LAYERS = {
    "lstm": lambda: lstmkit.LSTM(3, 6),
    "lstm-deep-bi-proj-bf": lambda: lstmkit.LSTM(3, 6, num_layers=2, bidirectional=True, proj_size=4,
                                                 batch_first=True),
    "gru-nobias": lambda: lstmkit.GRU(3, 6, bias=False),
    "rnn-relu-deep": lambda: lstmkit.RNN(3, 6, num_layers=2, nonlinearity="relu"),
}


@pytest.mark.filterwarnings("ignore:LSTM with projections is not supported with oneDNN")
@pytest.mark.parametrize("name", LAYERS)
@pytest.mark.parametrize("train", [False, True])
def test_a_scripted_model_runs_the_torch_twin_with_the_same_parameters(name, train):
    torch.manual_seed(0)
    layer = LAYERS[name]()
    model = _Wrapper(layer).train(train)
    x = 2 * (torch.randn(2, 5, 3) if layer.batch_first else torch.randn(5, 2, 3))
    expected = model(x)
    scripted = _script(model)
    out = scripted(x)
    assert_close(out, expected, torch.float32, f"{name} output")
    # as torch does with every __prepare_scriptable__, the parent now holds the twin
    assert type(model.rnn) is getattr(nn, type(layer).__name__)
    # the twin holds the layer's own parameters: training either trains both
    twin = dict(scripted.rnn.named_parameters())
    assert set(twin) == {n for n, _ in layer.named_parameters()}
    for n, p in layer.named_parameters():
        assert twin[n].data_ptr() == p.data_ptr(), n
    # and the gradients are torch.nn's
    ref = getattr(nn, type(layer).__name__)(**layer._torch_kwargs()).train(train)
    ref.load_state_dict(layer.state_dict())
    out.sum().backward()
    model.head(ref(x)[0]).sum().backward()
    for (n, p), (_, q) in zip(layer.named_parameters(), ref.named_parameters()):
        assert_close(p.grad, q.grad, torch.float32, f"{name} d{n}")
    # saved and loaded as TorchScript
    buf = io.BytesIO()
    torch.jit.save(scripted, buf)
    buf.seek(0)
    assert_close(torch.jit.load(buf)(x), expected, torch.float32, f"{name} reloaded")


@pytest.mark.parametrize("cell,x,hx", [
    (lambda: lstmkit.LSTMCell(3, 5), torch.randn(4, 3), (torch.randn(4, 5), torch.randn(4, 5))),
    (lambda: lstmkit.GRUCell(3, 5, bias=False), torch.randn(4, 3), torch.randn(4, 5)),
    (lambda: lstmkit.RNNCell(3, 5, nonlinearity="relu"), torch.randn(3), torch.randn(5)),
])
def test_a_scripted_cell_is_torch_nns_cell_with_the_same_parameters(cell, x, hx):
    torch.manual_seed(1)
    c = cell()
    scripted = _script(c)
    for args in ((x,), (x, hx)):
        for a, b in zip(leaves(scripted(*args)), leaves(c(*args))):
            assert_close(a, b, torch.float32, type(c).__name__)
    assert scripted.weight_hh.data_ptr() == c.weight_hh.data_ptr()


@pytest.mark.parametrize("make,named", [
    (lambda: lstmkit.LSTM(3, 4, layer_norm=True), "lstmkit.LSTM with layer_norm"),
    (lambda: lstmkit.GRU(3, 4, recurrent_dropout=0.2), "lstmkit.GRU with recurrent_dropout"),
    (lambda: lstmkit.LSTM(3, 4, weight_drop=0.2), "lstmkit.LSTM with weight_drop"),
    (lambda: lstmkit.LSTMCell(3, 4, peephole=True), "lstmkit.LSTMCell with peephole"),
    (lambda: torch.nn.utils.parametrizations.weight_norm(lstmkit.LSTM(3, 4), "weight_hh_l0"),
     "weight_hh_l0 is computed"),
    (lambda: lstmkit.sLSTM(4, 8), "lstmkit.sLSTM has no torch.nn twin"),
    (lambda: lstmkit.mLSTMCell(4, 8), "lstmkit.mLSTMCell has no torch.nn twin"),
    (lambda: lstmkit.ConvLSTM(2, 4, 3), "lstmkit.ConvLSTM has no torch.nn twin"),
])
def test_what_has_no_torch_twin_is_refused_by_name(make, named):
    module = make()
    with pytest.raises(RuntimeError, match="torch.jit.script") as err:
        _script(_Wrapper(module) if isinstance(module, (lstmkit.LSTM, lstmkit.GRU)) else module)
    assert named in str(err.value)
    assert "torch.jit.trace, torch.export or torch.compile" in str(err.value)
