"""The comparison grid, its Markdown and plots, and the ``experiment``/``compare`` CLI.

Budgets here are a few steps: these tests check the plumbing (skips, the table, the
docs section, the files); training quality is in test_experiments_training.py.
"""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from lstmkit.cli import main
from lstmkit.errors import InputError
from lstmkit.experiments import TrainConfig
from lstmkit.experiments.compare import (
    QUICK,
    CellSpec,
    CompareConfig,
    compare,
    load_json,
    save_json,
)
from lstmkit.experiments.plots import learning_curves, solve_rate
from lstmkit.experiments.report import render, write_section

PNG = b"\x89PNG\r\n\x1a\n"


def test_cell_specs():
    assert CellSpec.parse("gru") == CellSpec("gru", "gru", {}, None)
    spec = CellSpec.parse("lstm:layer_norm=True,zoneout=0.1,init=forget_bias")
    assert spec.cell == "lstm" and spec.options == {"layer_norm": True, "zoneout": 0.1}
    assert spec.init == "forget_bias" and spec.label == "lstm:layer_norm=True,zoneout=0.1,init=forget_bias"
    with pytest.raises(InputError, match="expected a cell"):
        CellSpec.parse("transformer")
    with pytest.raises(InputError, match="key=value"):
        CellSpec.parse("lstm:layer_norm")


def test_compare_config_is_validated():
    with pytest.raises(InputError, match="unknown task"):
        CompareConfig(tasks={"dyck": (10,)})
    with pytest.raises(InputError, match="at least 22"):
        CompareConfig(tasks={"adding": (10,)})
    with pytest.raises(InputError, match="budget"):
        CompareConfig(tasks={"adding": (30,)}, max_steps=0)


def test_quick_grid_covers_every_task_and_the_reference():
    assert set(QUICK.tasks) == {"adding", "temporal_order", "copy"}
    assert QUICK.cells == ("rnn", "gru", "lstm")
    assert 100 in QUICK.tasks["adding"] and QUICK.reference == ("adding", 100)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """A 3-step grid: nothing is solved, so longer lags are skipped (except the reference)."""
    config = CompareConfig(
        tasks={"adding": (30, 100, 200), "copy": (3, 6)},
        cells=("rnn", "lstm"),
        max_steps=3,
        max_time=30.0,
        train=TrainConfig(val_size=32, test_size=64),  # plumbing only: keep evaluation cheap
    )
    checkpoint = tmp_path_factory.mktemp("cmp") / "partial.json"
    return compare(config, checkpoint=checkpoint), checkpoint


@pytest.fixture(scope="module")
def tiny(tiny_run):
    return tiny_run[0]


def test_compare_runs_the_grid_and_skips_after_failure(tiny, tiny_run):
    ran = {(r.label, r.task, r.length) for r in tiny.results}
    assert ran == {
        (c, t, T) for c in ("rnn", "lstm") for t, T in (("adding", 30), ("adding", 100), ("copy", 3))
    }
    assert tiny.unavailable == {}
    assert tiny.runs("lstm", "adding", 200) == [None]
    assert tiny.solve_rate("lstm", "adding", 200) == 0.0
    assert tiny.longest_solved("rnn", "copy") is None
    assert all(r.model is None and r.steps == 3 for r in tiny.results)
    saved = load_json(tiny_run[1])  # written after every run
    assert len(saved.results) == len(tiny.results)


def test_a_cell_the_layer_refuses_stops_the_comparison_before_any_run():
    ran = []
    config = CompareConfig(tasks={"adding": (30,)}, cells=("rnn", "lstm:no_such_variant=True"),
                           max_steps=3, max_time=30.0)
    with pytest.raises(InputError, match="lstm:no_such_variant=True: cell 'lstm' does not accept"):
        compare(config, progress=ran.append)
    assert ran == []


def test_report_has_the_claims_table_with_measured_values(tiny):
    # a comparison saved by an earlier version may list cells it could not build
    tiny = replace(tiny, unavailable={"lstm:no_such_variant=True": "not in this build"})
    text = render(tiny, "lstmkit compare --test", {"curves": "img/c.png"})
    assert "| feature | RNN | LSTM |" in text
    for row in ("handles long sequences (the usual claim) | poor | excellent",
                "longest lag T solved by every seed", "time per training step",
                "parameters of the recurrent layer** (adding, H=32) | 1,152 | 4,608",
                "gate blocks per step** (weight matrices of size H x (I+H)) | 1 | 4",
                "steps to solve adding T=100** (median over seeds) | not solved in 3"):
        assert row in text, row
    assert "`lstm:no_such_variant=True`" in text and "![curves](img/c.png)" in text
    assert f"Measured {tiny.date} on a " in text and "Budget per run: 3 steps or 30 s" in text
    assert text.count("| copy | 3 |") == 2


def test_an_interrupted_comparison_says_what_it_never_ran(tiny):
    # as if the comparison had stopped before the LSTM's copy runs
    partial = replace(tiny, results=[r for r in tiny.results
                                     if not (r.label == "lstm" and r.task == "copy")])
    text = render(partial, "cmd", {})
    assert "by every seed** (adding / copy) | none / none | none / not run |" in text


