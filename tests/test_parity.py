"""lstmkit's layers against torch.nn on a grid of configurations, on every backend:
outputs, final states and every gradient (input, initial states, all parameters) under
random upstream gradients on the output and on the final states."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

import lstmkit
from tests.conftest import assert_close

MODES = {
    "lstm": (nn.LSTM, lstmkit.LSTM, {}),
    "gru": (nn.GRU, lstmkit.GRU, {}),
    "rnn_tanh": (nn.RNN, lstmkit.RNN, {"nonlinearity": "tanh"}),
    "rnn_relu": (nn.RNN, lstmkit.RNN, {"nonlinearity": "relu"}),
}


@dataclass(frozen=True)
class Case:
    layers: int = 1
    bidirectional: bool = False
    batch_first: bool = False
    proj: int = 0
    bias: bool = True
    unbatched: bool = False
    input_kind: str = "dense"  # dense | lengths | packed
    given_state: bool = False
    lstm_only: bool = False


CASES = {
    "base": Case(),
    "l2": Case(layers=2),
    "l3_bidir": Case(layers=3, bidirectional=True),
    "batch_first": Case(batch_first=True, layers=2),
    "nobias": Case(bias=False, bidirectional=True),
    "unbatched": Case(unbatched=True, layers=2, bidirectional=True),
    "unbatched_state": Case(unbatched=True, given_state=True),
    "state": Case(given_state=True, layers=2, bidirectional=True),
    "lengths": Case(input_kind="lengths"),
    "lengths_bidir_l2_state": Case(input_kind="lengths", bidirectional=True, layers=2, given_state=True),
    "lengths_batch_first": Case(input_kind="lengths", batch_first=True, bidirectional=True),
    "packed": Case(input_kind="packed", layers=2),
    "packed_bidir_state": Case(input_kind="packed", bidirectional=True, given_state=True),
    "proj": Case(proj=3, lstm_only=True),
    "proj_bidir_l2_state": Case(proj=3, layers=2, bidirectional=True, given_state=True, lstm_only=True),
    "proj_lengths_bidir": Case(proj=2, input_kind="lengths", bidirectional=True, lstm_only=True),
    "proj_packed_nobias": Case(proj=2, input_kind="packed", bias=False, lstm_only=True),
}

T, B, I, H = 7, 4, 5, 6
LENGTHS = torch.tensor([5, 7, 2, 4])  # unsorted on purpose


def _run_pair(mode: str, case: Case, backend: str, dtype: torch.dtype, seed: int = 0):
    torch_cls, kit_cls, extra = MODES[mode]
    torch.manual_seed(seed)
    kw = dict(num_layers=case.layers, bias=case.bias, batch_first=case.batch_first,
              bidirectional=case.bidirectional, **extra)
    if case.proj:
        kw["proj_size"] = case.proj
    ref = torch_cls(I, H, **kw).to(dtype)
    kit = kit_cls.from_torch(ref, backend=backend)
    D = 2 if case.bidirectional else 1
    P = case.proj or H
    shape = (T, I) if case.unbatched else ((B, T, I) if case.batch_first else (T, B, I))
    x = torch.randn(shape, dtype=dtype, requires_grad=True)
    state_shape = (case.layers * D, P) if case.unbatched else (case.layers * D, B, P)
    cell_shape = state_shape[:-1] + (H,)
    h0 = torch.randn(state_shape, dtype=dtype, requires_grad=True)
    c0 = torch.randn(cell_shape, dtype=dtype, requires_grad=True)
    hx = None
    if case.given_state:
        hx = (h0, c0) if mode == "lstm" else h0

    def call(module, is_kit):
        if case.input_kind == "dense":
            return module(x, hx)
        if case.input_kind == "packed":
            packed = pack_padded_sequence(x, LENGTHS, batch_first=case.batch_first, enforce_sorted=False)
            out, st = module(packed, hx)
            return out.data, st
        if is_kit:
            return module(x, hx, lengths=LENGTHS)
        packed = pack_padded_sequence(x, LENGTHS, batch_first=case.batch_first, enforce_sorted=False)
        out, st = module(packed, hx)
        out, _ = pad_packed_sequence(out, batch_first=case.batch_first, total_length=T)
        return out, st

    results = []
    for module, is_kit in ((ref, False), (kit, True)):
        out, st = call(module, is_kit)
        states = list(st) if isinstance(st, tuple) else [st]
        results.append((module, out, states))
    # the same random upstream gradients for both
    g = torch.Generator().manual_seed(seed + 1)
    grads_out = [torch.randn(t.shape, dtype=dtype, generator=g) for t in [results[0][1], *results[0][2]]]
    inputs = [x] + ([h0, c0] if mode == "lstm" else [h0]) * case.given_state
    grads = []
    for module, out, states in results:
        loss = sum((t * go).sum() for t, go in zip([out, *states], grads_out))
        params = [p for _, p in module.named_parameters()]
        grads.append(torch.autograd.grad(loss, inputs + params, allow_unused=True))
    names = ["input"] + (["h0", "c0"] if mode == "lstm" else ["h0"]) * case.given_state
    names += [n for n, _ in ref.named_parameters()]
    return results, grads, names


def _grid():
    for mode in MODES:
        for cid, case in CASES.items():
            if case.lstm_only and mode != "lstm":
                continue
            yield pytest.param(mode, cid, id=f"{mode}-{cid}")


@pytest.mark.parametrize("mode,cid", list(_grid()))
def test_parity_with_torch(mode, cid, backend, dtype):
    (ref_res, kit_res), (g_ref, g_kit), names = _run_pair(mode, CASES[cid], backend, dtype)
    assert_close(kit_res[1], ref_res[1], dtype, "output")
    assert len(kit_res[2]) == len(ref_res[2])
    for k, (a, b) in enumerate(zip(kit_res[2], ref_res[2])):
        assert_close(a, b, dtype, ["h_n", "c_n"][k])
    assert len(g_kit) == len(names)
    for name, a, b in zip(names, g_kit, g_ref):
        assert_close(a, b, dtype, f"grad of {name}")


@pytest.mark.parametrize("backend_name", ["reference", "fused"])
@pytest.mark.parametrize("mode", list(MODES))
def test_gradcheck(mode, backend_name):
    torch_cls, kit_cls, extra = MODES[mode]
    torch.manual_seed(3)
    kw = dict(num_layers=2, bidirectional=True, **extra)
    if mode == "lstm":
        kw["proj_size"] = 2
    m = kit_cls(2, 3, **kw, dtype=torch.float64, backend=backend_name)
    x = torch.randn(4, 3, 2, dtype=torch.float64, requires_grad=True)
    lengths = torch.tensor([4, 2, 3])
    params = list(m.parameters())

    def f(x, *ps):
        out, st = torch.func.functional_call(m, dict(zip([n for n, _ in m.named_parameters()], ps)), (x,), {"lengths": lengths})
        st = st if isinstance(st, tuple) else (st,)
        return (out, *st)

    args = (x, *[p.detach().clone().requires_grad_() for p in params])
    assert torch.autograd.gradcheck(f, args, fast_mode=True)


def test_gradcheck_initial_states_fused():
    torch.manual_seed(4)
    m = lstmkit.LSTM(3, 4, dtype=torch.float64, backend="fused")
    x = torch.randn(4, 2, 3, dtype=torch.float64, requires_grad=True)
    h0 = torch.randn(1, 2, 4, dtype=torch.float64, requires_grad=True)
    c0 = torch.randn(1, 2, 4, dtype=torch.float64, requires_grad=True)
    def f(x, h, c):
        out, (hn, cn) = m(x, (h, c))
        return out, hn, cn

    assert torch.autograd.gradcheck(f, (x, h0, c0))
