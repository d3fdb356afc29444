"""``lstmkit.experiments.run`` trains for real: an LSTM solves the adding problem where an
Elman RNN, on the same budget, data and seed, does not; the gates show how.

The shared fixture trains once (adding, T=50: a lag of 25-50 steps) and the tests read
it; the budget is steps, so the outcome does not depend on the machine's speed.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import lstmkit
from lstmkit.errors import InputError
from lstmkit.experiments import TrainConfig, run
from lstmkit.experiments.gates import trace_gates
from lstmkit.experiments.model import init_gates
from lstmkit.experiments.plots import gate_heatmap
from lstmkit.spine.nets import make_rnn

BUDGET = 600  # steps; the LSTM needs about 275 at T=50
SMALL = TrainConfig(val_size=32, test_size=64)  # for runs that only check plumbing


@pytest.fixture(scope="module")
def lstm_adding():
    return run("adding", "lstm", length=50, max_steps=BUDGET, seed=0)


def test_lstm_solves_adding(lstm_adding):
    r = lstm_adding
    assert r.solved, f"accuracy {r.accuracy:.3f} after {r.steps} steps"
    assert r.accuracy >= 0.99 and r.error < 0.002
    assert r.steps_to_solve == r.steps < BUDGET and r.stopped_by == "solved"
    assert isinstance(r.model.rnn, lstmkit.LSTM)
    # the learning curve starts at the mean-prediction plateau and ends solved
    assert r.curve[0][0] == 0 and r.curve[0][2] < 0.2 and r.curve[-1][2] >= 0.99


def test_elman_rnn_fails_adding_on_the_same_budget():
    r = run("adding", "rnn", length=50, max_steps=300, seed=0)
    assert not r.solved and r.steps == 300 and r.steps_to_solve is None
    assert r.stopped_by == "steps"
    # stuck near predicting the mean: error close to Var(target) = 1/24
    assert r.accuracy < 0.3 and r.error > 0.03
    assert isinstance(r.model.rnn, lstmkit.RNN)


def test_result_counts_parameters_and_time(lstm_adding):
    r = lstm_adding
    H, I = r.hidden_size, 2
    assert r.layer_parameters == 4 * H * (I + H + 2) == sum(p.numel() for p in r.model.rnn.parameters())
    assert r.parameters == r.layer_parameters + H + 1
    assert r.gate_blocks == 4
    assert 0 < r.seconds_per_step * r.steps <= r.seconds
    assert 0 < r.cpu_seconds_per_step
    assert r.backend in lstmkit.backends.names()  # what backend="auto" picked
    d = r.to_dict()
    assert "model" not in d and d["solved"] is True and d["label"] == "lstm"


@pytest.mark.parametrize("cell,blocks", [("rnn", 1), ("gru", 3), ("lstm", 4)])
def test_budget_in_steps_and_cells(cell, blocks):
    r = run("temporal_order", cell, length=20, max_steps=3, seed=1, config=SMALL)
    assert r.steps == 3 and r.gate_blocks == blocks
    assert r.layer_parameters == blocks * r.hidden_size * (8 + r.hidden_size + 2)


def test_budget_in_seconds_stops_the_run():
    r = run("adding", "lstm", length=100, max_time=0.5, seed=0, config=SMALL)
    assert 0 < r.steps < 1000 and r.seconds < 10 and r.stopped_by == "time"


def test_same_seed_same_run():
    a = run("copy", "gru", length=5, max_steps=10, seed=3, config=SMALL)
    b = run("copy", "gru", length=5, max_steps=10, seed=3, config=SMALL)
    assert a.error == b.error and a.curve == b.curve


def test_layer_options_pass_through_to_the_layer():
    r = run("adding", "lstm", length=30, max_steps=2, num_layers=2, hidden_size=8, config=SMALL)
    assert r.model.rnn.num_layers == 2 and r.hidden_size == 8 and r.label == "lstm:num_layers=2"
    with pytest.raises(InputError, match="does not accept"):
        run("adding", "lstm", length=30, max_steps=2, no_such_variant=True)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"max_steps": 0}, "max_steps"),
        ({"max_time": -1.0}, "max_time"),
        ({"cell": "transformer"}, "unknown cell"),
    ],
)
def test_bad_run_arguments(kwargs, match):
    with pytest.raises(InputError, match=match):
        run("adding", **{"length": 30, **kwargs})


def test_bad_train_config():
    with pytest.raises(InputError, match="init must be one of"):
        TrainConfig(init="zeros")
    with pytest.raises(InputError, match="batch_size"):
        TrainConfig(batch_size=0)


def test_gate_inits():
    lstm = make_rnn("lstm", 2, 16)
    init_gates(lstm, "chrono", max_lag=100)
    f = lstm.bias_hh_l0[16:32] + lstm.bias_ih_l0[16:32]
    i = lstm.bias_hh_l0[:16] + lstm.bias_ih_l0[:16]
    assert (f >= 0).all() and (f <= np.log(99) + 1e-6).all() and torch.equal(i, -f)
    init_gates(lstm, "forget_bias", forget_bias=1.0)
    assert torch.equal(lstm.bias_hh_l0[16:32] + lstm.bias_ih_l0[16:32], torch.ones(16))
    gru = make_rnn("gru", 2, 16)
    init_gates(gru, "chrono", max_lag=50)
    z = gru.bias_hh_l0[16:32] + gru.bias_ih_l0[16:32]
    assert (z >= 0).all() and (z <= np.log(49) + 1e-6).all()


def test_gates_show_the_cell_latching_the_marked_values(lstm_adding, tmp_path):
    r = lstm_adding
    trace = trace_gates(r.model, r.problem, seed=7)
    T, H = 50, r.hidden_size
    assert set(trace.states) == {"i", "f", "g", "o", "c", "h"}
    assert all(v.shape == (T, H) for v in trace.states.values())
    first, second = trace.marks
    assert first < 10 <= second < 25
    assert abs(float(trace.prediction[0] - trace.target[0])) < 0.04
    i, c = trace.states["i"], trace.states["c"]
    # some units' input gates open at the marked steps, 4x wider than at the distractors...
    others = np.setdiff1d(np.arange(T), trace.marks)
    ratio = i[trace.marks].mean(0) / i[others].mean(0)  # (H,)
    assert (ratio > 4).sum() >= 3, np.sort(ratio)[-5:]
    # ...and the cell state takes a step there at least twice the typical one
    step_change = np.abs(np.diff(c, axis=0)).sum(1)  # (T-1,): change entering step t+1
    assert (step_change[[first - 1, second - 1]] > 2 * np.median(step_change)).all()
    png = gate_heatmap(trace, tmp_path / "gates.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("cell,keys", [("gru", {"r", "z", "n", "h"}), ("rnn", {"h"})])
def test_gate_traces_of_other_cells(cell, keys, tmp_path):
    r = run("temporal_order", cell, length=20, max_steps=2, config=SMALL)
    trace = trace_gates(r.model, r.problem)
    assert set(trace.states) == keys and len(trace.marks) == 2
    assert gate_heatmap(trace, tmp_path / f"{cell}.png").stat().st_size > 1000



def test_a_run_whose_gradients_turn_non_finite_stops_as_diverged_with_its_last_weights(monkeypatch):
    """Training that diverges keeps the last finite weights and says so, without a traceback."""
    import math

    import torch

    from lstmkit.experiments import model as model_module
    from lstmkit.experiments import run
    from lstmkit.experiments.cli import _summary

    built, calls = [], {"n": 0}
    real_init, real_backward = model_module.SequenceModel.__init__, torch.Tensor.backward

    def remember(self, *args, **kwargs):
        real_init(self, *args, **kwargs)
        built.append(self)

    def poisoned(self, *args, **kwargs):  # the third step's gradients are NaN
        real_backward(self, *args, **kwargs)
        calls["n"] += 1
        if calls["n"] == 3:
            for p in built[0].parameters():
                p.grad.fill_(float("nan"))

    monkeypatch.setattr(model_module.SequenceModel, "__init__", remember)
    monkeypatch.setattr(torch.Tensor, "backward", poisoned)
    r = run("parity", "lstm", length=6, max_steps=10, seed=0)
    assert r.stopped_by == "diverged" and r.steps == 2
    assert math.isfinite(r.accuracy) and math.isfinite(r.error)
    assert all(torch.isfinite(p).all() for p in r.model.parameters())
    assert "diverged after step 2" in _summary(r)
