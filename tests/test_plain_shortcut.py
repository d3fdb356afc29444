"""The layers' shortcut for a plain one-layer module on torch's kernel (zero initial
states, no lengths, no tool): the general path's numbers and gradients, taken only where
the chosen backend offers it."""

from __future__ import annotations

import pytest
import torch

import lstmkit
from lstmkit import backends

CASES = [  # (T, B, I, H)
    ("GRU", {}, (1, 1, 2, 20)),                      # one step: auto runs torch's kernel
    ("RNN", {"nonlinearity": "relu"}, (1, 4, 3, 8)),
    ("LSTM", {}, (5, 17, 3, 8)),                     # B x H > 128: torch's kernel
    ("LSTM", {"proj_size": 4, "bidirectional": True}, (5, 17, 3, 8)),
    ("GRU", {"batch_first": True, "bidirectional": True}, (1, 12, 3, 8)),
    ("LSTM", {"backend": "native"}, (2, 7, 3, 8)),
]


@pytest.mark.parametrize("mode,opts,shape", CASES)
@pytest.mark.parametrize("training", [True, False])
def test_shortcut_gives_the_general_paths_numbers(mode, opts, shape, training):
    T, B, I, H = shape
    torch.manual_seed(0)
    layer = getattr(lstmkit, mode)(I, H, **opts).train(training)
    x = torch.randn(B, T, I) if opts.get("batch_first") else torch.randn(T, B, I)
    x.requires_grad_()
    xt = x.transpose(0, 1) if opts.get("batch_first") else x
    assert backends.select(layer.spec, xt, layer.backend).offers_plain_layer
    taken, fast = layer._plain_forward(x)
    assert fast is not None and taken.name == "native"
    out, state = layer(x)                                         # the shortcut
    D = 2 if opts.get("bidirectional") else 1
    P = opts.get("proj_size") or H
    zeros = torch.zeros(D, B, P)
    hx = (zeros, torch.zeros(D, B, H)) if mode == "LSTM" else zeros
    out2, state2 = layer(x, hx)                                   # the general path
    assert torch.equal(out, out2)
    for a, b in zip(torch.utils._pytree.tree_leaves(state), torch.utils._pytree.tree_leaves(state2)):
        assert torch.equal(a, b)
    g1 = torch.autograd.grad(out.square().sum(), [x, *layer.parameters()])
    g2 = torch.autograd.grad(out2.square().sum(), [x, *layer.parameters()])
    assert all(torch.equal(a, b) for a, b in zip(g1, g2))


def test_no_shortcut_for_variants_layers_or_compiled_choices():
    x = torch.randn(1, 1, 4)
    assert lstmkit.GRU(4, 8, layer_norm=True)._plain_forward(x)[1] is None
    assert lstmkit.GRU(4, 8, num_layers=2)._plain_forward(x)[1] is None
    small = lstmkit.LSTM(4, 8)                       # B x H <= 128: auto runs the compiled loop
    backend, fast = small._plain_forward(torch.randn(5, 2, 4))
    assert fast is None and (backend is None or not backend.offers_plain_layer)
    assert lstmkit.GRU(4, 8)._plain_forward(torch.randn(1, 1, 3))[1] is None  # wrong size: checked later


def test_the_kept_choice_follows_the_registry_the_request_and_the_grad_mode(monkeypatch):
    layer, x = lstmkit.GRU(2, 8), torch.randn(1, 1, 2)
    chosen = []
    real = backends.select
    monkeypatch.setattr(backends, "select", lambda *a, **k: chosen.append(1) or real(*a, **k))
    layer(x)
    layer(x)
    assert len(chosen) == 1                        # a repeated call reuses the module's choice
    with torch.no_grad():
        layer(x)
    assert len(chosen) == 2                        # another grad mode: chosen again
    layer.backend = "reference"
    assert layer._plain_forward(x)[0].name == "reference"
    layer.backend = "auto"

    original = backends.get("native")
    replacement = type(original)()                 # the same backend under the same name, anew
    backends.register(replacement)
    try:
        assert layer._plain_forward(x)[0] is replacement  # a changed registry: chosen again
    finally:
        backends.register(original)
    assert layer._plain_forward(x)[0] is original


def test_a_parametrized_weight_is_the_one_the_shortcut_runs():
    from torch.nn.utils import parametrize

    class Double(torch.nn.Module):
        def forward(self, w):
            return 2 * w

    torch.manual_seed(0)
    layer = lstmkit.GRU(3, 8)
    ref = lstmkit.GRU(3, 8)
    ref.load_state_dict(layer.state_dict())
    with torch.no_grad():
        ref.weight_hh_l0.mul_(2)
    parametrize.register_parametrization(layer, "weight_hh_l0", Double())
    x = torch.randn(1, 2, 3)
    assert torch.allclose(layer._flat_weights[1], 2 * layer.parametrizations.weight_hh_l0.original)
    out, _ = layer(x)
    assert torch.allclose(out, ref(x)[0], atol=1e-6)


def test_a_copied_or_unpickled_module_chooses_again(monkeypatch):
    import copy
    import io

    layer, x = lstmkit.GRU(2, 8), torch.randn(1, 1, 2)
    layer(x)                                       # a kept choice travels with the module's state
    chosen = []
    real = backends.select
    monkeypatch.setattr(backends, "select", lambda *a, **k: chosen.append(1) or real(*a, **k))
    buf = io.BytesIO()
    torch.save(layer, buf)
    buf.seek(0)
    for twin in (copy.deepcopy(layer), torch.load(buf, weights_only=False)):
        before = len(chosen)
        out, _ = twin(x)
        assert len(chosen) == before + 1           # the copy's backend is not the registry's
        assert torch.equal(out, layer(x)[0])
