"""Property-based parity with torch.nn over random sizes and options (hypothesis)."""

from __future__ import annotations

import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

import lstmkit
from tests.conftest import assert_close

KINDS = {
    "lstm": (nn.LSTM, lstmkit.LSTM, {}),
    "gru": (nn.GRU, lstmkit.GRU, {}),
    "rnn": (nn.RNN, lstmkit.RNN, {"nonlinearity": "tanh"}),
    "rnn_relu": (nn.RNN, lstmkit.RNN, {"nonlinearity": "relu"}),
}


@st.composite
def configs(draw):
    kind = draw(st.sampled_from(sorted(KINDS)))
    H = draw(st.integers(1, 8))
    cfg = dict(
        kind=kind,
        T=draw(st.integers(1, 9)),
        B=draw(st.integers(1, 5)),
        I=draw(st.integers(1, 6)),
        H=H,
        layers=draw(st.integers(1, 3)),
        bidirectional=draw(st.booleans()),
        batch_first=draw(st.booleans()),
        bias=draw(st.booleans()),
        proj=draw(st.integers(0, H - 1)) if kind == "lstm" else 0,
        backend=draw(st.sampled_from(["reference", "fused", "native"])),
        use_lengths=draw(st.booleans()),
        seed=draw(st.integers(0, 2**16)),
    )
    if cfg["use_lengths"]:
        cfg["lengths"] = draw(st.lists(st.integers(1, cfg["T"]), min_size=cfg["B"], max_size=cfg["B"]))
    return cfg


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(configs())
def test_random_configs_match_torch(cfg):
    torch_cls, kit_cls, extra = KINDS[cfg["kind"]]
    torch.manual_seed(cfg["seed"])
    kw = dict(num_layers=cfg["layers"], bias=cfg["bias"], batch_first=cfg["batch_first"],
              bidirectional=cfg["bidirectional"], **extra)
    if cfg["proj"]:
        kw["proj_size"] = cfg["proj"]
    ref = torch_cls(cfg["I"], cfg["H"], **kw).double()
    kit = kit_cls.from_torch(ref, backend=cfg["backend"])
    T, B, I = cfg["T"], cfg["B"], cfg["I"]
    x = torch.randn((B, T, I) if cfg["batch_first"] else (T, B, I), dtype=torch.float64, requires_grad=True)
    if cfg["use_lengths"]:
        lengths = torch.tensor(cfg["lengths"])
        out_k, st_k = kit(x, lengths=lengths)
        packed = pack_padded_sequence(x, lengths, batch_first=cfg["batch_first"], enforce_sorted=False)
        out_r, st_r = ref(packed)
        out_r, _ = pad_packed_sequence(out_r, batch_first=cfg["batch_first"], total_length=T)
    else:
        out_k, st_k = kit(x)
        out_r, st_r = ref(x)
    st_k = st_k if isinstance(st_k, tuple) else (st_k,)
    st_r = st_r if isinstance(st_r, tuple) else (st_r,)
    assert_close(out_k, out_r, torch.float64, "output")
    for a, b in zip(st_k, st_r):
        assert_close(a, b, torch.float64, "final state")
    g = [torch.randn_like(t) for t in (out_r, *st_r)]
    grads = []
    for out, sts, module in ((out_k, st_k, kit), (out_r, st_r, ref)):
        loss = sum((t * u).sum() for t, u in zip((out, *sts), g))
        grads.append(torch.autograd.grad(loss, [x, *module.parameters()]))
    names = ["input"] + [n for n, _ in ref.named_parameters()]
    for n, a, b in zip(names, *grads):
        assert_close(a, b, torch.float64, f"grad of {n}")