def test_write_section_keeps_the_rest_of_the_page(tmp_path):
    doc = tmp_path / "experiments.md"
    doc.write_text("# Experiments\n\nintro\n\n## See also\n")
    write_section(doc, "quick", "first\n")
    assert doc.read_text().endswith("<!-- compare:quick:begin -->\nfirst\n<!-- compare:quick:end -->\n")
    doc.write_text(doc.read_text().replace("## See also\n", "") + "\n## See also\n")
    write_section(doc, "quick", "second\n")
    write_section(doc, "full", "full\n")
    text = doc.read_text()
    assert "first" not in text and text.count("second") == 1 and "intro" in text
    assert text.index("second") < text.index("## See also") < text.index("full")


def test_plots_write_pngs(tiny, tmp_path):
    assert learning_curves(tiny, tmp_path / "c.png").read_bytes()[:8] == PNG
    assert solve_rate(tiny, tmp_path / "s.png").read_bytes()[:8] == PNG


def test_cli_experiment(tmp_path, capsys):
    out = tmp_path / "r.json"
    code = main(["experiment", "copy", "--length", "4", "--cell", "gru", "--max-steps", "4",
                 "--task-option", "symbols=2", "--json", str(out), "--plot-gates", str(tmp_path / "g.png")])
    assert code == 0
    printed = capsys.readouterr().out
    assert "copy T=4 gru: not solved" in printed and "4 steps" in printed
    result = json.loads(out.read_text())
    assert result["steps"] == 4 and result["cell"] == "gru"
    assert (tmp_path / "g.png").read_bytes()[:8] == PNG


def test_cli_compare_writes_docs_and_plots(tmp_path, capsys):
    doc = tmp_path / "docs" / "experiments.md"
    code = main(["compare", "--quick", "--task", "temporal_order=10", "--cells", "rnn", "lstm",
                 "--max-steps", "2", "--out", str(doc), "--img-dir", str(tmp_path / "docs" / "img")])
    assert code == 0
    text = doc.read_text()
    # a changed grid never overwrites the documented quick section
    assert "<!-- compare:custom:begin -->" in text and "compare:quick" not in text
    assert "![learning curves](img/experiments_custom_curves.png)" in text
    assert "`lstmkit compare --quick --cells rnn lstm --max-steps 2 --task temporal_order=10`" in text
    assert (tmp_path / "docs" / "img" / "experiments_custom_solve_rate.png").read_bytes()[:8] == PNG


@pytest.mark.parametrize(
    "argv,message",
    [
        (["experiment", "adding", "--length", "5"], "length must be at least 22"),
        (["experiment", "copy", "--option", "peephole"], "--option expects KEY=VALUE"),
        (["compare", "--task", "adding=a,b", "--out", "-"], "--task expects NAME=T1,T2"),
        (["compare", "--cells", "lstm:x", "--out", "-"], "expected key=value"),
        # an option the layer refuses: before any run, nothing written
        (["compare", "--cells", "gru", "lstm:foo=1", "--task", "adding=30", "--out", "-"],
         "lstm:foo=1: cell 'lstm' does not accept the options"),
        (["compare", "--cells", "lstm:layer_norm=maybe", "--task", "adding=30", "--out", "-"],
         "layer_norm must be True or False"),
    ],
)
def test_cli_user_errors_are_one_line(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert message in captured.err and "Traceback" not in captured.err
    assert captured.err.count("\n") == 1 and captured.out == ""
    assert list(tmp_path.iterdir()) == []


def test_saved_comparison_renders_the_same(tiny, tmp_path):
    save_json(tiny, tmp_path / "c.json")
    again = load_json(tmp_path / "c.json")
    assert again.config == tiny.config and again.unavailable == tiny.unavailable
    assert render(again, "cmd", {}) == render(tiny, "cmd", {})
    (tmp_path / "bad.json").write_text('{"results": []}')
    with pytest.raises(InputError, match="no comparison config"):
        load_json(tmp_path / "bad.json")
    (tmp_path / "bad.json").write_text("results: none")
    with pytest.raises(InputError, match="not a comparison saved by lstmkit compare"):
        load_json(tmp_path / "bad.json", tiny.config)


def test_a_run_that_raises_is_recorded_not_fatal(monkeypatch, tmp_path):
    import lstmkit.experiments.compare as cmp

    real_run = cmp.run

    def flaky_run(task, cell, length, *args, **kwargs):
        if cell == "gru" and length == 30:
            raise RuntimeError("backend exploded\nsecond line")
        return real_run(task, cell, length, *args, **kwargs)

    monkeypatch.setattr(cmp, "run", flaky_run)
    config = CompareConfig(tasks={"adding": (30, 40)}, cells=("gru", "rnn"), max_steps=1,
                           reference=("adding", 40), train=TrainConfig(val_size=8, test_size=8))
    comp = compare(config)
    assert comp.errors == [{"label": "gru", "task": "adding", "length": 30, "seed": 0,
                            "error": "RuntimeError: backend exploded"}]
    assert {(r.label, r.length) for r in comp.results} == {("gru", 40), ("rnn", 30), ("rnn", 40)}
    assert "- `gru` adding T=30 seed 0: `RuntimeError: backend exploded`" in render(comp, "c", {})
    save_json(comp, tmp_path / "c.json")
    assert load_json(tmp_path / "c.json").errors == comp.errors
