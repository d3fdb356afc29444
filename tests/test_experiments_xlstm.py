"""The xLSTM cells (slstm, mlstm, xlstm) in ``lstmkit.experiments`` and the formal-language
state-tracking tasks (parity, modular arithmetic with and without brackets, cycle
navigation): labels against a direct computation, shapes, the per-sequence read-out, a
few training steps of every new cell on every new task, and bad input.
"""

from __future__ import annotations

import pytest
import torch

from lstmkit.errors import InputError
from lstmkit.experiments import TrainConfig, run
from lstmkit.experiments.formal import FORMAL
from lstmkit.experiments.model import CELLS, SequenceModel
from lstmkit.experiments.problems import make_problem
from lstmkit.spine.nets import CELLS as NET_CELLS
from lstmkit.spine.nets import make_rnn

TASKS = [p.name for p in FORMAL]
NEW_CELLS = ("slstm", "mlstm", "xlstm")
TINY = TrainConfig(val_size=16, test_size=16, hidden_size=8, batch_size=8, eval_every=2)


def _decode(problem, x, b):
    """Sequence ``b`` of the batch ``x`` as token strings, up to (without) the query."""
    out = []
    for row in x[:, b]:
        if row.sum() == 0 or row.argmax() == problem.query_channel:
            break
        out.append(problem.tokens[int(row.argmax())])
    return out


def _left_to_right(tokens: list[str]) -> int:
    value = int(tokens[0])
    for op, d in zip(tokens[1::2], tokens[2::2]):
        value = {"+": value + int(d), "-": value - int(d), "*": value * int(d)}[op] % 5
    return value


def _direct(name: str, tokens: list[str]) -> int:
    if name == "parity":
        return tokens.count("1") % 2
    if name == "cycle_navigation":
        return sum(int(t) for t in tokens) % 5
    if name == "modular_arithmetic":
        return _left_to_right(tokens)
    # brackets: every operation is bracketed, so Python's own evaluation is the direct one
    return eval("".join(tokens)) % 5


@pytest.mark.parametrize("name", TASKS)
def test_labels_match_a_direct_computation(name):
    p = make_problem(name, 12)
    x, y = p.sample(200, torch.Generator().manual_seed(1))
    for b in range(200):
        tokens = _decode(p, x, b)
        assert 1 <= len(tokens) <= 12
        assert int(y[b]) == _direct(name, tokens), (tokens, int(y[b]))


@pytest.mark.parametrize("name", TASKS)
def test_shapes_query_and_long_lengths(name):
    p = make_problem(name, 10, test_length=25)
    x, y = p.sample(64, torch.Generator().manual_seed(0))
    assert x.dim() == 3 and x.shape[1] == 64 and x.shape[2] == p.input_size
    assert y.shape == (64,) and y.dtype == torch.long and int(y.max()) < p.output_size
    # exactly one query per sequence, nothing after it, one token per step before it
    q = x[..., p.query_channel]
    assert torch.equal(q.sum(0), torch.ones(64))
    at = q.argmax(0)
    for b in range(64):
        assert torch.all(x[at[b] + 1 :, b] == 0) and torch.all(x[: at[b] + 1, b].sum(-1) == 1)
    lengths = [len(_decode(p, *p.sample_long(64, torch.Generator().manual_seed(0))[:1], b))
               for b in range(64)]
    assert min(lengths) > 10 - 4 and max(lengths) <= 25  # brackets round down to 1 + 4k
    assert max(lengths) > 10


def test_same_seed_same_data_and_lengths_vary():
    p = make_problem("parity", 30)
    a = p.sample(32, torch.Generator().manual_seed(5))
    b = p.sample(32, torch.Generator().manual_seed(5))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert len(set(a[0][..., p.query_channel].argmax(0).tolist())) > 5


def test_readout_is_at_each_sequences_query_step():
    p = make_problem("parity", 8)
    x, _ = p.sample(6, torch.Generator().manual_seed(0))
    torch.manual_seed(0)
    model = SequenceModel("lstm", p.input_size, 5, 2, query_channel=p.query_channel).eval()
    with torch.no_grad():
        batch = model(x)
        for b in range(6):
            T = int(x[..., p.query_channel].argmax(0)[b]) + 1
            alone = model(x[:T, b : b + 1])
            assert torch.allclose(batch[b], alone[0], atol=1e-6)


