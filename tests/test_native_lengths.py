"""Variable lengths on torch's padded kernel with the padding frozen (native backend,
LSTM and GRU, one or two directions): torch.nn's packed numbers and gradients, whatever
the padding holds."""

from __future__ import annotations

import pytest
import torch
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

import lstmkit
from lstmkit.backends import native

LENGTHS = torch.tensor([7, 3, 1, 5, 7, 2])


def _packed_reference(mode, opts, x, lengths, hx):
    ref = getattr(torch.nn, mode)(x.shape[-1], 8, **opts).double()
    packed = pack_padded_sequence(x, lengths, enforce_sorted=False)
    out, state = ref(packed, hx)
    out, _ = pad_packed_sequence(out, total_length=x.shape[0])
    return ref, out, state


@pytest.mark.parametrize("mode,opts", [
    ("LSTM", {}),
    ("LSTM", {"proj_size": 3}),
    ("LSTM", {"num_layers": 2, "bias": False}),
    ("GRU", {}),
    ("GRU", {"num_layers": 2}),
    ("LSTM", {"bidirectional": True}),
    ("LSTM", {"bidirectional": True, "num_layers": 2, "proj_size": 3}),
    ("GRU", {"bidirectional": True}),
])
@pytest.mark.parametrize("given_state", [False, True])
def test_frozen_padding_gives_the_packed_numbers_and_gradients(mode, opts, given_state, monkeypatch):
    def no_packing(*args, **kwargs):
        raise AssertionError("the native backend packed a batch it can freeze")

    monkeypatch.setattr(native, "pack_padded_sequence", no_packing)
    torch.manual_seed(0)
    T, B, I = 7, len(LENGTHS), 4
    x = torch.randn(T, B, I, dtype=torch.float64)
    layers = opts.get("num_layers", 1) * (2 if opts.get("bidirectional") else 1)
    P = opts.get("proj_size") or 8
    hx = None
    if given_state:
        h0 = torch.randn(layers, B, P, dtype=torch.float64)
        hx = (h0, torch.randn(layers, B, 8, dtype=torch.float64)) if mode == "LSTM" else h0
    x_ref = x.clone().requires_grad_()
    ref, out_ref, state_ref = _packed_reference(mode, opts, x_ref, LENGTHS, hx)
    layer = getattr(lstmkit, mode)(I, 8, backend="native", **opts).double()
    layer.load_state_dict(ref.state_dict())
    xl = x.clone().requires_grad_()
    out, state = layer(xl, hx, lengths=LENGTHS)
    leaves = torch.utils._pytree.tree_leaves
    torch.testing.assert_close(out, out_ref, rtol=1e-10, atol=1e-12)
    for a, b in zip(leaves(state), leaves(state_ref)):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)
    # every output and state in the loss, so each gradient path is checked
    w = [torch.randn_like(t) for t in (out, *leaves(state))]
    loss = sum((a * b).sum() for a, b in zip(w, (out, *leaves(state))))
    loss_ref = sum((a * b).sum() for a, b in zip(w, (out_ref, *leaves(state_ref))))
    g = torch.autograd.grad(loss, [xl, *layer.parameters()])
    g_ref = torch.autograd.grad(loss_ref, [x_ref, *ref.parameters()])
    for a, b in zip(g, g_ref):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-11)


def test_whatever_the_padding_holds_float32_and_large_inputs(monkeypatch):
    monkeypatch.setattr(native, "pack_padded_sequence", None)  # the frozen path only
    torch.manual_seed(1)
    T, B, I = 6, 4, 3
    lengths = torch.tensor([6, 2, 4, 1])
    layer = lstmkit.LSTM(I, 5, backend="native")
    ref = torch.nn.LSTM(I, 5)
    ref.load_state_dict(layer.state_dict())
    x = 30 * torch.randn(T, B, I)                     # saturating inputs on the valid steps
    dirty = x.clone()
    for b, n in enumerate(lengths):
        dirty[n:, b] = float("nan") if b % 2 else 1e6  # the padding: NaN or huge
    out, (h, c) = layer(dirty, lengths=lengths)
    ro, (rh, rc) = ref(pack_padded_sequence(x, lengths, enforce_sorted=False))
    ro, _ = pad_packed_sequence(ro, total_length=T)
    assert torch.isfinite(out).all()
    torch.testing.assert_close(out, ro, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(h, rh, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(c, rc, rtol=1e-5, atol=1e-6)


def test_which_layers_freeze_the_padding():
    spec = lstmkit.LSTM(3, 4).spec
    x = torch.zeros(2, 1, 3)
    assert native._freezing_value(spec, x) == 1e30
    assert native._freezing_value(lstmkit.GRU(3, 4, bidirectional=True).spec, x) == 1e30
    assert native._freezing_value(lstmkit.RNN(3, 4).spec, x) is None
    assert native._freezing_value(spec, x.double()) == 1e30
    with torch.autocast("cpu", torch.bfloat16):
        assert native._freezing_value(spec, x) == 1e30


@pytest.mark.parametrize("T", [1, 5])
def test_full_lengths_take_the_padded_forward(T, monkeypatch):
    """Lengths that are all T leave nothing to mask or skip: the layer runs as without
    them (no masking, no sorting), with the same numbers, and ``auto`` decides as for a
    padded batch."""
    from lstmkit import backends

    asked = []
    select = backends.select

    def spy(*args, lengths=False, **kwargs):
        asked.append(lengths)
        return select(*args, lengths=lengths, **kwargs)

    monkeypatch.setattr(backends, "select", spy)
    torch.manual_seed(2)
    layer = lstmkit.LSTM(3, 5, num_layers=2, bidirectional=True)
    ref = torch.nn.LSTM(3, 5, num_layers=2, bidirectional=True)
    ref.load_state_dict(layer.state_dict())
    x = torch.randn(T, 4, 3)
    out, (h, c) = layer(x, lengths=torch.full((4,), T))
    ro, (rh, rc) = ref(x)
    assert asked == [False]
    for a, b in ((out, ro), (h, rh), (c, rc)):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    packed = pack_padded_sequence(x, torch.full((4,), T))
    po, _ = layer(packed)
    assert isinstance(po, torch.nn.utils.rnn.PackedSequence)
    torch.testing.assert_close(po.data, ro.reshape(-1, 10), rtol=1e-5, atol=1e-6)
    if T > 1:
        asked.clear()
        layer(x, lengths=torch.tensor([T, T, T, 1]))
        assert asked == [True]