@pytest.mark.parametrize("cell", NEW_CELLS)
@pytest.mark.parametrize("name", TASKS)
def test_every_new_cell_trains_on_every_new_task(cell, name):
    r = run(name, cell, length=6, max_steps=3, seed=0, config=TINY,
            task_options={"test_length": 9})
    from lstmkit.xlstm import slstm_compiled

    s = "compiled" if slstm_compiled.reason() is None else "reference"  # built, or why not
    expected = {"slstm": s, "mlstm": "fused", "xlstm": f"{s}+fused"}[cell]
    assert r.steps == 3 and r.backend == expected and 0 <= r.accuracy <= 1
    assert r.long_accuracy is not None and 0 <= r.long_accuracy <= 1 and r.long_length == 9
    assert r.layer_parameters > 0 and len(r.curve) >= 2
    first = r.model.rnn.state_dict()
    assert all(torch.isfinite(v).all() for v in first.values())


def test_xlstm_cell_is_a_two_block_stack_with_slstm_first():
    layer = make_rnn("xlstm", 3, 8, cells=CELLS)
    kinds = [type(b).__name__ for b in layer.stack.blocks]
    assert kinds == ["sLSTMBlock", "mLSTMBlock"]
    out, state = layer(torch.randn(7, 2, 3))
    assert out.shape == (7, 2, 8) and len(state) == 2  # one state per block


def test_gate_init_leaves_xlstm_cells_as_initialised():
    a = run("parity", "slstm", length=4, max_steps=1, config=TINY).model.rnn
    b = run("parity", "slstm", length=4, max_steps=1,
            config=TrainConfig(**{**TINY.__dict__, "init": "torch"})).model.rnn
    for (na, pa), (_, pb) in zip(a.named_parameters(), b.named_parameters()):
        assert torch.equal(pa, pb), na


def test_other_tasks_do_not_take_the_new_cells():
    assert set(NET_CELLS) == {"lstm", "gru", "rnn"}
    with pytest.raises(InputError, match="slstm"):
        make_rnn("slstm", 2, 4)
    assert type(make_rnn("lstm", 2, 4)).__name__ == "LSTM"


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: make_problem("parity", 0), "length must be at least 1"),
        (lambda: make_problem("parity", 10, test_length=10), "test_length must be an integer above"),
        (lambda: make_problem("cycle_navigation", 10, colours=3), "bad task option"),
        (lambda: run("parity", "slstm", length=4, max_steps=1, config=TINY, forget_bias=2.0),
         "does not accept the options"),
        (lambda: run("parity", "xlstm", length=4, max_steps=1, config=TINY, num_heads=3),
         "num_heads"),
        (lambda: run("parity", "qlstm", length=4, max_steps=1), "unknown cell"),
    ],
)
def test_bad_input_raises_one_line(call, match):
    with pytest.raises(InputError, match=match) as info:
        call()
    assert "\n" not in str(info.value)


def test_cli_experiment_reports_the_longer_lengths(capsys):
    from lstmkit.cli import main

    assert main(["experiment", "cycle_navigation", "--cell", "mlstm", "--length", "5",
                 "--max-steps", "2", "--task-option", "test_length=12"]) == 0
    printed = capsys.readouterr().out
    assert "cycle_navigation T=5 mlstm: not solved" in printed and "on lengths 6-12" in printed


def test_cli_compare_takes_the_new_cells_and_tasks(tmp_path, capsys):
    from lstmkit.cli import main

    doc = tmp_path / "experiments.md"
    assert main(["compare", "--task", "parity=4", "--cells", "slstm", "xlstm", "--max-steps", "2",
                 "--out", str(doc), "--img-dir", str(tmp_path / "img")]) == 0
    text = doc.read_text()
    assert "`slstm`" in text and "`xlstm`" in text and "parity" in text
    assert (tmp_path / "img" / "experiments_custom_curves.png").exists()


def test_gate_plots_refuse_the_xlstm_cells(tmp_path, capsys):
    from lstmkit.cli import main
    from lstmkit.experiments.gates import trace_gates

    assert main(["experiment", "parity", "--cell", "slstm", "--length", "4", "--max-steps", "1",
                 "--plot-gates", str(tmp_path / "g.png")]) == 2
    assert "drop --plot-gates" in capsys.readouterr().err
    assert not (tmp_path / "g.png").exists()
    r = run("parity", "mlstm", length=4, max_steps=1, config=TINY)
    with pytest.raises(InputError, match="records none"):
        trace_gates(r.model, r.problem)
